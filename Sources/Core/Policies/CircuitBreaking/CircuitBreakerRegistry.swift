import Synchronization

/// One ``CircuitBreaker`` per destination, created on first use with a shared configuration.
///
/// Destinations come from configuration, so their number is bounded; ``removeBreaker(for:)`` drops one whose
/// route was deleted on reload.
public final class CircuitBreakerRegistry: Sendable {
    /// Called for every change of state of any breaker, with the destination it guards, outside any lock.
    public typealias TransitionHandler = @Sendable (_ destination: String, _ transition: CircuitBreaker.Transition) -> Void

    /// The configuration every breaker is created with.
    public let configuration: CircuitBreaker.Configuration
    private let breakers: Mutex<[String: CircuitBreaker]>
    private let onTransition: TransitionHandler?

    /// Creates an empty registry.
    ///
    /// - Throws: ``PolicyConfigurationError`` when the configuration is out of range.
    public init(
        configuration: CircuitBreaker.Configuration = CircuitBreaker.Configuration(),
        onTransition: TransitionHandler? = nil
    ) throws(PolicyConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.breakers = Mutex([:])
        self.onTransition = onTransition
    }

    /// The breaker for `destination`, created closed on first use.
    public func breaker(for destination: String) -> CircuitBreaker {
        self.breakers.withLock { breakers in
            if let existing = breakers[destination] {
                return existing
            }
            var forward: (@Sendable (CircuitBreaker.Transition) -> Void)?
            if let handler = self.onTransition {
                forward = { transition in handler(destination, transition) }
            }
            let breaker = CircuitBreaker(validatedConfiguration: self.configuration, onTransition: forward)
            breakers[destination] = breaker
            return breaker
        }
    }

    /// Forgets the breaker for `destination`, so a destination re-added later starts closed.
    public func removeBreaker(for destination: String) {
        _ = self.breakers.withLock { $0.removeValue(forKey: destination) }
    }

    /// The state of every known breaker, for exporting a gauge per destination.
    public func states() -> [String: CircuitBreaker.State] {
        let snapshot = self.breakers.withLock { $0 }
        return snapshot.mapValues(\.state)
    }
}
