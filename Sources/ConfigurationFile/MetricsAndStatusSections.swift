import Core
import Yams

extension NodeReader {
    /// `metrics: { enabled, allow: [CIDR...], require_api_key }`.
    mutating func readMetrics(_ node: Node?) -> MetricsSettings {
        var settings = MetricsSettings()
        let entries = mapping(node, key: "metrics", known: ["enabled", "allow", "require_api_key"])
        if let value = bool(entries["enabled"], key: "metrics.enabled") { settings.isEnabled = value }
        settings.access = readAccess(entries, section: "metrics")
        return settings
    }

    /// `status: { allow: [CIDR...], require_api_key }`: who may read `GET /status`.
    mutating func readStatus(_ node: Node?) -> EndpointAccess {
        let entries = mapping(node, key: "status", known: ["allow", "require_api_key"])
        return readAccess(entries, section: "status")
    }

    /// The `allow` and `require_api_key` keys of an operations endpoint's section.
    private mutating func readAccess(_ entries: [String: Node], section: String) -> EndpointAccess {
        var access = EndpointAccess()
        if let value = bool(entries["require_api_key"], key: "\(section).require_api_key") { access.requiresAPIKey = value }
        for (index, text) in (stringList(entries["allow"], key: "\(section).allow") ?? []).enumerated() {
            if let block = CIDRBlock(text) {
                access.allow.append(block)
            } else {
                problem("\(section).allow[\(index)]", entries["allow"], "expected an address or network such as 127.0.0.1/32 or ::1, got \"\(text)\"")
            }
        }
        return access
    }
}
