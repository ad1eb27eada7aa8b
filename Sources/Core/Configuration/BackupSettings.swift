import Foundation

/// `backup:`: scheduled online backups of the database, taken by the running server.
public struct BackupSettings: Sendable {
    /// How often; nil (the default): no scheduled backups.
    public var interval: Duration?
    /// Where the backups go; nil: `backups/` beside the database file.
    public var directory: String?
    /// How many of them are kept (the oldest beyond are removed). 7.
    public var keep: Int = 7

    /// No scheduled backups.
    public init() {}
}
