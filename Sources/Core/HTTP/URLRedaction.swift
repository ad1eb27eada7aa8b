/// Destination URLs as a client may read them: userinfo (`user:pass@`) and the query string, where senders put
/// tokens, are replaced by `redacted`; the fragment is dropped. Used by everything a client can read (`/status`,
/// `/health`, the admin API, metric labels) and by log lines.
public enum URLRedaction {
    /// `http://user:pass@host:8080/path?token=x#frag` → `http://redacted@host:8080/path?redacted`.
    public static func redacted(_ url: String) -> String {
        var rest = Substring(url)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var query: Substring?
        if let question = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        var result = ""
        if let schemeEnd = rest.range(of: "://") {
            result += rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                result += "redacted@"
                result += authority[authority.index(after: at)...]
            } else {
                result += authority
            }
            rest = rest[authorityEnd...]
        }
        result += rest
        if let query, !query.isEmpty { result += "?redacted" }
        return result
    }
}

extension Destination {
    /// `kind:target` with an HTTP target's credentials and query redacted (see ``URLRedaction``): the form every
    /// client-readable document and every log line shows.
    public var redactedDescription: String {
        switch self {
        case .http(let url): "http:\(URLRedaction.redacted(url))"
        case .kafka: description
        }
    }
}
