import Core
import Foundation
import Yams

/// `routes[].dedup:`, and the `header:` / `json_field:` pair it shares with `kafka_key:`.
extension NodeReader {
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
}
