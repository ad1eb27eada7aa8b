import Foundation

/// The kinds of change a chat user can observe. Each is one row of the event log.
public enum ChatEventType: String, Codable, Sendable, CaseIterable {
    /// A message was sent; data: the message.
    case messageCreated = "message.created"
    /// A message was edited; data: the message as it is now.
    case messageUpdated = "message.updated"
    /// A message was deleted; data: the message, content emptied, `deleted_at` set.
    case messageDeleted = "message.deleted"
    /// A room was made; data: the room.
    case roomCreated = "room.created"
    /// A room's name or topic changed; data: the room.
    case roomUpdated = "room.updated"
    /// Someone joined or was added; data: the member.
    case memberJoined = "room.member_joined"
    /// Someone left or was removed; data: the member as they were.
    case memberLeft = "room.member_left"
    /// A member's role changed; data: the member.
    case memberUpdated = "room.member_updated"
    /// Someone reacted to a message; data: the reaction.
    case reactionAdded = "reaction.added"
    /// Someone took their reaction back; data: the reaction.
    case reactionRemoved = "reaction.removed"
    /// A member read a room up to a message; data: the receipt.
    case roomRead = "room.read"
}

/// One entry of the durable event log: what changed, in which room (or for which user), at which position.
///
/// Positions are the log's integer key: strictly increasing in commit order, never reused, the same order for every
/// reader (sockets, resume, and later event webhooks).
public struct ChatEvent: Sendable, Equatable {
    /// The event's place in the log.
    public var position: Int64
    /// What happened.
    public var type: ChatEventType
    /// The room it belongs to; its members may see it.
    public var roomID: Int64?
    /// A user who may see it besides the room's members (the user who joined or left, or the owner of a
    /// user-scoped event).
    public var userID: Int64?
    /// The event's data as JSON (a message, a room or a member), encoded once at write time.
    public var payload: Data
    /// When it was written.
    public var createdAt: Date

    /// Makes an event value.
    public init(position: Int64, type: ChatEventType, roomID: Int64?, userID: Int64?, payload: Data, createdAt: Date) {
        self.position = position
        self.type = type
        self.roomID = roomID
        self.userID = userID
        self.payload = payload
        self.createdAt = createdAt
    }

    /// Membership changes carried by this event, which the hub applies to its cache of who is in which room.
    public var membershipChange: MembershipChange? {
        guard let roomID, let userID else { return nil }
        switch type {
        case .memberJoined: return .joined(roomID: roomID, userID: userID)
        case .memberLeft: return .left(roomID: roomID, userID: userID)
        default: return nil
        }
    }
}

/// Someone entering or leaving a room.
public enum MembershipChange: Sendable, Equatable {
    /// The user is a member of the room from this event on.
    case joined(roomID: Int64, userID: Int64)
    /// The user is no longer a member after this event.
    case left(roomID: Int64, userID: Int64)
}

/// Where committed chat events go, in position order, once durable: the in-process hub now, a Kafka or database
/// notification bus when several nodes share a PostgreSQL store.
public protocol ChatEventBus: Sendable {
    /// Takes events just committed, in position order. Called on the store's commit thread: it must not block.
    func publish(_ events: [ChatEvent])
}

/// The JSON coding every chat payload uses: snake-case keys given by each type, dates as RFC 3339 UTC with
/// milliseconds, keys sorted so a payload's bytes are stable.
public enum ChatJSON {
    /// Encodes chat values.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.rfc3339Milliseconds(date))
        }
        return encoder
    }

    /// Decodes chat values.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 time: \(text)"))
            }
            return date
        }
        return decoder
    }
}

/// RFC 3339 timestamps with milliseconds, formatted without Foundation's formatters (which are not `Sendable`).
public enum Timestamp {
    /// `2026-12-01T12:00:00.123Z`.
    public static func rfc3339Milliseconds(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = Int64(floorDivide(totalMilliseconds, 1000))
        let milliseconds = Int(totalMilliseconds - seconds * 1000)
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }

    /// Parses the form above (fraction optional, `Z` only).
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int32(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let seconds = timegm(&parts)
        var fraction = 0.0
        if bytes[19] == UInt8(ascii: ".") {
            guard let digits = number(20..<(bytes.count - 1)) else { return nil }
            fraction = Double(digits) / pow(10, Double(bytes.count - 21))
        }
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }
}
