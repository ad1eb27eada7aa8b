import Foundation

/// `webhooks:`: outgoing event webhooks (endpoints subscribe to events; deliveries are signed, retried and, for an
/// endpoint that keeps failing, stopped).
public struct EventWebhookSettings: Sendable {
    /// The delay before each retry; the first attempt is immediate. 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight
    /// attempts over about 33 hours, as the Standard Webhooks guidance suggests.
    public var retrySchedule: [Duration] = [
        .seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000), .seconds(36_000), .seconds(36_000),
    ]
    /// How far each delay may be moved either way at random, as a fraction of it (0.1 = ±10 %), so that a burst of
    /// failures does not come back as a burst.
    public var retryJitter: Double = 0.1
    /// The longest a receiver's `Retry-After` may push a retry out; longer values are cut to this. 1 hour.
    public var retryAfterMax: Duration = .seconds(3600)
    /// How long one request may take, connection included. 15 s.
    public var timeout: Duration = .seconds(15)
    /// An endpoint whose attempts have all failed for this long is disabled. 5 days.
    public var disableAfter: Duration = .seconds(5 * 86_400)
    /// An endpoint whose last this many attempts all failed is disabled; 0 = only `disableAfter` applies.
    public var disableAfterFailures: Int = 0
    /// How long a rotated secret keeps signing beside the new one. 24 hours.
    public var rotationGrace: Duration = .seconds(86_400)
    /// Requests in flight at most, over all endpoints. 64.
    public var concurrency: Int = 64
    /// Requests in flight at most to one endpoint, so that a slow receiver holds only its own deliveries. 8.
    public var maxInFlightPerEndpoint: Int = 8
    /// Networks endpoints may resolve to although they are private, loopback, link-local or otherwise internal
    /// (`allow_networks`; `MESSAGEBRIDGE_WEBHOOKS_ALLOW_NETWORKS=127.0.0.0/8,...`). None by default.
    public var allowNetworks: [CIDRBlock] = []
    /// How much of a receiver's response body is kept with each attempt. 1 KiB.
    public var responseExcerptBytes: Int = 1024
    /// How often the worker looks for new events and due retries when nothing wakes it sooner. 1 s.
    public var pollInterval: Duration = .seconds(1)

    /// The defaults above.
    public init() {}
}
