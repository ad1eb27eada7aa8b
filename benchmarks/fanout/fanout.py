#!/usr/bin/env python3
"""WebSocket fan-out benchmark clients, the same code for MessageBridge and for the NATS baseline.

Subcommands (run.sh drives them; see benchmarks/README.md, "Chat fan-out"):

  setup      register users over REST, create one public room, join every user; writes the tokens as JSON
  subscribe  open N WebSocket subscribers in this process, record every measured message's send->receive latency
  send       one sender at a fixed rate (or as fast as the server takes them), then an end marker
  idle       open N idle authenticated sockets and hold them until SIGTERM
  summarize  merge the subscribers' and the sender's result files into one line of figures per target

Every message's content carries its send time: "fanout t=<time.time_ns()> s=<seq> p=<m|w|e>" (measured, warm-up,
end), padded with 'x' to a fixed length. For MessageBridge the subscribers find it inside the JSON event frame by
string search (no JSON parsing, which would cost the client more than the server's fan-out); for NATS the payload
is a JSON text of the same shape and length as MessageBridge's event frame, so both deliver the same bytes.

Only 127.0.0.1 is ever connected to. Every loop is bounded in time.
"""

import argparse
import array
import asyncio
import json
import os
import resource
import signal
import sys
import time
import urllib.error
import urllib.request

import websockets
from websockets.asyncio.client import connect

MARK = "fanout t="
CONNECT_CONCURRENCY = 64
CONTENT_BYTES = 64


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def content(seq, phase, t_ns):
    text = f"{MARK}{t_ns} s={seq} p={phase} "
    return text + "x" * max(0, CONTENT_BYTES - len(text))


def parse(text):
    """(t_ns, seq, phase) from a frame or payload that carries a content made by content(), else None."""
    i = text.find(MARK)
    if i < 0:
        return None
    j = i + len(MARK)
    k = text.index(" ", j)
    t = int(text[j:k])
    m = text.index(" ", k + 3)
    seq = int(text[k + 3:m])
    phase = text[m + 3]
    return t, seq, phase


# ------------------------------------------------------------------------------------------------------- REST


def rest(base, method, path, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, method=method, data=data)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def cmd_setup(args):
    """Registers args.users users (user 0 is the sender and creates the room), the others join it."""
    from concurrent.futures import ThreadPoolExecutor

    base = f"http://127.0.0.1:{args.port}"
    t0 = time.monotonic()

    def register(i):
        name = f"bench{i:05d}"
        status, body = rest(base, "POST", "/api/v1/auth/register",
                            {"username": name, "email": f"{name}@example.com", "password": "benchmark-password"})
        if status != 201:
            raise SystemExit(f"register {name}: {status} {body}")
        return body["access_token"], body["user"]["id"]

    with ThreadPoolExecutor(8) as pool:
        users = list(pool.map(register, range(args.users)))
    t_reg = time.monotonic() - t0
    sender_token = users[0][0]
    status, room = rest(base, "POST", "/api/v1/rooms", {"name": "fanout", "visibility": "public"}, sender_token)
    if status != 201:
        raise SystemExit(f"create room: {status} {room}")
    room_id = room["id"]

    def join(user):
        status, body = rest(base, "POST", f"/api/v1/rooms/{room_id}/join", None, user[0])
        if status != 200:
            raise SystemExit(f"join: {status} {body}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(join, users[1:]))
    with open(args.out, "w") as f:
        json.dump({"room_id": room_id, "sender": sender_token, "subscribers": [u[0] for u in users[1:]]}, f)
    print(f"registered {len(users)} users in {t_reg:.1f}s, room {room_id}, {len(users) - 1} joined "
          f"({time.monotonic() - t0:.1f}s in all)")


# ------------------------------------------------------------------------------------------------ connections


class Target:
    """How to open a socket and what a message looks like, per server."""

    def __init__(self, kind, port, room_id=None):
        self.kind = kind
        self.port = port
        self.room_id = room_id

    def url(self, token=None):
        if self.kind == "mb":
            return f"ws://127.0.0.1:{self.port}/ws?token={token}"
        return f"ws://127.0.0.1:{self.port}/"

    async def open(self, token=None, deadline=30, subscribe=True):
        """Connects and waits until the socket is ready to receive (MessageBridge: its `ready` frame; NATS: the
        PONG after CONNECT + SUB, which the server sends only once it has processed the SUB)."""
        ws = await asyncio.wait_for(
            connect(self.url(token), compression=None, ping_interval=None, max_size=2 ** 22, max_queue=None,
                    open_timeout=deadline, close_timeout=2),
            deadline)
        if self.kind == "mb":
            first = await asyncio.wait_for(ws.recv(), deadline)
            if '"type":"ready"' not in first:
                raise RuntimeError(f"expected a ready frame, got {first[:200]!r}")
        else:
            info = await asyncio.wait_for(ws.recv(), deadline)
            if not _text(info).startswith("INFO "):
                raise RuntimeError(f"expected INFO, got {info[:200]!r}")
            sub = b"SUB room 1\r\n" if subscribe else b""
            await ws.send(b'CONNECT {"verbose":false,"pedantic":false}\r\n' + sub + b"PING\r\n")
            buffered = ""
            while "PONG\r\n" not in buffered:
                buffered += _text(await asyncio.wait_for(ws.recv(), deadline))
        return ws


def _text(frame):
    return frame.decode() if isinstance(frame, (bytes, bytearray)) else frame


async def open_all(target, tokens, n):
    """Opens n sockets (tokens used round-robin), CONNECT_CONCURRENCY at a time. Returns (sockets, errors)."""
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    errors = []

    async def one(i):
        async with sem:
            for attempt in range(3):
                try:
                    return await target.open(tokens[i % len(tokens)] if tokens else None)
                except Exception as e:  # noqa: BLE001 - any failure is reported and retried
                    if attempt == 2:
                        errors.append(f"{type(e).__name__}: {e}")
                    await asyncio.sleep(0.2)
            return None

    sockets = await asyncio.gather(*(one(i) for i in range(n)))
    return [s for s in sockets if s is not None], errors


# ------------------------------------------------------------------------------------------------- subscriber


class Stats:
    def __init__(self):
        self.latencies = array.array("q")  # ns, measured messages only
        self.received = 0                   # measured messages received, all sockets
        self.warmup = 0
        self.ends = 0
        self.gaps = 0                       # a socket saw seq jump forward (messages missing)
        self.dups = 0                       # a socket saw a seq it had already seen (duplicate or out of order)
        self.other_frames = {}              # frame types that are not message events
        self.closed = {}                    # close codes of sockets that closed before the end marker
        self.first_ns = None
        self.last_ns = None


async def subscriber(ws, target, stats, done):
    last_seq = -1
    buffered = ""
    try:
        async for frame in ws:
            now = time.time_ns()
            if target.kind == "mb":
                items = [frame]
            else:
                # NATS may put several protocol messages in one frame; a MSG is "MSG subj sid len\r\npayload\r\n".
                buffered += _text(frame)
                items = []
                while True:
                    eol = buffered.find("\r\n")
                    if eol < 0:
                        break
                    line = buffered[:eol]
                    if line.startswith("MSG "):
                        size = int(line.rsplit(" ", 1)[1])
                        if len(buffered) < eol + 2 + size + 2:
                            break
                        items.append(buffered[eol + 2:eol + 2 + size])
                        buffered = buffered[eol + 2 + size + 2:]
                    else:
                        buffered = buffered[eol + 2:]
                        if line == "PING":
                            await ws.send(b"PONG\r\n")
                        elif line.startswith("-ERR"):
                            stats.other_frames[line] = stats.other_frames.get(line, 0) + 1
            for item in items:
                parsed = parse(item)
                if parsed is None:
                    kind = item[:40]
                    if target.kind == "mb":
                        i = item.find('"type":"')
                        kind = item[i + 8:item.find('"', i + 8)] if i >= 0 else item[:40]
                    stats.other_frames[kind] = stats.other_frames.get(kind, 0) + 1
                    continue
                t, seq, phase = parsed
                if seq <= last_seq:
                    stats.dups += 1
                elif seq != last_seq + 1:
                    stats.gaps += 1
                last_seq = max(last_seq, seq)
                if phase == "m":
                    stats.latencies.append(now - t)
                    stats.received += 1
                    if stats.first_ns is None:
                        stats.first_ns = now
                    stats.last_ns = now
                elif phase == "w":
                    stats.warmup += 1
                elif phase == "e":
                    stats.ends += 1
                    done.release()
                    return
    except websockets.ConnectionClosed:
        pass
    code = ws.close_code if ws.close_code is not None else "none"
    stats.closed[str(code)] = stats.closed.get(str(code), 0) + 1
    done.release()


async def run_subscribe(args):
    tokens = None
    target = Target(args.target, args.port)
    if args.target == "mb":
        setup = json.load(open(args.tokens))
        tokens = setup["subscribers"][args.first:args.first + args.count]
        if len(tokens) < args.count:
            raise SystemExit(f"only {len(tokens)} subscriber tokens from {args.first}")
    t0 = time.monotonic()
    sockets, errors = await open_all(target, tokens, args.count)
    opened_s = time.monotonic() - t0
    stats = Stats()
    done = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(subscriber(ws, target, stats, done)) for ws in sockets]
    with open(args.ready, "w") as f:
        json.dump({"sockets": len(sockets), "errors": errors[:5], "error_count": len(errors), "open_s": opened_s}, f)
    cpu0 = cpu_seconds()
    wall0 = time.monotonic()
    # Until every socket saw the end marker or closed, or the deadline (the sender's run plus a margin).
    deadline = time.monotonic() + args.timeout
    finished = 0
    while finished < len(sockets):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(done.acquire(), remaining)
            finished += 1
        except asyncio.TimeoutError:
            break
    cpu = cpu_seconds() - cpu0
    wall = time.monotonic() - wall0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    result = {
        "sockets": len(sockets), "open_errors": len(errors), "received": stats.received, "warmup": stats.warmup,
        "ends": stats.ends, "gaps": stats.gaps, "dups": stats.dups, "other_frames": stats.other_frames,
        "closed_early": stats.closed, "unfinished": len(sockets) - finished, "first_ns": stats.first_ns,
        "last_ns": stats.last_ns, "cpu_s": cpu, "wall_s": wall,
    }
    with open(args.out + ".lat", "wb") as f:
        stats.latencies.tofile(f)
    with open(args.out, "w") as f:
        json.dump(result, f)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# ----------------------------------------------------------------------------------------------------- sender


def mb_send_frame(room_id, seq, phase):
    t = time.time_ns()
    return t, json.dumps({"type": "send", "room_id": room_id, "content": content(seq, phase, t),
                          "client_id": f"b{seq}"}, separators=(",", ":"))


# The NATS payload: MessageBridge's event frame with the same content (same shape and length), so both servers
# deliver the same bytes to each subscriber.
NATS_TEMPLATE = ('{"type":"message.created","position":%d,"room_id":2,"data":{"client_id":"b%d","content":"%s",'
                 '"created_at":"2026-12-01T13:06:23.708Z","deleted_at":null,"edited_at":null,"id":%d,'
                 '"reply_to":null,"room_id":2,"user_id":1,"username":"bench00000"}}')


def nats_pub(seq, phase):
    t = time.time_ns()
    payload = (NATS_TEMPLATE % (seq + 100, seq, content(seq, phase, t), seq + 1)).encode()
    return t, b"PUB room %d\r\n%s\r\n" % (len(payload), payload)


async def run_send(args):
    target = Target(args.target, args.port)
    token = None
    room_id = None
    if args.target == "mb":
        setup = json.load(open(args.tokens))
        token, room_id = setup["sender"], setup["room_id"]
    ws = await target.open(token, subscribe=False)   # the NATS publisher subscribes to nothing
    sent_at = {}                       # seq -> send time (MessageBridge: for the ack latency)
    acks = array.array("q")
    ack_errors = {}
    acked = asyncio.Event()
    expected_acks = [None]
    inflight = asyncio.Semaphore(args.window) if args.rate == 0 else None

    async def reader():
        count = 0
        async for frame in ws:
            now = time.time_ns()
            text = _text(frame)
            if args.target == "nats":
                if "PING\r\n" in text:
                    await ws.send(b"PONG\r\n")
                continue
            if text.startswith('{"type":"ack"'):
                ref = text[text.find('"ref":"b') + 8:]
                seq = int(ref[:ref.index('"')])
                t = sent_at.pop(seq, None)
                if t is not None:
                    acks.append(now - t)
                count += 1
                if inflight:
                    inflight.release()
                if expected_acks[0] is not None and count >= expected_acks[0]:
                    acked.set()
            elif text.startswith('{"type":"error"'):
                key = text[:120]
                ack_errors[key] = ack_errors.get(key, 0) + 1
                count += 1
                if inflight:
                    inflight.release()
                if expected_acks[0] is not None and count >= expected_acks[0]:
                    acked.set()

    reader_task = asyncio.create_task(reader())
    seq = 0
    counts = {}
    spans = {}

    async def phase_run(phase, seconds):
        nonlocal seq
        start = time.monotonic()
        first = time.time_ns()
        n = 0
        while True:
            now = time.monotonic()
            if now - start >= seconds:
                break
            if args.rate > 0:
                due = start + n / args.rate
                if due > now:
                    await asyncio.sleep(due - now)
            else:
                await inflight.acquire()
            if args.target == "mb":
                t, frame = mb_send_frame(room_id, seq, phase)
                sent_at[seq] = t
            else:
                t, frame = nats_pub(seq, phase)
            await ws.send(frame)
            seq += 1
            n += 1
            if args.rate == 0 and args.target == "nats" and n % args.window == 0:
                # NATS has no acks: bound what is in flight by a PING/PONG round trip every window messages.
                await asyncio.sleep(0)
                inflight.release()
            elif args.rate == 0 and args.target == "nats":
                inflight.release()
        counts[phase] = n
        spans[phase] = (first, time.time_ns())

    cpu0 = cpu_seconds()
    if args.warmup > 0:
        await phase_run("w", args.warmup)
    await phase_run("m", args.duration)
    cpu = cpu_seconds() - cpu0
    # The end marker, then (MessageBridge) wait for every ack, bounded.
    if args.target == "mb":
        _, frame = mb_send_frame(room_id, seq, "e")
        expected_acks[0] = seq + 1
    else:
        _, frame = nats_pub(seq, "e")
    await ws.send(frame)
    if args.target == "mb":
        try:
            await asyncio.wait_for(acked.wait(), 30)
        except asyncio.TimeoutError:
            pass
    else:
        await ws.send(b"PING\r\n")
        await asyncio.sleep(0.5)
    reader_task.cancel()
    await asyncio.gather(reader_task, return_exceptions=True)
    await ws.close()
    acks_sorted = sorted(acks)
    result = {
        "warmup_sent": counts.get("w", 0), "sent": counts["m"], "first_send_ns": spans["m"][0],
        "last_send_ns": spans["m"][1], "send_s": (spans["m"][1] - spans["m"][0]) / 1e9, "cpu_s": cpu,
        "acks": len(acks), "ack_errors": ack_errors, "unacked": len(sent_at),
        "ack_p50_ms": pct(acks_sorted, 50) / 1e6 if acks_sorted else None,
        "ack_p99_ms": pct(acks_sorted, 99) / 1e6 if acks_sorted else None,
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


def pct(sorted_values, p):
    if not sorted_values:
        return 0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


# ------------------------------------------------------------------------------------------------------- idle


async def run_idle(args):
    tokens = None
    if args.target == "mb":
        tokens = json.load(open(args.tokens))["subscribers"]
    target = Target(args.target, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    # Offset the round-robin so that several processes spread over all users.
    if tokens:
        tokens = tokens[args.first % len(tokens):] + tokens[:args.first % len(tokens)]
    t0 = time.monotonic()
    sockets, errors = await open_all(target, tokens, args.count)
    closed = [0]

    async def hold(ws):
        # Reads (and drops) whatever comes, answering NATS PINGs; websockets answers WebSocket pings itself.
        try:
            async for frame in ws:
                if target.kind == "nats" and "PING\r\n" in _text(frame):
                    await ws.send(b"PONG\r\n")
        except websockets.ConnectionClosed:
            pass
        closed[0] += 1

    tasks = [asyncio.create_task(hold(ws)) for ws in sockets]
    with open(args.ready, "w") as f:
        json.dump({"sockets": len(sockets), "error_count": len(errors), "errors": errors[:5],
                   "open_s": time.monotonic() - t0}, f)
    try:
        await asyncio.wait_for(stop.wait(), args.timeout)
    except asyncio.TimeoutError:
        pass
    with open(args.ready + ".end", "w") as f:
        json.dump({"closed_while_idle": closed[0]}, f)
    for t in tasks:
        t.cancel()
    # Exit without closing handshakes: the kernel closes the sockets.
    os._exit(0)


# -------------------------------------------------------------------------------------------------- summarize


def cmd_summarize(args):
    sender = json.load(open(args.sender))
    subs = [json.load(open(p)) for p in args.subs]
    lat = array.array("q")
    for p in args.subs:
        with open(p + ".lat", "rb") as f:
            data = f.read()
        chunk = array.array("q")
        chunk.frombytes(data)
        lat.extend(chunk)
    lat = sorted(lat)
    sockets = sum(s["sockets"] for s in subs)
    received = sum(s["received"] for s in subs)
    expected = sender["sent"] * sockets
    last = max((s["last_ns"] for s in subs if s["last_ns"]), default=None)
    span_s = (last - sender["first_send_ns"]) / 1e9 if last else 0
    out = {
        "target": args.name, "sockets": sockets, "sent": sender["sent"], "send_rate": sender["sent"] / sender["send_s"],
        "expected": expected, "received": received, "missing": expected - received,
        "rate": received / span_s if span_s else 0, "span_s": span_s,
        "p50_ms": pct(lat, 50) / 1e6, "p90_ms": pct(lat, 90) / 1e6, "p99_ms": pct(lat, 99) / 1e6,
        "p999_ms": pct(lat, 99.9) / 1e6, "max_ms": (lat[-1] / 1e6 if lat else 0),
        "gaps": sum(s["gaps"] for s in subs), "dups": sum(s["dups"] for s in subs),
        "unfinished": sum(s["unfinished"] for s in subs), "open_errors": sum(s["open_errors"] for s in subs),
        "closed_early": merge_counts(s["closed_early"] for s in subs),
        "other_frames": merge_counts(s["other_frames"] for s in subs),
        "client_cpu_s": [round(s["cpu_s"], 2) for s in subs], "client_wall_s": [round(s["wall_s"], 2) for s in subs],
        "sender_cpu_s": round(sender["cpu_s"], 2), "ack_p50_ms": sender.get("ack_p50_ms"),
        "ack_p99_ms": sender.get("ack_p99_ms"), "acks": sender.get("acks"), "unacked": sender.get("unacked"),
        "ack_errors": sender.get("ack_errors"),
    }
    json.dump(out, sys.stdout)
    print()


def merge_counts(dicts):
    total = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--users", type=int, required=True, help="sender + subscribers")
    s.add_argument("--out", required=True)
    for name in ("subscribe", "send", "idle"):
        s = sub.add_parser(name)
        s.add_argument("--target", choices=["mb", "nats"], required=True)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--tokens", help="setup's output (MessageBridge)")
        s.add_argument("--out")
        if name in ("subscribe", "idle"):
            s.add_argument("--first", type=int, default=0)
            s.add_argument("--count", type=int, required=True)
            s.add_argument("--ready", required=True)
            s.add_argument("--timeout", type=float, required=True)
        if name == "send":
            s.add_argument("--rate", type=float, required=True, help="messages per second; 0: as fast as acked")
            s.add_argument("--window", type=int, default=32, help="sends in flight at rate 0")
            s.add_argument("--duration", type=float, required=True)
            s.add_argument("--warmup", type=float, default=0)
    s = sub.add_parser("summarize")
    s.add_argument("--name", required=True)
    s.add_argument("--sender", required=True)
    s.add_argument("subs", nargs="+")
    args = p.parse_args()
    if args.cmd == "setup":
        cmd_setup(args)
    elif args.cmd == "subscribe":
        asyncio.run(run_subscribe(args))
    elif args.cmd == "send":
        asyncio.run(run_send(args))
    elif args.cmd == "idle":
        asyncio.run(run_idle(args))
    else:
        cmd_summarize(args)


if __name__ == "__main__":
    main()
