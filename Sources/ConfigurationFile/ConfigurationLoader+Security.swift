import Core
import Foundation
import WebhookSecurity
import Yams

/// Readers for the gateway-hardening sections: `routes[].verify`, `routes[].dedup`, `rate_limits` and `cors`.
extension NodeReader {
    /// `verify:` → checked verification settings; every setting WebhookSecurity rejects becomes a problem on the
    /// key it concerns, so `check-config` catches a bad secret or PEM before the server starts.
    mutating func readVerify(_ node: Node?, key: String) -> VerificationSettings? {
        guard let node else { return nil }
        let entries = mapping(
            node, key: key,
            known: ["scheme", "secret", "secrets", "public_key_file", "tolerance", "header", "algorithm", "encoding", "prefix"]
        )
        guard let schemeText = required(entries["scheme"], key: "\(key).scheme", parent: node) else { return nil }
        guard let scheme = VerificationSettings.Scheme(rawValue: schemeText.lowercased()) else {
            let allowed = VerificationSettings.Scheme.allCases.map(\.rawValue).joined(separator: ", ")
            problem("\(key).scheme", entries["scheme"], "must be one of \(allowed), got \"\(schemeText)\"")
            return nil
        }
        var configuration = VerificationSettings(scheme: scheme)
        if entries["secret"] != nil && entries["secrets"] != nil {
            problem("\(key).secrets", entries["secrets"], "set either secret or secrets, not both")
            return nil
        }
        if let secret = string(entries["secret"], key: "\(key).secret") { configuration.secrets = [secret] }
        if let secrets = stringList(entries["secrets"], key: "\(key).secrets") { configuration.secrets = secrets }
        if let path = string(entries["public_key_file"], key: "\(key).public_key_file") {
            do {
                configuration.publicKeyPEM = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                problem("\(key).public_key_file", entries["public_key_file"], "cannot read \(path): \(error.localizedDescription)")
                return nil
            }
        }
        if let tolerance = duration(entries["tolerance"], key: "\(key).tolerance", minimum: .seconds(1)) {
            configuration.tolerance = tolerance
        }
        configuration.header = string(entries["header"], key: "\(key).header")
        if let text = string(entries["algorithm"], key: "\(key).algorithm") {
            guard let algorithm = VerificationSettings.Algorithm(rawValue: text.lowercased()) else {
                problem("\(key).algorithm", entries["algorithm"], "must be sha256 or sha512, got \"\(text)\"")
                return nil
            }
            configuration.algorithm = algorithm
        }
        if let text = string(entries["encoding"], key: "\(key).encoding") {
            guard let encoding = VerificationSettings.Encoding(rawValue: text.lowercased()) else {
                problem("\(key).encoding", entries["encoding"], "must be hex or base64, got \"\(text)\"")
                return nil
            }
            configuration.encoding = encoding
        }
        configuration.prefix = string(entries["prefix"], key: "\(key).prefix")
        do {
            _ = try configuration.makeVerifier()
            return configuration
        } catch {
            // Point at the setting the error is about; the message never holds secret material.
            let (name, blame): (String, Node?) =
                switch error.code {
                case .missingSecret, .invalidSecret:
                    entries["secrets"] != nil ? ("secrets", entries["secrets"]) : ("secret", entries["secret"])
                case .missingHeaderName, .invalidHeaderName: ("header", entries["header"])
                case .missingPublicKey, .invalidPublicKey: ("public_key_file", entries["public_key_file"])
                case .invalidValue: ("tolerance", entries["tolerance"])
                default: ("scheme", entries["scheme"])
                }
            problem("\(key).\(name)", blame ?? node, error.message)
            return nil
        }
    }

    /// `header:` or `json_field:` (exactly one) in a mapping → where a value comes from in a request.
    mutating func requestField(_ entries: [String: Node], node: Node, key: String) -> RequestField? {
        let header = string(entries["header"], key: "\(key).header")
        let field = string(entries["json_field"], key: "\(key).json_field")
        switch (header, field) {
        case (let header?, nil):
            guard !header.isEmpty, header.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }) else {
                problem("\(key).header", entries["header"], "expected an HTTP header name, got \"\(header)\"")
                return nil
            }
            return .header(header)
        case (nil, let field?):
            let path = field.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !field.isEmpty, !path.contains(where: \.isEmpty) else {
                problem("\(key).json_field", entries["json_field"], "expected a dot path such as id or data.object.id, got \"\(field)\"")
                return nil
            }
            return .jsonField(path)
        default:
            problem(key, node, "set exactly one of header or json_field")
            return nil
        }
    }

    /// `dedup:` → where the idempotency key comes from and how long it holds.
    mutating func readDedup(_ node: Node?, key: String) -> DedupSettings? {
        guard let node else { return nil }
        let entries = mapping(node, key: key, known: ["header", "json_field", "window"])
        guard let source = requestField(entries, node: node, key: key) else { return nil }
        var settings = DedupSettings(source: source)
        if let window = duration(entries["window"], key: "\(key).window", minimum: .milliseconds(1)) {
            settings.window = window
        }
        return settings
    }

    /// `rate_limits:`; present means enabled unless `enabled: false`.
    mutating func readRateLimits(_ node: Node?) -> RateLimitSettings {
        var settings = RateLimitSettings()
        guard let node, node.null == nil else { return settings }
        let key = "rate_limits"
        let entries = mapping(
            node, key: key, known: ["enabled", "per_ip", "per_route", "per_key", "trusted_proxies", "paths"]
        )
        settings.isEnabled = bool(entries["enabled"], key: "\(key).enabled") ?? true
        settings.perIP = readRateLimitRule(entries["per_ip"], key: "\(key).per_ip") ?? RateLimitSettings.defaultPerIP
        settings.perRoute = readRateLimitRule(entries["per_route"], key: "\(key).per_route")
        settings.perKey = readRateLimitRule(entries["per_key"], key: "\(key).per_key")
        for (index, text) in (stringList(entries["trusted_proxies"], key: "\(key).trusted_proxies") ?? []).enumerated() {
            if let range = CIDRBlock(text) {
                settings.trustedProxies.append(range)
            } else {
                problem("\(key).trusted_proxies[\(index)]", entries["trusted_proxies"], "expected an IP address or CIDR range such as 10.0.0.0/8, got \"\(text)\"")
            }
        }
        if let paths = entries["paths"] {
            guard case .sequence(let sequence) = paths else {
                problem("\(key).paths", paths, "expected a list of {pattern, limit, period}")
                return settings
            }
            for (index, item) in sequence.enumerated() {
                let itemKey = "\(key).paths[\(index)]"
                let fields = mapping(item, key: itemKey, known: ["pattern", "limit", "period", "burst"])
                guard let pattern = required(fields["pattern"], key: "\(itemKey).pattern", parent: item) else { continue }
                guard pattern.hasPrefix("/") else {
                    problem("\(itemKey).pattern", fields["pattern"], "must start with /, got \"\(pattern)\"")
                    continue
                }
                if let rule = readRuleFields(fields, node: item, key: itemKey) {
                    settings.paths.append(PathRateLimit(pattern: pattern, rule: rule))
                }
            }
        }
        return settings
    }

    private mutating func readRateLimitRule(_ node: Node?, key: String) -> RateLimitRule? {
        guard let node, node.null == nil else { return nil }
        let fields = mapping(node, key: key, known: ["limit", "period", "burst"])
        return readRuleFields(fields, node: node, key: key)
    }

    private mutating func readRuleFields(_ fields: [String: Node], node: Node, key: String) -> RateLimitRule? {
        let limit = int(fields["limit"], key: "\(key).limit", range: 1...1_000_000_000)
        if fields["limit"] == nil { problem("\(key).limit", node, "is required") }
        let period = duration(fields["period"], key: "\(key).period", minimum: .milliseconds(1))
        if fields["period"] == nil { problem("\(key).period", node, "is required") }
        let burst = int(fields["burst"], key: "\(key).burst", range: 1...1_000_000_000)
        guard let limit, let period else { return nil }
        if fields["burst"] != nil && burst == nil { return nil }
        return RateLimitRule(limit: limit, period: period, burst: burst)
    }

    /// `cors:`.
    mutating func readCORS(_ node: Node?) -> CORSSettings? {
        guard let node, node.null == nil else { return nil }
        let key = "cors"
        let entries = mapping(node, key: key, known: ["allowed_origins", "allowed_methods", "allowed_headers", "max_age"])
        let origins = stringList(entries["allowed_origins"], key: "\(key).allowed_origins") ?? []
        if origins.isEmpty {
            problem("\(key).allowed_origins", entries["allowed_origins"] ?? node, "at least one origin is required")
            return nil
        }
        for (index, origin) in origins.enumerated() where origin != "*" {
            // Browsers send scheme://host[:port] with no path or trailing slash; anything else never matches.
            let url = URL(string: origin)
            let isOrigin = url?.scheme.map { ["http", "https"].contains($0.lowercased()) } == true
                && url?.host?.isEmpty == false && (url?.path ?? "").isEmpty && url?.query == nil
            if !isOrigin {
                problem("\(key).allowed_origins[\(index)]", entries["allowed_origins"], "expected an origin such as https://app.example.com (no path), got \"\(origin)\"")
            }
        }
        var settings = CORSSettings(allowedOrigins: origins)
        if let methods = stringList(entries["allowed_methods"], key: "\(key).allowed_methods") {
            settings.allowedMethods = methods.map { $0.uppercased() }
        }
        if let headers = stringList(entries["allowed_headers"], key: "\(key).allowed_headers") {
            settings.allowedHeaders = headers
        }
        if let maxAge = duration(entries["max_age"], key: "\(key).max_age") { settings.maxAge = maxAge }
        return settings
    }
}
