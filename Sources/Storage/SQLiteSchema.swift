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
        return migrator
    }
}
