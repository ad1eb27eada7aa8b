import GRDB

/// The SQLite schema, as append-only named migrations: never edit one that has shipped; add another.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-messages") { db in
            // An integer rowid keeps inserts at the end of the b-tree; the time-ordered text id is a unique
            // column beside it, so its index also grows at the end.
            try db.execute(sql: """
                CREATE TABLE messages (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL,
                    route TEXT NOT NULL,
                    destination_kind TEXT NOT NULL,
                    destination TEXT NOT NULL,
                    headers BLOB NOT NULL,
                    body BLOB NOT NULL,
                    status TEXT NOT NULL,
                    attempt_count INTEGER NOT NULL DEFAULT 0,
                    attempt_base INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER,
                    lease_owner TEXT,
                    lease_until INTEGER,
                    last_error TEXT,
                    last_status_code INTEGER,
                    accepted_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    delivered_at INTEGER
                );
                CREATE UNIQUE INDEX messages_id ON messages(id);
                CREATE INDEX messages_status ON messages(status, seq);
                CREATE INDEX messages_due ON messages(next_attempt_at) WHERE status IN ('pending', 'retrying');
                CREATE TABLE attempts (
                    id INTEGER PRIMARY KEY,
                    message_seq INTEGER NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
                    number INTEGER NOT NULL,
                    finished_at INTEGER NOT NULL,
                    outcome TEXT NOT NULL,
                    status_code INTEGER,
                    error TEXT,
                    duration_ms REAL NOT NULL
                );
                CREATE INDEX attempts_message ON attempts(message_seq);
                CREATE TABLE heartbeat (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    beat_at INTEGER NOT NULL
                );
                INSERT INTO heartbeat (id, beat_at) VALUES (1, 0);
                """)
        }
        migrator.registerMigration("v3-api-keys") { db in
            // Only the SHA-256 of each secret is stored; its unique index is how a presented key is found.
            try db.execute(sql: """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    key_hash TEXT NOT NULL,
                    display_prefix TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER,
                    last_used_at INTEGER,
                    revoked_at INTEGER,
                    replaced_by TEXT
                );
                CREATE UNIQUE INDEX api_keys_hash ON api_keys(key_hash);
                """)
        }
        migrator.registerMigration("v2-dedup") { db in
            // Idempotent ingest: the unique index, not a look-up before the insert, is what makes two identical
            // requests racing store one message. Partial, so messages without a key cost the index nothing.
            try db.execute(sql: """
                ALTER TABLE messages ADD COLUMN dedup_key TEXT;
                ALTER TABLE messages ADD COLUMN dedup_expires_at INTEGER;
                CREATE UNIQUE INDEX messages_dedup ON messages(route, dedup_key) WHERE dedup_key IS NOT NULL;
                """)
        }
        migrator.registerMigration("v4-delivered-attempt-on-message") { db in
            // The attempt that delivers a message is recorded on the message row itself (delivered_at,
            // last_status_code and this duration) instead of as an attempts row: one row write per delivery
            // instead of two. NULL on rows delivered before this migration, whose attempts rows are complete.
            try db.execute(sql: "ALTER TABLE messages ADD COLUMN delivered_duration_ms REAL")
        }
        migrator.registerMigration("v5-payloads-apart") { db in
            // A message's headers and body never change once stored, while its delivery state changes with every
            // attempt. Apart, recording an outcome rewrites a ~100-byte row instead of one that carries the whole
            // payload (and, for large bodies, its overflow pages): about a third fewer bytes through the WAL per
            // delivery, measured on a 100 000-message backlog of 170-byte bodies.
            try db.execute(sql: """
                CREATE TABLE message_payloads (
                    seq INTEGER PRIMARY KEY REFERENCES messages(seq) ON DELETE CASCADE,
                    headers BLOB NOT NULL,
                    body BLOB NOT NULL
                );
                INSERT INTO message_payloads (seq, headers, body) SELECT seq, headers, body FROM messages;
                ALTER TABLE messages DROP COLUMN headers;
                ALTER TABLE messages DROP COLUMN body;
                """)
        }
        migrator.registerMigration("v6-chat") { db in
            // Chat state and its append-only event log. Every observable change writes its event row in the same
            // transaction as the state (see SQLiteChatStore). Integer ids throughout: seed 004's shapes use them,
            // and they keep every insert at the end of its b-tree.
            try db.execute(sql: """
                CREATE TABLE chat_users (
                    id INTEGER PRIMARY KEY,
                    username TEXT NOT NULL COLLATE NOCASE UNIQUE,
                    email TEXT NOT NULL COLLATE NOCASE UNIQUE,
                    display_name TEXT,
                    password_hash TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE TABLE chat_refresh_tokens (
                    id TEXT PRIMARY KEY,
                    family TEXT NOT NULL,
                    user_id INTEGER NOT NULL REFERENCES chat_users(id),
                    issued_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    used_at INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX chat_refresh_tokens_family ON chat_refresh_tokens(family);
                CREATE TABLE chat_refresh_families (
                    family TEXT PRIMARY KEY,
                    user_id INTEGER NOT NULL REFERENCES chat_users(id),
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX chat_refresh_families_user ON chat_refresh_families(user_id);
                CREATE TABLE chat_invites (
                    code_hash TEXT PRIMARY KEY,
                    created_at INTEGER NOT NULL,
                    used_by INTEGER REFERENCES chat_users(id),
                    used_at INTEGER
                ) WITHOUT ROWID;
                CREATE TABLE chat_rooms (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    topic TEXT,
                    visibility TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    direct_key TEXT UNIQUE,
                    is_default INTEGER NOT NULL DEFAULT 0,
                    created_by INTEGER REFERENCES chat_users(id),
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX chat_rooms_default ON chat_rooms(is_default) WHERE is_default = 1;
                -- A membership row outlives leaving (left_position set), so that resuming from before the leave
                -- replays exactly the events a live socket saw: those between joined_position and left_position.
                CREATE TABLE chat_members (
                    room_id INTEGER NOT NULL REFERENCES chat_rooms(id),
                    user_id INTEGER NOT NULL REFERENCES chat_users(id),
                    role TEXT NOT NULL,
                    joined_at INTEGER NOT NULL,
                    joined_position INTEGER NOT NULL,
                    left_position INTEGER,
                    last_read_message_id INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (room_id, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX chat_members_user ON chat_members(user_id, room_id);
                CREATE TABLE chat_messages (
                    id INTEGER PRIMARY KEY,
                    room_id INTEGER NOT NULL REFERENCES chat_rooms(id),
                    user_id INTEGER NOT NULL REFERENCES chat_users(id),
                    client_id TEXT,
                    content TEXT NOT NULL,
                    reply_to INTEGER REFERENCES chat_messages(id),
                    created_at INTEGER NOT NULL,
                    edited_at INTEGER,
                    deleted_at INTEGER
                );
                CREATE INDEX chat_messages_room ON chat_messages(room_id, id);
                CREATE TABLE chat_reactions (
                    message_id INTEGER NOT NULL REFERENCES chat_messages(id),
                    user_id INTEGER NOT NULL REFERENCES chat_users(id),
                    emoji TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (message_id, user_id, emoji)
                ) WITHOUT ROWID;
                CREATE UNIQUE INDEX chat_messages_client ON chat_messages(user_id, client_id) WHERE client_id IS NOT NULL;
                -- The event log. AUTOINCREMENT: a position is never reused, also after old events are purged.
                CREATE TABLE chat_events (
                    position INTEGER PRIMARY KEY AUTOINCREMENT,
                    type TEXT NOT NULL,
                    room_id INTEGER,
                    user_id INTEGER,
                    payload BLOB NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX chat_events_room ON chat_events(room_id, position) WHERE room_id IS NOT NULL;
                CREATE INDEX chat_events_user ON chat_events(user_id, position) WHERE user_id IS NOT NULL;
                -- Uploaded files: the bytes are in the attachments directory under storage_name (never the
                -- client's file name), written and fsync'd before this row commits.
                CREATE TABLE chat_attachments (
                    id INTEGER PRIMARY KEY,
                    room_id INTEGER NOT NULL REFERENCES chat_rooms(id),
                    user_id INTEGER NOT NULL REFERENCES chat_users(id),
                    message_id INTEGER REFERENCES chat_messages(id),
                    filename TEXT NOT NULL,
                    content_type TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    storage_name TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX chat_attachments_message ON chat_attachments(message_id) WHERE message_id IS NOT NULL;
                -- Search: words (unicode61, diacritics folded) and trigrams (Chinese, Japanese, word fragments), both
                -- over chat_messages' content and kept in step by triggers, in the same transaction as every send,
                -- edit and delete (a deleted message's content is empty, so it is found no more).
                CREATE VIRTUAL TABLE chat_search_words USING fts5(
                    content, content='chat_messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
                CREATE VIRTUAL TABLE chat_search_trigrams USING fts5(
                    content, content='chat_messages', content_rowid='id', tokenize='trigram');
                CREATE TRIGGER chat_messages_search_insert AFTER INSERT ON chat_messages BEGIN
                    INSERT INTO chat_search_words(rowid, content) VALUES (new.id, new.content);
                    INSERT INTO chat_search_trigrams(rowid, content) VALUES (new.id, new.content);
                END;
                CREATE TRIGGER chat_messages_search_update AFTER UPDATE OF content ON chat_messages BEGIN
                    INSERT INTO chat_search_words(chat_search_words, rowid, content) VALUES ('delete', old.id, old.content);
                    INSERT INTO chat_search_trigrams(chat_search_trigrams, rowid, content) VALUES ('delete', old.id, old.content);
                    INSERT INTO chat_search_words(rowid, content) VALUES (new.id, new.content);
                    INSERT INTO chat_search_trigrams(rowid, content) VALUES (new.id, new.content);
                END;
                -- Secrets the server made itself (the token signing key when the config names none).
                CREATE TABLE server_secrets (
                    name TEXT PRIMARY KEY,
                    value TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v7-event-webhooks") { db in
            // Outgoing event webhooks. The event log (chat_events) is the outbox: the fan-out reads it after its
            // cursor and writes one delivery per matching endpoint, moving the cursor in the same transaction, so
            // an event is fanned out exactly once whatever the moment of a crash. The webhook pipeline's own events
            // (webhook.delivered, webhook.failed) and endpoint.disabled are rows of the same log with neither room
            // nor user, which no chat reader selects.
            try db.execute(sql: """
                CREATE TABLE webhook_endpoints (
                    id TEXT PRIMARY KEY,
                    url TEXT NOT NULL,
                    description TEXT NOT NULL,
                    event_types TEXT NOT NULL,
                    room_ids TEXT NOT NULL,
                    routes TEXT NOT NULL,
                    headers TEXT NOT NULL,
                    enabled INTEGER NOT NULL,
                    disabled_reason TEXT,
                    disabled_at INTEGER,
                    rate_limit INTEGER,
                    signing TEXT NOT NULL,
                    secret TEXT NOT NULL,
                    previous_secret TEXT,
                    previous_secret_expires_at INTEGER,
                    created_position INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    failing_since INTEGER,
                    consecutive_failures INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE TABLE webhook_deliveries (
                    id INTEGER PRIMARY KEY,
                    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
                    event_position INTEGER NOT NULL,
                    event_type TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempt_count INTEGER NOT NULL DEFAULT 0,
                    schedule_step INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER,
                    last_status_code INTEGER,
                    last_error TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    delivered_at INTEGER
                );
                CREATE INDEX webhook_deliveries_due ON webhook_deliveries(endpoint_id, next_attempt_at, id) WHERE status = 'pending';
                CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);
                CREATE TABLE webhook_attempts (
                    id INTEGER PRIMARY KEY,
                    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
                    number INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    status_code INTEGER,
                    duration_ms REAL NOT NULL,
                    error TEXT,
                    response_excerpt TEXT
                );
                CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id);
                CREATE TABLE webhook_fanout_cursor (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    position INTEGER NOT NULL
                );
                INSERT INTO webhook_fanout_cursor (id, position) VALUES (1, (SELECT COALESCE(MAX(position), 0) FROM chat_events));
                """)
        }
        migrator.registerMigration("v8-message-status-counts") { db in
            // The number of messages in each status, so that /status and /metrics read a few rows instead of counting
            // the status index, a scan of every message on each call. Filled here from the rows the file holds, then
            // kept exact in the transaction of every change: status changes and deletes by triggers (whoever makes
            // them: the server, the admin commands, someone with sqlite3), new messages by the store's ingest, the
            // one writer of new rows (`SQLiteMessageStore+Ingest.swift`), with one statement per batch. An insert
            // trigger would make every ingested row's INSERT keep a statement journal of the pages it changes, as
            // SQLite does for a statement that fires a trigger: about a fifth more work per row (benchmarks/README.md,
            // "Cost that stays flat").
            try db.execute(sql: """
                CREATE TABLE message_status_counts (
                    status TEXT PRIMARY KEY,
                    count INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO message_status_counts (status, count) SELECT status, count(*) FROM messages GROUP BY status;
                -- An upsert, so that a status no row had before is counted too.
                CREATE TRIGGER messages_status_count_update AFTER UPDATE OF status ON messages
                WHEN new.status IS NOT old.status BEGIN
                    UPDATE message_status_counts SET count = count - 1 WHERE status = old.status;
                    INSERT INTO message_status_counts (status, count) VALUES (new.status, 1)
                        ON CONFLICT (status) DO UPDATE SET count = count + 1;
                END;
                CREATE TRIGGER messages_status_count_delete AFTER DELETE ON messages BEGIN
                    UPDATE message_status_counts SET count = count - 1 WHERE status = old.status;
                END;
                """)
        }
        migrator.registerMigration("v9-delivered-attempt-on-delivery") { db in
            // As v4 did for messages: the attempt that delivers an event webhook is recorded on its delivery row
            // (delivered_at and last_status_code were there already; these hold the rest of the attempt) instead of
            // as a webhook_attempts row, so a successful delivery writes one row instead of two. NULL on rows
            // delivered before this migration, whose attempts rows are complete, and on every row not delivered.
            // Queuing a delivered row again (a retry or a replay) first moves this attempt into webhook_attempts.
            try db.execute(sql: """
                ALTER TABLE webhook_deliveries ADD COLUMN delivered_started_at INTEGER;
                ALTER TABLE webhook_deliveries ADD COLUMN delivered_duration_ms REAL;
                ALTER TABLE webhook_deliveries ADD COLUMN delivered_excerpt TEXT;
                """)
        }
        migrator.registerMigration("v10-chat-counts") { db in
            // What `/stats` shows (users, rooms, messages not deleted), kept by triggers in the transaction of every
            // change, whoever makes it, so that a call reads three rows instead of counting every message: at a
            // million messages that count read the whole table (hundreds of milliseconds) on every call.
            // chat_messages has insert triggers already (search), so the statement journal these need is kept anyway.
            try db.execute(sql: """
                CREATE TABLE chat_counts (
                    name TEXT PRIMARY KEY,
                    count INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO chat_counts (name, count) VALUES
                    ('users', (SELECT count(*) FROM chat_users)),
                    ('rooms', (SELECT count(*) FROM chat_rooms)),
                    ('messages', (SELECT count(*) FROM chat_messages WHERE deleted_at IS NULL));
                CREATE TRIGGER chat_counts_user_insert AFTER INSERT ON chat_users BEGIN
                    UPDATE chat_counts SET count = count + 1 WHERE name = 'users';
                END;
                CREATE TRIGGER chat_counts_user_delete AFTER DELETE ON chat_users BEGIN
                    UPDATE chat_counts SET count = count - 1 WHERE name = 'users';
                END;
                CREATE TRIGGER chat_counts_room_insert AFTER INSERT ON chat_rooms BEGIN
                    UPDATE chat_counts SET count = count + 1 WHERE name = 'rooms';
                END;
                CREATE TRIGGER chat_counts_room_delete AFTER DELETE ON chat_rooms BEGIN
                    UPDATE chat_counts SET count = count - 1 WHERE name = 'rooms';
                END;
                CREATE TRIGGER chat_counts_message_insert AFTER INSERT ON chat_messages WHEN new.deleted_at IS NULL BEGIN
                    UPDATE chat_counts SET count = count + 1 WHERE name = 'messages';
                END;
                CREATE TRIGGER chat_counts_message_delete AFTER DELETE ON chat_messages WHEN old.deleted_at IS NULL BEGIN
                    UPDATE chat_counts SET count = count - 1 WHERE name = 'messages';
                END;
                CREATE TRIGGER chat_counts_message_update AFTER UPDATE OF deleted_at ON chat_messages
                WHEN (old.deleted_at IS NULL) != (new.deleted_at IS NULL) BEGIN
                    UPDATE chat_counts SET count = count + (CASE WHEN new.deleted_at IS NULL THEN 1 ELSE -1 END)
                    WHERE name = 'messages';
                END;
                """)
        }
        return migrator
    }
}
