import Foundation

/// A subscriber of event webhooks: where to send, which events, and how to sign them.
public struct EventEndpoint: Sendable, Equatable {
    /// How requests to the endpoint are signed (Standard Webhooks).
    public enum Signing: String, Sendable, Codable, CaseIterable {
        /// HMAC-SHA256 with a shared `whsec_` secret: `v1,` signatures.
        case hmac
        /// Ed25519 with a private key the server keeps: `v1a,` signatures the receiver checks with the `whpk_` public
        /// key.
        case ed25519
    }

    /// `ep_` and 24 hex digits.
    public var id: String
    /// Where events are POSTed (`http` or `https`).
    public var url: String
    /// What the endpoint is for, for people.
    public var description: String
    /// Which event types it receives; empty: every one.
    public var eventTypes: [EventTypePattern]
    /// Chat events only from these rooms; empty: every room. Events without a room are not filtered by it.
    public var roomIDs: [Int64]
    /// `webhook.*` events only for these routes; empty: every route. Other events are not filtered by it.
    public var routes: [String]
    /// Static headers sent with every request (never the signature headers).
    public var headers: [String: String]
    /// Disabled endpoints get no requests; their events are kept (`held`) for a replay.
    public var isEnabled: Bool
    /// Why it was disabled, when it is.
    public var disabledReason: String?
    /// When it was disabled.
    public var disabledAt: Date?
    /// Requests per second at most; nil: no limit beyond the in-flight cap.
    public var rateLimit: Int?
    /// HMAC or Ed25519.
    public var signing: Signing
    /// The signing secret: `whsec_…` (HMAC) or `whsk_…` (an Ed25519 private key).
    public var secret: String
    /// The secret before the last rotation, still signing until `previousSecretExpiresAt`.
    public var previousSecret: String?
    /// When the previous secret stops signing.
    public var previousSecretExpiresAt: Date?
    /// The event log's head when the endpoint was made: it receives the events after it.
    public var createdPosition: Int64
    /// When it was made.
    public var createdAt: Date
    /// When it last changed.
    public var updatedAt: Date
    /// Since when every attempt has failed; nil after a success.
    public var failingSince: Date?
    /// Failed attempts in a row.
    public var consecutiveFailures: Int

    /// Makes an endpoint value.
    public init(
        id: String, url: String, description: String = "", eventTypes: [EventTypePattern] = [], roomIDs: [Int64] = [],
        routes: [String] = [], headers: [String: String] = [:], isEnabled: Bool = true, disabledReason: String? = nil,
        disabledAt: Date? = nil, rateLimit: Int? = nil, signing: Signing = .hmac, secret: String,
        previousSecret: String? = nil, previousSecretExpiresAt: Date? = nil, createdPosition: Int64 = 0,
        createdAt: Date, updatedAt: Date, failingSince: Date? = nil, consecutiveFailures: Int = 0
    ) {
        self.id = id
        self.url = url
        self.description = description
        self.eventTypes = eventTypes
        self.roomIDs = roomIDs
        self.routes = routes
        self.headers = headers
        self.isEnabled = isEnabled
        self.disabledReason = disabledReason
        self.disabledAt = disabledAt
        self.rateLimit = rateLimit
        self.signing = signing
        self.secret = secret
        self.previousSecret = previousSecret
        self.previousSecretExpiresAt = previousSecretExpiresAt
        self.createdPosition = createdPosition
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.failingSince = failingSince
        self.consecutiveFailures = consecutiveFailures
    }

    /// Whether an event of `type` at `position`, in `roomID` (chat) or for `route` (`webhook.*`), goes to this
    /// endpoint.
    public func accepts(type: String, position: Int64, roomID: Int64?, route: @autoclosure () -> String?) -> Bool {
        guard position > createdPosition else { return false }
        guard eventTypes.isEmpty || eventTypes.contains(where: { $0.matches(type) }) else { return false }
        if let roomID, !roomIDs.isEmpty, !roomIDs.contains(roomID) { return false }
        if !routes.isEmpty, type.hasPrefix("webhook."), let route = route(), !routes.contains(route) { return false }
        return true
    }

    /// The secrets that sign now: the current one, and the previous one during its grace period.
    public func signingSecrets(at now: Date) -> [String] {
        guard let previousSecret, let expiry = previousSecretExpiresAt, expiry > now else { return [secret] }
        return [secret, previousSecret]
    }
}

/// Where one event stands with one endpoint.
public enum EventDeliveryStatus: String, Sendable, Codable, CaseIterable {
    /// Due now or at `next_attempt_at`.
    case pending
    /// A 2xx came back.
    case delivered
    /// Every attempt of the retry schedule failed.
    case failed
    /// The endpoint was disabled: kept for a replay, not attempted.
    case held
}

/// One event for one endpoint, with what has happened to it so far.
public struct EventDelivery: Sendable, Equatable {
    public var id: Int64
    public var endpointID: String
    /// The event's position in the log; also its `webhook-id` (`evt_<position>`), the same on every retry.
    public var eventPosition: Int64
    public var eventType: String
    public var status: EventDeliveryStatus
    /// Attempts made, over every replay.
    public var attemptCount: Int
    /// Attempts since the last (re)queue: the place in the retry schedule.
    public var scheduleStep: Int
    public var nextAttemptAt: Date?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var deliveredAt: Date?

    public init(
        id: Int64, endpointID: String, eventPosition: Int64, eventType: String, status: EventDeliveryStatus,
        attemptCount: Int, scheduleStep: Int, nextAttemptAt: Date?, lastStatusCode: Int?, lastError: String?,
        createdAt: Date, updatedAt: Date, deliveredAt: Date?
    ) {
        self.id = id
        self.endpointID = endpointID
        self.eventPosition = eventPosition
        self.eventType = eventType
        self.status = status
        self.attemptCount = attemptCount
        self.scheduleStep = scheduleStep
        self.nextAttemptAt = nextAttemptAt
        self.lastStatusCode = lastStatusCode
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deliveredAt = deliveredAt
    }

    /// The `webhook-id` header: stable across retries and replays of this event.
    public var webhookID: String { "evt_\(eventPosition)" }
}

/// One request to an endpoint and what came back.
public struct EventDeliveryAttempt: Sendable, Equatable {
    public var number: Int
    public var startedAt: Date
    public var statusCode: Int?
    public var durationMilliseconds: Double
    public var error: String?
    /// The first bytes of the response body.
    public var responseExcerpt: String?

    public init(number: Int, startedAt: Date, statusCode: Int?, durationMilliseconds: Double, error: String?, responseExcerpt: String?) {
        self.number = number
        self.startedAt = startedAt
        self.statusCode = statusCode
        self.durationMilliseconds = durationMilliseconds
        self.error = error
        self.responseExcerpt = responseExcerpt
    }
}

/// A delivery that is due, with its event: what the worker needs to build the request.
public struct DueEventDelivery: Sendable {
    public var delivery: EventDelivery
    /// The event's data as JSON.
    public var payload: Data
    /// When the event happened.
    public var eventCreatedAt: Date

    public init(delivery: EventDelivery, payload: Data, eventCreatedAt: Date) {
        self.delivery = delivery
        self.payload = payload
        self.eventCreatedAt = eventCreatedAt
    }
}

/// What an attempt (or a decision not to attempt) means for its delivery.
public struct EventDeliveryOutcome: Sendable {
    public enum Change: Sendable, Equatable {
        /// 2xx.
        case delivered
        /// Failed; try again at the date.
        case retry(at: Date)
        /// Failed, and the schedule is spent.
        case failed
        /// Not attempted (circuit breaker open, rate limit): due again at the date, no attempt counted.
        case deferred(until: Date)
        /// The receiver answered 410 Gone: the endpoint is disabled at once and this delivery held.
        case gone
    }

    public var deliveryID: Int64
    public var endpointID: String
    public var change: Change
    /// The attempt, when one was made.
    public var attempt: EventDeliveryAttempt?

    public init(deliveryID: Int64, endpointID: String, change: Change, attempt: EventDeliveryAttempt?) {
        self.deliveryID = deliveryID
        self.endpointID = endpointID
        self.change = change
        self.attempt = attempt
    }
}

/// An endpoint disabled by an outcome write, for the log and metrics.
public struct DisabledEndpoint: Sendable, Equatable {
    public var endpointID: String
    public var reason: String

    public init(endpointID: String, reason: String) {
        self.endpointID = endpointID
        self.reason = reason
    }
}

/// When an endpoint is disabled for failing.
public struct EndpointDisablePolicy: Sendable {
    /// Failing continuously for this long.
    public var after: Duration
    /// This many failed attempts in a row (0: off).
    public var afterFailures: Int

    public init(after: Duration, afterFailures: Int) {
        self.after = after
        self.afterFailures = afterFailures
    }
}
