/// Which request headers of a route are credentials presented to MessageBridge itself, and which of those the
/// route keeps for its destination.
///
/// Credentials are `Authorization`, `Proxy-Authorization`, `Cookie` and the route's signature header (its
/// `verify:` scheme's). At ingest they are dropped before the message is stored, so they never reach the disk, the
/// admin API, a Kafka record or an HTTP delivery; a route keeps one only when it names it in
/// `forward_credentials` (a receiver that re-checks the signature, say). Even a kept credential is shown as
/// `[redacted]` by the admin API and the command line, whoever asks.
public struct CredentialHeaders: Sendable, Equatable {
    /// Headers that are credentials on every route, lowercased.
    public static let alwaysCredentials: Set<String> = ["authorization", "proxy-authorization", "cookie"]

    /// What the admin API and the command line show instead of a credential's value.
    public static let redactedValue = "[redacted]"

    /// The policy for a message whose route is no longer configured: only the headers that are always credentials.
    public static let standard = CredentialHeaders(signatureHeaders: [], forwarded: [])

    /// Lowercased names of this route's credential headers.
    public let names: Set<String>
    /// Lowercased names of the credentials this route stores and forwards.
    public let forwarded: Set<String>

    /// Makes a route's policy from the names of its signature headers and of the credentials it forwards.
    public init(signatureHeaders: some Sequence<String>, forwarded: some Sequence<String>) {
        names = Self.alwaysCredentials.union(signatureHeaders.map { $0.lowercased() })
        self.forwarded = Set(forwarded.map { $0.lowercased() })
    }

    /// Whether `name` is a credential on this route.
    public func isCredential(_ name: String) -> Bool {
        names.contains(name.lowercased())
    }

    /// Whether a header of this name is stored with the message and forwarded to its destination.
    public func isKept(_ name: String) -> Bool {
        !isCredential(name) || forwarded.contains(name.lowercased())
    }

    /// `headers` without the credentials this route does not keep (also for rows stored before this policy).
    public func kept(_ headers: [MessageHeader]) -> [MessageHeader] {
        headers.allSatisfy { isKept($0.name) } ? headers : headers.filter { isKept($0.name) }
    }

    /// `headers` as a reader may see them: every credential's value replaced by ``redactedValue``.
    public func redacted(_ headers: [MessageHeader]) -> [MessageHeader] {
        headers.map { isCredential($0.name) ? MessageHeader(name: $0.name, value: Self.redactedValue) : $0 }
    }
}
