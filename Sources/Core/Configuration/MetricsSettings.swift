/// `metrics:`: the Prometheus endpoint `GET /metrics`.
public struct MetricsSettings: Sendable {
    /// Whether `/metrics` is served at all (404 when not).
    public var isEnabled: Bool = true
    /// Networks that may scrape; empty allows everyone.
    public var allow: [CIDRBlock] = []
    /// Whether a scrape needs `Authorization: Bearer <key>` with an admin- or read-scope key.
    public var requiresAPIKey: Bool = false

    /// Defaults: enabled, open to every address, no key.
    public init() {}
}
