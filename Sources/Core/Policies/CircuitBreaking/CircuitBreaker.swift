import Synchronization

/// Stops sending to a destination that keeps failing, then probes it with a few trial attempts before resuming.
///
/// Closed: every attempt is allowed, and `failureThreshold` consecutive failures open the circuit. Open: attempts
/// are denied for `openTimeout`, so deliveries are deferred without spending their retries on a destination that is
/// down. Half-open: up to `halfOpenMaxTrials` attempts run at a time; `successThreshold` consecutive successes close
/// the circuit and any failure opens it again.
///
/// Thread-safe. Time is a parameter so tests need not sleep. Every change of state is reported once through the
/// `onTransition` callback, called after the lock is released so it may log, update metrics or call back in.
public final class CircuitBreaker: Sendable {
    /// The thresholds and timeouts of a breaker.
    public struct Configuration: Hashable, Sendable {
        /// Consecutive failures, while closed, that open the circuit.
        public var failureThreshold: Int
        /// How long the circuit stays open before a trial attempt is allowed.
        public var openTimeout: Duration
        /// Consecutive successful trials, while half-open, that close the circuit.
        public var successThreshold: Int
        /// Trial attempts allowed at the same time while half-open.
        public var halfOpenMaxTrials: Int

        /// Creates a configuration with the usual defaults: open after 5 failures for 60 seconds, close after 2
        /// successful trials run one at a time.
        public init(
            failureThreshold: Int = 5,
            openTimeout: Duration = .seconds(60),
            successThreshold: Int = 2,
            halfOpenMaxTrials: Int = 1
        ) {
            self.failureThreshold = failureThreshold
            self.openTimeout = openTimeout
            self.successThreshold = successThreshold
            self.halfOpenMaxTrials = halfOpenMaxTrials
        }

        /// Throws when a value is out of range, for use while validating a configuration file.
        public func validate() throws(PolicyConfigurationError) {
            guard self.failureThreshold > 0 else {
                throw PolicyConfigurationError(
                    code: .invalidValue, message: "circuit breaker failure threshold must be greater than zero")
            }
            guard self.openTimeout > .zero else {
                throw PolicyConfigurationError(
                    code: .invalidValue, message: "circuit breaker open timeout must be greater than zero")
            }
            guard self.successThreshold > 0 else {
                throw PolicyConfigurationError(
                    code: .invalidValue, message: "circuit breaker success threshold must be greater than zero")
            }
            guard self.halfOpenMaxTrials > 0 else {
                throw PolicyConfigurationError(
                    code: .invalidValue, message: "circuit breaker half-open trials must be greater than zero")
            }
        }
    }

    /// Where the breaker stands.
    public enum State: String, Hashable, Sendable, CaseIterable {
        /// Attempts flow normally.
        case closed
        /// Attempts are denied until the open timeout passes.
        case open
        /// A limited number of trial attempts decide whether to close or reopen.
        case halfOpen = "half_open"

        /// The value for a state gauge: 0 closed, 1 open, 2 half-open.
        public var gaugeValue: Int {
            switch self {
            case .closed: 0
            case .open: 1
            case .halfOpen: 2
            }
        }
    }

    /// A change of state, reported through `onTransition`.
    public struct Transition: Hashable, Sendable {
        /// The state left.
        public let from: State
        /// The state entered.
        public let to: State

        /// Creates a transition.
        public init(from: State, to: State) {
            self.from = from
            self.to = to
        }
    }

    /// Whether an attempt may be made now.
    public enum Decision: Hashable, Sendable {
        /// Make the attempt, then report it with ``recordSuccess()`` or ``recordFailure(now:)``.
        case allowed
        /// Do not attempt; defer it by `retryAfter` without counting it as a failed try.
        case denied(retryAfter: Duration)

        /// Whether the attempt may be made.
        public var isAllowed: Bool {
            self == .allowed
        }
    }

    private struct Storage {
        var state: State = .closed
        var consecutiveFailures = 0
        var consecutiveSuccesses = 0
        var openedAt: ContinuousClock.Instant?
        var trialsInFlight = 0
        var lastTrialGrantedAt: ContinuousClock.Instant?
    }

    /// The breaker's settings.
    public let configuration: Configuration
    private let storage: Mutex<Storage>
    private let onTransition: (@Sendable (Transition) -> Void)?

    /// The longest a denied half-open caller is told to wait: trials usually finish quickly, and waiting the whole
    /// open timeout for the next one would slow recovery.
    private static let halfOpenRetryInterval: Duration = .seconds(1)

    /// Creates a closed breaker.
    ///
    /// - Parameter onTransition: Called once for every change of state, outside the breaker's lock.
    /// - Throws: ``PolicyConfigurationError`` when ``Configuration/validate()`` would.
    public convenience init(
        configuration: Configuration = Configuration(),
        onTransition: (@Sendable (Transition) -> Void)? = nil
    ) throws(PolicyConfigurationError) {
        try configuration.validate()
        self.init(validatedConfiguration: configuration, onTransition: onTransition)
    }

    /// Creates a breaker from a configuration its caller has already validated, so that caller need not `try`.
    init(validatedConfiguration configuration: Configuration, onTransition: (@Sendable (Transition) -> Void)?) {
        self.configuration = configuration
        self.storage = Mutex(Storage())
        self.onTransition = onTransition
    }

    /// The current state. An open breaker whose timeout has passed still reads `open` until the next
    /// ``canAttempt(now:)`` admits a trial.
    public var state: State {
        self.storage.withLock { $0.state }
    }

    /// Asks whether an attempt may be made now; when open and the timeout has passed, moves to half-open and
    /// admits this call as a trial.
    public func canAttempt(now: ContinuousClock.Instant = .now) -> Decision {
        let (decision, transition) = self.storage.withLock { storage -> (Decision, Transition?) in
            switch storage.state {
            case .closed:
                return (.allowed, nil)

            case .open:
                guard let openedAt = storage.openedAt else {
                    fatalError("CircuitBreaker invariant broken: open without an opening instant")
                }
                let reopensAt = openedAt + self.configuration.openTimeout
                guard now >= reopensAt else {
                    return (.denied(retryAfter: reopensAt - now), nil)
                }
                storage.state = .halfOpen
                storage.consecutiveSuccesses = 0
                storage.trialsInFlight = 1
                storage.lastTrialGrantedAt = now
                return (.allowed, Transition(from: .open, to: .halfOpen))

            case .halfOpen:
                // A trial whose outcome is never reported (its task was cancelled) would otherwise hold its slot
                // forever and leave the breaker stuck half-open.
                if let grantedAt = storage.lastTrialGrantedAt, now - grantedAt >= self.configuration.openTimeout {
                    storage.trialsInFlight = 0
                }
                guard storage.trialsInFlight < self.configuration.halfOpenMaxTrials else {
                    let staleAt = (storage.lastTrialGrantedAt ?? now) + self.configuration.openTimeout
                    return (.denied(retryAfter: min(staleAt - now, Self.halfOpenRetryInterval)), nil)
                }
                storage.trialsInFlight += 1
                storage.lastTrialGrantedAt = now
                return (.allowed, nil)
            }
        }
        if let transition {
            self.onTransition?(transition)
        }
        return decision
    }

    /// Reports that an allowed attempt succeeded.
    public func recordSuccess() {
        let transition = self.storage.withLock { storage -> Transition? in
            switch storage.state {
            case .closed:
                storage.consecutiveFailures = 0
                return nil
            case .open:
                // A late result of an attempt made before the circuit opened says nothing about recovery since.
                return nil
            case .halfOpen:
                storage.trialsInFlight = max(0, storage.trialsInFlight - 1)
                storage.consecutiveSuccesses += 1
                guard storage.consecutiveSuccesses >= self.configuration.successThreshold else {
                    return nil
                }
                storage = Storage()
                return Transition(from: .halfOpen, to: .closed)
            }
        }
        if let transition {
            self.onTransition?(transition)
        }
    }

    /// Reports that an allowed attempt failed in a way that counts against the destination (a timeout, a refused
    /// connection, a 5xx), not a rejection of this one message.
    public func recordFailure(now: ContinuousClock.Instant = .now) {
        let transition = self.storage.withLock { storage -> Transition? in
            switch storage.state {
            case .closed:
                storage.consecutiveFailures += 1
                guard storage.consecutiveFailures >= self.configuration.failureThreshold else {
                    return nil
                }
                Self.open(&storage, now: now)
                return Transition(from: .closed, to: .open)
            case .open:
                // Late failures from before opening must not push the reopening further away.
                return nil
            case .halfOpen:
                Self.open(&storage, now: now)
                return Transition(from: .halfOpen, to: .open)
            }
        }
        if let transition {
            self.onTransition?(transition)
        }
    }

    private static func open(_ storage: inout Storage, now: ContinuousClock.Instant) {
        storage = Storage()
        storage.state = .open
        storage.openedAt = now
    }
}
