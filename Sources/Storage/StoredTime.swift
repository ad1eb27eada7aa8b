import Foundation

/// How every table of the database stores a time: integer milliseconds since 1970 (UTC).
enum StoredTime {
    /// `date` as stored, rounded to the millisecond.
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// A stored time as a `Date`.
    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
