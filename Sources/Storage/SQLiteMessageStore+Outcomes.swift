import Core
import Foundation
import GRDB

/// Outcomes: writing what deliveries did, in one transaction per batch of completions.
extension SQLiteMessageStore {
    /// Writes outcomes for the completions whose owner still holds the lease, and ends those leases. Delivered ones
    /// are written with one statement per group sharing their attempt's fields (the attempt that delivered goes on
    /// the message row, see `attempts(messageID:)`); the others, one statement each plus their attempts row.
    public func complete(_ completions: [DeliveryCompletion], now: Date) async throws {
        try await writer.writeWithoutTransaction { db in
            _ = try self.write(records: [], completions: completions, now: now, completedAt: now, in: db)
        }
    }

    /// The outcomes' part of the write transaction (`write(records:completions:now:completedAt:in:)`): ends the
    /// leases still held by each completion's owner (noting where their rows sit in `ended`) and writes those outcomes.
    func writeCompletions(
        _ completions: [DeliveryCompletion], now nowMS: Int64, endingLeasesInto ended: inout [LeaseTable.Key], in db: Database
    ) throws {
        // Deliveries grouped by what their attempt recorded: a batch delivered by one sink call shares it.
        var delivered: [DeliveredFields: [Int64]] = [:]
        var others: [(seq: Int64, completion: DeliveryCompletion)] = []
        ended.reserveCapacity(completions.count)
        leases.withLock { table in
            for completion in completions {
                guard let seq = table.seq(of: completion.messageID), let lease = table.bySeq[seq],
                      lease.owner == completion.owner
                else { continue }  // stale: another owner holds the lease, or nobody does
                if case .delivered = completion.change, let attempt = completion.attempt {
                    delivered[DeliveredFields(attempt), default: []].append(seq)
                } else {
                    others.append((seq, completion))
                }
                table.release(seq: seq, heldBy: lease.owner)
                ended.append(lease.key)
                // A row due again now or soon must not sit behind the cursor unleased.
                switch completion.change {
                case .retry(let date), .deferred(let date):
                    table.rewind(to: .init(nextAttemptAt: StoredTime.milliseconds(date), seq: seq))
                case .released:
                    table.rewind(to: .init(nextAttemptAt: nowMS, seq: seq))
                case .delivered, .failed:
                    break
                }
            }
        }
        if !delivered.isEmpty {
            // The rows are looked up through the JSON array of seqs (not the other way round, which would scan
            // messages); one statement per group of equal fields.
            let update = try db.cachedStatement(sql: """
                UPDATE messages SET status = 'delivered', attempt_count = attempt_count + 1,
                    next_attempt_at = NULL, delivered_at = ?, last_error = NULL, last_status_code = ?,
                    delivered_duration_ms = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
                WHERE seq IN (SELECT value FROM json_each(?)) AND +status IN ('pending', 'retrying')
                """)
            for (fields, seqs) in delivered {
                try update.execute(arguments: [
                    fields.finishedAt, fields.statusCode, fields.durationMilliseconds, nowMS,
                    Self.jsonArray(seqs),
                ])
            }
        }
        let events = outcomeEvents.load(ordering: .relaxed)
        if events & 1 != 0, !delivered.isEmpty {
            try Self.recordOutcomeEvents(.webhookDelivered, seqs: delivered.values.joined(), now: nowMS, in: db)
        }
        let failed = try Self.writeOutcomes(others, now: nowMS, in: db)
        if events & 2 != 0, !failed.isEmpty {
            try Self.recordOutcomeEvents(.webhookFailed, seqs: failed, now: nowMS, in: db)
        }
    }

    /// Appends one `webhook.delivered` or `webhook.failed` event per message to the event log, with the message as it
    /// is now (the outcome just written).
    private static func recordOutcomeEvents(_ type: EventWebhookType, seqs: some Sequence<Int64>, now nowMS: Int64, in db: Database) throws {
        let rows = try Row.fetchAll(db, sql: """
            SELECT id, route, destination_kind, destination, attempt_count, last_status_code, last_error, accepted_at,
                   delivered_at
            FROM messages WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq
            """, arguments: [jsonArray(seqs)])
        let encoder = ChatJSON.encoder()
        let insert = try db.cachedStatement(
            sql: "INSERT INTO chat_events (type, room_id, user_id, payload, created_at) VALUES (?, NULL, NULL, ?, ?)"
        )
        for row in rows {
            let kind: String = row[2]
            let destination: String = row[3]
            let payload = WebhookOutcomePayload(
                messageID: row[0], route: row[1], destinationKind: kind,
                destination: kind == SinkKind.http.rawValue ? URLRedaction.redacted(destination) : destination,
                attempts: row[4], statusCode: row[5], error: type == .webhookFailed ? row[6] : nil,
                acceptedAt: StoredTime.date(row[7]), deliveredAt: (row[8] as Int64?).map(StoredTime.date)
            )
            try insert.execute(arguments: [type.rawValue, try encoder.encode(payload), nowMS])
        }
    }

    /// Outcomes other than a delivery with its attempt: one update each, plus the attempt's row.
    /// Returns the seqs of the messages that became dead letters.
    private static func writeOutcomes(_ outcomes: [(seq: Int64, completion: DeliveryCompletion)], now nowMS: Int64, in db: Database) throws -> [Int64] {
        guard !outcomes.isEmpty else { return [] }
        var failed: [Int64] = []
        let update = try db.cachedStatement(sql: """
            UPDATE messages SET
                status = CASE ?1 WHEN 'requeue' THEN (CASE WHEN attempt_count > 0 THEN 'retrying' ELSE 'pending' END)
                                 ELSE ?1 END,
                attempt_count = attempt_count + ?2,
                next_attempt_at = ?3,
                delivered_at = ?4,
                last_error = CASE WHEN ?2 = 1 THEN ?5 ELSE last_error END,
                last_status_code = CASE WHEN ?2 = 1 THEN ?6 ELSE last_status_code END,
                lease_owner = NULL, lease_until = NULL, updated_at = ?7
            WHERE seq = ?8 AND status IN ('pending', 'retrying')
            """)
        let insertAttempt = try db.cachedStatement(sql: """
            INSERT INTO attempts (message_seq, number, finished_at, outcome, status_code, error, duration_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for (seq, completion) in outcomes {
            let status: String, nextAttempt: Int64?, deliveredAt: Int64?
            switch completion.change {
            case .delivered: (status, nextAttempt, deliveredAt) = ("delivered", nil, nowMS)
            case .retry(let date): (status, nextAttempt, deliveredAt) = ("retrying", StoredTime.milliseconds(date), nil)
            case .failed: (status, nextAttempt, deliveredAt) = ("failed", nil, nil)
            case .deferred(let date): (status, nextAttempt, deliveredAt) = ("requeue", StoredTime.milliseconds(date), nil)
            case .released: (status, nextAttempt, deliveredAt) = ("requeue", nowMS, nil)
            }
            let attempt = completion.attempt
            try update.execute(arguments: [
                status, attempt == nil ? 0 : 1, nextAttempt, deliveredAt, attempt?.error, attempt?.statusCode,
                nowMS, seq,
            ])
            let changed = db.changesCount > 0
            if changed, case .failed = completion.change { failed.append(seq) }
            if changed, let attempt {
                try insertAttempt.execute(arguments: [
                    seq, attempt.number, StoredTime.milliseconds(attempt.finishedAt), attempt.outcome.rawValue,
                    attempt.statusCode, attempt.error, attempt.durationSeconds * 1000,
                ])
            }
        }
        return failed
    }

    /// What a delivery's attempt writes to its row, in the row's units.
    struct DeliveredFields: Hashable {
        var finishedAt: Int64
        var statusCode: Int?
        var durationMilliseconds: Double

        init(_ attempt: DeliveryAttempt) {
            finishedAt = StoredTime.milliseconds(attempt.finishedAt)
            statusCode = attempt.statusCode
            let duration = attempt.durationSeconds * 1000
            durationMilliseconds = duration.isFinite ? duration : 0
        }
    }
}

/// `webhook.delivered` and `webhook.failed`'s data: the stored webhook as it is after the outcome.
struct WebhookOutcomePayload: Encodable {
    var messageID: String
    var route: String
    var destinationKind: String
    /// The URL (credentials and query redacted) or the topic.
    var destination: String
    var attempts: Int
    var statusCode: Int?
    var error: String?
    var acceptedAt: Date
    var deliveredAt: Date?

    enum CodingKeys: String, CodingKey {
        case messageID = "message_id", route, destinationKind = "destination_kind", destination, attempts
        case statusCode = "status_code", error = "last_error", acceptedAt = "accepted_at", deliveredAt = "delivered_at"
    }
}
