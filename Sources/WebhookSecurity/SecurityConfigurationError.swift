/// A configuration value that cannot work, found while building a verifier, rate limiter or circuit breaker.
///
/// Thrown at start-up (or while validating a configuration file) so that a bad setting fails loudly instead of
/// letting every request through or rejecting every request. The message names the problem and the offending
/// setting but never a secret's value, so it is safe to print and to log.
public struct SecurityConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem was found; its description is a stable `snake_case` label.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case missingSecret = "missing_secret"
            case invalidSecret = "invalid_secret"
            case missingHeaderName = "missing_header_name"
            case invalidHeaderName = "invalid_header_name"
            case missingPublicKey = "missing_public_key"
            case invalidPublicKey = "invalid_public_key"
            case inapplicableOption = "inapplicable_option"
            case invalidValue = "invalid_value"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A scheme that signs with a shared secret was given no secret.
        public static let missingSecret = Code(.missingSecret)
        /// A secret is empty or cannot be decoded (for example `whsec_` followed by invalid base64).
        public static let invalidSecret = Code(.invalidSecret)
        /// The scheme needs a header name and none was given.
        public static let missingHeaderName = Code(.missingHeaderName)
        /// The header name is empty or contains characters not allowed in an HTTP field name.
        public static let invalidHeaderName = Code(.invalidHeaderName)
        /// The `rsa` scheme was given no public key.
        public static let missingPublicKey = Code(.missingPublicKey)
        /// The public key is not a PEM (or base64 DER) RSA public key of at least 1024 bits.
        public static let invalidPublicKey = Code(.invalidPublicKey)
        /// An option was set that the chosen scheme fixes or ignores, which usually means a mistaken scheme.
        public static let inapplicableOption = Code(.inapplicableOption)
        /// A numeric setting is out of range (zero or negative thresholds, durations, limits).
        public static let invalidValue = Code(.invalidValue)

        /// The stable `snake_case` label, safe to use as a metric label or a JSON error code.
        public var description: String {
            self.base.rawValue
        }
    }

    /// What kind of problem was found.
    public let code: Code
    /// A human-readable explanation naming the setting; never contains secret material.
    public let message: String

    /// Creates an error with a code and a message that must not contain secret material.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The code and the message, for logs and command-line output.
    public var description: String {
        "\(self.code): \(self.message)"
    }
}
