import Core
import Foundation
import Yams

/// `logging:`.
extension NodeReader {
    mutating func readLogging(_ node: Node?) -> LoggingSettings {
        var logging = LoggingSettings()
        let entries = mapping(node, key: "logging", known: ["level", "format"])
        if let level = string(entries["level"], key: "logging.level") {
            if let value = LoggingSettings.Level(rawValue: level.lowercased()) {
                logging.level = value
            } else {
                let allowed = LoggingSettings.Level.allCases.map(\.rawValue)
                problem("logging.level", entries["level"], "must be one of \(allowed.joined(separator: ", ")), got \"\(level)\"")
            }
        }
        if let format = string(entries["format"], key: "logging.format") {
            if let value = LoggingSettings.Format(rawValue: format.lowercased()) {
                logging.format = value
            } else {
                problem("logging.format", entries["format"], "must be json or text, got \"\(format)\"")
            }
        }
        return logging
    }
}
