/// A delivery or gateway policy (circuit breaker, token bucket) was given settings it cannot work with.
///
/// The configuration loader checks the same ranges first and reports them on their key; this error is what the
/// policy types themselves throw when built in code.
public struct PolicyConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem: a closed set, safe to use as a metric label.
    public enum Code: String, Hashable, Sendable {
        /// A value outside the range the policy accepts (a zero threshold, a non-positive period).
        case invalidValue = "invalid_value"
    }

    /// What kind of problem.
    public let code: Code
    /// What was wrong, for a person.
    public let message: String

    /// Makes an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}
