import Core
import Foundation
import Hummingbird
import WebhookSecurity

/// The admin API for event-webhook endpoints, under `/api/v1/admin/endpoints`: create, list, show, update, delete,
/// disable, enable, rotate the secret, replay, and each endpoint's deliveries with every attempt. An admin key for
/// everything; the GET endpoints also take a read key.
struct EndpointsController {
    static let mountPath = "/api/v1/admin/endpoints"

    let manager: EndpointManager
    let authenticator: APIKeyAuthenticator

    /// The longest page of deliveries.
    static let maximumLimit = 100

    static let changeFields: Set<String> = ["url", "description", "events", "rooms", "routes", "headers", "rate_limit", "enabled"]

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
            .add(middleware: AdminAuthMiddleware(authenticator: authenticator))
        routes.get { _, _ in EndpointList(endpoints: try await manager.endpoints().map(EndpointDocument.init)) }
        routes.post { request, context in
            let body = try await JSONBody.read(request, allowed: Self.changeFields.union(["secret", "signing"]))
            let created = try await manager.create(try Self.changes(body))
            context.logger.notice("event endpoint created", metadata: ["endpoint": "\(created.endpoint.id)"])
            var document = EndpointDocument(created.endpoint)
            document.secret = created.secret
            return EditedResponse(status: .created, response: document)
        }
        routes.get("{id}") { _, context in EndpointDocument(try await manager.endpoint(id: context.parameters.require("id"))) }
        routes.patch("{id}") { request, context in
            let body = try await JSONBody.read(request, allowed: Self.changeFields)
            return EndpointDocument(try await manager.update(id: context.parameters.require("id"), try Self.changes(body)))
        }
        routes.delete("{id}") { _, context in
            try await manager.delete(id: context.parameters.require("id"))
            return Response(status: .noContent)
        }
        routes.post("{id}/disable") { _, context in
            EndpointDocument(try await manager.setEnabled(id: context.parameters.require("id"), false))
        }
        routes.post("{id}/enable") { _, context in
            EndpointDocument(try await manager.setEnabled(id: context.parameters.require("id"), true))
        }
        routes.post("{id}/rotate-secret") { request, context in
            let body = try await JSONBody.read(request, allowed: ["secret", "grace"], allowEmpty: true)
            let grace = try body.string("grace").map { text -> Duration in
                guard let value = ConfigDuration.parse(text) else {
                    throw JSONBody.invalid("grace", "must be a duration such as 24h or 0s, got \"\(text)\"")
                }
                return value
            }
            let rotated = try await manager.rotateSecret(id: context.parameters.require("id"), secret: try body.string("secret"), grace: grace)
            var document = EndpointDocument(rotated.endpoint)
            document.secret = rotated.secret
            return document
        }
        routes.post("{id}/replay") { request, context in
            let body = try await JSONBody.read(request, allowed: ["since"])
            guard let text = try body.string("since", required: true), let since = RFC3339.date(from: text) else {
                throw JSONBody.invalid("since", "must be an RFC 3339 time such as 2026-12-01T00:00:00Z")
            }
            return ReplayResult(requeued: try await manager.replay(id: context.parameters.require("id"), since: since))
        }
        routes.get("{id}/deliveries") { request, context in
            try await listDeliveries(id: context.parameters.require("id"), request: request)
        }
        routes.post("{id}/deliveries/{delivery}/retry") { _, context in
            guard let deliveryID = Int64(try context.parameters.require("delivery")), deliveryID > 0 else {
                throw APIError(.badRequest, code: "invalid_delivery", message: "the delivery id must be a positive whole number")
            }
            let delivery = try await manager.retry(id: context.parameters.require("id"), deliveryID: deliveryID)
            return DeliveryDocument(delivery, attempts: [])
        }
        return routes
    }

    private func listDeliveries(id: String, request: Request) async throws -> DeliveryPage {
        let query = request.uri.queryParameters
        var status: EventDeliveryStatus?
        if let text = query["status"].map(String.init) {
            guard let value = EventDeliveryStatus(rawValue: text) else {
                throw APIError(
                    .badRequest, code: "invalid_status",
                    message: "unknown status \"\(text)\"; use one of \(EventDeliveryStatus.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            status = value
        }
        var limit = 50
        if let text = query["limit"].map(String.init) {
            guard let value = Int(text), (1...Self.maximumLimit).contains(value) else {
                throw APIError(.badRequest, code: "invalid_limit", message: "limit must be a whole number from 1 to \(Self.maximumLimit), got \"\(text)\"")
            }
            limit = value
        }
        var before: Int64?
        if let text = query["before"].map(String.init) {
            guard let value = Int64(text), value > 0 else {
                throw APIError(.badRequest, code: "invalid_before", message: "before must be a delivery id (a positive whole number), got \"\(text)\"")
            }
            before = value
        }
        let page = try await manager.deliveries(id: id, status: status, before: before, limit: limit)
        return DeliveryPage(
            deliveries: page.map { DeliveryDocument($0.0, attempts: $0.1) },
            nextBefore: page.count == limit ? page.last?.0.id : nil
        )
    }

    /// A create or update body as changes; every field checked for its JSON type here, for its value by the manager.
    static func changes(_ body: JSONBody) throws -> EndpointManager.Changes {
        var changes = EndpointManager.Changes()
        changes.url = try body.string("url")
        changes.description = try body.string("description")
        changes.events = try body.stringArray("events")
        changes.rooms = body.has("rooms") ? try body.integers("rooms") : nil
        changes.routes = try body.stringArray("routes")
        changes.headers = try body.stringObject("headers")
        if body.has("rate_limit") {
            let value = try body.integer("rate_limit", nullable: true)
            if let value, !(1...100_000).contains(value) {
                throw JSONBody.invalid("rate_limit", "must be from 1 to 100000 requests per second, got \(value)")
            }
            changes.rateLimit = .some(value.map { Int($0) })
        }
        changes.enabled = try body.boolean("enabled")
        changes.secret = try body.string("secret")
        changes.signing = try body.string("signing")
        return changes
    }
}

extension JSONBody {
    /// An array of strings; nil when absent.
    func stringArray(_ name: String) throws -> [String]? {
        guard has(name) else { return nil }
        guard case .array(let items)? = value(name) else { throw Self.wrongType(name, expected: "an array of strings", got: value(name) ?? .null) }
        return try items.map { item in
            guard case .string(let text) = item else { throw Self.wrongType(name, expected: "an array of strings", got: item) }
            return text
        }
    }

    /// An object whose values are all strings; nil when absent.
    func stringObject(_ name: String) throws -> [String: String]? {
        guard has(name) else { return nil }
        guard case .object(let fields)? = value(name) else { throw Self.wrongType(name, expected: "an object of strings", got: value(name) ?? .null) }
        return try fields.mapValues { item in
            guard case .string(let text) = item else { throw Self.wrongType(name, expected: "an object of strings", got: item) }
            return text
        }
    }

    /// A Boolean; nil when absent.
    func boolean(_ name: String) throws -> Bool? {
        guard has(name) else { return nil }
        guard case .bool(let flag)? = value(name) else { throw Self.wrongType(name, expected: "true or false", got: value(name) ?? .null) }
        return flag
    }
}

/// An endpoint as the admin API shows it: never its secret (except in the answer that made it), header values
/// masked.
struct EndpointDocument: ResponseEncodable, Sendable {
    var id: String
    var url: String
    var description: String
    var events: [String]
    var rooms: [Int64]
    var routes: [String]
    var headers: [String: String]
    var enabled: Bool
    var disabledReason: String?
    var disabledAt: Date?
    var rateLimit: Int?
    var signing: String
    /// `whpk_…`, for an Ed25519 endpoint: what the receiver verifies with.
    var publicKey: String?
    /// When the secret before the last rotation stops signing.
    var previousSecretExpiresAt: Date?
    var createdAt: Date
    var updatedAt: Date
    var failingSince: Date?
    var consecutiveFailures: Int
    /// Only when the endpoint was made or its secret rotated.
    var secret: String?

    init(_ endpoint: EventEndpoint) {
        id = endpoint.id
        url = endpoint.url
        description = endpoint.description
        events = endpoint.eventTypes.map(\.text)
        rooms = endpoint.roomIDs
        routes = endpoint.routes
        headers = endpoint.headers.mapValues { _ in "********" }
        enabled = endpoint.isEnabled
        disabledReason = endpoint.disabledReason
        disabledAt = endpoint.disabledAt
        rateLimit = endpoint.rateLimit
        signing = endpoint.signing.rawValue
        publicKey = StandardWebhookSigner.publicKey(for: endpoint.secret)
        previousSecretExpiresAt = endpoint.previousSecret == nil ? nil : endpoint.previousSecretExpiresAt
        createdAt = endpoint.createdAt
        updatedAt = endpoint.updatedAt
        failingSince = endpoint.failingSince
        consecutiveFailures = endpoint.consecutiveFailures
    }

    enum CodingKeys: String, CodingKey {
        case id, url, description, events, rooms, routes, headers, enabled, signing, secret
        case disabledReason = "disabled_reason", disabledAt = "disabled_at", rateLimit = "rate_limit", publicKey = "public_key"
        case previousSecretExpiresAt = "previous_secret_expires_at", createdAt = "created_at", updatedAt = "updated_at"
        case failingSince = "failing_since", consecutiveFailures = "consecutive_failures"
    }
}

struct EndpointList: ResponseEncodable, Sendable {
    var endpoints: [EndpointDocument]
}

struct ReplayResult: ResponseEncodable, Sendable {
    var requeued: Int
}

struct DeliveryPage: ResponseEncodable, Sendable {
    var deliveries: [DeliveryDocument]
    var nextBefore: Int64?

    enum CodingKeys: String, CodingKey {
        case deliveries
        case nextBefore = "next_before"
    }
}

/// One delivery with its attempts.
struct DeliveryDocument: ResponseEncodable, Sendable {
    struct Attempt: Encodable, Sendable {
        var number: Int
        var startedAt: Date
        var statusCode: Int?
        var durationMs: Double
        var error: String?
        var responseExcerpt: String?

        enum CodingKeys: String, CodingKey {
            case number, error
            case startedAt = "started_at", statusCode = "status_code", durationMs = "duration_ms", responseExcerpt = "response_excerpt"
        }
    }

    var id: Int64
    var endpointID: String
    var webhookID: String
    var eventType: String
    var eventPosition: Int64
    var status: String
    var attemptCount: Int
    var nextAttemptAt: Date?
    var lastStatusCode: Int?
    var lastError: String?
    var createdAt: Date
    var updatedAt: Date
    var deliveredAt: Date?
    var attempts: [Attempt]

    init(_ delivery: EventDelivery, attempts: [EventDeliveryAttempt]) {
        id = delivery.id
        endpointID = delivery.endpointID
        webhookID = delivery.webhookID
        eventType = delivery.eventType
        eventPosition = delivery.eventPosition
        status = delivery.status.rawValue
        attemptCount = delivery.attemptCount
        nextAttemptAt = delivery.nextAttemptAt
        lastStatusCode = delivery.lastStatusCode
        lastError = delivery.lastError
        createdAt = delivery.createdAt
        updatedAt = delivery.updatedAt
        deliveredAt = delivery.deliveredAt
        self.attempts = attempts.map {
            Attempt(
                number: $0.number, startedAt: $0.startedAt, statusCode: $0.statusCode,
                durationMs: ($0.durationMilliseconds * 1000).rounded() / 1000, error: $0.error, responseExcerpt: $0.responseExcerpt
            )
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, status, attempts
        case endpointID = "endpoint_id", webhookID = "webhook_id", eventType = "event_type", eventPosition = "event_position"
        case attemptCount = "attempt_count", nextAttemptAt = "next_attempt_at", lastStatusCode = "last_status_code"
        case lastError = "last_error", createdAt = "created_at", updatedAt = "updated_at", deliveredAt = "delivered_at"
    }
}

/// Endpoints as the command line prints them.
public enum EndpointText {
    /// One endpoint, a field per line; the secret only when given (just made or rotated).
    public static func describe(_ endpoint: EventEndpoint, secret: String? = nil) -> String {
        var document = EndpointDocument(endpoint)
        document.secret = secret
        return JSONOutput.string(document, prettyPrinted: true)
    }

    /// Every endpoint as the admin API lists them.
    public static func json(_ endpoints: [EventEndpoint]) -> String {
        JSONOutput.string(EndpointList(endpoints: endpoints.map(EndpointDocument.init)), prettyPrinted: true)
    }
}
