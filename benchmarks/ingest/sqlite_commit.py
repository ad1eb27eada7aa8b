#!/usr/bin/env python3
"""Raw SQLite baseline for the ingest benchmark: how long one durable commit takes on this disk.

Opens a fresh SQLite file in DIRECTORY with the server's durability settings (WAL, synchronous=FULL) and a table
shaped like the server's, then commits batches of BATCH rows of a BODY_BYTES body for SECONDS, one transaction
per batch, and prints one machine-readable line:

    COMMIT batch=32 commits=... mean_us=... p50_us=... p90_us=... rows_per_s=...

A server that answers only after its request is committed cannot, with C clients that each wait for their answer,
answer more than C requests per mean commit latency (Little's law: every request waits at least one commit), whatever
it does on top: that is the durability ceiling the ingest benchmark prints next to nginx.
"""
import os
import sqlite3
import sys
import time

directory, batch, body_bytes, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
path = os.path.join(directory, "baseline.db")
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, headers BLOB, body BLOB, accepted_at INTEGER)")
body = b"x" * body_bytes
headers = b"content-type: application/json\nhost: 127.0.0.1\n" + b"x" * 60
latencies = []
counter = 0
deadline = time.perf_counter() + seconds
while time.perf_counter() < deadline:
    started = time.perf_counter()
    db.execute("BEGIN")
    for _ in range(batch):
        counter += 1
        db.execute("INSERT INTO messages (id, headers, body, accepted_at) VALUES (?, ?, ?, ?)",
                   ("%032x" % counter, headers, body, counter))
    db.execute("COMMIT")
    latencies.append(time.perf_counter() - started)
db.close()
for suffix in ("", "-wal", "-shm"):
    try:
        os.remove(path + suffix)
    except FileNotFoundError:
        pass
latencies.sort()
total = sum(latencies)
print("COMMIT batch=%d commits=%d mean_us=%d p50_us=%d p90_us=%d rows_per_s=%d" % (
    batch, len(latencies), total / len(latencies) * 1e6, latencies[len(latencies) // 2] * 1e6,
    latencies[len(latencies) * 9 // 10] * 1e6, batch * len(latencies) / total))
