/// Who may read an operations endpoint that shows more than liveness: networks and, optionally, an API key.
public struct EndpointAccess: Sendable, Equatable {
    /// Networks that may read it; empty allows everyone.
    public var allow: [CIDRBlock] = []
    /// Whether a request needs `Authorization: Bearer <key>` with an admin- or read-scope key.
    public var requiresAPIKey: Bool = false

    /// Defaults: open to every address, no key.
    public init() {}
}

/// `metrics:`: the Prometheus endpoint `GET /metrics`.
public struct MetricsSettings: Sendable {
    /// Whether `/metrics` is served at all (404 when not).
    public var isEnabled: Bool = true
    /// Networks and key that may scrape (`metrics.allow`, `metrics.require_api_key`).
    public var access = EndpointAccess()
    /// Networks that may scrape; empty allows everyone.
    public var allow: [CIDRBlock] {
        get { access.allow }
        set { access.allow = newValue }
    }
    /// Whether a scrape needs `Authorization: Bearer <key>` with an admin- or read-scope key.
    public var requiresAPIKey: Bool {
        get { access.requiresAPIKey }
        set { access.requiresAPIKey = newValue }
    }

    /// Defaults: enabled, open to every address, no key.
    public init() {}
}
