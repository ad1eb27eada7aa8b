import Core
import Synchronization
import Testing

/// Collects reported transitions so tests can assert each is reported exactly once.
final class TransitionLog: Sendable {
    private let entries = Mutex<[(String, CircuitBreaker.Transition)]>([])

    func append(_ destination: String, _ transition: CircuitBreaker.Transition) {
        self.entries.withLock { $0.append((destination, transition)) }
    }

    var transitions: [CircuitBreaker.Transition] {
        self.entries.withLock { $0.map(\.1) }
    }

    var destinations: [String] {
        self.entries.withLock { $0.map(\.0) }
    }
}

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    let start = ContinuousClock.now
    let log = TransitionLog()

    func makeBreaker(_ configuration: CircuitBreaker.Configuration = .init()) throws -> CircuitBreaker {
        let log = self.log
        return try CircuitBreaker(configuration: configuration) { log.append("", $0) }
    }

    func trip(_ breaker: CircuitBreaker, at instant: ContinuousClock.Instant) {
        for _ in 0..<breaker.configuration.failureThreshold {
            #expect(breaker.canAttempt(now: instant).isAllowed)
            breaker.recordFailure(now: instant)
        }
    }

    @Test func opensAfterThresholdConsecutiveFailures() throws {
        let breaker = try self.makeBreaker()
        for _ in 0..<4 {
            breaker.recordFailure(now: self.start)
        }
        #expect(breaker.state == .closed)
        // A success resets the count: failures must be consecutive.
        breaker.recordSuccess()
        for _ in 0..<4 {
            breaker.recordFailure(now: self.start)
        }
        #expect(breaker.state == .closed)
        breaker.recordFailure(now: self.start)
        #expect(breaker.state == .open)
        #expect(self.log.transitions == [.init(from: .closed, to: .open)])
    }

    @Test func deniesWhileOpenAndSaysWhenToRetry() throws {
        let breaker = try self.makeBreaker()
        self.trip(breaker, at: self.start)
        #expect(breaker.canAttempt(now: self.start) == .denied(retryAfter: .seconds(60)))
        #expect(breaker.canAttempt(now: self.start + .seconds(45)) == .denied(retryAfter: .seconds(15)))
        // Late failures of attempts started before opening do not push reopening back.
        breaker.recordFailure(now: self.start + .seconds(50))
        #expect(breaker.canAttempt(now: self.start + .seconds(59)) == .denied(retryAfter: .seconds(1)))
        #expect(breaker.state == .open)
    }

    @Test func halfOpensAfterTimeoutAndAdmitsLimitedTrials() throws {
        let breaker = try self.makeBreaker()
        self.trip(breaker, at: self.start)
        let reopening = self.start + .seconds(60)
        #expect(breaker.canAttempt(now: reopening) == .allowed)
        #expect(breaker.state == .halfOpen)
        // One trial at a time by default; a second caller waits briefly rather than for a whole open timeout.
        #expect(breaker.canAttempt(now: reopening) == .denied(retryAfter: .seconds(1)))
        #expect(self.log.transitions == [.init(from: .closed, to: .open), .init(from: .open, to: .halfOpen)])
    }

    @Test func closesAfterSuccessThresholdSuccesses() throws {
        let breaker = try self.makeBreaker()
        self.trip(breaker, at: self.start)
        let reopening = self.start + .seconds(60)
        #expect(breaker.canAttempt(now: reopening).isAllowed)
        breaker.recordSuccess()
        #expect(breaker.state == .halfOpen)
        #expect(breaker.canAttempt(now: reopening).isAllowed)
        breaker.recordSuccess()
        #expect(breaker.state == .closed)
        #expect(self.log.transitions.last == .init(from: .halfOpen, to: .closed))
        // Closed again with a fresh failure count.
        for _ in 0..<4 {
            breaker.recordFailure(now: reopening)
        }
        #expect(breaker.state == .closed)
    }

    @Test func reopensOnHalfOpenFailure() throws {
        let breaker = try self.makeBreaker()
        self.trip(breaker, at: self.start)
        let reopening = self.start + .seconds(60)
        #expect(breaker.canAttempt(now: reopening).isAllowed)
        breaker.recordSuccess()
        #expect(breaker.canAttempt(now: reopening).isAllowed)
        breaker.recordFailure(now: reopening + .seconds(1))
        #expect(breaker.state == .open)
        // The new open period counts from the failed trial.
        #expect(breaker.canAttempt(now: reopening + .seconds(31)) == .denied(retryAfter: .seconds(30)))
        #expect(self.log.transitions.map(\.to) == [.open, .halfOpen, .open])
    }

    @Test func abandonedTrialDoesNotWedgeHalfOpen() throws {
        let breaker = try self.makeBreaker(.init(openTimeout: .seconds(10)))
        self.trip(breaker, at: self.start)
        #expect(breaker.canAttempt(now: self.start + .seconds(10)).isAllowed)
        // That trial never reports back; after another open timeout a new trial is admitted.
        #expect(!breaker.canAttempt(now: self.start + .seconds(15)).isAllowed)
        #expect(breaker.canAttempt(now: self.start + .seconds(20)).isAllowed)
    }

    @Test func gaugeValues() {
        #expect(CircuitBreaker.State.closed.gaugeValue == 0)
        #expect(CircuitBreaker.State.open.gaugeValue == 1)
        #expect(CircuitBreaker.State.halfOpen.gaugeValue == 2)
    }

    @Test func rejectsInvalidConfiguration() {
        #expect(throws: PolicyConfigurationError.self) { try CircuitBreaker(configuration: .init(failureThreshold: 0)) }
        #expect(throws: PolicyConfigurationError.self) { try CircuitBreaker(configuration: .init(openTimeout: .zero)) }
        #expect(throws: PolicyConfigurationError.self) { try CircuitBreaker(configuration: .init(successThreshold: 0)) }
    }
}

@Suite("Circuit breaker registry")
struct CircuitBreakerRegistryTests {
    @Test func keepsOneBreakerPerDestinationAndReportsWhich() throws {
        let log = TransitionLog()
        let registry = try CircuitBreakerRegistry(configuration: .init(failureThreshold: 1)) { log.append($0, $1) }
        let now = ContinuousClock.now
        #expect(registry.breaker(for: "https://a.example") === registry.breaker(for: "https://a.example"))
        registry.breaker(for: "https://a.example").recordFailure(now: now)
        #expect(registry.breaker(for: "https://a.example").canAttempt(now: now) == .denied(retryAfter: .seconds(60)))
        #expect(registry.breaker(for: "kafka:events").canAttempt(now: now).isAllowed)
        #expect(registry.states() == ["https://a.example": .open, "kafka:events": .closed])
        #expect(log.destinations == ["https://a.example"])

        registry.removeBreaker(for: "https://a.example")
        #expect(registry.breaker(for: "https://a.example").state == .closed)
    }
}
