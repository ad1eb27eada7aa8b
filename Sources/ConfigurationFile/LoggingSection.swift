import Core
import Foundation
import Yams

/// `logging:`.
extension NodeReader {
    mutating func readLogging(_ node: Node?) -> LoggingSettings {
        var logging = LoggingSettings()
        let entries = mapping(node, key: "logging", known: ["level", "format"])
        if let level = string(entries["level"], key: "logging.level") {
            let allowed = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            if allowed.contains(level.lowercased()) {
                logging.level = level.lowercased()
            } else {
                problem("logging.level", entries["level"], "must be one of \(allowed.joined(separator: ", ")), got \"\(level)\"")
            }
        }
        if let format = string(entries["format"], key: "logging.format") {
            if ["json", "text"].contains(format.lowercased()) {
                logging.format = format.lowercased()
            } else {
                problem("logging.format", entries["format"], "must be json or text, got \"\(format)\"")
            }
        }
        return logging
    }
}
