import Core
import Foundation
import Yams

/// Walks the YAML node tree, turning values into settings and mistakes into problems.
/// Internal rather than private so the readers of the security sections can live in their own file.
struct NodeReader {
    let environment: [String: String]
    let reservedPaths: [String]
    var problems: [ConfigurationProblem] = []

    init(environment: [String: String], reservedPaths: [String]) {
        self.environment = environment
        self.reservedPaths = reservedPaths
    }

    mutating func problem(_ key: String, _ node: Node?, _ message: String) {
        problems.append(.init(key: key.isEmpty ? "(top level)" : key, line: node?.mark.map { $0.line }, message: message))
    }

    /// The entries of a mapping, reporting keys that are not in `known`.
    mutating func mapping(_ node: Node?, key: String, known: Set<String>) -> [String: Node] {
        guard let node else { return [:] }
        if node.null != nil { return [:] }
        guard case .mapping(let mapping) = node else {
            problem(key, node, "expected a mapping of keys")
            return [:]
        }
        var entries: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let name = keyNode.string else {
                problem(key, keyNode, "keys must be strings")
                continue
            }
            let path = key.isEmpty ? name : "\(key).\(name)"
            if !known.contains(name) {
                let suggestion = known.min { levenshtein($0, name) < levenshtein($1, name) }
                let hint = suggestion.map { levenshtein($0, name) <= 3 ? " (did you mean \($0)?)" : "" } ?? ""
                problem(path, keyNode, "unknown key\(hint)")
                continue
            }
            if entries[name] != nil {
                problem(path, keyNode, "duplicate key")
            }
            entries[name] = value
        }
        return entries
    }

    /// A scalar as text, with `${NAME}` references expanded and `override` applied.
    mutating func string(_ node: Node?, key: String) -> String? {
        for override in ConfigurationLoader.environmentOverrides where override.key == key {
            if let value = environment[override.variable], !value.isEmpty { return value }
        }
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else {
            problem(key, node, "expected a single value")
            return nil
        }
        if scalar.style == .plain && node.null != nil { return nil }
        return expand(scalar.string, key: key, node: node)
    }

    mutating func expand(_ text: String, key: String, node: Node) -> String? {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                problem(key, node, "unterminated ${ in value")
                return nil
            }
            let name = String(rest[start.upperBound..<end])
            guard let value = environment[name] else {
                problem(key, node, "environment variable \(name) is not set")
                return nil
            }
            result += value
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    mutating func required(_ node: Node?, key: String, parent: Node?) -> String? {
        guard let value = string(node, key: key) else {
            problem(key, node ?? parent, "is required")
            return nil
        }
        if value.trimmingCharacters(in: .whitespaces).isEmpty {
            problem(key, node ?? parent, "must not be empty")
            return nil
        }
        return value
    }

    mutating func int(_ node: Node?, key: String, range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, key: key) else { return nil }
        guard let value = Int(text) else {
            problem(key, node, "expected a whole number, got \"\(text)\"")
            return nil
        }
        guard range.contains(value) else {
            problem(key, node, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node?, key: String) -> Bool? {
        guard let text = string(node, key: key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            problem(key, node, "expected true or false, got \"\(text)\"")
            return nil
        }
    }

    mutating func duration(_ node: Node?, key: String, minimum: Duration = .zero) -> Duration? {
        guard let text = string(node, key: key) else { return nil }
        guard let value = ConfigDuration.parse(text) else {
            problem(key, node, "expected a duration such as 500ms, 30s, 5m or 1h, got \"\(text)\"")
            return nil
        }
        guard value >= minimum else {
            problem(key, node, "must be at least \(minimum), got \"\(text)\"")
            return nil
        }
        return value
    }

    mutating func httpURL(_ node: Node?, key: String, parent: Node?) -> String? {
        guard let text = required(node, key: key, parent: parent) else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else {
            problem(key, node, "expected an http:// or https:// URL with a host, got \"\(text)\"")
            return nil
        }
        return text
    }

    mutating func stringList(_ node: Node?, key: String) -> [String]? {
        guard let node else { return nil }
        switch node {
        case .sequence(let sequence):
            var values: [String] = []
            for (index, item) in sequence.enumerated() {
                if let value = string(item, key: "\(key)[\(index)]") { values.append(value) }
            }
            return values
        case .scalar:
            // A single broker written as a plain string, or a comma-separated list.
            return string(node, key: key)?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        default:
            problem(key, node, "expected a list")
            return nil
        }
    }
}

/// Edit distance, for "did you mean" hints on unknown keys.
func levenshtein(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
