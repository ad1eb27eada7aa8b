#!/usr/bin/env python3
"""Clients and figures for the event-webhook egress benchmark (benchmarks/egress/run.sh; see benchmarks/README.md).

Subcommands:

  setup    register one user over REST and create one room; prints {"token": ..., "room": ...} as JSON
  send     POST COUNT chat messages into the room over C keep-alive connections, as fast as the server answers or
           paced at RATE messages per second (open loop: message i is due at start + i / RATE); prints one line
  stall    listen on the given loopback ports and never read what arrives (a receiver that never answers), for at
           most --seconds
  drain    wait until nothing is left to deliver in the SQLite file (events or pipeline), print the timeline's end
  stats    figures from the SQLite file: deliveries, their delivered_at span, and (events) the latency from each
           event's commit (chat_events.created_at) to each of its deliveries (webhook_deliveries.delivered_at), or
           (pipeline) from accepted_at to delivered_at; one machine-readable line

Only 127.0.0.1 is ever connected to. Every loop is bounded in time. Standard library only (uvloop if installed).
"""

import argparse
import asyncio
import json
import resource
import socket
import sqlite3
import sys
import time
import urllib.request

CONTENT_BYTES = 120


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rest(base, method, path, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, method=method, data=data)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def cmd_setup(a):
    base = f"http://127.0.0.1:{a.port}"
    user = rest(base, "POST", "/api/v1/auth/register",
                {"username": "egress", "email": "egress@example.com", "password": "egress-bench-password"})
    token = user["access_token"]
    room = rest(base, "POST", "/api/v1/rooms", {"name": "egress-bench"}, token=token)
    print(json.dumps({"token": token, "room": room["id"]}))


# ------------------------------------------------------------------------------------------------------- send


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def send_all(a):
    path = f"/api/v1/rooms/{a.room}/messages"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\nAuthorization: Bearer {a.token}\r\n"
            f"Content-Type: application/json\r\n").encode()
    next_index = 0
    statuses = {}
    errors = 0
    start = time.monotonic() + 0.05
    deadline = start + a.timeout
    late = []

    async def worker():
        nonlocal next_index, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        try:
            while next_index < a.count and time.monotonic() < deadline:
                i = next_index
                next_index += 1
                if a.rate > 0:
                    due = start + i / a.rate
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    else:
                        late.append(-wait)
                text = f"egress bench message {i} "
                body = json.dumps({"content": text + "x" * max(0, CONTENT_BYTES - len(text))}).encode()
                writer.write(head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                try:
                    status = await asyncio.wait_for(read_response(reader), 30)
                except Exception:
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
                    continue
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    cpu0 = cpu_seconds()
    await asyncio.gather(*(worker() for _ in range(a.connections)))
    elapsed = time.monotonic() - start
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    late.sort()
    late_p99 = late[int(0.99 * (len(late) - 1))] * 1000 if late else 0.0
    print(f"RESULT sent={ok} non2xx={sum(statuses.values()) - ok} errors={errors} seconds={elapsed:.3f} "
          f"rate={ok / elapsed:.1f} target_rate={a.rate} late={len(late)} late_p99_ms={late_p99:.1f} "
          f"client_cpu_s={cpu_seconds() - cpu0:.2f} statuses={json.dumps(statuses, separators=(',', ':'))}")


def cmd_send(a):
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(send_all(a))


# ------------------------------------------------------------------------------------------------------ stall


def cmd_stall(a):
    sockets = []
    for port in a.ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(4096)
        sockets.append(s)
    print("listening", flush=True)
    time.sleep(a.seconds)


# ------------------------------------------------------------------------------------------------------ drain

LEFT = {
    "events": "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'",
    "pipeline": "SELECT count(*) FROM messages WHERE status IN ('pending', 'delivering', 'retrying')",
}


def cmd_drain(a):
    """Polls the file (through the due indexes: cheap, and it costs the server nothing) until nothing is left."""
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True, timeout=10)
    start = time.time()
    left = -1
    while time.time() - start < a.timeout:
        try:
            left = db.execute(LEFT[a.kind]).fetchone()[0]
        except sqlite3.OperationalError:
            left = -1
        if a.timeline:
            print(f"  {time.time() - a.since:7.2f} s: {left} left", file=sys.stderr)
        if left == 0:
            break
        time.sleep(0.05)
    print(f"RESULT left={left} end={time.time():.3f}")


# ------------------------------------------------------------------------------------------------------ stats


def pct(values, p):
    if not values:
        return 0
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def cmd_stats(a):
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True, timeout=10)
    if a.kind == "events":
        counts = dict(db.execute("SELECT status, count(*) FROM webhook_deliveries GROUP BY status").fetchall())
        rows = db.execute("""
            SELECT d.delivered_at, d.delivered_at - e.created_at FROM webhook_deliveries d
            JOIN chat_events e ON e.position = d.event_position WHERE d.status = 'delivered'""").fetchall()
        first_event, last_event = db.execute(
            "SELECT min(created_at), max(created_at) FROM chat_events WHERE type = 'message.created'").fetchone()
        attempts = db.execute("SELECT count(*) FROM webhook_attempts").fetchone()[0]
        # Since v9 the delivering attempt is kept on the delivery row.
        if any(c[1] == "delivered_started_at" for c in db.execute("PRAGMA table_info(webhook_deliveries)")):
            attempts += db.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE delivered_started_at IS NOT NULL").fetchone()[0]
        per_endpoint = [n for (n,) in db.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered' GROUP BY endpoint_id ORDER BY 1")]
    else:
        counts = dict(db.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall())
        rows = db.execute(
            "SELECT delivered_at, delivered_at - accepted_at FROM messages WHERE status = 'delivered'").fetchall()
        first_event, last_event = db.execute("SELECT min(accepted_at), max(accepted_at) FROM messages").fetchone()
        attempts = db.execute("SELECT count(*) FROM attempts").fetchone()[0]
        per_endpoint = []
    delivered = [r[0] for r in rows]
    latency = sorted(r[1] for r in rows)
    span = (max(delivered) - min(delivered)) / 1000 if delivered else 0
    out = {
        "delivered": len(rows),
        "statuses": ",".join(f"{k}={v}" for k, v in sorted(counts.items())),
        "attempts": attempts,
        "span_s": round(span, 3),
        "span_rate": round(len(rows) / span) if span else 0,
        "first_delivered_ms": min(delivered) if delivered else 0,
        "last_delivered_ms": max(delivered) if delivered else 0,
        "first_event_ms": first_event or 0,
        "last_event_ms": last_event or 0,
        "lat_p50_ms": pct(latency, 50),
        "lat_p90_ms": pct(latency, 90),
        "lat_p99_ms": pct(latency, 99),
        "lat_max_ms": latency[-1] if latency else 0,
        "per_endpoint_min": per_endpoint[0] if per_endpoint else 0,
        "per_endpoint_max": per_endpoint[-1] if per_endpoint else 0,
    }
    print("RESULT " + " ".join(f"{k}={v}" for k, v in out.items()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--port", type=int, required=True)
    s.set_defaults(func=cmd_setup)
    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--token", required=True)
    s.add_argument("--room", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--connections", type=int, default=16)
    s.add_argument("--rate", type=float, default=0, help="messages per second; 0: as fast as answered")
    s.add_argument("--timeout", type=float, default=300)
    s.set_defaults(func=cmd_send)
    s = sub.add_parser("stall")
    s.add_argument("--seconds", type=float, default=900)
    s.add_argument("ports", type=int, nargs="+")
    s.set_defaults(func=cmd_stall)
    s = sub.add_parser("drain")
    s.add_argument("--db", required=True)
    s.add_argument("--kind", choices=["events", "pipeline"], required=True)
    s.add_argument("--timeout", type=float, default=300)
    s.add_argument("--since", type=float, default=time.time())
    s.add_argument("--timeline", action="store_true")
    s.set_defaults(func=cmd_drain)
    s = sub.add_parser("stats")
    s.add_argument("--db", required=True)
    s.add_argument("--kind", choices=["events", "pipeline"], required=True)
    s.set_defaults(func=cmd_stats)
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
