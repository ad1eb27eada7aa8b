import Core
import Foundation
import Hummingbird
import Logging

/// The admin API under `/api/v1/admin`: stored messages (list, show, retry) and API keys (list, create, revoke,
/// rotate). Every endpoint needs an admin key; the GET endpoints also take a read key (`AdminAuthMiddleware`).
struct AdminController {
    /// Where ``endpoints`` are mounted.
    static let mountPath = "/api/v1/admin"
    /// The paths this controller serves (everything under them).
    static let ownedPaths = [mountPath]

    let store: any MessageStore
    let keys: APIKeyManager
    let authenticator: APIKeyAuthenticator
    /// Wakes the retry worker so retried messages go out now, not at its next interval.
    let retryWakeup: Wakeup
    /// Credential policies by route path, for redacting stored headers.
    var credentials: [String: CredentialHeaders] = [:]

    /// The longest page of messages one request may ask for.
    static let maximumLimit = 1000
    /// How long a rotated key's old secret keeps working when the request names no grace.
    static let defaultGrace: Duration = .seconds(86_400)

    /// The admin API's routes, relative to ``mountPath``, every one behind the key check.
    var endpoints: RouteCollection<AppRequestContext> {
        let admin = RouteCollection(context: AppRequestContext.self)
            .add(middleware: AdminAuthMiddleware(authenticator: authenticator))
        admin.get("/messages") { request, _ in try await listMessages(request) }
        admin.post("/messages/retry-failed") { _, context in try await retryFailed(context: context) }
        admin.get("/messages/{id}") { _, context in try await showMessage(context.parameters.require("id")) }
        admin.post("/messages/{id}/retry") { _, context in
            try await retryMessage(context.parameters.require("id"), context: context)
        }
        admin.get("/keys") { _, _ in try await listKeys() }
        admin.post("/keys") { request, context in try await createKey(request, context: context) }
        admin.delete("/keys/{id}") { _, context in try await revokeKey(context.parameters.require("id"), context: context) }
        admin.post("/keys/{id}/rotate") { request, context in
            try await rotateKey(context.parameters.require("id"), request: request, context: context)
        }
        return admin
    }

    // MARK: Messages

    func listMessages(_ request: Request) async throws -> MessagePage {
        let query = request.uri.queryParameters
        var messageQuery = MessageQuery(limit: 50)
        if let status = query["status"].map(String.init) {
            guard let value = MessageStatus(rawValue: status) else {
                throw APIError(
                    .badRequest, code: "invalid_status",
                    message: "unknown status \"\(status)\"; use one of \(MessageStatus.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            messageQuery.status = value
        }
        if let limit = query["limit"].map(String.init) {
            guard let value = Int(limit), (1...Self.maximumLimit).contains(value) else {
                throw APIError(.badRequest, code: "invalid_limit", message: "limit must be a whole number from 1 to \(Self.maximumLimit), got \"\(limit)\"")
            }
            messageQuery.limit = value
        }
        if let before = query["before"].map(String.init) {
            guard try await store.message(id: MessageID(rawValue: before)) != nil else {
                throw APIError(.badRequest, code: "invalid_before", message: "before names no stored message: \"\(before)\"")
            }
            messageQuery.before = MessageID(rawValue: before)
        }
        let messages = try await store.messages(matching: messageQuery)
        return MessagePage(
            messages: messages.map(MessageSummary.init),
            count: messages.count,
            nextBefore: messages.count == messageQuery.limit ? messages.last?.message.id.rawValue : nil
        )
    }

    func showMessage(_ id: String) async throws -> MessageDetail {
        let messageID = MessageID(rawValue: id)
        guard let message = try await store.message(id: messageID) else { throw Self.noMessage(id) }
        let attempts = try await store.attempts(messageID: messageID)
        return MessageDetail(message, attempts: attempts, credentials: credentials[message.message.route] ?? .standard)
    }

    func retryMessage(_ id: String, context: AppRequestContext) async throws -> MessageRetried {
        let messageID = MessageID(rawValue: id)
        guard try await store.retry(id: messageID, now: keys.clock.now) else {
            guard let message = try await store.message(id: messageID) else { throw Self.noMessage(id) }
            throw APIError(
                .conflict, code: "not_retryable",
                message: "message \(id) is \(message.status.rawValue); only failed or retrying messages can be retried"
            )
        }
        retryWakeup.signal()
        context.logger.info("message retried by admin", metadata: ["message_id": "\(id)"])
        return MessageRetried(messageID: id, status: MessageStatus.pending.rawValue)
    }

    func retryFailed(context: AppRequestContext) async throws -> FailedMessagesRetried {
        let count = try await store.retryAllFailed(now: keys.clock.now)
        if count > 0 { retryWakeup.signal() }
        context.logger.info("failed messages retried by admin", metadata: ["count": "\(count)"])
        return FailedMessagesRetried(retried: count)
    }

    static func noMessage(_ id: String) -> APIError {
        APIError(.notFound, code: "message_not_found", message: "no message \(id)")
    }

    // MARK: Keys

    struct CreateKeyRequest: Decodable {
        var name: String?
        var scope: String?
        var expiresIn: String?

        enum CodingKeys: String, CodingKey {
            case name, scope
            case expiresIn = "expires_in"
        }
    }

    struct RotateKeyRequest: Decodable {
        var grace: String?
    }

    func listKeys() async throws -> KeyList {
        let now = keys.clock.now
        let all = try await keys.list()
        return KeyList(keys: all.map { KeyDocument($0, now: now) })
    }

    func createKey(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<KeyDocument> {
        let body = try await decode(CreateKeyRequest.self, from: request)
        guard let name = body.name else {
            throw APIError(.badRequest, code: "invalid_input", message: "name is required")
        }
        let scope = try Self.scope(body.scope ?? APIKeyScope.admin.rawValue)
        let expiresIn = try body.expiresIn.map { try Self.duration($0, field: "expires_in") }
        let issued = try await mapped { try await keys.create(name: name, scope: scope, expiresIn: expiresIn) }
        context.logger.notice("API key created", metadata: ["key_id": "\(issued.record.id)", "scope": "\(scope.rawValue)"])
        var document = KeyDocument(issued.record, now: keys.clock.now)
        document.secret = issued.secret
        return EditedResponse(status: .created, response: document)
    }

    func revokeKey(_ reference: String, context: AppRequestContext) async throws -> KeyDocument {
        let key = try await mapped { try await keys.revoke(reference) }
        context.logger.notice("API key revoked", metadata: ["revoked_key_id": "\(key.id)"])
        return KeyDocument(key, now: keys.clock.now)
    }

    func rotateKey(_ reference: String, request: Request, context: AppRequestContext) async throws -> EditedResponse<KeyDocument> {
        let body = try await decode(RotateKeyRequest.self, from: request, allowEmpty: true)
        let grace = try body.grace.map { try Self.duration($0, field: "grace", allowZero: true) } ?? Self.defaultGrace
        let issued = try await mapped { try await keys.rotate(reference, grace: grace) }
        context.logger.notice("API key rotated", metadata: ["new_key_id": "\(issued.record.id)"])
        let now = keys.clock.now
        var document = KeyDocument(issued.record, now: now)
        document.secret = issued.secret
        document.oldKeyValidUntil = now.addingTimeInterval(grace.seconds).rfc3339
        return EditedResponse(status: .created, response: document)
    }

    static func scope(_ text: String) throws -> APIKeyScope {
        guard let scope = APIKeyScope(rawValue: text) else {
            throw APIError(
                .badRequest, code: "invalid_scope",
                message: "unknown scope \"\(text)\"; use one of \(APIKeyScope.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return scope
    }

    static func duration(_ text: String, field: String, allowZero: Bool = false) throws -> Duration {
        guard let value = ConfigDuration.parse(text), allowZero ? value >= .zero : value > .zero else {
            throw APIError(.badRequest, code: "invalid_duration", message: "\(field) must be a duration such as 30s, 24h or 90d, got \"\(text)\"")
        }
        return value
    }

    private func decode<Body: Decodable>(_ type: Body.Type, from request: Request, allowEmpty: Bool = false) async throws -> Body {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        if allowEmpty && buffer.readableBytes == 0, let empty = try? JSONDecoder().decode(Body.self, from: Data("{}".utf8)) {
            return empty
        }
        do {
            return try JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError(.badRequest, code: "invalid_json", message: "the body must be a JSON object with the documented fields")
        }
    }

    /// Runs a key operation, turning its refusals into 4xx answers.
    private func mapped<Value>(_ operation: () async throws -> Value) async throws -> Value {
        do {
            return try await operation()
        } catch let error as APIKeyManagementError {
            let status: HTTPResponse.Status = switch error.code {
            case .notFound: .notFound
            case .ambiguous, .notActive: .conflict
            case .invalidInput: .badRequest
            }
            throw APIError(status, code: error.code.rawValue, message: error.message)
        }
    }
}
