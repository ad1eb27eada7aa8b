import Core
import Foundation
import Yams

/// `sqlite:`.
extension NodeReader {
    mutating func readSQLite(_ node: Node?) -> SQLiteSettings {
        var sqlite = SQLiteSettings()
        let entries = mapping(node, key: "sqlite", known: ["database_path"])
        if let path = string(entries["database_path"], key: "sqlite.database_path") {
            if path.isEmpty {
                problem("sqlite.database_path", entries["database_path"], "must not be empty")
            } else {
                sqlite.databasePath = path
            }
        }
        return sqlite
    }
}
