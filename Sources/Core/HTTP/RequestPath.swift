/// The one normal form of a request path, shared by the router's view of a request and by every check that keys on
/// a path (API key requirements, per-path rate limits, CORS, metrics and status access, route configuration).
///
/// Hummingbird's router splits a path on `/` and skips empty segments, so `//webhook/internal`,
/// `/webhook//internal` and `/webhook/internal/` all reach the handler of `/webhook/internal`. A check that compared
/// the raw path would see a different path from the one dispatched on; normalising once, before any check runs,
/// closes that gap for every check at once, including the ones added later.
public enum RequestPath {
    /// `path` with empty segments removed, always starting with `/` and never ending with one (except `/` itself).
    ///
    /// A path without a leading slash (`webhook/internal`, which the router also dispatches) gets one.
    /// Percent-escapes are left alone: the router matches them literally too.
    public static func canonical(_ path: some StringProtocol) -> String {
        var result = ""
        result.reserveCapacity(path.utf8.count + 1)
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            result.append("/")
            result.append(contentsOf: segment)
        }
        return result.isEmpty ? "/" : result
    }

    /// Whether `path` is already in its canonical form (the fast path: a well-formed request costs one scan).
    public static func isCanonical(_ path: some StringProtocol) -> Bool {
        let bytes = path.utf8
        guard bytes.first == UInt8(ascii: "/") else { return false }
        if bytes.count == 1 { return true }
        var previousWasSlash = false
        for byte in bytes {
            let isSlash = byte == UInt8(ascii: "/")
            if isSlash && previousWasSlash { return false }
            previousWasSlash = isSlash
        }
        return !previousWasSlash
    }
}
