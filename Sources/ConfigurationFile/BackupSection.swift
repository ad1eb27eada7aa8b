import Core
import Foundation
import Yams

/// `backup:`.
extension NodeReader {
    mutating func readBackup(_ node: Node?) -> BackupSettings {
        var settings = BackupSettings()
        let key = "backup"
        let entries = mapping(node, key: key, known: ["interval", "directory", "keep"])
        settings.interval = duration(entries["interval"], key: "\(key).interval", minimum: .seconds(1))
        if let directory = string(entries["directory"], key: "\(key).directory") {
            if directory.isEmpty { problem("\(key).directory", entries["directory"], "must not be empty") }
            settings.directory = directory.isEmpty ? nil : directory
        }
        if let keep = int(entries["keep"], key: "\(key).keep", range: 1...10_000) { settings.keep = keep }
        if node != nil, settings.interval == nil, entries["interval"] == nil {
            problem("\(key).interval", node, "is required for scheduled backups (e.g. 6h)")
        }
        return settings
    }
}
