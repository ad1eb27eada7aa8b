#!/usr/bin/env python3
"""Raw SQLite baseline for the Kafka drain: what recording each delivery durably costs, with nothing else running.

Usage: sqlite_drain_floor.py DATABASE BATCH

DATABASE is a copy of the server's backlog (the benchmark copies it after the kill -9, before the drain starts);
this script changes only that copy. With the server's durability settings (WAL, synchronous=FULL) it walks the
undelivered messages in seq order, BATCH at a time, and per batch, in one transaction each:

  - reads the batch's rows (every column the server reads to build a record, the payload from its own table), then
  - marks each row delivered by its rowid (status, delivered_at, updated_at): the least a store that keeps a
    durable status per message can write per delivery.

No lease is written, no Kafka produce happens, no Swift runs. It prints one machine-readable line:

    FLOOR rows=... read_s=... write_s=... rows_per_s=...

A drain that must do at least this much on one SQLite writer cannot beat rows_per_s, however fast the producer is.
"""
import sqlite3
import sys
import time

path, batch = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
read_s = write_s = 0.0
rows = 0
last_seq = 0
now = int(time.time() * 1000)
while True:
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    batch_rows = db.execute(
        """SELECT m.seq, m.id, m.route, m.destination_kind, m.destination, p.headers, p.body, m.status,
                  m.attempt_count, m.attempt_base, m.next_attempt_at, m.last_error, m.last_status_code,
                  m.accepted_at, m.updated_at, m.delivered_at
           FROM messages m JOIN message_payloads p ON p.seq = m.seq
           WHERE m.status != 'delivered' AND m.seq > ? ORDER BY m.seq LIMIT ?""",
        (last_seq, batch),
    ).fetchall()
    read_done = time.perf_counter()
    if batch_rows:
        db.executemany(
            "UPDATE messages SET status = 'delivered', delivered_at = ?, updated_at = ? WHERE seq = ?",
            ((now, now, row[0]) for row in batch_rows),
        )
    db.execute("COMMIT")
    read_s += read_done - started
    write_s += time.perf_counter() - read_done
    if not batch_rows:
        break
    rows += len(batch_rows)
    last_seq = batch_rows[-1][0]
total = read_s + write_s
print("FLOOR rows=%d read_s=%.2f write_s=%.2f rows_per_s=%d" % (rows, read_s, write_s, rows / total if total else 0))
