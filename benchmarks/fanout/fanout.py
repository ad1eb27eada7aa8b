#!/usr/bin/env python3
"""WebSocket fan-out benchmark clients, the same code for MessageBridge and for the NATS baseline.

Subcommands (run.sh drives them; see benchmarks/README.md, "Chat fan-out"):

  setup      register users over REST, create one public room, join every user; writes the tokens as JSON
  subscribe  open N WebSocket subscribers in this process, record every measured message's send->receive latency
             (subscriber.c does the same in C, with the same options and result files; run.sh uses it by default,
             so a change to what a subscriber does or writes belongs in both)
  send       one sender at a fixed rate (or as fast as the server answers), then an end marker
  idle       open N idle sockets (authenticated; or --kind upgraded / tcp) and hold them until SIGTERM
  summarize  merge the subscribers' and the sender's result files into one line of figures per target

Every message's content carries its send time: "fanout t=<time.time_ns()> s=<seq> p=<m|w|e>" (measured, warm-up,
end), padded with 'x' to a fixed length. For MessageBridge the subscribers find it inside the JSON event frame by
string search (parsing the JSON would add to the clients' CPU, which the servers share); for NATS the payload
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
import websockets.protocol
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

MARK = "fanout t="
CONNECT_CONCURRENCY = 64
CONTENT_BYTES = 64


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def content(seq, phase, t_ns):
    text = f"{MARK}{t_ns} s={seq} p={phase} "
    return text + "x" * max(0, CONTENT_BYTES - len(text))


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
#
# Subscribers and idle sockets use the websockets package's sans-I/O protocol (`websockets.client.ClientProtocol`:
# the handshake, framing, masking, answering pings and closes) under a plain asyncio.Protocol, one callback per
# frame. Its asyncio client (`websockets.asyncio.client`) adds a task wake-up and a queue per frame and per socket,
# which made the client, not the server, the limit of this benchmark on 2 cores (see benchmarks/README.md); the
# sender, one socket, uses that client.


class Conn(asyncio.Protocol):
    """One WebSocket client connection. `handler(conn, payload: bytes, now_ns)` is called per data message."""

    def __init__(self, url, handler):
        self.proto = ClientProtocol(parse_uri(url), max_size=2 ** 22)
        self.handler = handler
        self.transport = None
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()    # set by the handler when the socket may receive (ready / PONG)
        self.closed = loop.create_future()
        self.fragments = []
        self.buffered = b""                  # NATS: protocol text not parsed yet
        self.last_seq = -1
        self.state = None                    # per-target handshake state
        self.ready_on_upgrade = False        # ready once upgraded, before any frame (idle --kind upgraded)

    def connection_made(self, transport):
        self.transport = transport
        self.proto.send_request(self.proto.connect())
        self.flush()

    def data_received(self, data):
        now = time.time_ns()
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Frame):
                if event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                    if not event.fin:
                        self.fragments.append(event.data)
                        continue
                    payload = event.data
                    if self.fragments:
                        self.fragments.append(payload)
                        payload = b"".join(self.fragments)
                        self.fragments = []
                    self.handler(self, payload, now)
            elif self.proto.handshake_exc is not None and not self.ready.done():
                self.ready.set_exception(self.proto.handshake_exc)
            elif self.ready_on_upgrade and not self.ready.done():
                self.ready.set_result(None)
        self.flush()

    def send(self, data):
        """Sends bytes as one binary frame (NATS; MessageBridge's subscribers and idle sockets send nothing)."""
        if self.proto.state is websockets.protocol.State.OPEN:
            self.proto.send_binary(data)
            self.flush()

    def flush(self):
        for data in self.proto.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def eof_received(self):
        self.proto.receive_eof()
        self.flush()

    def connection_lost(self, exc):
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before ready"))
        if not self.closed.done():
            self.closed.set_result(self.proto.close_code)


class TCPConn(asyncio.Protocol):
    """A TCP connection that sends nothing (idle --kind tcp)."""

    def __init__(self):
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        self.closed = loop.create_future()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.ready.set_result(None)

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(None)


class Target:
    """How to open a socket and recognise a message, per server. socket_kind (idle only): authenticated (the
    default: MessageBridge's `ready` frame, NATS's PONG after SUB), upgraded (MessageBridge: a WebSocket with no
    token that has not sent its auth frame yet), tcp (a TCP connection that has sent nothing)."""

    def __init__(self, kind, port, socket_kind="authenticated"):
        self.kind = kind
        self.port = port
        self.socket_kind = socket_kind

    def url(self, token=None):
        if self.kind == "mb":
            if self.socket_kind == "upgraded":
                return f"ws://127.0.0.1:{self.port}/ws"
            return f"ws://127.0.0.1:{self.port}/ws?token={token}"
        return f"ws://127.0.0.1:{self.port}/"

    def protocol(self, url, handler):
        if self.socket_kind == "tcp":
            return TCPConn()
        conn = Conn(url, handler)
        conn.ready_on_upgrade = self.socket_kind == "upgraded"
        return conn

    def handshake(self, conn, payload):
        """Consumes frames until the socket is ready to receive: MessageBridge's `ready` frame; for NATS the PONG
        after CONNECT + SUB (the server answers the PING only once it has processed the SUB). True once ready."""
        if self.kind == "mb":
            if b'"type":"ready"' not in payload:
                conn.ready.set_exception(RuntimeError(f"expected a ready frame, got {payload[:200]!r}"))
            else:
                conn.ready.set_result(None)
            return True
        if conn.state is None:
            if not payload.startswith(b"INFO "):
                conn.ready.set_exception(RuntimeError(f"expected INFO, got {payload[:200]!r}"))
                return True
            conn.state = "connecting"
            conn.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB room 1\r\nPING\r\n')
            return False
        conn.buffered += payload
        if b"PONG\r\n" in conn.buffered:
            conn.buffered = conn.buffered[conn.buffered.index(b"PONG\r\n") + 6:]
            conn.ready.set_result(None)
            return True
        return False

    def messages(self, conn, payload):
        """The application messages in one data frame (NATS may put several in a frame, or split one)."""
        if self.kind == "mb":
            return (payload,)
        conn.buffered += payload
        out = []
        buf = conn.buffered
        pos = 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if buf.startswith(b"MSG ", pos):
                size = int(buf[buf.rfind(b" ", pos, eol) + 1:eol])
                if len(buf) < eol + 2 + size + 2:
                    break
                out.append(buf[eol + 2:eol + 2 + size])
                pos = eol + 2 + size + 2
            else:
                line = buf[pos:eol]
                pos = eol + 2
                if line == b"PING":
                    conn.send(b"PONG\r\n")
                elif line.startswith(b"-ERR"):
                    out.append(line)
        conn.buffered = buf[pos:]
        return out


async def open_all(target, tokens, n, make_handler):
    """Opens n sockets (tokens used round-robin), CONNECT_CONCURRENCY at a time, each ready to receive. Returns
    (connections, errors)."""
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    errors = []

    async def one(i):
        async with sem:
            for attempt in range(3):
                conn = None
                try:
                    url = target.url(tokens[i % len(tokens)] if tokens else None)
                    _, conn = await asyncio.wait_for(
                        loop.create_connection(lambda: target.protocol(url, make_handler()), "127.0.0.1", target.port), 30)
                    await asyncio.wait_for(conn.ready, 30)
                    return conn
                except Exception as e:  # noqa: BLE001 - any failure is reported and retried
                    if conn is not None and conn.transport is not None:
                        conn.transport.abort()
                    if attempt == 2:
                        errors.append(f"{type(e).__name__}: {e}")
                    await asyncio.sleep(0.2)
            return None

    conns = await asyncio.gather(*(one(i) for i in range(n)))
    return [c for c in conns if c is not None], errors


# ------------------------------------------------------------------------------------------------- subscriber


class Stats:
    def __init__(self):
        self.latencies = array.array("q")  # ns, measured messages only
        self.received = 0                   # measured messages received, all sockets
        self.warmup = 0
        self.ends = 0
        self.finished = 0                   # sockets that saw the end marker
        self.gaps = 0                       # a socket saw seq jump forward (messages missing)
        self.dups = 0                       # a socket saw a seq it had already seen (duplicate or out of order)
        self.other_frames = {}              # frames that are not messages of this run, by type
        self.first_ns = None
        self.last_ns = None


def subscriber_handler(target, stats, all_done):
    def handle(conn, payload, now):
        if not conn.ready.done():
            target.handshake(conn, payload)
            return
        for item in target.messages(conn, payload):
            i = item.find(MARK_B)
            if i < 0:
                if target.kind == "mb":
                    j = item.find(b'"type":"')
                    kind = item[j + 8:item.find(b'"', j + 8)].decode() if j >= 0 else item[:40].decode(errors="replace")
                else:
                    kind = item[:60].decode(errors="replace")
                stats.other_frames[kind] = stats.other_frames.get(kind, 0) + 1
                continue
            j = i + len(MARK_B)
            k = item.index(b" ", j)
            t = int(item[j:k])
            m = item.index(b" ", k + 3)
            seq = int(item[k + 3:m])
            phase = item[m + 3]
            if seq <= conn.last_seq:
                stats.dups += 1
            elif seq != conn.last_seq + 1:
                stats.gaps += seq - conn.last_seq - 1
            conn.last_seq = max(conn.last_seq, seq)
            if phase == PHASE_M:
                stats.latencies.append(now - t)
                stats.received += 1
                if stats.first_ns is None:
                    stats.first_ns = now
                stats.last_ns = now
            elif phase == PHASE_W:
                stats.warmup += 1
            elif phase == PHASE_E:
                stats.ends += 1
                stats.finished += 1
                if stats.finished >= stats.expected and not all_done.done():
                    all_done.set_result(None)
    return handle


MARK_B = MARK.encode()
PHASE_M, PHASE_W, PHASE_E = ord("m"), ord("w"), ord("e")


async def run_subscribe(args):
    tokens = None
    target = Target(args.target, args.port)
    if args.target == "mb":
        setup = json.load(open(args.tokens))
        tokens = setup["subscribers"][args.first:args.first + args.count]
        if len(tokens) < args.count:
            raise SystemExit(f"only {len(tokens)} subscriber tokens from {args.first}")
    stats = Stats()
    stats.expected = args.count
    all_done = asyncio.get_running_loop().create_future()
    t0 = time.monotonic()
    conns, errors = await open_all(target, tokens, args.count, lambda: subscriber_handler(target, stats, all_done))
    stats.expected = len(conns)
    opened_s = time.monotonic() - t0
    with open(args.ready, "w") as f:
        json.dump({"sockets": len(conns), "errors": errors[:5], "error_count": len(errors), "open_s": opened_s}, f)
    cpu0 = cpu_seconds()
    wall0 = time.monotonic()
    # Until every socket saw the end marker, or the deadline (the sender's run plus a margin), or every socket that
    # has not seen it is closed.
    deadline = time.monotonic() + args.timeout
    while not all_done.done() and time.monotonic() < deadline:
        open_left = sum(1 for c in conns if not c.closed.done())
        if stats.finished >= len(conns) or open_left == 0:
            break
        await asyncio.wait([all_done], timeout=0.2)
    cpu = cpu_seconds() - cpu0
    wall = time.monotonic() - wall0
    closed = {}
    for c in conns:
        if c.closed.done():
            code = str(c.closed.result())
            closed[code] = closed.get(code, 0) + 1
    result = {
        "sockets": len(conns), "open_errors": len(errors), "open_error_samples": errors[:5], "received": stats.received,
        "warmup": stats.warmup, "ends": stats.ends, "gaps": stats.gaps, "dups": stats.dups,
        "other_frames": stats.other_frames, "closed_early": closed, "unfinished": len(conns) - stats.finished,
        "first_ns": stats.first_ns, "last_ns": stats.last_ns, "cpu_s": cpu, "wall_s": wall,
    }
    with open(args.out + ".lat", "wb") as f:
        stats.latencies.tofile(f)
    with open(args.out, "w") as f:
        json.dump(result, f)
    for c in conns:
        c.transport.abort()


# ----------------------------------------------------------------------------------------------------- sender


def _text(frame):
    return frame.decode() if isinstance(frame, (bytes, bytearray)) else frame


# client_id must be new for every message of every run: the server answers a client_id it has stored already as a
# retry (the stored message again, `"repeat":true`, no new event), so a second run on the same database with the
# same ids would deliver nothing.
RUN_TAG = f"{os.getpid()}{time.time_ns() % 10**9}"


def mb_send_frame(room_id, seq, phase):
    t = time.time_ns()
    return t, json.dumps({"type": "send", "room_id": room_id, "content": content(seq, phase, t),
                          "client_id": f"b{seq}x{RUN_TAG}"}, separators=(",", ":"))


# The NATS payload: MessageBridge's event frame with the same content (same shape and length), so both servers
# deliver the same bytes to each subscriber.
NATS_TEMPLATE = ('{"type":"message.created","position":%d,"room_id":2,"data":{"client_id":"b%d","content":"%s",'
                 '"created_at":"2026-12-01T13:06:23.708Z","deleted_at":null,"edited_at":null,"id":%d,'
                 '"reply_to":null,"room_id":2,"user_id":1,"username":"bench00000"}}')


def nats_pub(seq, phase):
    t = time.time_ns()
    payload = (NATS_TEMPLATE % (seq + 100, seq, content(seq, phase, t), seq + 1)).encode()
    return t, b"PUB room %d\r\n%s\r\n" % (len(payload), payload)


def parse_nats(buf):
    """Splits NATS protocol text: (MSG payloads, control lines, the unparsed rest)."""
    msgs, lines, pos = [], [], 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        if buf.startswith(b"MSG ", pos):
            size = int(buf[buf.rfind(b" ", pos, eol) + 1:eol])
            if len(buf) < eol + 2 + size + 2:
                break
            msgs.append(buf[eol + 2:eol + 2 + size])
            pos = eol + 2 + size + 2
        else:
            lines.append(buf[pos:eol])
            pos = eol + 2
    return msgs, lines, buf[pos:]


async def run_send(args):
    """One socket, itself a subscriber of the room like every member (MessageBridge: the room's creator; NATS: SUB
    room), so both servers deliver members + 1 copies of each message. MessageBridge: `send` frames on /ws, each
    answered by an ack once stored; NATS: PUB frames, and the sender's own copy of each message stands for the ack
    (NATS has none). The send->ack latency is reported for both. At --rate > 0 the sends follow a fixed schedule
    (open loop); at --rate 0 (max) they go as fast as the server answers, at most --window unanswered."""
    loop = asyncio.get_running_loop()
    if args.target == "mb":
        setup = json.load(open(args.tokens))
        url = f"ws://127.0.0.1:{args.port}/ws?token={setup['sender']}"
        room_id = setup["room_id"]
    else:
        url = f"ws://127.0.0.1:{args.port}/"
    ws = await connect(url, compression=None, ping_interval=None, max_size=2 ** 22, max_queue=None, open_timeout=30)
    first = _text(await asyncio.wait_for(ws.recv(), 30))
    if args.target == "mb":
        if '"type":"ready"' not in first:
            raise SystemExit(f"sender: expected a ready frame, got {first[:200]!r}")
    else:
        if not first.startswith("INFO "):
            raise SystemExit(f"sender: expected INFO, got {first[:200]!r}")
        await ws.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB room 2\r\nPING\r\n')
        buffered = b""
        while b"PONG\r\n" not in buffered:
            frame = await asyncio.wait_for(ws.recv(), 30)
            buffered += frame if isinstance(frame, bytes) else frame.encode()
    sent_at = {}                       # seq -> send time, for the ack latency
    acks = array.array("q")
    ack_errors = {}
    answered = [0]                     # acks (NATS: own copies) and errors received
    repeats = [0]                      # acks of a client_id the server had stored already (must stay 0)
    progress = asyncio.Event()         # set on every answer

    async def reader():
        pending = b""
        async for frame in ws:
            now = time.time_ns()
            if args.target == "nats":
                pending += frame if isinstance(frame, bytes) else frame.encode()
                msgs, lines, pending = parse_nats(pending)
                if b"PING" in lines:
                    await ws.send(b"PONG\r\n")
                for line in lines:
                    if line.startswith(b"-ERR"):
                        key = line.decode(errors="replace")[:160]
                        ack_errors[key] = ack_errors.get(key, 0) + 1
                for payload in msgs:
                    i = payload.find(MARK_B) + len(MARK_B)
                    k = payload.index(b" ", i)
                    seq = int(payload[k + 3:payload.index(b" ", k + 3)])
                    t = sent_at.pop(seq, None)
                    if t is not None:
                        acks.append(now - t)
                    answered[0] += 1
                if msgs:
                    progress.set()
                continue
            text = _text(frame)
            if text.startswith('{"type":"ack"'):
                i = text.find('"ref":"b') + 8
                t = sent_at.pop(int(text[i:text.index('x', i)]), None)
                if t is not None:
                    acks.append(now - t)
                if '"repeat":true' in text:
                    repeats[0] += 1
                answered[0] += 1
                progress.set()
            elif text.startswith('{"type":"error"'):
                key = text[:160]
                ack_errors[key] = ack_errors.get(key, 0) + 1
                answered[0] += 1
                progress.set()

    reader_task = asyncio.create_task(reader())
    seq = 0
    counts = {}
    spans = {}

    async def wait_for(condition, seconds):
        end = loop.time() + seconds
        while not condition() and loop.time() < end:
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), max(0.001, end - loop.time()))
            except asyncio.TimeoutError:
                pass
        return condition()

    async def phase_run(phase, seconds):
        nonlocal seq
        start = loop.time()
        first_ns = time.time_ns()
        n = 0
        while loop.time() - start < seconds:
            if args.rate > 0:
                due = start + n / args.rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif not await wait_for(lambda: seq - answered[0] < args.window, 10):
                break
            if args.target == "mb":
                t, frame = mb_send_frame(room_id, seq, phase)
            else:
                t, frame = nats_pub(seq, phase)
            sent_at[seq] = t
            await ws.send(frame)
            seq += 1
            n += 1
        counts[phase] = n
        spans[phase] = (first_ns, time.time_ns())

    cpu0 = cpu_seconds()
    if args.warmup > 0:
        await phase_run("w", args.warmup)
    await phase_run("m", args.duration)
    cpu = cpu_seconds() - cpu0
    # The end marker; then wait (bounded) for every answer.
    _, frame = mb_send_frame(room_id, seq, "e") if args.target == "mb" else nats_pub(seq, "e")
    await ws.send(frame)
    await wait_for(lambda: answered[0] >= seq + 1, 30)
    reader_task.cancel()
    await asyncio.gather(reader_task, return_exceptions=True)
    await ws.close()
    acks_sorted = sorted(acks)
    result = {
        "warmup_sent": counts.get("w", 0), "sent": counts["m"], "first_send_ns": spans["m"][0],
        "last_send_ns": spans["m"][1], "send_s": (spans["m"][1] - spans["m"][0]) / 1e9, "cpu_s": cpu,
        "acks": len(acks), "ack_repeats": repeats[0], "ack_errors": ack_errors, "unacked": len(sent_at),
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


def idle_handler(target):
    def handle(conn, payload, now):
        if not conn.ready.done():
            target.handshake(conn, payload)
        elif target.kind == "nats":
            target.messages(conn, payload)   # answers PING; there is nothing else on an idle socket
    return handle


async def run_idle(args):
    tokens = None
    if args.target == "mb":
        tokens = json.load(open(args.tokens))["subscribers"]
        # Offset the round-robin so that several processes spread over all users.
        tokens = tokens[args.first % len(tokens):] + tokens[:args.first % len(tokens)]
    target = Target(args.target, args.port, args.kind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    t0 = time.monotonic()
    conns, errors = await open_all(target, tokens, args.count, lambda: idle_handler(target))
    with open(args.ready + ".tmp", "w") as f:
        json.dump({"sockets": len(conns), "error_count": len(errors), "errors": errors[:5],
                   "open_s": time.monotonic() - t0}, f)
    os.rename(args.ready + ".tmp", args.ready)
    try:
        await asyncio.wait_for(stop.wait(), args.timeout)
    except asyncio.TimeoutError:
        pass
    with open(args.ready + ".end", "w") as f:
        json.dump({"closed_while_idle": sum(1 for c in conns if c.closed.done())}, f)
    # Exit without closing handshakes: the kernel closes the sockets.
    os._exit(0)


# -------------------------------------------------------------------------------------------------- summarize


def cmd_summarize(args):
    sender = json.load(open(args.sender))
    subs = [json.load(open(p)) for p in args.subs]
    lat = array.array("q")
    early, late = [], []   # per process, in arrival order: the first and the last fifth (a growing backlog shows)
    for p in args.subs:
        with open(p + ".lat", "rb") as f:
            data = f.read()
        chunk = array.array("q")
        chunk.frombytes(data)
        lat.extend(chunk)
        fifth = len(chunk) // 5
        if fifth:
            early.append(pct(sorted(chunk[:fifth]), 50))
            late.append(pct(sorted(chunk[-fifth:]), 50))
    lat = sorted(lat)
    sockets = sum(s["sockets"] for s in subs)
    received = sum(s["received"] for s in subs)
    expected = sender["sent"] * sockets
    last = max((s["last_ns"] for s in subs if s["last_ns"]), default=None)
    span_s = (last - sender["first_send_ns"]) / 1e9 if last else 0
    out = {
        "target": args.name, "sockets": sockets, "sent": sender["sent"], "send_rate": sender["sent"] / sender["send_s"],
        "expected": expected, "received": received, "missing": expected - received,
        "warmup_received": sum(s["warmup"] for s in subs),
        "rate": received / span_s if span_s else 0, "span_s": span_s,
        "p50_ms": pct(lat, 50) / 1e6, "p90_ms": pct(lat, 90) / 1e6, "p99_ms": pct(lat, 99) / 1e6,
        "p999_ms": pct(lat, 99.9) / 1e6, "max_ms": (lat[-1] / 1e6 if lat else 0),
        "p50_first_fifth_ms": max(early, default=0) / 1e6, "p50_last_fifth_ms": max(late, default=0) / 1e6,
        "gaps": sum(s["gaps"] for s in subs), "dups": sum(s["dups"] for s in subs),
        "unfinished": sum(s["unfinished"] for s in subs), "open_errors": sum(s["open_errors"] for s in subs),
        "closed_early": merge_counts(s["closed_early"] for s in subs),
        "other_frames": merge_counts(s["other_frames"] for s in subs),
        "client_cpu_s": [round(s["cpu_s"], 2) for s in subs], "client_wall_s": [round(s["wall_s"], 2) for s in subs],
        "sender_cpu_s": round(sender["cpu_s"], 2), "ack_p50_ms": sender.get("ack_p50_ms"),
        "ack_p99_ms": sender.get("ack_p99_ms"), "acks": sender.get("acks"), "unacked": sender.get("unacked"),
        "ack_repeats": sender.get("ack_repeats"),
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


def run(coro):
    """asyncio.run, on uvloop when it is installed and BENCH_EVENT_LOOP is not `asyncio` (uvloop's libuv loop
    costs the client less CPU per frame than asyncio's selector loop)."""
    if os.environ.get("BENCH_EVENT_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            uvloop = None
        if uvloop is not None:
            return uvloop.run(coro)
    return asyncio.run(coro)


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
        if name == "idle":
            s.add_argument("--kind", choices=["authenticated", "upgraded", "tcp"], default="authenticated")
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
        run(run_subscribe(args))
    elif args.cmd == "send":
        run(run_send(args))
    elif args.cmd == "idle":
        run(run_idle(args))
    else:
        cmd_summarize(args)


if __name__ == "__main__":
    main()
