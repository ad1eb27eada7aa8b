#!/usr/bin/env python3
"""Helpers of benchmarks/flat/run.sh (see benchmarks/README.md, "Cost that stays flat").

  prefill   fill a migrated MessageBridge database with stored webhooks, straight into its tables
  sqlcost   time, on a file, the SQL that /status and /metrics ran before and after v8-message-status-counts
  latency   GET a path N times, one request at a time on one keep-alive connection; p50/p99 as one JSON line
  scrapes   GET /metrics on several servers every INTERVAL seconds (each scrape then refreshes the backlog
            gauges, which a server caches for 5 s): the latency a Prometheus scraping every 15 s sees
  triggers  the SQLite cost of keeping the counts alone, for the ingest path's inserts and the deliveries' status
            changes: on copies of a migrated empty file, without counts, as v8 keeps them, and with an insert trigger
  report    the summary table and the ratios, from the JSON lines
"""
import argparse
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import time

BODY_HEAD = ('{"event":"payment.succeeded","order_id":"12345","amount":100.00,"currency":"EUR",'
             '"customer":{"id":"cus_8a3f2c91","email":"buyer@example.com"},"note":"')
BODY_TAIL = '"}'


def body(size):
    pad = size - len(BODY_HEAD) - len(BODY_TAIL)
    return (BODY_HEAD + "x" * pad + BODY_TAIL).encode()


def uuid7(ms, rng):
    """A UUIDv7 string for the millisecond `ms`, as MessageID.make writes it (lowercase, hyphenated)."""
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62 | rng.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(p / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def prefill(args):
    """Statuses are mixed at random along the file (seeded). Delivered rows carry their delivering attempt on the row
    (as since v4); retrying and failed ones have their failed attempts in `attempts`. Pending rows are due; retrying
    ones are due within the hour."""
    rng = random.Random(args.seed)
    db = sqlite3.connect(args.db, isolation_level=None)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "message_payloads" not in tables:
        sys.exit(f"{args.db}: no message_payloads table; run `messagebridge migrate` on it first")
    if db.execute("SELECT count(*) FROM messages").fetchone()[0]:
        sys.exit(f"{args.db} already holds messages")
    db.execute("PRAGMA synchronous = OFF")
    payload = body(args.body_bytes)
    headers = f"Host: 127.0.0.1:8080\nContent-Length: {len(payload)}\nContent-Type: application/json\n".encode()
    now = int(time.time() * 1000)
    start = now - 7 * 86_400_000
    step = (now - 3_600_000 - start) / args.messages
    shares = [("pending", args.pending), ("retrying", args.retrying), ("failed", args.failed)]
    counts = {"delivered": 0, "pending": 0, "retrying": 0, "failed": 0}
    attempts_total = 0
    t0 = time.perf_counter()
    seq = 0
    while seq < args.messages:
        rows, payloads, attempts = [], [], []
        for _ in range(min(args.batch, args.messages - seq)):
            seq += 1
            accepted = int(start + seq * step)
            draw, status = rng.random(), "delivered"
            for name, share in shares:
                if draw < share:
                    status = name
                    break
                draw -= share
            counts[status] += 1
            ident = uuid7(accepted, rng)
            if status == "delivered":
                took = rng.uniform(2, 40)
                delivered = accepted + int(took) + rng.randint(0, 50)
                rows.append((seq, ident, status, 1, 0, None, None, 200, accepted, delivered, delivered, took))
            elif status == "pending":
                rows.append((seq, ident, status, 0, 0, accepted, None, None, accepted, accepted, None, None))
            else:
                tries = rng.randint(1, 4) if status == "retrying" else 5
                due = now + rng.randint(60_000, 3_600_000) if status == "retrying" else None
                last = accepted
                for number in range(1, tries + 1):
                    last = accepted + number * 30_000
                    attempts.append((seq, number, last, "retryable" if status == "retrying" or number < tries else "failed",
                                     503, "HTTP 503: Service Unavailable", rng.uniform(2, 40)))
                rows.append((seq, ident, status, tries, 0, due, "HTTP 503: Service Unavailable", 503, accepted, last,
                             None, None))
            payloads.append((seq, headers, payload))
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO messages (seq, id, route, destination_kind, destination, status, attempt_count, attempt_base, "
            "next_attempt_at, last_error, last_status_code, accepted_at, updated_at, delivered_at, delivered_duration_ms) "
            f"VALUES (?, ?, '{args.route}', 'http', '{args.destination}', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.executemany("INSERT INTO message_payloads (seq, headers, body) VALUES (?, ?, ?)", payloads)
        db.executemany(
            "INSERT INTO attempts (message_seq, number, finished_at, outcome, status_code, error, duration_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", attempts)
        db.execute("COMMIT")
        attempts_total += len(attempts)
        print(f"  {seq} messages, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if "message_status_counts" in tables:
        # The store counts the rows it inserts (the triggers only status changes and deletes): these it did not.
        db.execute("BEGIN")
        db.execute("DELETE FROM message_status_counts")
        db.execute("INSERT INTO message_status_counts (status, count) SELECT status, count(*) FROM messages GROUP BY status")
        db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(json.dumps({"messages": args.messages, "statuses": counts, "attempts": attempts_total,
                      "seconds": round(time.perf_counter() - t0, 1),
                      "bytes": os.path.getsize(args.db)}))


def sqlcost(args):
    """Median of REPEAT runs (after one warm-up) of each statement, on a read-only connection to the file."""
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    statuses = ["pending", "delivering", "retrying", "delivered", "failed"]
    has_counts = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'message_status_counts'").fetchone()[0] == 1

    def by_status_index():
        for status in statuses:
            db.execute("SELECT count(*) FROM messages WHERE status = ?", (status,)).fetchone()

    def counts_table():
        db.execute("SELECT status, count FROM message_status_counts").fetchall()

    def oldest():
        db.execute("SELECT accepted_at FROM messages WHERE seq = (SELECT min(seq) FROM messages "
                   "WHERE status IN ('pending', 'delivering', 'retrying'))").fetchone()

    out = {"db": args.db}
    for name, run in (("count_by_status_index", by_status_index), ("counts_table", counts_table),
                      ("oldest_undelivered", oldest)):
        if name == "counts_table" and not has_counts:
            continue
        run()
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            run()
            times.append((time.perf_counter() - t) * 1000)
        out[name + "_ms"] = round(statistics.median(times), 3)
    print(json.dumps(out))


# The ways of counting that `triggers` compares, on copies of a file migrated by a binary with v8-message-status-counts.
COUNTING = {
    # No counts at all: the triggers dropped, nothing counted on insert (the schema before v8).
    "none": {"drop": True, "store_counts_inserts": False, "insert_trigger": False},
    # v8 as shipped: triggers on status changes and deletes, inserts counted by the store once per batch.
    "v8": {"drop": False, "store_counts_inserts": True, "insert_trigger": False},
    # The first design: an insert trigger too (one upsert per row).
    "insert-trigger": {"drop": False, "store_counts_inserts": False, "insert_trigger": True},
}
INSERT_TRIGGER = """CREATE TRIGGER messages_status_count_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_status_counts (status, count) VALUES (new.status, 1)
        ON CONFLICT (status) DO UPDATE SET count = count + 1;
END"""


def counting_run(source, work, variant, phase, batches, batch, check=True):
    """On a fresh copy of `source`: `batches` transactions of `batch` rows inserted one statement at a time, as the
    server's ingest does (message row, then payload; with v8, one count statement per transaction), then with phase
    "deliver" the same rows marked delivered in transactions of `batch` (one UPDATE each, as a batch of outcomes
    does). Returns the CPU seconds of each phase (SQLite runs in this process)."""
    how = COUNTING[variant]
    path = os.path.join(work, f"counting-{os.getpid()}.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    shutil.copy(source, path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")  # CPU only: a commit's fsync is the same whichever way is counted
    if how["drop"]:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                  "AND name LIKE 'messages_status_count_%'").fetchall():
            db.execute(f"DROP TRIGGER {name}")
    if how["insert_trigger"]:
        db.execute(INSERT_TRIGGER)
    payload = body(170)
    headers = b"Host: 127.0.0.1:8080\nContent-Length: 170\nContent-Type: application/json\n"
    insert = ("INSERT INTO messages (id, route, destination_kind, destination, status, next_attempt_at, accepted_at, "
              "updated_at, dedup_key, dedup_expires_at) VALUES (?, '/webhook/payment', 'http', 'http://127.0.0.1:9/x', "
              "'pending', ?, ?, ?, NULL, NULL) ON CONFLICT(route, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING")
    count = ("INSERT INTO message_status_counts (status, count) VALUES ('pending', ?) "
             "ON CONFLICT (status) DO UPDATE SET count = count + excluded.count")
    rng = random.Random(1)
    ms = 1_800_000_000_000
    ids = [uuid7(ms + i // 10, rng) for i in range(batches * batch)]
    t0 = time.process_time()
    for b in range(batches):
        db.execute("BEGIN")
        for i in range(b * batch, (b + 1) * batch):
            cur = db.execute(insert, (ids[i], ms, ms, ms))
            db.execute("INSERT INTO message_payloads (seq, headers, body) VALUES (?, ?, ?)", (cur.lastrowid, headers, payload))
        if how["store_counts_inserts"]:
            db.execute(count, (batch,))
        db.execute("COMMIT")
    inserted = time.process_time() - t0
    delivered = 0.0
    if phase == "deliver":
        t0 = time.process_time()
        for b in range(batches):
            db.execute("BEGIN")
            db.execute("UPDATE messages SET status = 'delivered', next_attempt_at = NULL, delivered_at = ?1, "
                       "updated_at = ?1 WHERE seq IN (SELECT value FROM json_each(?2)) AND +status IN ('pending', 'retrying')",
                       (ms, json.dumps(list(range(b * batch + 1, (b + 1) * batch + 1)))))
            db.execute("COMMIT")
        delivered = time.process_time() - t0
    if check and variant != "none":
        kept = dict(db.execute("SELECT status, count FROM message_status_counts WHERE count <> 0").fetchall())
        rows = dict(db.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall())
        if kept != rows:
            sys.exit(f"{variant}: kept counts {kept} differ from the rows {rows}")
    db.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return inserted, delivered


def triggers(args):
    """Median CPU time per row over ROUNDS rounds, the variants alternating; or, with --variant, one run of one
    variant and phase (for `valgrind --tool=cachegrind`, whose instruction counts do not vary with the machine's
    load: compare phase "setup", "insert" and "deliver" of two variants)."""
    work = os.path.dirname(os.path.abspath(args.db))
    if args.variant:
        if args.phase != "setup":
            counting_run(args.db, work, args.variant, args.phase, args.batches, args.batch, check=False)
        return
    results = {variant: [] for variant in COUNTING}
    for _ in range(args.rounds):
        for variant in COUNTING:
            results[variant].append(counting_run(args.db, work, variant, "deliver", args.batches, args.batch))
    out = {"rows": args.batches * args.batch, "rounds": args.rounds}
    for variant, runs in results.items():
        n = args.batches * args.batch
        out[variant] = {"insert_us_per_row": round(statistics.median(r[0] for r in runs) / n * 1e6, 2),
                        "deliver_us_per_row": round(statistics.median(r[1] for r in runs) / n * 1e6, 2)}
    print(json.dumps(out))


def get(conn, path):
    t = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status, (time.perf_counter() - t) * 1000


def latency(args):
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
    for _ in range(args.warmup):
        get(conn, args.path)
    times, bad = [], 0
    deadline = time.monotonic() + args.max_seconds
    for _ in range(args.requests):
        status, ms = get(conn, args.path)
        bad += status != 200
        times.append(ms)
        if time.monotonic() > deadline:
            break
    conn.close()
    print(json.dumps({"kind": "latency", "binary": args.label, "store": args.store, "path": args.path,
                      "requests": len(times), "non_200": bad, "p50_ms": round(percentile(times, 50), 3),
                      "p99_ms": round(percentile(times, 99), 3), "max_ms": round(max(times), 3)}))


def scrapes(args):
    targets = [t.split(":") for t in args.targets]  # label:store:port
    conns = {port: http.client.HTTPConnection("127.0.0.1", int(port), timeout=60) for _, _, port in targets}
    times = {(label, store): [] for label, store, _ in targets}
    for round_ in range(args.rounds):
        if round_:
            time.sleep(args.interval)
        for label, store, port in targets:
            status, ms = get(conns[port], "/metrics")
            if status != 200:
                sys.exit(f"/metrics answered {status} on {label} {store}")
            times[(label, store)].append(ms)
    for (label, store), values in times.items():
        print(json.dumps({"kind": "scrapes", "binary": label, "store": store, "path": "/metrics (refreshing)",
                          "requests": len(values), "non_200": 0, "p50_ms": round(percentile(values, 50), 3),
                          "p99_ms": round(percentile(values, 99), 3), "max_ms": round(max(values), 3)}))


def report(args):
    lines = [json.loads(line) for line in open(args.results) if line.strip()]
    prefill = json.load(open(args.prefill))
    print(f"full store: {prefill['messages']} messages before the ingest runs "
          f"({', '.join(f'{k} {v}' for k, v in prefill['statuses'].items())}; {prefill['attempts']} attempts rows)")
    print()
    print(f"{'binary':<10} {'store':<6} {'what':<22} {'n':>5} {'p50':>10} {'p99':>10} {'max':>10}")
    for r in lines:
        if r["kind"] in ("latency", "scrapes"):
            print(f"{r['binary']:<10} {r['store']:<6} {r['path']:<22} {r['requests']:>5} {r['p50_ms']:>7.2f} ms "
                  f"{r['p99_ms']:>7.2f} ms {r['max_ms']:>7.2f} ms" + (f"  ({r['non_200']} not 200)" if r["non_200"] else ""))
    print()
    ingest = [r for r in lines if r["kind"] == "ingest"]
    print(f"{'binary':<10} {'store':<6} {'round':>5} {'req/s':>8} {'p50':>9} {'p99':>9} {'us CPU/req':>10} {'bg':>4}")
    for r in ingest:
        print(f"{r['binary']:<10} {r['store']:<6} {r['round']:>5} {r['rate']:>8.0f} {r['p50_ms']:>6.2f} ms "
              f"{r['p99_ms']:>6.2f} ms {r['cpu_us']:>10.1f} {r['background']:>3}%")
    print()
    for label in dict.fromkeys(r["binary"] for r in ingest):
        def mean(store, key):
            values = [r[key] for r in ingest if r["binary"] == label and r["store"] == store]
            return sum(values) / len(values)
        ratio = mean("full", "rate") / mean("empty", "rate")
        per_round = [f"{f['rate'] / e['rate']:.3f}" for e, f in zip(
            [r for r in ingest if r["binary"] == label and r["store"] == "empty"],
            [r for r in ingest if r["binary"] == label and r["store"] == "full"])]
        cpu = mean("full", "cpu_us") / mean("empty", "cpu_us")
        print(f"{label}: ingest full/empty {ratio:.3f} (per round {', '.join(per_round)}; goal >= 0.9: "
              f"{'met' if ratio >= 0.9 else 'missed'}); CPU per request full/empty {cpu:.3f}")
        worst = max((r["p99_ms"] for r in lines if r["kind"] in ("latency", "scrapes")
                     and r["binary"] == label and r["store"] == "full"), default=None)
        if worst is not None:
            print(f"{label}: slowest p99 of /status and /metrics on the full store {worst:.2f} ms (goal < 10 ms: "
                  f"{'met' if worst < 10 else 'missed'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prefill")
    p.add_argument("--db", required=True)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--batch", type=int, default=50_000)
    p.add_argument("--body-bytes", type=int, default=170)
    p.add_argument("--route", default="/webhook/payment")
    p.add_argument("--destination", default="http://127.0.0.1:9/unused")
    p.add_argument("--pending", type=float, default=0.01)
    p.add_argument("--retrying", type=float, default=0.01)
    p.add_argument("--failed", type=float, default=0.005)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("sqlcost")
    p.add_argument("--db", required=True)
    p.add_argument("--repeat", type=int, default=5)
    p = sub.add_parser("latency")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--label", required=True)
    p.add_argument("--store", required=True)
    p = sub.add_parser("scrapes")
    p.add_argument("--targets", nargs="+", required=True, help="label:store:port")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--interval", type=float, default=5.5)
    p = sub.add_parser("triggers")
    p.add_argument("--db", required=True, help="a migrated file with the triggers and no messages")
    p.add_argument("--batches", type=int, default=2000)
    p.add_argument("--batch", type=int, default=22)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--variant", choices=list(COUNTING))
    p.add_argument("--phase", choices=["setup", "insert", "deliver"], default="deliver")
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    p.add_argument("--prefill", required=True)
    args = parser.parse_args()
    {"prefill": prefill, "sqlcost": sqlcost, "triggers": triggers, "latency": latency, "scrapes": scrapes,
     "report": report}[args.command](args)


if __name__ == "__main__":
    main()
