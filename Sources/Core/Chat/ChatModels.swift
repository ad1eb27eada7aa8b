import Foundation

/// A chat account's public face: what other users may see.
public struct ChatUser: Codable, Sendable, Equatable {
    /// The account's integer id (seed 004's `id`).
    public var id: Int64
    /// Unique, case-insensitive login name.
    public var username: String
    /// Unique, case-insensitive address.
    public var email: String
    /// The name shown in rooms; the username when unset.
    public var displayName: String?
    /// When the account was made.
    public var createdAt: Date

    /// Makes a user value.
    public init(id: Int64, username: String, email: String, displayName: String?, createdAt: Date) {
        self.id = id
        self.username = username
        self.email = email
        self.displayName = displayName
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, username, email
        case displayName = "display_name"
        case createdAt = "created_at"
    }
}

/// Who may find and join a room.
public enum RoomVisibility: String, Codable, Sendable, CaseIterable {
    /// Listed to everyone; anyone may join.
    case `public`
    /// Seen only by its members; members are added by an owner or admin.
    case `private`
}

/// What kind of room: a named room, or the direct-message room of two users.
public enum RoomKind: String, Codable, Sendable {
    /// A named room with a visibility.
    case room
    /// The one room of a pair of users.
    case direct
}

/// A member's role in a room, from most to least powerful.
public enum MemberRole: String, Codable, Sendable, CaseIterable, Comparable {
    /// Made the room; may do everything, including change roles.
    case owner
    /// May add and remove members and delete any message.
    case admin
    /// May read and write.
    case member

    private var rank: Int {
        switch self {
        case .owner: 2
        case .admin: 1
        case .member: 0
        }
    }

    /// Orders roles by power: `member < admin < owner`.
    public static func < (lhs: MemberRole, rhs: MemberRole) -> Bool { lhs.rank < rhs.rank }

    /// True for owners and admins, who manage members and moderate messages.
    public var canModerate: Bool { self >= .admin }
}

/// A room.
public struct ChatRoom: Codable, Sendable, Equatable {
    /// The room's integer id.
    public var id: Int64
    /// Its name (for a direct room, made from the two usernames).
    public var name: String
    /// An optional line about what the room is for.
    public var topic: String?
    /// Public or private; direct rooms are private.
    public var visibility: RoomVisibility
    /// A named room or a direct-message room.
    public var kind: RoomKind
    /// Who made it.
    public var createdBy: Int64?
    /// When it was made.
    public var createdAt: Date

    /// Makes a room value.
    public init(
        id: Int64, name: String, topic: String?, visibility: RoomVisibility, kind: RoomKind, createdBy: Int64?,
        createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.topic = topic
        self.visibility = visibility
        self.kind = kind
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, topic, visibility, kind
        case createdBy = "created_by"
        case createdAt = "created_at"
    }
}

/// A member of a room, with the user's public name.
public struct RoomMember: Codable, Sendable, Equatable {
    /// The room.
    public var roomID: Int64
    /// The member.
    public var userID: Int64
    /// The member's username.
    public var username: String
    /// Owner, admin or member.
    public var role: MemberRole
    /// When they joined.
    public var joinedAt: Date

    /// Makes a member value.
    public init(roomID: Int64, userID: Int64, username: String, role: MemberRole, joinedAt: Date) {
        self.roomID = roomID
        self.userID = userID
        self.username = username
        self.role = role
        self.joinedAt = joinedAt
    }

    enum CodingKeys: String, CodingKey {
        case roomID = "room_id"
        case userID = "user_id"
        case username, role
        case joinedAt = "joined_at"
    }
}

/// A chat message. Its first five fields are seed 004's message shape, unchanged.
public struct ChatMessage: Codable, Sendable, Equatable {
    /// The message's integer id, increasing in send order across all rooms.
    public var id: Int64
    /// The author.
    public var userID: Int64
    /// The author's username.
    public var username: String
    /// The text; empty once deleted.
    public var content: String
    /// When it was stored.
    public var createdAt: Date
    /// The room it was sent to.
    public var roomID: Int64
    /// The sender's own id for it, which makes a retried send return the first result.
    public var clientID: String?
    /// The message this one answers.
    public var replyTo: Int64?
    /// When it was last edited.
    public var editedAt: Date?
    /// When it was deleted (soft: the row stays, the content goes).
    public var deletedAt: Date?
    /// Reactions, one entry per emoji in the order first used.
    public var reactions: [ReactionCount] = []
    /// Files sent with it.
    public var attachments: [ChatAttachment] = []

    /// Makes a message value.
    public init(
        id: Int64, userID: Int64, username: String, content: String, createdAt: Date, roomID: Int64,
        clientID: String?, replyTo: Int64?, editedAt: Date?, deletedAt: Date?
    ) {
        self.id = id
        self.userID = userID
        self.username = username
        self.content = content
        self.createdAt = createdAt
        self.roomID = roomID
        self.clientID = clientID
        self.replyTo = replyTo
        self.editedAt = editedAt
        self.deletedAt = deletedAt
    }

    /// True once deleted.
    public var isDeleted: Bool { deletedAt != nil }

    enum CodingKeys: String, CodingKey {
        case id
        case userID = "user_id"
        case username, content
        case createdAt = "created_at"
        case roomID = "room_id"
        case clientID = "client_id"
        case replyTo = "reply_to"
        case editedAt = "edited_at"
        case deletedAt = "deleted_at"
        case reactions, attachments
    }

    /// Decodes a message; `reactions` may be absent.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(Int64.self, forKey: .id)
        userID = try container.decode(Int64.self, forKey: .userID)
        username = try container.decode(String.self, forKey: .username)
        content = try container.decode(String.self, forKey: .content)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        roomID = try container.decode(Int64.self, forKey: .roomID)
        clientID = try container.decodeIfPresent(String.self, forKey: .clientID)
        replyTo = try container.decodeIfPresent(Int64.self, forKey: .replyTo)
        editedAt = try container.decodeIfPresent(Date.self, forKey: .editedAt)
        deletedAt = try container.decodeIfPresent(Date.self, forKey: .deletedAt)
        reactions = try container.decodeIfPresent([ReactionCount].self, forKey: .reactions) ?? []
        attachments = try container.decodeIfPresent([ChatAttachment].self, forKey: .attachments) ?? []
    }

    /// Encodes every key, `null` included, so clients see one fixed shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(userID, forKey: .userID)
        try container.encode(username, forKey: .username)
        try container.encode(content, forKey: .content)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(roomID, forKey: .roomID)
        try container.encode(clientID, forKey: .clientID)
        try container.encode(replyTo, forKey: .replyTo)
        try container.encode(editedAt, forKey: .editedAt)
        try container.encode(deletedAt, forKey: .deletedAt)
        try container.encode(reactions, forKey: .reactions)
        try container.encode(attachments, forKey: .attachments)
    }
}

/// One emoji's reactions on a message.
public struct ReactionCount: Codable, Sendable, Equatable {
    /// The emoji.
    public var emoji: String
    /// How many reacted with it.
    public var count: Int
    /// Who, in the order they reacted.
    public var userIDs: [Int64]

    /// Makes a count.
    public init(emoji: String, count: Int, userIDs: [Int64]) {
        self.emoji = emoji
        self.count = count
        self.userIDs = userIDs
    }

    enum CodingKeys: String, CodingKey {
        case emoji, count
        case userIDs = "user_ids"
    }
}

/// A reaction as its event carries it.
public struct Reaction: Codable, Sendable, Equatable {
    /// The message.
    public var messageID: Int64
    /// Its room.
    public var roomID: Int64
    /// Who reacted.
    public var userID: Int64
    /// Their username.
    public var username: String
    /// The emoji.
    public var emoji: String

    /// Makes a reaction.
    public init(messageID: Int64, roomID: Int64, userID: Int64, username: String, emoji: String) {
        self.messageID = messageID
        self.roomID = roomID
        self.userID = userID
        self.username = username
        self.emoji = emoji
    }

    enum CodingKeys: String, CodingKey {
        case messageID = "message_id"
        case roomID = "room_id"
        case userID = "user_id"
        case username, emoji
    }
}

/// How far a member has read a room: the "seen by" of its messages.
public struct ReadReceipt: Codable, Sendable, Equatable {
    /// The room.
    public var roomID: Int64
    /// The member.
    public var userID: Int64
    /// Their username.
    public var username: String
    /// The newest message they have read (0: none).
    public var lastReadMessageID: Int64

    /// Makes a receipt.
    public init(roomID: Int64, userID: Int64, username: String, lastReadMessageID: Int64) {
        self.roomID = roomID
        self.userID = userID
        self.username = username
        self.lastReadMessageID = lastReadMessageID
    }

    enum CodingKeys: String, CodingKey {
        case roomID = "room_id"
        case userID = "user_id"
        case username
        case lastReadMessageID = "last_read_message_id"
    }
}

/// A room as its member sees it in their room list: the room, their role, its last message and their unread count.
public struct RoomSummary: Codable, Sendable, Equatable {
    /// The room.
    public var room: ChatRoom
    /// The caller's role.
    public var role: MemberRole
    /// The newest message that is not deleted, if any.
    public var lastMessage: ChatMessage?
    /// Messages from others after the caller's last read position (their own last send counts as read).
    public var unreadCount: Int
    /// How many members it has.
    public var memberCount: Int

    /// Makes a summary.
    public init(room: ChatRoom, role: MemberRole, lastMessage: ChatMessage?, unreadCount: Int, memberCount: Int) {
        self.room = room
        self.role = role
        self.lastMessage = lastMessage
        self.unreadCount = unreadCount
        self.memberCount = memberCount
    }

    enum CodingKeys: String, CodingKey {
        case room, role
        case lastMessage = "last_message"
        case unreadCount = "unread_count"
        case memberCount = "member_count"
    }
}

/// A file uploaded to a room, shown on the message it was sent with.
public struct ChatAttachment: Codable, Sendable, Equatable {
    /// The attachment's id (download: `GET /api/v1/attachments/{id}`).
    public var id: Int64
    /// The room it was uploaded to.
    public var roomID: Int64
    /// Who uploaded it.
    public var userID: Int64
    /// The message it belongs to, once sent.
    public var messageID: Int64?
    /// The client's file name (shown and offered on download; never a path on the server).
    public var filename: String
    /// The type the uploader declared.
    public var contentType: String
    /// Bytes.
    public var size: Int64
    /// Lower-case hex SHA-256 of the bytes.
    public var sha256: String
    /// When it was stored.
    public var createdAt: Date

    /// Makes an attachment value.
    public init(
        id: Int64, roomID: Int64, userID: Int64, messageID: Int64?, filename: String, contentType: String, size: Int64,
        sha256: String, createdAt: Date
    ) {
        self.id = id
        self.roomID = roomID
        self.userID = userID
        self.messageID = messageID
        self.filename = filename
        self.contentType = contentType
        self.size = size
        self.sha256 = sha256
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case roomID = "room_id"
        case userID = "user_id"
        case messageID = "message_id"
        case filename
        case contentType = "content_type"
        case size, sha256
        case createdAt = "created_at"
    }
}
