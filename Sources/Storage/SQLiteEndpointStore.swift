import Core
import Foundation
import GRDB

/// Event-webhook endpoints, their deliveries and attempts, in the same file as the event log they fan out from
/// (migration `v7-event-webhooks`).
///
/// Writes go straight to the pool's writer (each a transaction): fan-out batches, outcome batches (the worker
/// groups them), and the admin API's changes. Claiming due deliveries is a read: the one server that holds the
/// file keeps what is in flight in memory, so a crash leaves those rows pending and they are sent again.
public final class SQLiteEndpointStore: EventEndpointStore {
    let writer: DatabasePool

    /// The endpoint tables of `database` (already at this binary's schema).
    public init(database: SQLiteDatabase) {
        writer = database.writer
    }

    // MARK: Endpoints

    public func createEndpoint(_ endpoint: EventEndpoint) async throws -> EventEndpoint {
        try await writer.write { db in
            var endpoint = endpoint
            endpoint.createdPosition = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(position), 0) FROM chat_events") ?? 0
            try db.execute(sql: """
                INSERT INTO webhook_endpoints (id, url, description, event_types, room_ids, routes, headers, enabled,
                    disabled_reason, disabled_at, rate_limit, signing, secret, previous_secret, previous_secret_expires_at,
                    created_position, created_at, updated_at, failing_since, consecutive_failures)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)
                """, arguments: [
                    endpoint.id, endpoint.url, endpoint.description, Self.json(endpoint.eventTypes.map(\.text)),
                    Self.json(endpoint.roomIDs), Self.json(endpoint.routes), Self.json(endpoint.headers), endpoint.isEnabled,
                    endpoint.disabledReason, endpoint.disabledAt.map(StoredTime.milliseconds), endpoint.rateLimit,
                    endpoint.signing.rawValue, endpoint.secret, endpoint.previousSecret,
                    endpoint.previousSecretExpiresAt.map(StoredTime.milliseconds), endpoint.createdPosition,
                    StoredTime.milliseconds(endpoint.createdAt), StoredTime.milliseconds(endpoint.updatedAt),
                ])
            return endpoint
        }
    }

    public func endpoint(id: String) async throws -> EventEndpoint? {
        try await writer.read { db in try Self.endpoint(id: id, in: db) }
    }

    public func endpoints() async throws -> [EventEndpoint] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM webhook_endpoints ORDER BY created_at, id").map(Self.endpoint)
        }
    }

    public func updateEndpoint(_ endpoint: EventEndpoint, now: Date) async throws -> EventEndpoint? {
        try await writer.write { db in
            try db.execute(sql: """
                UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?, room_ids = ?, routes = ?,
                    headers = ?, rate_limit = ?, signing = ?, secret = ?, previous_secret = ?,
                    previous_secret_expires_at = ?, updated_at = ?
                WHERE id = ?
                """, arguments: [
                    endpoint.url, endpoint.description, Self.json(endpoint.eventTypes.map(\.text)), Self.json(endpoint.roomIDs),
                    Self.json(endpoint.routes), Self.json(endpoint.headers), endpoint.rateLimit, endpoint.signing.rawValue,
                    endpoint.secret, endpoint.previousSecret, endpoint.previousSecretExpiresAt.map(StoredTime.milliseconds),
                    StoredTime.milliseconds(now), endpoint.id,
                ])
            return try Self.endpoint(id: endpoint.id, in: db)
        }
    }

    public func deleteEndpoint(id: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM webhook_endpoints WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func setEnabled(id: String, enabled: Bool, reason: String?, now: Date) async throws -> EventEndpoint? {
        try await writer.write { db in
            guard let endpoint = try Self.endpoint(id: id, in: db) else { return nil }
            if enabled {
                guard !endpoint.isEnabled else { return endpoint }
                try db.execute(sql: """
                    UPDATE webhook_endpoints SET enabled = 1, disabled_reason = NULL, disabled_at = NULL,
                        failing_since = NULL, consecutive_failures = 0, updated_at = ?
                    WHERE id = ?
                    """, arguments: [StoredTime.milliseconds(now), id])
            } else {
                guard endpoint.isEnabled else { return endpoint }
                try Self.disable(endpoint, reason: reason ?? "disabled by an administrator", now: now, in: db)
            }
            return try Self.endpoint(id: id, in: db)
        }
    }

    /// Disables `endpoint`: its pending deliveries are held, and `endpoint.disabled` joins the log.
    static func disable(_ endpoint: EventEndpoint, reason: String, now: Date, in db: Database) throws {
        let nowMS = StoredTime.milliseconds(now)
        try db.execute(sql: """
            UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?, disabled_at = ?, updated_at = ? WHERE id = ?
            """, arguments: [reason, nowMS, nowMS, endpoint.id])
        try db.execute(sql: """
            UPDATE webhook_deliveries SET status = 'held', next_attempt_at = NULL, updated_at = ?
            WHERE endpoint_id = ? AND status = 'pending'
            """, arguments: [nowMS, endpoint.id])
        let payload = EndpointDisabledPayload(
            endpointID: endpoint.id, url: URLRedaction.redacted(endpoint.url), reason: reason, disabledAt: now
        )
        try db.execute(
            sql: "INSERT INTO chat_events (type, room_id, user_id, payload, created_at) VALUES (?, NULL, NULL, ?, ?)",
            arguments: [EventWebhookType.endpointDisabled.rawValue, try ChatJSON.encoder().encode(payload), nowMS]
        )
    }

    // MARK: Fan-out

    public func fanOut(limit: Int, now: Date) async throws -> Int {
        try await writer.write { db in
            // Read here, in the transaction that moves the cursor: an endpoint made a moment ago (by the command
            // line, say) is seen before the cursor passes the events after its creation.
            let endpoints = try Row.fetchAll(db, sql: "SELECT * FROM webhook_endpoints ORDER BY created_at, id").map(Self.endpoint)
            let cursor = try Int64.fetchOne(db, sql: "SELECT position FROM webhook_fanout_cursor WHERE id = 1") ?? 0
            if endpoints.isEmpty {
                // Nobody listens: the cursor jumps to the head, reading nothing.
                try db.execute(sql: """
                    UPDATE webhook_fanout_cursor SET position = (SELECT COALESCE(MAX(position), ?1) FROM chat_events)
                    WHERE id = 1 AND position < (SELECT COALESCE(MAX(position), ?1) FROM chat_events)
                    """, arguments: [cursor])
                return 0
            }
            let rows = try Row.fetchAll(db, sql: """
                SELECT position, type, room_id, payload FROM chat_events WHERE position > ? ORDER BY position LIMIT ?
                """, arguments: [cursor, limit])
            guard let last = rows.last else { return 0 }
            let insert = try db.cachedStatement(sql: """
                INSERT INTO webhook_deliveries (endpoint_id, event_position, event_type, status, next_attempt_at,
                    created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            let nowMS = StoredTime.milliseconds(now)
            let sent = Set(EventWebhookType.allCases.map(\.rawValue))
            for row in rows {
                let position: Int64 = row[0]
                let type: String = row[1]
                guard sent.contains(type) else { continue }
                let roomID: Int64? = row[2]
                let payload: Data = row[3]
                for endpoint in endpoints
                where endpoint.accepts(type: type, position: position, roomID: roomID, route: Self.route(in: payload)) {
                    try insert.execute(arguments: [
                        endpoint.id, position, type, endpoint.isEnabled ? "pending" : "held",
                        endpoint.isEnabled ? nowMS : nil, nowMS, nowMS,
                    ])
                }
            }
            let lastPosition: Int64 = last[0]
            try db.execute(sql: "UPDATE webhook_fanout_cursor SET position = ? WHERE id = 1", arguments: [lastPosition])
            return rows.count
        }
    }

    /// The `route` of a `webhook.*` event's payload.
    private static func route(in payload: Data) -> String? {
        struct Routed: Decodable { var route: String? }
        return (try? JSONDecoder().decode(Routed.self, from: payload))?.route
    }

    // MARK: Due deliveries and outcomes

    public func dueDeliveries(limits: [String: Int], now: Date, excluding excluded: [String: Set<Int64>]) async throws -> [DueEventDelivery] {
        try await writer.read { db in
            // One query per endpoint, each an index range (endpoint, due date): an endpoint with a long backlog
            // never hides the others' due deliveries. Those in flight are left out by the query, so each reads only
            // the rows it returns; each query is given only its own endpoint's (a few, where all of them would be
            // hundreds).
            let statement = try db.cachedStatement(sql: """
                SELECT \(Self.deliveryColumns), e.payload, e.created_at
                FROM webhook_deliveries d JOIN chat_events e ON e.position = d.event_position
                WHERE d.endpoint_id = ? AND d.status = 'pending' AND d.next_attempt_at <= ?
                  AND d.id NOT IN (SELECT value FROM json_each(?))
                ORDER BY d.next_attempt_at, d.id LIMIT ?
                """)
            let nowMS = StoredTime.milliseconds(now)
            var due: [DueEventDelivery] = []
            for (endpointID, limit) in limits.sorted(by: { $0.key < $1.key }) where limit > 0 {
                let excludedJSON = "[" + (excluded[endpointID] ?? []).map(String.init).joined(separator: ",") + "]"
                for row in try Row.fetchAll(statement, arguments: [endpointID, nowMS, excludedJSON, limit]) {
                    due.append(DueEventDelivery(delivery: Self.delivery(row), payload: row[13], eventCreatedAt: StoredTime.date(row[14])))
                }
            }
            return due
        }
    }

    public func nextDueDate(endpointIDs: [String]) async throws -> Date? {
        try await writer.read { db in
            let statement = try db.cachedStatement(sql: """
                SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'
                """)
            return try endpointIDs.compactMap { try Int64.fetchOne(statement, arguments: [$0]) }.min().map(StoredTime.date)
        }
    }

    public func record(_ outcomes: [EventDeliveryOutcome], policy: EndpointDisablePolicy, now: Date) async throws -> [DisabledEndpoint] {
        try await writer.write { db in
            let nowMS = StoredTime.milliseconds(now)
            // The attempt that delivers is written on the row (`v9-delivered-attempt-on-delivery`): a pending row
            // holds no delivered attempt (queuing a row again moves it out first), so the other outcomes write NULL.
            let update = try db.cachedStatement(sql: """
                UPDATE webhook_deliveries SET status = ?, attempt_count = attempt_count + ?, schedule_step = schedule_step + ?,
                    next_attempt_at = ?, last_status_code = CASE WHEN ? THEN ? ELSE last_status_code END,
                    last_error = CASE WHEN ? THEN ? ELSE last_error END, delivered_at = ?, delivered_started_at = ?,
                    delivered_duration_ms = ?, delivered_excerpt = ?, updated_at = ?
                WHERE id = ? AND status = 'pending'
                """)
            let insertAttempt = try db.cachedStatement(sql: """
                INSERT INTO webhook_attempts (delivery_id, number, started_at, status_code, duration_ms, error, response_excerpt)
                VALUES (?, (SELECT attempt_count FROM webhook_deliveries WHERE id = ?), ?, ?, ?, ?, ?)
                """)
            // Per endpoint, in order: did its attempts of this batch succeed or fail?
            var streaks: [String: [Bool]] = [:]
            var gone: Set<String> = []
            for outcome in outcomes {
                let status: String, nextAttempt: Int64?, deliveredAt: Int64?
                switch outcome.change {
                case .delivered: (status, nextAttempt, deliveredAt) = ("delivered", nil, nowMS)
                case .retry(let date): (status, nextAttempt, deliveredAt) = ("pending", StoredTime.milliseconds(date), nil)
                case .failed: (status, nextAttempt, deliveredAt) = ("failed", nil, nil)
                case .deferred(let date): (status, nextAttempt, deliveredAt) = ("pending", StoredTime.milliseconds(date), nil)
                case .gone: (status, nextAttempt, deliveredAt) = ("held", nil, nil)
                }
                let attempt = outcome.attempt
                let counted = attempt == nil ? 0 : 1
                let onRow = outcome.change == .delivered ? attempt : nil
                try update.execute(arguments: [
                    status, counted, counted, nextAttempt, counted == 1, attempt?.statusCode, counted == 1, attempt?.error,
                    deliveredAt, onRow.map { StoredTime.milliseconds($0.startedAt) }, onRow?.durationMilliseconds,
                    onRow?.responseExcerpt, nowMS, outcome.deliveryID,
                ])
                guard db.changesCount > 0, let attempt else { continue }
                if onRow == nil {
                    try insertAttempt.execute(arguments: [
                        outcome.deliveryID, outcome.deliveryID, StoredTime.milliseconds(attempt.startedAt), attempt.statusCode,
                        attempt.durationMilliseconds, attempt.error, attempt.responseExcerpt,
                    ])
                }
                streaks[outcome.endpointID, default: []].append(outcome.change == .delivered)
                if outcome.change == .gone { gone.insert(outcome.endpointID) }
            }
            var disabled: [DisabledEndpoint] = []
            // An endpoint whose attempts in this batch all succeeded only needs its streak cleared, which writes
            // nothing when it was clear already (the common case): no read, no decode.
            let clearStreak = try db.cachedStatement(sql: """
                UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL
                WHERE id = ? AND (consecutive_failures != 0 OR failing_since IS NOT NULL)
                """)
            for (endpointID, results) in streaks where results.allSatisfy({ $0 }) {
                try clearStreak.execute(arguments: [endpointID])
            }
            for (endpointID, results) in streaks where !results.allSatisfy({ $0 }) {
                guard var endpoint = try Self.endpoint(id: endpointID, in: db) else { continue }
                for succeeded in results {
                    if succeeded {
                        endpoint.consecutiveFailures = 0
                        endpoint.failingSince = nil
                    } else {
                        endpoint.consecutiveFailures += 1
                        if endpoint.failingSince == nil { endpoint.failingSince = now }
                    }
                }
                try db.execute(sql: """
                    UPDATE webhook_endpoints SET consecutive_failures = ?, failing_since = ? WHERE id = ?
                    """, arguments: [endpoint.consecutiveFailures, endpoint.failingSince.map(StoredTime.milliseconds), endpointID])
                guard endpoint.isEnabled else { continue }
                var reason: String?
                if gone.contains(endpointID) {
                    reason = "the endpoint answered 410 Gone"
                } else if policy.afterFailures > 0, endpoint.consecutiveFailures >= policy.afterFailures {
                    reason = "\(endpoint.consecutiveFailures) attempts in a row failed"
                } else if let since = endpoint.failingSince, now.timeIntervalSince(since) >= policy.after.seconds {
                    reason = "every attempt failed since \(Timestamp.rfc3339Milliseconds(since))"
                }
                if let reason {
                    try Self.disable(endpoint, reason: reason, now: now, in: db)
                    disabled.append(DisabledEndpoint(endpointID: endpointID, reason: reason))
                }
            }
            return disabled
        }
    }

    public func replay(endpointID: String, since: Date, now: Date) async throws -> Int {
        try await writer.write { db in
            let nowMS = StoredTime.milliseconds(now)
            let condition = "endpoint_id = ? AND status IN ('held', 'failed') AND created_at >= ?"
            let arguments: StatementArguments = [endpointID, StoredTime.milliseconds(since)]
            try Self.keepDeliveredAttempts(where: condition, arguments: arguments, in: db)
            try db.execute(sql: """
                UPDATE webhook_deliveries SET status = 'pending', schedule_step = 0, next_attempt_at = ?, updated_at = ?
                WHERE \(condition)
                """, arguments: StatementArguments([nowMS, nowMS]) + arguments)
            return db.changesCount
        }
    }

    public func retryDelivery(id: Int64, endpointID: String, now: Date) async throws -> EventDelivery? {
        try await writer.write { db in
            let nowMS = StoredTime.milliseconds(now)
            let condition = "id = ? AND endpoint_id = ? AND status != 'pending'"
            let arguments: StatementArguments = [id, endpointID]
            try Self.keepDeliveredAttempts(where: condition, arguments: arguments, in: db)
            try db.execute(sql: """
                UPDATE webhook_deliveries SET status = 'pending', schedule_step = 0, next_attempt_at = ?, updated_at = ?
                WHERE \(condition)
                """, arguments: StatementArguments([nowMS, nowMS]) + arguments)
            return try Row.fetchOne(db, sql: "SELECT \(Self.deliveryColumns) FROM webhook_deliveries d WHERE d.id = ? AND d.endpoint_id = ?", arguments: [id, endpointID])
                .map(Self.delivery)
        }
    }

    /// Moves the delivered attempt kept on the rows matching `condition` into `webhook_attempts`, before they are
    /// queued again: the next outcome writes over those columns, and no attempt may be lost.
    private static func keepDeliveredAttempts(where condition: String, arguments: StatementArguments, in db: Database) throws {
        let delivered = "(\(condition)) AND delivered_started_at IS NOT NULL"
        try db.execute(sql: """
            INSERT INTO webhook_attempts (delivery_id, number, started_at, status_code, duration_ms, error, response_excerpt)
            SELECT id, attempt_count, delivered_started_at, last_status_code, delivered_duration_ms, last_error, delivered_excerpt
            FROM webhook_deliveries WHERE \(delivered) ORDER BY id
            """, arguments: arguments)
        guard db.changesCount > 0 else { return }
        try db.execute(sql: """
            UPDATE webhook_deliveries SET delivered_started_at = NULL, delivered_duration_ms = NULL, delivered_excerpt = NULL
            WHERE \(delivered)
            """, arguments: arguments)
    }

    // MARK: Reads

    public func deliveries(endpointID: String, status: EventDeliveryStatus?, before: Int64?, limit: Int) async throws -> [EventDelivery] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.deliveryColumns) FROM webhook_deliveries d
                WHERE d.endpoint_id = ?1 AND (?2 IS NULL OR d.status = ?2) AND (?3 IS NULL OR d.id < ?3)
                ORDER BY d.id DESC LIMIT ?4
                """, arguments: [endpointID, status?.rawValue, before, limit]).map(Self.delivery)
        }
    }

    public func attempts(deliveryID: Int64) async throws -> [EventDeliveryAttempt] {
        try await writer.read { db in
            // The attempts rows, then the delivering attempt when it is kept on the delivery row (always the last).
            try Row.fetchAll(db, sql: """
                SELECT number, started_at, status_code, duration_ms, error, response_excerpt FROM (
                    SELECT 0 AS kept_on_row, id, number, started_at, status_code, duration_ms, error, response_excerpt
                    FROM webhook_attempts WHERE delivery_id = ?1
                    UNION ALL
                    SELECT 1, id, attempt_count, delivered_started_at, last_status_code, delivered_duration_ms, last_error,
                        delivered_excerpt
                    FROM webhook_deliveries WHERE id = ?1 AND delivered_started_at IS NOT NULL
                ) ORDER BY kept_on_row, id
                """, arguments: [deliveryID]).map { row in
                EventDeliveryAttempt(
                    number: row[0], startedAt: StoredTime.date(row[1]), statusCode: row[2], durationMilliseconds: row[3],
                    error: row[4], responseExcerpt: row[5]
                )
            }
        }
    }

    // MARK: Rows

    private static func endpoint(id: String, in db: Database) throws -> EventEndpoint? {
        try Row.fetchOne(db, sql: "SELECT * FROM webhook_endpoints WHERE id = ?", arguments: [id]).map(endpoint)
    }

    private static func endpoint(_ row: Row) -> EventEndpoint {
        let decoder = JSONDecoder()
        func decode<T: Decodable>(_ column: String, as type: T.Type, default value: T) -> T {
            let text: String = row[column]
            return (try? decoder.decode(T.self, from: Data(text.utf8))) ?? value
        }
        return EventEndpoint(
            id: row["id"], url: row["url"], description: row["description"],
            eventTypes: decode("event_types", as: [String].self, default: []).compactMap(EventTypePattern.init),
            roomIDs: decode("room_ids", as: [Int64].self, default: []),
            routes: decode("routes", as: [String].self, default: []),
            headers: decode("headers", as: [String: String].self, default: [:]),
            isEnabled: row["enabled"], disabledReason: row["disabled_reason"],
            disabledAt: (row["disabled_at"] as Int64?).map(StoredTime.date), rateLimit: row["rate_limit"],
            signing: EventEndpoint.Signing(rawValue: row["signing"]) ?? .hmac, secret: row["secret"],
            previousSecret: row["previous_secret"],
            previousSecretExpiresAt: (row["previous_secret_expires_at"] as Int64?).map(StoredTime.date),
            createdPosition: row["created_position"], createdAt: StoredTime.date(row["created_at"]),
            updatedAt: StoredTime.date(row["updated_at"]),
            failingSince: (row["failing_since"] as Int64?).map(StoredTime.date), consecutiveFailures: row["consecutive_failures"]
        )
    }

    /// The columns ``delivery(_:)`` reads, by index, in this order (reading by name costs a case-insensitive
    /// look-up per column, which showed in the egress benchmark's profile).
    static let deliveryColumns = """
        d.id, d.endpoint_id, d.event_position, d.event_type, d.status, d.attempt_count, d.schedule_step,
        d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at, d.delivered_at
        """

    private static func delivery(_ row: Row) -> EventDelivery {
        EventDelivery(
            id: row[0], endpointID: row[1], eventPosition: row[2], eventType: row[3],
            status: EventDeliveryStatus(rawValue: row[4]) ?? .pending, attemptCount: row[5],
            scheduleStep: row[6], nextAttemptAt: (row[7] as Int64?).map(StoredTime.date),
            lastStatusCode: row[8], lastError: row[9],
            createdAt: StoredTime.date(row[10]), updatedAt: StoredTime.date(row[11]),
            deliveredAt: (row[12] as Int64?).map(StoredTime.date)
        )
    }

    private static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("[]".utf8), as: UTF8.self)
    }
}

/// `endpoint.disabled`'s data.
struct EndpointDisabledPayload: Encodable {
    var endpointID: String
    var url: String
    var reason: String
    var disabledAt: Date

    enum CodingKeys: String, CodingKey {
        case endpointID = "endpoint_id", url, reason, disabledAt = "disabled_at"
    }
}
