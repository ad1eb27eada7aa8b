/// Why an inbound request's signature was rejected.
///
/// It names the check that failed and the header concerned, never the expected value, so it can go into a log or
/// a response body without helping a forger.
public struct VerificationFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which check failed; its description is a stable `snake_case` label, safe as a metric label.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case missingHeader = "missing_header"
            case malformedHeader = "malformed_header"
            case timestampTooOld = "timestamp_too_old"
            case timestampInFuture = "timestamp_in_future"
            case noMatchingSignature = "no_matching_signature"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A header the scheme needs is absent or empty.
        public static let missingHeader = Code(.missingHeader)
        /// A header is present but cannot be parsed (bad prefix, bad encoding, non-numeric timestamp, ...).
        public static let malformedHeader = Code(.malformedHeader)
        /// The signature is valid but its timestamp is older than the tolerance: probably a replay.
        public static let timestampTooOld = Code(.timestampTooOld)
        /// The signature is valid but its timestamp is further ahead than the tolerance.
        public static let timestampInFuture = Code(.timestampInFuture)
        /// No signature in the request matches any configured secret or key.
        public static let noMatchingSignature = Code(.noMatchingSignature)

        /// The stable `snake_case` label.
        public var description: String {
            self.base.rawValue
        }
    }

    /// Which check failed.
    public let code: Code
    /// The header concerned, spelt as configured; `nil` when the failure is about the signature as a whole.
    public let header: String?

    /// Creates a failure for a check and, when one header is to blame, that header.
    public init(code: Code, header: String? = nil) {
        self.code = code
        self.header = header
    }

    /// A short explanation, naming the header when there is one.
    public var description: String {
        switch self.code {
        case .missingHeader: "missing header \(self.header ?? "")"
        case .malformedHeader: "malformed header \(self.header ?? "")"
        case .timestampTooOld: "signature timestamp is too old"
        case .timestampInFuture: "signature timestamp is in the future"
        default: "no signature matches"
        }
    }

    static func missing(_ header: String) -> Self {
        Self(code: .missingHeader, header: header)
    }

    static func malformed(_ header: String) -> Self {
        Self(code: .malformedHeader, header: header)
    }

    static let noMatch = Self(code: .noMatchingSignature)
}
