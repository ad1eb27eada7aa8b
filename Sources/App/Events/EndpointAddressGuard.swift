import Core
import Foundation
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// The SSRF guard of event webhooks: an endpoint URL must be `http` or `https`, and every address its host resolves
/// to must be a public one, unless it is inside a network the config allows (`webhooks.allow_networks`).
///
/// Checked when an endpoint is made or changed, and again before every request to a host name (a name can resolve
/// elsewhere later; an address cannot, so its answer is kept with the endpoint). Redirects are never followed (the HTTP client is built with them off), so a public endpoint cannot
/// bounce a request inward. A name that resolves to a public address at the check and an internal one at the
/// connect a moment later (DNS rebinding inside one request) is not caught: that would need the HTTP client to
/// connect to the checked address, which AsyncHTTPClient does not offer for HTTPS.
struct EndpointAddressGuard: Sendable {
    /// Networks that are never a webhook receiver unless allowed: "this" network, private (RFC 1918), carrier-grade
    /// NAT, loopback, link-local (and with it the cloud metadata address 169.254.169.254), IETF protocol and
    /// benchmarking ranges, multicast and reserved; for IPv6 the unspecified and loopback addresses, unique-local
    /// (fd00:ec2::254, another metadata address, among them), link-local, multicast and NAT64.
    static let internalNetworks: [CIDRBlock] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96",
    ].compactMap(CIDRBlock.init)

    let allowed: [CIDRBlock]

    /// Why a URL may not be an endpoint.
    struct Refusal: Error, Sendable, Equatable {
        let message: String
    }

    /// Checks the URL's form only (scheme and host), without resolving it.
    static func checkForm(_ url: String) -> Refusal? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return Refusal(message: "is not a URL: \"\(url)\"")
        }
        guard scheme == "http" || scheme == "https" else {
            return Refusal(message: "must be an http:// or https:// URL, got scheme \"\(scheme)\"")
        }
        guard let host = components.host, !host.isEmpty else { return Refusal(message: "has no host: \"\(url)\"") }
        if components.user != nil || components.password != nil {
            return Refusal(message: "must not carry credentials; use the endpoint's headers")
        }
        if url.utf8.count > 2048 { return Refusal(message: "is longer than 2048 bytes") }
        return nil
    }

    /// Checks the URL and every address its host resolves to; nil when it may be used.
    func check(_ url: String) async -> Refusal? {
        if let refusal = Self.checkForm(url) { return refusal }
        let host = Self.host(of: url)
        let addresses: [String]
        do {
            addresses = try await Self.resolve(host)
        } catch {
            return Refusal(message: "host \(host) does not resolve: \(error)")
        }
        return check(host: host, addresses: addresses)
    }

    /// What ``check(_:)`` says of a URL whose host is an address rather than a name: the answer cannot change, so
    /// it may be kept. Nil when the host is a name, which must be resolved before each request.
    func checkWithoutResolving(_ url: String) -> Refusal?? {
        if let refusal = Self.checkForm(url) { return .some(refusal) }
        let host = Self.host(of: url)
        guard CIDRBlock.parseAddress(host) != nil else { return nil }
        return .some(check(host: host, addresses: [host]))
    }

    /// The host of a URL that ``checkForm(_:)`` accepted, without an IPv6 address's brackets.
    private static func host(of url: String) -> String {
        // checkForm found a host.
        var host = URLComponents(string: url)!.host!
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host
    }

    private func check(host: String, addresses: [String]) -> Refusal? {
        if addresses.isEmpty { return Refusal(message: "host \(host) resolves to no address") }
        for address in addresses {
            guard let bytes = CIDRBlock.parseAddress(address) else {
                return Refusal(message: "host \(host) resolves to \(address), which is not an address")
            }
            if allowed.contains(where: { $0.contains(address: bytes) }) { continue }
            if let network = Self.internalNetworks.first(where: { $0.contains(address: bytes) }) {
                let resolved = address == host ? "" : " resolves to \(address), which"
                return Refusal(message: "host \(host)\(resolved) is in the internal network \(network); allow it with webhooks.allow_networks")
            }
        }
        return nil
    }

    struct ResolutionError: Error, CustomStringConvertible {
        let description: String
    }

    /// Every address `host` resolves to, as text (a literal address resolves to itself). `getaddrinfo` blocks, so
    /// it runs on NIO's thread pool.
    static func resolve(_ host: String) async throws -> [String] {
        if CIDRBlock.parseAddress(host) != nil { return [host] }
        return try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, nil, &hints, &result)
            guard status == 0 else { throw ResolutionError(description: String(cString: gai_strerror(status))) }
            defer { freeaddrinfo(result) }
            var addresses: [String] = []
            var entry = result
            while let current = entry {
                var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
                if current.pointee.ai_family == AF_INET {
                    var address = current.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
                    addresses.append(String(cString: buffer))
                } else if current.pointee.ai_family == AF_INET6 {
                    var address = current.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
                    addresses.append(String(cString: buffer))
                }
                entry = current.pointee.ai_next
            }
            return Array(Set(addresses)).sorted()
        }
    }
}
