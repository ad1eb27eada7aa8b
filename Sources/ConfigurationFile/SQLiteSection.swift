import Core
import Foundation
import Yams

/// `sqlite:`.
extension NodeReader {
    mutating func readSQLite(_ node: Node?) -> SQLiteSettings {
        var sqlite = SQLiteSettings()
        let entries = mapping(node, key: "sqlite", known: ["database_path", "mmap_size_mb"])
        if let path = string(entries["database_path"], key: "sqlite.database_path") {
            if path.isEmpty {
                problem("sqlite.database_path", entries["database_path"], "must not be empty")
            } else {
                sqlite.databasePath = path
            }
        }
        if let size = int(entries["mmap_size_mb"], key: "sqlite.mmap_size_mb", range: 0...65536) {
            sqlite.mmapSizeMiB = size
        }
        return sqlite
    }
}
