import Foundation

/// When a failed event delivery is tried again: a published list of delays with jitter, stretched by a receiver's
/// `Retry-After` up to a bound.
public struct EventRetrySchedule: Sendable {
    /// The delay before each retry; the first attempt is immediate, so `delays.count + 1` attempts in all.
    public var delays: [Duration]
    /// Each delay is moved by up to this fraction either way (0.1 = ±10 %).
    public var jitter: Double
    /// The longest a `Retry-After` may push a retry out.
    public var retryAfterMax: Duration

    public init(delays: [Duration], jitter: Double, retryAfterMax: Duration) {
        self.delays = delays
        self.jitter = jitter
        self.retryAfterMax = retryAfterMax
    }

    /// How many attempts one queueing of a delivery gets.
    public var attempts: Int { delays.count + 1 }

    /// When to try again after attempt number `attempt` (1 = the first since the delivery was queued) failed at
    /// `now`; nil when that was the last one the schedule allows.
    public func nextAttempt(
        afterFailedAttempt attempt: Int, now: Date, retryAfter: Duration?, using generator: inout some RandomNumberGenerator
    ) -> Date? {
        guard attempt >= 1, attempt <= delays.count else { return nil }
        let base = delays[attempt - 1].seconds
        var delay = base
        if jitter > 0, base > 0 {
            delay = base * (1 + Double.random(in: -jitter...jitter, using: &generator))
        }
        if let retryAfter {
            delay = max(delay, min(retryAfter.seconds, retryAfterMax.seconds))
        }
        return now.addingTimeInterval(max(0, delay))
    }
}

/// Where event endpoints and their deliveries are kept, beside the event log they are fanned out from.
public protocol EventEndpointStore: Sendable {
    /// Stores a new endpoint; it receives events after the log's head at this moment.
    func createEndpoint(_ endpoint: EventEndpoint) async throws -> EventEndpoint
    /// One endpoint.
    func endpoint(id: String) async throws -> EventEndpoint?
    /// Every endpoint, oldest first.
    func endpoints() async throws -> [EventEndpoint]
    /// Writes an endpoint's settings (URL, filters, headers, limits, secrets); counters and state are not changed.
    func updateEndpoint(_ endpoint: EventEndpoint, now: Date) async throws -> EventEndpoint?
    /// Removes an endpoint with its deliveries; false when there was none.
    func deleteEndpoint(id: String) async throws -> Bool
    /// Disables an endpoint (its pending deliveries become held, and an `endpoint.disabled` event is logged) or
    /// enables it (held deliveries stay held until replayed). Nil when there is no such endpoint.
    func setEnabled(id: String, enabled: Bool, reason: String?, now: Date) async throws -> EventEndpoint?
    /// Reads up to `limit` events after the fan-out cursor, writes one delivery per matching endpoint (held for a
    /// disabled one), and moves the cursor, in one transaction. Returns how many events it read.
    func fanOut(limit: Int, now: Date) async throws -> Int
    /// Pending deliveries due at `now`, oldest due first, up to each endpoint's limit in `limits`, skipping each
    /// endpoint's ids in `excluded` (those in flight or read already).
    func dueDeliveries(limits: [String: Int], now: Date, excluding excluded: [String: Set<Int64>]) async throws -> [DueEventDelivery]
    /// The earliest `next_attempt_at` of a pending delivery of these endpoints.
    func nextDueDate(endpointIDs: [String]) async throws -> Date?
    /// Writes outcomes, with each endpoint's failure streak, disabling those `policy` (or a 410) says to.
    func record(_ outcomes: [EventDeliveryOutcome], policy: EndpointDisablePolicy, now: Date) async throws -> [DisabledEndpoint]
    /// Queues again the endpoint's held and failed deliveries of events since `since`; returns how many.
    func replay(endpointID: String, since: Date, now: Date) async throws -> Int
    /// Queues one delivery again (whatever its status but pending); nil when the endpoint has no such delivery.
    func retryDelivery(id: Int64, endpointID: String, now: Date) async throws -> EventDelivery?
    /// One endpoint's deliveries, newest first, before the delivery id `before`.
    func deliveries(endpointID: String, status: EventDeliveryStatus?, before: Int64?, limit: Int) async throws -> [EventDelivery]
    /// One delivery's attempts, in order.
    func attempts(deliveryID: Int64) async throws -> [EventDeliveryAttempt]
}
