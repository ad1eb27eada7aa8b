import Foundation
import Core

/// RFC 3339 timestamps in UTC with second precision, e.g. `2025-01-15T10:30:00Z`.
///
/// Formatted by hand from `gmtime_r`: it runs once per accepted webhook, and Foundation's format styles cost
/// several microseconds and allocations each time.
public enum RFC3339 {
    /// `date` as `YYYY-MM-DDThh:mm:ssZ` (UTC, whole seconds, rounded down).
    public static func string(from date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var bytes = [UInt8](repeating: 0, count: 20)
        func put(_ value: Int32, at offset: Int, digits: Int) {
            var value = value
            for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(parts.tm_year + 1900, at: 0, digits: 4)
        bytes[4] = UInt8(ascii: "-")
        put(parts.tm_mon + 1, at: 5, digits: 2)
        bytes[7] = UInt8(ascii: "-")
        put(parts.tm_mday, at: 8, digits: 2)
        bytes[10] = UInt8(ascii: "T")
        put(parts.tm_hour, at: 11, digits: 2)
        bytes[13] = UInt8(ascii: ":")
        put(parts.tm_min, at: 14, digits: 2)
        bytes[16] = UInt8(ascii: ":")
        put(parts.tm_sec, at: 17, digits: 2)
        bytes[19] = UInt8(ascii: "Z")
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Date {
    /// The date as an RFC 3339 timestamp (``RFC3339/string(from:)``): the one format of every time MessageBridge
    /// shows, in JSON, on the command line and in logs.
    var rfc3339: String { RFC3339.string(from: self) }
}

extension RFC3339 {
    /// Parses any RFC 3339 date-time: `Z` or a numeric offset (`+02:00`, `-00:00`), any fraction, either case of
    /// `T` and `Z`. Nil when the text is not one.
    public static func date(from text: String) -> Date? {
        let upper = text.uppercased()
        if upper.hasSuffix("Z") { return Timestamp.parse(upper) }
        let bytes = Array(upper.utf8)
        guard bytes.count >= 25 else { return nil }
        let offset = bytes[(bytes.count - 6)...]
        let sign = offset[offset.startIndex]
        guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"), offset[offset.startIndex + 3] == UInt8(ascii: ":"),
              let hours = Int(String(decoding: offset[(offset.startIndex + 1)...(offset.startIndex + 2)], as: UTF8.self)),
              let minutes = Int(String(decoding: offset[(offset.startIndex + 4)...], as: UTF8.self)),
              hours < 24, minutes < 60,
              let local = Timestamp.parse(String(decoding: bytes[..<(bytes.count - 6)], as: UTF8.self) + "Z")
        else { return nil }
        let seconds = TimeInterval(hours * 3600 + minutes * 60)
        return local.addingTimeInterval(sign == UInt8(ascii: "+") ? -seconds : seconds)
    }
}
