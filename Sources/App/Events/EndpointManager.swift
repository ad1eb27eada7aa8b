import Core
import Foundation
import WebhookSecurity

/// Everything that changes event-webhook endpoints, for the admin API and `messagebridge endpoints`: input checks
/// (every refusal a 400 naming its field, nothing stored), secrets, the SSRF guard, rotation with a grace period,
/// replays.
public struct EndpointManager: Sendable {
    let store: any EventEndpointStore
    let addressGuard: EndpointAddressGuard
    let rotationGrace: Duration
    let clock: any WallClock
    /// Told when endpoints change, so the worker reloads them (and sends replayed deliveries) now.
    let onChange: @Sendable () -> Void

    /// A manager over `store` with `settings`' allowed networks and rotation grace.
    public init(
        store: any EventEndpointStore, settings: EventWebhookSettings, clock: any WallClock = SystemWallClock(),
        onChange: @escaping @Sendable () -> Void = {}
    ) {
        self.store = store
        self.addressGuard = EndpointAddressGuard(allowed: settings.allowNetworks)
        self.rotationGrace = settings.rotationGrace
        self.clock = clock
        self.onChange = onChange
    }

    /// What a create or update asks for; nil fields are left as they are (on create: defaults).
    public struct Changes: Sendable {
        public var url: String?
        public var description: String?
        public var events: [String]?
        public var rooms: [Int64]?
        public var routes: [String]?
        public var headers: [String: String]?
        /// `.some(nil)` clears the limit.
        public var rateLimit: Int??
        public var enabled: Bool?
        public var secret: String?
        public var signing: String?

        public init() {}
    }

    /// A new endpoint with its secret, shown this once.
    public struct Created: Sendable {
        public var endpoint: EventEndpoint
        public var secret: String
    }

    /// Headers an endpoint may not set: the signature's, and those the HTTP client owns.
    static let reservedHeaders: Set<String> = [
        "webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host",
        "transfer-encoding", "connection", "user-agent", "te", "upgrade", "trailer", "expect",
    ]

    // MARK: Changes

    public func create(_ changes: Changes) async throws -> Created {
        guard let url = changes.url else { throw APIError(.badRequest, code: "missing_field", message: "url is required") }
        let now = clock.now
        let signing = try Self.signing(changes.signing) ?? .hmac
        let secret: String
        if let given = changes.secret {
            try Self.checkSecret(given, signing: signing)
            secret = given
        } else {
            secret = signing == .hmac ? StandardWebhookSigner.generateHMACSecret() : StandardWebhookSigner.generateEd25519Secret()
        }
        var endpoint = EventEndpoint(id: Self.newID(), url: url, secret: secret, createdAt: now, updatedAt: now)
        endpoint.signing = signing
        try await apply(changes, to: &endpoint, isNew: true)
        if changes.enabled == false {
            endpoint.isEnabled = false
            endpoint.disabledReason = "created disabled"
            endpoint.disabledAt = now
        }
        let stored = try await store.createEndpoint(endpoint)
        onChange()
        return Created(endpoint: stored, secret: secret)
    }

    public func update(id: String, _ changes: Changes) async throws -> EventEndpoint {
        var endpoint = try await require(id)
        if changes.secret != nil || changes.signing != nil {
            throw APIError(.badRequest, code: "invalid_field", message: "secret and signing change only with rotate-secret")
        }
        try await apply(changes, to: &endpoint, isNew: false)
        guard var updated = try await store.updateEndpoint(endpoint, now: clock.now) else { throw Self.notFound(id) }
        if let enabled = changes.enabled, enabled != updated.isEnabled {
            updated = try await setEnabled(id: id, enabled)
        }
        onChange()
        return updated
    }

    public func setEnabled(id: String, _ enabled: Bool) async throws -> EventEndpoint {
        guard let endpoint = try await store.setEnabled(id: id, enabled: enabled, reason: nil, now: clock.now) else {
            throw Self.notFound(id)
        }
        onChange()
        return endpoint
    }

    public func delete(id: String) async throws {
        guard try await store.deleteEndpoint(id: id) else { throw Self.notFound(id) }
        onChange()
    }

    /// A new secret (given, or generated of the endpoint's kind); the old one keeps signing for `grace` (the
    /// configured default when nil). Returns the endpoint and the new secret, shown this once.
    public func rotateSecret(id: String, secret given: String?, grace: Duration?) async throws -> Created {
        var endpoint = try await require(id)
        let secret: String
        if let given {
            try Self.checkSecret(given, signing: endpoint.signing)
            secret = given
        } else {
            secret = endpoint.signing == .hmac ? StandardWebhookSigner.generateHMACSecret() : StandardWebhookSigner.generateEd25519Secret()
        }
        let now = clock.now
        let grace = grace ?? rotationGrace
        endpoint.previousSecret = grace > .zero ? endpoint.secret : nil
        endpoint.previousSecretExpiresAt = grace > .zero ? now.addingTimeInterval(grace.seconds) : nil
        endpoint.secret = secret
        guard let updated = try await store.updateEndpoint(endpoint, now: now) else { throw Self.notFound(id) }
        onChange()
        return Created(endpoint: updated, secret: secret)
    }

    /// Queues again the held and failed deliveries since `since`.
    public func replay(id: String, since: Date) async throws -> Int {
        let endpoint = try await require(id)
        guard endpoint.isEnabled else {
            throw APIError(.conflict, code: "endpoint_disabled", message: "endpoint \(id) is disabled; enable it before a replay")
        }
        let count = try await store.replay(endpointID: id, since: since, now: clock.now)
        onChange()
        return count
    }

    /// Queues one delivery again.
    public func retry(id: String, deliveryID: Int64) async throws -> EventDelivery {
        let endpoint = try await require(id)
        guard endpoint.isEnabled else {
            throw APIError(.conflict, code: "endpoint_disabled", message: "endpoint \(id) is disabled; enable it before a replay")
        }
        guard let delivery = try await store.retryDelivery(id: deliveryID, endpointID: id, now: clock.now) else {
            throw APIError(.notFound, code: "delivery_not_found", message: "endpoint \(id) has no delivery \(deliveryID)")
        }
        onChange()
        return delivery
    }

    public func endpoint(id: String) async throws -> EventEndpoint { try await require(id) }

    public func endpoints() async throws -> [EventEndpoint] { try await store.endpoints() }

    public func deliveries(id: String, status: EventDeliveryStatus?, before: Int64?, limit: Int) async throws -> [(EventDelivery, [EventDeliveryAttempt])] {
        _ = try await require(id)
        var result: [(EventDelivery, [EventDeliveryAttempt])] = []
        for delivery in try await store.deliveries(endpointID: id, status: status, before: before, limit: limit) {
            result.append((delivery, try await store.attempts(deliveryID: delivery.id)))
        }
        return result
    }

    // MARK: Checks

    private func require(_ id: String) async throws -> EventEndpoint {
        guard let endpoint = try await store.endpoint(id: id) else { throw Self.notFound(id) }
        return endpoint
    }

    static func notFound(_ id: String) -> APIError {
        APIError(.notFound, code: "endpoint_not_found", message: "no endpoint \(id)")
    }

    private func apply(_ changes: Changes, to endpoint: inout EventEndpoint, isNew: Bool) async throws {
        if let url = changes.url {
            if let refusal = await addressGuard.check(url) {
                throw APIError(.badRequest, code: "invalid_url", message: "url \(refusal.message)")
            }
            endpoint.url = url
        }
        if let description = changes.description {
            guard description.utf8.count <= 1024 else { throw Self.invalid("description", "is longer than 1024 bytes") }
            endpoint.description = description
        }
        if let events = changes.events {
            var patterns: [EventTypePattern] = []
            for (index, text) in events.enumerated() {
                guard let pattern = EventTypePattern(text) else {
                    throw APIError(
                        .badRequest, code: "unknown_event_type",
                        message: "events[\(index)] \"\(text)\" names no event type; use one of \(EventWebhookType.allCases.map(\.rawValue).joined(separator: ", ")), a family such as message.*, or *"
                    )
                }
                if !patterns.contains(pattern) { patterns.append(pattern) }
            }
            endpoint.eventTypes = patterns
        }
        if let rooms = changes.rooms {
            if let bad = rooms.first(where: { $0 < 1 }) { throw Self.invalid("rooms", "must hold room ids (1 or more), got \(bad)") }
            endpoint.roomIDs = Array(Set(rooms)).sorted()
        }
        if let routes = changes.routes {
            if let bad = routes.first(where: { !$0.hasPrefix("/") || $0.utf8.count > 1024 }) {
                throw Self.invalid("routes", "must hold route paths starting with /, got \"\(bad)\"")
            }
            endpoint.routes = Array(Set(routes)).sorted()
        }
        if let headers = changes.headers {
            guard headers.count <= 32 else { throw Self.invalid("headers", "may hold at most 32 headers") }
            for (name, value) in headers {
                guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
                    throw Self.invalid("headers", "has a header name that is not an HTTP token: \"\(name)\"")
                }
                guard !Self.reservedHeaders.contains(name.lowercased()) else {
                    throw Self.invalid("headers", "may not set \(name), which the server sets itself")
                }
                guard value.utf8.count <= 4096, !value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else {
                    throw Self.invalid("headers", "value of \(name) must be one line of at most 4096 bytes")
                }
            }
            endpoint.headers = headers
        }
        if let rateLimit = changes.rateLimit {
            if let value = rateLimit, !(1...100_000).contains(value) {
                throw Self.invalid("rate_limit", "must be from 1 to 100000 requests per second, got \(value)")
            }
            endpoint.rateLimit = rateLimit
        }
    }

    private static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, code: "invalid_field", message: "\(field) \(message)")
    }

    private static func signing(_ text: String?) throws -> EventEndpoint.Signing? {
        guard let text else { return nil }
        guard let signing = EventEndpoint.Signing(rawValue: text) else {
            throw invalid("signing", "must be hmac or ed25519, got \"\(text)\"")
        }
        return signing
    }

    private static func checkSecret(_ secret: String, signing: EventEndpoint.Signing) throws {
        let parsed: StandardWebhookSigner.ParsedSecret
        do {
            parsed = try StandardWebhookSigner.parseSecret(secret)
        } catch {
            throw APIError(.badRequest, code: "invalid_secret", message: "secret \(error.message)")
        }
        switch (parsed, signing) {
        case (.hmac, .hmac), (.ed25519, .ed25519): return
        case (.hmac, .ed25519): throw APIError(.badRequest, code: "invalid_secret", message: "secret must be a whsk_ Ed25519 key for signing ed25519")
        case (.ed25519, .hmac): throw APIError(.badRequest, code: "invalid_secret", message: "secret must be a whsec_ secret for signing hmac")
        }
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    private static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "ep_" + (0..<12).map { _ in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            return String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16)
        }.joined()
    }
}
