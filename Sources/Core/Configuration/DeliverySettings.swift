/// `circuit_breaker:`: one breaker per destination (HTTP host or Kafka cluster).
public struct CircuitBreakerSettings: Sendable {
    /// Whether breakers are used at all.
    public var isEnabled = true
    /// Consecutive failures that open a breaker.
    public var failureThreshold = 5
    /// How long an open breaker defers deliveries before it lets a trial through.
    public var openTimeout: Duration = .seconds(60)
    /// Consecutive successes in half-open that close it again.
    public var successThreshold = 2

    /// Defaults 5 / 60 s / 2, as in the gateway this replaces.
    public init() {}
}
