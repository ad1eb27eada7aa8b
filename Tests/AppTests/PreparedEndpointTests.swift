@testable import App
import Core
import Foundation
import Testing
import WebhookSecurity

/// What requests to an endpoint share is made once and kept until the endpoint's URL, headers or secrets change;
/// the SSRF guard's answer is kept only for an address, never for a name.
@Suite("Prepared event endpoints")
struct PreparedEndpointTests {
    static let secret = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()
    static let previous = "whsec_" + Data(repeating: 9, count: 32).base64EncodedString()
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func endpoint(url: String = "http://127.0.0.1:9/hook", headers: [String: String] = [:]) -> EventEndpoint {
        EventEndpoint(id: "ep_1", url: url, headers: headers, secret: secret, createdAt: start, updatedAt: start)
    }

    static func signatureCount(_ prepared: PreparedEndpoint, at date: Date) throws -> Int {
        let signer = try prepared.signer(at: date).get()
        return signer.signature(id: "evt_1", timestamp: 1, body: Data("{}".utf8)).split(separator: " ").count
    }

    @Test("a rotation signs with both secrets until its grace ends, then with the new one alone")
    func rotationSigner() throws {
        var endpoint = Self.endpoint()
        endpoint.previousSecret = Self.previous
        endpoint.previousSecretExpiresAt = Self.start.addingTimeInterval(60)
        let prepared = PreparedEndpoint(endpoint, guard: EndpointAddressGuard(allowed: []))
        #expect(try Self.signatureCount(prepared, at: Self.start) == 2)
        #expect(try Self.signatureCount(prepared, at: Self.start.addingTimeInterval(59)) == 2)
        #expect(try Self.signatureCount(prepared, at: Self.start.addingTimeInterval(60)) == 1)
        #expect(try Self.signatureCount(PreparedEndpoint(Self.endpoint(), guard: EndpointAddressGuard(allowed: [])), at: Self.start) == 1)
    }

    @Test("kept while the endpoint is unchanged; remade for a new URL, header or secret")
    func remadeOnChange() throws {
        let cache = PreparedEndpoints()
        let guardAll = EndpointAddressGuard(allowed: [])
        let first = cache.prepared(Self.endpoint(headers: ["B": "2", "A": "1"]), guard: guardAll)
        #expect(first.headers.map(\.0) == ["A", "B"])
        #expect(first.breakerKey == "http://127.0.0.1:9")
        var unchanged = Self.endpoint(headers: ["B": "2", "A": "1"])
        unchanged.description = "only the description differs"
        #expect(cache.prepared(unchanged, guard: guardAll).isCurrent(for: first.source))
        let moved = cache.prepared(Self.endpoint(url: "http://10.0.0.1:8080/hook"), guard: guardAll)
        #expect(moved.url == "http://10.0.0.1:8080/hook")
        #expect(moved.breakerKey == "http://10.0.0.1:8080")
        var rotated = Self.endpoint(url: "http://10.0.0.1:8080/hook")
        rotated.secret = Self.previous
        #expect(!cache.prepared(rotated, guard: guardAll).isCurrent(for: moved.source))
        #expect(cache.prepared(rotated, guard: guardAll).source.secret == Self.previous)
    }

    @Test("the guard's answer is kept for an address (refused or allowed), and left to resolve for a name")
    func addressCheckKeptOnlyForAddresses() throws {
        let strict = PreparedEndpoint(Self.endpoint(), guard: EndpointAddressGuard(allowed: []))
        let refusal = try #require(strict.addressCheck.flatMap { $0 })
        #expect(refusal.message.contains("127.0.0.0/8"))
        let allowing = PreparedEndpoint(Self.endpoint(), guard: EndpointAddressGuard(allowed: [CIDRBlock("127.0.0.0/8")!]))
        #expect(allowing.addressCheck != nil)
        #expect(allowing.addressCheck! == nil)
        let v6 = PreparedEndpoint(Self.endpoint(url: "http://[::1]:9/hook"), guard: EndpointAddressGuard(allowed: []))
        #expect(v6.addressCheck.flatMap { $0 }?.message.contains("is in the internal network") == true)
        let named = PreparedEndpoint(Self.endpoint(url: "http://localhost:9/hook"), guard: EndpointAddressGuard(allowed: []))
        #expect(named.addressCheck == nil)
        let malformed = PreparedEndpoint(Self.endpoint(url: "ftp://127.0.0.1/x"), guard: EndpointAddressGuard(allowed: []))
        #expect(malformed.addressCheck.flatMap { $0 }?.message.contains("scheme") == true)
    }
}
