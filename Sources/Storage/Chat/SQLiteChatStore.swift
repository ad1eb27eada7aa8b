import Core
import Foundation
import GRDB

/// Chat state and its event log in the same SQLite file as the webhooks (migration `v6-chat`).
///
/// Writes go through a group committer on a thread of its own, like webhook ingest: concurrent sends share one
/// transaction and one fsync. Each write runs in a savepoint of that transaction, so a write that is refused (not a
/// member, a name taken) is undone alone and the others in its batch still commit. Every observable change records
/// its events in the same savepoint (``ChatTransaction/record(_:roomID:userID:payload:)``); once the transaction is
/// durable the batch's events go to the ``ChatEventBus`` in position order, and only then do the writers' calls
/// return, so an acknowledgement never precedes durability and a socket never sees an event that could be lost.
/// Reads use the pool's readers and never wait for the writer.
public final class SQLiteChatStore: ChatStore {
    /// The database's pool, shared with the file's other stores.
    let writer: DatabasePool
    let clock: any WallClock
    /// How many of the newest messages in the caller's rooms a one- or two-character search reads (see `search`).
    let shortQueryScanLimit: Int
    private let committer: ThreadGroupCommitter<ChatWrite, Result<any Sendable, any Error>>

    /// The chat tables of `database` (already at this binary's schema), publishing committed events to `bus`.
    public init(
        database: SQLiteDatabase, bus: any ChatEventBus, clock: any WallClock = SystemWallClock(),
        shortQueryScanLimit: Int = SQLiteChatStore.defaultShortQueryScanLimit
    ) {
        writer = database.writer
        self.clock = clock
        self.shortQueryScanLimit = max(1, shortQueryScanLimit)
        let writer = database.writer
        committer = ThreadGroupCommitter(name: "chat-commit", maxBatchSize: 512) { writes in
            try Self.commit(writes, writer: writer, now: clock.now, bus: bus)
        }
    }

    /// Runs `body` in a savepoint of the next group commit and returns its value once the transaction is durable.
    func write<Value: Sendable>(_ body: @escaping @Sendable (inout ChatTransaction) throws -> Value) async throws -> Value {
        let result = try await committer.submit(ChatWrite { transaction in try body(&transaction) })
        // The commit returns, for each write, what that write's body returned: a `Value`.
        guard let value = try result.get() as? Value else { fatalError("a chat write returned another type than its body") }
        return value
    }

    /// One batch: one transaction, a savepoint per write, then the events of the writes that succeeded.
    private static func commit(
        _ writes: [ChatWrite], writer: DatabasePool, now: Date, bus: any ChatEventBus
    ) throws -> [Result<any Sendable, any Error>] {
        var events: [ChatEvent] = []
        let results = try writer.write { db -> [Result<any Sendable, any Error>] in
            var results: [Result<any Sendable, any Error>] = []
            results.reserveCapacity(writes.count)
            for write in writes {
                var transaction = ChatTransaction(db: db, now: now)
                var value: (any Sendable)?
                do {
                    try db.inSavepoint {
                        value = try write.body(&transaction)
                        return .commit
                    }
                } catch {
                    results.append(.failure(error))
                    continue
                }
                // Set by the savepoint's block, which returned normally.
                results.append(.success(value!))
                events += transaction.events
            }
            return results
        }
        if !events.isEmpty { bus.publish(events) }
        return results
    }

    public func headPosition() async throws -> Int64 {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(position) FROM chat_events") ?? 0 }
    }

    public func memberships() async throws -> [(roomID: Int64, userID: Int64)] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT room_id, user_id FROM chat_members WHERE left_position IS NULL")
                .map { (roomID: $0[0], userID: $0[1]) }
        }
    }

    public func counts() async throws -> ChatCounts {
        try await writer.read { db in
            // Kept by triggers (migration v10-chat-counts): three rows, not a count of every message.
            let rows = try Row.fetchAll(db, sql: "SELECT name, count FROM chat_counts")
            let counts = Dictionary(rows.map { ($0[0] as String, $0[1] as Int) }, uniquingKeysWith: { first, _ in first })
            return ChatCounts(users: counts["users"] ?? 0, rooms: counts["rooms"] ?? 0, messages: counts["messages"] ?? 0)
        }
    }

    public func events(visibleTo userID: Int64, after position: Int64, limit: Int) async throws -> [ChatEvent] {
        try await writer.read { db in
            // The events a live socket of this user saw: those of rooms while they were a member (joined_position
            // to left_position), and those addressed to them.
            try Row.fetchAll(db, sql: """
                SELECT e.position, e.type, e.room_id, e.user_id, e.payload, e.created_at FROM chat_events e
                WHERE e.position > ?1 AND (
                    e.user_id = ?2 OR EXISTS (
                        SELECT 1 FROM chat_members m
                        WHERE m.room_id = e.room_id AND m.user_id = ?2 AND e.position >= m.joined_position
                          AND (m.left_position IS NULL OR e.position <= m.left_position)))
                ORDER BY e.position LIMIT ?3
                """, arguments: [position, userID, limit]).compactMap(Self.event)
        }
    }

    static func event(_ row: Row) -> ChatEvent? {
        guard let type = ChatEventType(rawValue: row[1]) else { return nil }
        return ChatEvent(position: row[0], type: type, roomID: row[2], userID: row[3], payload: row[4], createdAt: StoredTime.date(row[5]))
    }
}

/// One write's body, run on the commit thread inside its savepoint.
struct ChatWrite: Sendable {
    let body: @Sendable (inout ChatTransaction) throws -> any Sendable
}

/// What a chat write sees: the connection inside the batch's transaction, the batch's time, and the events it
/// records.
struct ChatTransaction {
    let db: Database
    /// The batch's time: every row written in one batch carries the same one.
    let now: Date
    private(set) var events: [ChatEvent] = []

    init(db: Database, now: Date) {
        self.db = db
        self.now = now
    }

    var nowMilliseconds: Int64 { StoredTime.milliseconds(now) }

    /// Appends an event to the log and returns its position.
    @discardableResult
    mutating func record(_ type: ChatEventType, roomID: Int64?, userID: Int64?, payload: some Encodable) throws -> Int64 {
        let data = try ChatJSON.encoder().encode(payload)
        try db.execute(
            sql: "INSERT INTO chat_events (type, room_id, user_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [type.rawValue, roomID, userID, data, nowMilliseconds]
        )
        let position = db.lastInsertedRowID
        events.append(ChatEvent(position: position, type: type, roomID: roomID, userID: userID, payload: data, createdAt: now))
        return position
    }
}
