import Core
import Foundation
import GRDB

/// The columns of a whole message, in the order every query that reads one selects them: the one place their
/// positions are defined. ``RawMessageRow`` and ``CopiedRows`` read by these positions, never by name.
enum MessageColumn: Int, CaseIterable {
    case id, route, destinationKind, destination, headers, body, status, attemptCount, attemptBase, nextAttemptAt
    case lastError, lastStatusCode, acceptedAt, updatedAt, deliveredAt, seq

    /// The column as SQL, with the table alias it has in ``joinedTables``.
    var sql: String {
        switch self {
        case .id: "m.id"
        case .route: "m.route"
        case .destinationKind: "m.destination_kind"
        case .destination: "m.destination"
        case .headers: "p.headers"
        case .body: "p.body"
        case .status: "m.status"
        case .attemptCount: "m.attempt_count"
        case .attemptBase: "m.attempt_base"
        case .nextAttemptAt: "m.next_attempt_at"
        case .lastError: "m.last_error"
        case .lastStatusCode: "m.last_status_code"
        case .acceptedAt: "m.accepted_at"
        case .updatedAt: "m.updated_at"
        case .deliveredAt: "m.delivered_at"
        case .seq: "m.seq"
        }
    }

    /// The select list: every column, in order.
    static let selection: String = {
        // `count` is a constant for the claim loop's sake, so it must keep agreeing with the cases.
        guard allCases.count == count else {
            fatalError("MessageColumn.count (\(count)) is not the number of cases (\(allCases.count)): `seq` must stay last")
        }
        return allCases.map(\.sql).joined(separator: ", ")
    }()

    /// What ``selection`` is selected from: a message row `m` and its payload `p`.
    static let joinedTables = "messages m JOIN message_payloads p ON p.seq = m.seq"

    /// The number of columns: a constant (`seq` is the last case, checked when ``selection`` is first built), so the
    /// per-row loops in ``CopiedRows`` pay nothing for it.
    static var count: Int { seq.rawValue + 1 }
}

/// A row selected with ``MessageColumn/selection``, copied out as plain values: GRDB's `Row` may not leave the
/// writer's closure, and turning these into a `StoredMessage` (header decoding, allocations) need not hold the
/// writer. Read by position: looking columns up by name lowercases each name on every access, which shows in
/// profiles when thousands of rows are claimed a second.
struct RawMessageRow: Sendable {
    var id: String, route: String, destinationKind: String, destination: String
    /// Encoded (``HeaderCoding``); a slice, so a claim's rows can share the bytes they were copied into.
    var headers: ArraySlice<UInt8>, body: [UInt8], status: String
    var attemptCount: Int, attemptBase: Int, nextAttemptAt: Int64?, lastError: String?, lastStatusCode: Int?
    var acceptedAt: Int64, updatedAt: Int64, deliveredAt: Int64?, seq: Int64

    init(
        id: String, route: String, destinationKind: String, destination: String, headers: ArraySlice<UInt8>, body: [UInt8],
        status: String, attemptCount: Int, attemptBase: Int, nextAttemptAt: Int64?, lastError: String?,
        lastStatusCode: Int?, acceptedAt: Int64, updatedAt: Int64, deliveredAt: Int64?, seq: Int64
    ) {
        (self.id, self.route, self.destinationKind, self.destination) = (id, route, destinationKind, destination)
        (self.headers, self.body, self.status) = (headers, body, status)
        (self.attemptCount, self.attemptBase, self.nextAttemptAt) = (attemptCount, attemptBase, nextAttemptAt)
        (self.lastError, self.lastStatusCode) = (lastError, lastStatusCode)
        (self.acceptedAt, self.updatedAt, self.deliveredAt, self.seq) = (acceptedAt, updatedAt, deliveredAt, seq)
    }

    /// A row selected with ``MessageColumn/selection``.
    init(_ row: Row) {
        typealias C = MessageColumn
        (id, route, destinationKind, destination) =
            (row[C.id.rawValue], row[C.route.rawValue], row[C.destinationKind.rawValue], row[C.destination.rawValue])
        (headers, body, status) =
            (ArraySlice(row[C.headers.rawValue] as Data), [UInt8](row[C.body.rawValue] as Data), row[C.status.rawValue])
        (attemptCount, attemptBase, nextAttemptAt) =
            (row[C.attemptCount.rawValue], row[C.attemptBase.rawValue], row[C.nextAttemptAt.rawValue])
        (lastError, lastStatusCode) = (row[C.lastError.rawValue], row[C.lastStatusCode.rawValue])
        (acceptedAt, updatedAt, deliveredAt, seq) =
            (row[C.acceptedAt.rawValue], row[C.updatedAt.rawValue], row[C.deliveredAt.rawValue], row[C.seq.rawValue])
    }

    static func fetchAll(_ db: Database, sql: String, arguments: StatementArguments) throws -> [RawMessageRow] {
        try Row.fetchCursor(db, sql: sql, arguments: arguments).map(RawMessageRow.init).reduce(into: []) { $0.append($1) }
    }

    var storedMessage: StoredMessage? {
        guard let destination = Destination(kind: destinationKind, target: self.destination),
              let status = MessageStatus(rawValue: status)
        else { return nil }
        return StoredMessage(
            message: NewMessage(
                id: MessageID(rawValue: id),
                route: route,
                destination: destination,
                body: body,
                headers: HeaderCoding.decode(headers),
                acceptedAt: StoredTime.date(acceptedAt)
            ),
            status: status,
            attemptCount: attemptCount,
            attemptsSinceRetry: attemptCount - attemptBase,
            nextAttemptAt: nextAttemptAt.map(StoredTime.date),
            lastError: lastError,
            lastStatusCode: lastStatusCode,
            deliveredAt: deliveredAt.map(StoredTime.date),
            updatedAt: StoredTime.date(updatedAt)
        )
    }
}