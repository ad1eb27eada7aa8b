import Core
import Foundation
import GRDB

extension SQLiteChatStore {
    static let roomColumns = "r.id, r.name, r.topic, r.visibility, r.kind, r.created_by, r.created_at"
    /// The name of the room seed 004's clients post to.
    static let defaultRoomName = "general"

    static func room(_ row: Row, from offset: Int = 0) -> ChatRoom {
        ChatRoom(
            id: row[offset], name: row[offset + 1], topic: row[offset + 2],
            visibility: RoomVisibility(rawValue: row[offset + 3]) ?? .private,
            kind: RoomKind(rawValue: row[offset + 4]) ?? .room, createdBy: row[offset + 5],
            createdAt: StoredTime.date(row[offset + 6])
        )
    }

    /// The room and the user's role in it, if the user may see it: a public room to anyone, a private one to its
    /// members only (to anyone else it does not exist).
    static func access(_ db: Database, roomID: Int64, userID: Int64) throws -> (room: ChatRoom, role: MemberRole?) {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT \(roomColumns), m.role FROM chat_rooms r
            LEFT JOIN chat_members m ON m.room_id = r.id AND m.user_id = ? AND m.left_position IS NULL
            WHERE r.id = ?
            """), arguments: [userID, roomID])
        else { throw ChatError.roomNotFound(roomID) }
        let room = Self.room(row)
        let role = (row[7] as String?).flatMap(MemberRole.init(rawValue:))
        if role == nil && room.visibility == .private { throw ChatError.roomNotFound(roomID) }
        return (room, role)
    }

    /// The role of a current member, or forbidden (public room) / not found (private room).
    static func requireMember(_ db: Database, roomID: Int64, userID: Int64) throws -> (room: ChatRoom, role: MemberRole) {
        let (room, role) = try access(db, roomID: roomID, userID: userID)
        guard let role else { throw ChatError(.forbidden, "join room \(roomID) first") }
        return (room, role)
    }

    static func username(_ db: Database, userID: Int64) throws -> String {
        guard let name = try String.fetchOne(db, sql: "SELECT username FROM chat_users WHERE id = ?", arguments: [userID])
        else { throw ChatError.userNotFound(userID) }
        return name
    }

    /// Makes `userID` a member (again, if they left before) and records `room.member_joined`.
    static func insertMember(_ transaction: inout ChatTransaction, roomID: Int64, user: ChatUser, role: MemberRole) throws -> RoomMember {
        try insertMember(&transaction, roomID: roomID, userID: user.id, username: user.username, role: role)
    }

    static func insertMember(
        _ transaction: inout ChatTransaction, roomID: Int64, userID: Int64, username: String, role: MemberRole
    ) throws -> RoomMember {
        let db = transaction.db
        let current = try Row.fetchOne(
            db, sql: "SELECT left_position FROM chat_members WHERE room_id = ? AND user_id = ?", arguments: [roomID, userID]
        )
        if let current, (current[0] as Int64?) == nil {
            throw ChatError(.conflict, field: "user_id", "user \(userID) is already a member of room \(roomID)")
        }
        let member = RoomMember(roomID: roomID, userID: userID, username: username, role: role, joinedAt: transaction.now)
        let position = try transaction.record(.memberJoined, roomID: roomID, userID: userID, payload: member)
        try db.execute(sql: """
            INSERT INTO chat_members (room_id, user_id, role, joined_at, joined_position) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(room_id, user_id) DO UPDATE SET role = excluded.role, joined_at = excluded.joined_at,
                joined_position = excluded.joined_position, left_position = NULL
            """, arguments: [roomID, userID, role.rawValue, transaction.nowMilliseconds, position])
        return member
    }

    /// The default room's id, made (public, owned by nobody) when missing.
    static func ensureDefaultRoom(_ transaction: inout ChatTransaction) throws -> Int64 {
        if let id = try Int64.fetchOne(transaction.db, sql: "SELECT id FROM chat_rooms WHERE is_default = 1") { return id }
        return try insertRoom(&transaction, name: defaultRoomName, topic: nil, visibility: .public, kind: .room, creator: nil, isDefault: true).id
    }

    static func insertRoom(
        _ transaction: inout ChatTransaction, name: String, topic: String?, visibility: RoomVisibility, kind: RoomKind,
        creator: Int64?, directKey: String? = nil, isDefault: Bool = false
    ) throws -> ChatRoom {
        let now = transaction.nowMilliseconds
        try transaction.db.execute(sql: """
            INSERT INTO chat_rooms (name, topic, visibility, kind, direct_key, is_default, created_by, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [name, topic, visibility.rawValue, kind.rawValue, directKey, isDefault, creator, now, now])
        let room = ChatRoom(
            id: transaction.db.lastInsertedRowID, name: name, topic: topic, visibility: visibility, kind: kind,
            createdBy: creator, createdAt: transaction.now
        )
        try transaction.record(.roomCreated, roomID: room.id, userID: creator, payload: room)
        return room
    }

    public func defaultRoomID() async throws -> Int64 {
        try await write { transaction in try Self.ensureDefaultRoom(&transaction) }
    }

    public func createRoom(name: String, topic: String?, visibility: RoomVisibility, creator: Int64) async throws -> ChatRoom {
        try await write { transaction in
            let username = try Self.username(transaction.db, userID: creator)
            let room = try Self.insertRoom(&transaction, name: name, topic: topic, visibility: visibility, kind: .room, creator: creator)
            _ = try Self.insertMember(&transaction, roomID: room.id, userID: creator, username: username, role: .owner)
            return room
        }
    }

    public func directRoom(between first: Int64, and second: Int64) async throws -> ChatRoom {
        try await write { transaction in
            let key = "\(min(first, second)):\(max(first, second))"
            if let row = try Row.fetchOne(
                transaction.db, sql: "SELECT \(Self.roomColumns) FROM chat_rooms r WHERE r.direct_key = ?", arguments: [key]
            ) {
                return Self.room(row)
            }
            let firstName = try Self.username(transaction.db, userID: first)
            let secondName = try Self.username(transaction.db, userID: second)
            let room = try Self.insertRoom(
                &transaction, name: "\(firstName), \(secondName)", topic: nil, visibility: .private, kind: .direct,
                creator: first, directKey: key
            )
            _ = try Self.insertMember(&transaction, roomID: room.id, userID: first, username: firstName, role: .owner)
            if second != first {
                _ = try Self.insertMember(&transaction, roomID: room.id, userID: second, username: secondName, role: .owner)
            }
            return room
        }
    }

    public func room(id: Int64, visibleTo userID: Int64) async throws -> (room: ChatRoom, role: MemberRole?) {
        try await writer.read { db in try Self.access(db, roomID: id, userID: userID) }
    }

    /// The most unread messages a room summary counts: the count stops there (`unread_count` 1 000 = "1 000 or
    /// more"). Counting them all read every unread row on every room list, ~0.3 s for a member who never read a room
    /// of a million messages; bounded, it is ~2 ms at most per room (`benchmarks/history/unread.sh`).
    public static let unreadCountLimit = 1_000

    public func rooms(of userID: Int64) async throws -> [RoomSummary] {
        try await writer.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(Self.roomColumns), m.role,
                    (SELECT COUNT(*) FROM chat_members c WHERE c.room_id = r.id AND c.left_position IS NULL),
                    (SELECT COUNT(*) FROM (SELECT 1 FROM chat_messages x WHERE x.room_id = r.id
                        AND x.id > m.last_read_message_id AND x.user_id != m.user_id AND x.deleted_at IS NULL
                        LIMIT \(Self.unreadCountLimit))),
                    (SELECT MAX(x.id) FROM chat_messages x WHERE x.room_id = r.id AND x.deleted_at IS NULL) AS last_id
                FROM chat_members m JOIN chat_rooms r ON r.id = m.room_id
                WHERE m.user_id = ? AND m.left_position IS NULL
                ORDER BY last_id IS NULL, last_id DESC, r.id
                """, arguments: [userID])
            return try rows.map { row in
                let lastID: Int64? = row[10]
                let last = try lastID.flatMap { id in
                    try Row.fetchOne(db, sql: "\(Self.messageSelect) WHERE x.id = ?", arguments: [id]).map(Self.message)
                }
                return RoomSummary(
                    room: Self.room(row), role: MemberRole(rawValue: row[7]) ?? .member, lastMessage: last,
                    unreadCount: row[9], memberCount: row[8]
                )
            }
        }
    }

    public func publicRooms(limit: Int) async throws -> [ChatRoom] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.roomColumns) FROM chat_rooms r WHERE r.visibility = 'public' ORDER BY r.id LIMIT ?
                """, arguments: [limit]).map { Self.room($0) }
        }
    }

    public func updateRoom(id: Int64, actor: Int64, name: String?, topic: String??) async throws -> ChatRoom {
        try await write { transaction in
            var (room, role) = try Self.requireMember(transaction.db, roomID: id, userID: actor)
            guard role.canModerate, room.kind == .room else {
                throw ChatError(.forbidden, "only a room's owner or an admin may change it")
            }
            if let name { room.name = name }
            if let topic { room.topic = topic }
            try transaction.db.execute(
                sql: "UPDATE chat_rooms SET name = ?, topic = ?, updated_at = ? WHERE id = ?",
                arguments: [room.name, room.topic, transaction.nowMilliseconds, id]
            )
            try transaction.record(.roomUpdated, roomID: id, userID: nil, payload: room)
            return room
        }
    }

    public func join(roomID: Int64, userID: Int64) async throws -> RoomMember {
        try await write { transaction in
            let (room, role) = try Self.access(transaction.db, roomID: roomID, userID: userID)
            if role != nil { throw ChatError(.conflict, "already a member of room \(roomID)") }
            guard room.visibility == .public else { throw ChatError.roomNotFound(roomID) }
            let username = try Self.username(transaction.db, userID: userID)
            return try Self.insertMember(&transaction, roomID: roomID, userID: userID, username: username, role: .member)
        }
    }

    public func addMember(roomID: Int64, actor: Int64, userID: Int64, role: MemberRole) async throws -> RoomMember {
        try await write { transaction in
            let (room, actorRole) = try Self.requireMember(transaction.db, roomID: roomID, userID: actor)
            guard actorRole.canModerate, room.kind == .room else {
                throw ChatError(.forbidden, "only a room's owner or an admin may add members")
            }
            guard role < .owner || actorRole == .owner else { throw ChatError(.forbidden, "only an owner may make owners") }
            let username = try Self.username(transaction.db, userID: userID)
            return try Self.insertMember(&transaction, roomID: roomID, userID: userID, username: username, role: role)
        }
    }

    public func setRole(roomID: Int64, actor: Int64, userID: Int64, role: MemberRole) async throws -> RoomMember {
        try await write { transaction in
            let db = transaction.db
            let (room, actorRole) = try Self.requireMember(db, roomID: roomID, userID: actor)
            guard actorRole == .owner, room.kind == .room else { throw ChatError(.forbidden, "only an owner may change roles") }
            guard let row = try Row.fetchOne(db, sql: """
                SELECT m.joined_at, u.username FROM chat_members m JOIN chat_users u ON u.id = m.user_id
                WHERE m.room_id = ? AND m.user_id = ? AND m.left_position IS NULL
                """, arguments: [roomID, userID])
            else { throw ChatError(.notFound, field: "user_id", "user \(userID) is not a member of room \(roomID)") }
            if userID == actor, role != .owner, try Self.ownerCount(db, roomID: roomID) == 1 {
                throw ChatError(.conflict, "a room keeps at least one owner")
            }
            try db.execute(sql: "UPDATE chat_members SET role = ? WHERE room_id = ? AND user_id = ?", arguments: [role.rawValue, roomID, userID])
            let member = RoomMember(roomID: roomID, userID: userID, username: row[1], role: role, joinedAt: StoredTime.date(row[0]))
            try transaction.record(.memberUpdated, roomID: roomID, userID: userID, payload: member)
            return member
        }
    }

    private static func ownerCount(_ db: Database, roomID: Int64) throws -> Int {
        try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM chat_members WHERE room_id = ? AND role = 'owner' AND left_position IS NULL
            """, arguments: [roomID]) ?? 0
    }

    public func removeMember(roomID: Int64, actor: Int64, userID: Int64) async throws {
        try await write { transaction in
            let db = transaction.db
            let (room, actorRole) = try Self.requireMember(db, roomID: roomID, userID: actor)
            guard let row = try Row.fetchOne(db, sql: """
                SELECT m.role, m.joined_at, u.username FROM chat_members m JOIN chat_users u ON u.id = m.user_id
                WHERE m.room_id = ? AND m.user_id = ? AND m.left_position IS NULL
                """, arguments: [roomID, userID])
            else { throw ChatError(.notFound, field: "user_id", "user \(userID) is not a member of room \(roomID)") }
            let role = MemberRole(rawValue: row[0]) ?? .member
            if userID != actor {
                guard actorRole.canModerate, role < actorRole || actorRole == .owner, room.kind == .room else {
                    throw ChatError(.forbidden, "only a room's owner or an admin may remove members, and an admin only members")
                }
            } else if role == .owner, room.kind == .room, try Self.ownerCount(db, roomID: roomID) == 1,
                      try Self.memberCount(db, roomID: roomID) > 1 {
                throw ChatError(.conflict, "the last owner must make another member owner before leaving")
            }
            let member = RoomMember(roomID: roomID, userID: userID, username: row[2], role: role, joinedAt: StoredTime.date(row[1]))
            let position = try transaction.record(.memberLeft, roomID: roomID, userID: userID, payload: member)
            try db.execute(
                sql: "UPDATE chat_members SET left_position = ? WHERE room_id = ? AND user_id = ?",
                arguments: [position, roomID, userID]
            )
        }
    }

    private static func memberCount(_ db: Database, roomID: Int64) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM chat_members WHERE room_id = ? AND left_position IS NULL", arguments: [roomID]) ?? 0
    }

    public func members(roomID: Int64, visibleTo userID: Int64) async throws -> [RoomMember] {
        try await writer.read { db in
            _ = try Self.access(db, roomID: roomID, userID: userID)
            return try Row.fetchAll(db, sql: """
                SELECT m.room_id, m.user_id, u.username, m.role, m.joined_at FROM chat_members m
                JOIN chat_users u ON u.id = m.user_id WHERE m.room_id = ? AND m.left_position IS NULL ORDER BY m.joined_at, m.user_id
                """, arguments: [roomID]).map {
                RoomMember(roomID: $0[0], userID: $0[1], username: $0[2], role: MemberRole(rawValue: $0[3]) ?? .member, joinedAt: StoredTime.date($0[4]))
            }
        }
    }
}
