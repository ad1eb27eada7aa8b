#!/usr/bin/env python3
"""History and search at 1,000,000 stored messages: the clients and the database fill of benchmarks/history/run.sh.

Subcommands (run.sh drives them; see benchmarks/README.md, "History and search"):

  setup     register users, create public rooms and join their members over REST; writes tokens and rooms as JSON
  probe     send a few messages over REST (non-ASCII, quotes, a tab), so that `fill` can check its event payloads
            byte for byte against the ones the server wrote
  fill      with the server stopped: bulk-insert messages straight into the SQLite file, with the `message.created`
            event the server writes for each and the authors' read positions; the FTS5 triggers index them
  requests  draw the measured requests (rooms, `before` ids, search texts) once, for the server and the baseline
  latency   run one kind of request (latest page, page before an id, search) from W worker processes, each
            sequentially over its own keep-alive connection (--target http), or the same SQL statements the store
            runs, in a read transaction on a read-only connection of its own (--target sql: the baseline)
  ingest    POST /api/v1/rooms/{id}/messages from C concurrent keep-alive connections for a fixed time
  plan      EXPLAIN QUERY PLAN of the history and search statements, and where a search's time goes
  report    the figures of one run and the goals

Only 127.0.0.1 is ever connected to. Every loop is bounded in time or count.
"""

import argparse
import asyncio
import calendar
import json
import multiprocessing
import os
import random
import re
import resource
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

PASSWORD = "benchmark-password"

# ------------------------------------------------------------------------------------------------ vocabulary
#
# Words in rough order of frequency; a message draws its words with Zipf weights 1/(rank + 1), so the first words
# are in most messages and the last in a few thousand of a million. 300 English words (function words first), 150
# Russian, 24 Chinese and Japanese phrases. A real corpus has a far larger vocabulary, so every word here matches
# more messages than a word of the same rank would in real chat: search sees more hits, not fewer.

ENGLISH = """
the to i you and a it is we that of in for on this be have can with not do so just but are will what if me my at
all get was up there out about know like no yes ok now how when one think here then time today tomorrow meeting
server deploy release build test please thanks check issue team project update review database error fix branch
merge code call week morning afternoon lunch coffee client customer report data query search history message room
chat channel link file upload download screen slide deck budget plan sprint ticket bug feature design mockup draft
document spec endpoint latency throughput cache index disk memory network outage incident alert pager oncall
rollback migration schema backup restore config secret token login password account user admin support sales
marketing invoice payment order shipping warehouse inventory price discount contract legal office remote travel
flight hotel vacation holiday birthday party pizza dinner weekend monday tuesday wednesday thursday friday saturday
sunday january february march april june july august september october november december kafka webhook queue topic
broker partition consumer producer cluster node replica leader follower shard tenant region zone kubernetes docker
container image registry pipeline runner artifact coverage benchmark profile flamegraph regression performance
stable flaky retry timeout deadline estimate priority blocker roadmap quarter goal metric dashboard graph chart
spreadsheet calendar invite agenda notes minutes summary decision approval feedback question answer idea proposal
experiment prototype demo launch announcement newsletter blog article video podcast webinar workshop training
onboarding hiring interview candidate offer salary bonus promotion manager director engineer designer analyst
intern contractor vendor partner supplier auditor compliance security privacy encryption certificate firewall
proxy gateway router switch cable printer laptop monitor keyboard headset camera microphone battery charger
license subscription renewal trial upgrade downgrade refund complaint escalation resolution postmortem runbook
playbook checklist template wiki readme changelog version patch hotfix commit push pull rebase conflict diff lint
refactor cleanup deprecate rename archive export sync thread socket packet frame buffer stream batch window quota
throttle burst spike traffic capacity autoscale
""".split()

RUSSIAN = """
и в не на я что с это а как по но ты мы к у за так все да нет уже еще тоже вот там тут если или когда привет
сегодня завтра вчера встреча созвон проект сервер база данных ошибка релиз сборка тест время работа вопрос ответ
спасибо пожалуйста хорошо отлично неделя задача команда клиент заказ оплата счет сообщение комната поиск история
логи проверка запрос обновление версия документ отчет план бюджет дизайн макет ревью ветка слияние код баг фича
инцидент алерт дежурство откат миграция схема резерв настройка пароль аккаунт пользователь поддержка продажи
маркетинг договор офис отпуск праздник обед кофе понедельник вторник среда четверг пятница суббота воскресенье
январь февраль март апрель июнь июль август сентябрь октябрь ноябрь декабрь очередь кластер узел реплика
нагрузка задержка память диск сеть кэш индекс скорость график таблица презентация решение идея предложение
эксперимент прототип демо запуск новости статья видео обучение собеседование кандидат менеджер инженер аналитик
подрядчик партнер безопасность сертификат лицензия подписка продление возврат жалоба разбор инструкция шаблон
""".split()

CJK = """
你好 谢谢 明天见 会议开始了 服务器出错了 数据库迁移 我们今天发布新版本 请检查日志 测试通过了 周末愉快 午饭吃什么 搜索功能
こんにちは ありがとう 会議は何時ですか サーバーが落ちました データベース また明日 よろしくお願いします 検索機能 今日は忙しい
新しいバージョン 会议记录 数据库备份
""".split()


def _dedup(words):
    seen, out = set(), []
    for w in words:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


ENGLISH = _dedup(ENGLISH)
RUSSIAN = _dedup(RUSSIAN)
CJK = _dedup(CJK)


def _cum(n, s=1.0):
    total, out = 0.0, []
    for r in range(n):
        total += 1.0 / (r + 1) ** s
        out.append(total)
    return out


EN_CUM = _cum(len(ENGLISH))
RU_CUM = _cum(len(RUSSIAN))
CJK_CUM = _cum(len(CJK), 0.5)
PUNCT = ["", "", "", "", ".", "?", "!", ","]


def make_content(rng):
    """One message: 70 % English, 24 % Russian, 6 % Chinese or Japanese (with an English word now and then)."""
    r = rng.random()
    if r < 0.70:
        words = rng.choices(ENGLISH, cum_weights=EN_CUM, k=rng.randint(3, 18))
    elif r < 0.94:
        words = rng.choices(RUSSIAN, cum_weights=RU_CUM, k=rng.randint(3, 14))
    else:
        phrases = rng.choices(CJK, cum_weights=CJK_CUM, k=rng.randint(1, 3))
        text = ("，" if rng.random() < 0.5 else " ").join(phrases)
        if rng.random() < 0.3:
            text += " " + rng.choice(ENGLISH[51:150])
        return text
    text = " ".join(words)
    if rng.random() < 0.3:
        text = text[0].upper() + text[1:]
    return text + rng.choice(PUNCT)


def tokens(text):
    """The words of a message as the unicode61 tokenizer sees them (close enough for the vocabulary above)."""
    return set(re.findall(r"\w+", text.lower()))


# Search texts by class. Each class draws one of its texts per request. The words are picked by their rank in the
# lists above, so their frequency is known (the run prints the hits of each).
def search_classes():
    return {
        "frequent": ["know", "like", "think"],           # ranks ~40-50 of 300: ~2-3 % of all messages each
        "common": ENGLISH[52:57],                         # the first content words
        "medium": ENGLISH[120:125],
        "rare": ENGLISH[280:285],
        "russian": RUSSIAN[40:45],
        "two_words": [f"{ENGLISH[52 + k]} {ENGLISH[100 + k]}" for k in range(5)],
        "prefix": [w[:3] for w in ENGLISH[130:135]],     # a word being typed: 3 letters, a prefix and trigrams
        "cjk": ["数据库", "データベース", "会議は何時"],      # 3+ characters: words prefix and trigram phrase
        "cjk_short": ["会议", "明天", "サー"],               # under 3 characters: words prefix and LIKE
    }


# ------------------------------------------------------------------------------------------------------- HTTP


class Closed(ConnectionError):
    pass


class Conn:
    """A minimal blocking HTTP/1.1 keep-alive client (cheaper per request than http.client)."""

    def __init__(self, port, timeout=120):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.reconnects = 0

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.buf = b""

    @staticmethod
    def encode(method, path, body=None, token=None):
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        return (head + "\r\n").encode() + data

    def send(self, raw):
        """Sends one encoded request and returns (status, body bytes). Reconnects once if the kept-alive
        connection was closed by the server before this request."""
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self._connect()
            try:
                self.sock.sendall(raw)
                return self._response()
            except (Closed, ConnectionResetError, BrokenPipeError):
                self.close()
                if fresh or attempt:
                    raise
                self.reconnects += 1

    def request(self, method, path, body=None, token=None):
        return self.send(self.encode(method, path, body, token))

    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise Closed("connection closed by the server")
        self.buf += chunk

    def _response(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = self.buf[:end].decode("latin-1")
        self.buf = self.buf[end + 4:]
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                parts.append(self.buf[:size])
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
            body = b"".join(parts)
        else:
            raise Closed("response without a length")
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body


def call(conn, method, path, body=None, token=None, ok=(200, 201)):
    status, data = conn.request(method, path, body, token)
    if status not in ok:
        raise SystemExit(f"{method} {path}: {status} {data[:300]!r}")
    return json.loads(data) if data else None


# ------------------------------------------------------------------------------------------------------ setup


def cmd_setup(a):
    t0 = time.monotonic()
    local = threading.local()

    def conn():
        if not hasattr(local, "conn"):
            local.conn = Conn(a.port)
        return local.conn

    def register(i):
        name = f"hist{i:04d}"
        body = call(conn(), "POST", "/api/v1/auth/register",
                    {"username": name, "email": f"{name}@example.com", "password": PASSWORD}, ok=(201,))
        return {"id": body["user"]["id"], "username": name, "token": body["access_token"]}

    with ThreadPoolExecutor(a.threads) as pool:
        users = list(pool.map(register, range(a.users)))
    t_users = time.monotonic() - t0

    def create(r):
        owner = users[r % a.users]
        room = call(conn(), "POST", "/api/v1/rooms",
                    {"name": f"room-{r:04d}", "topic": "history benchmark", "visibility": "public"}, owner["token"],
                    ok=(201,))
        return room["id"]

    with ThreadPoolExecutor(a.threads) as pool:
        room_ids = list(pool.map(create, range(a.rooms)))
    t_rooms = time.monotonic() - t0 - t_users
    rooms = [{"id": rid, "members": [users[(r + j) % a.users]["id"] for j in range(min(a.members, a.users))]}
             for r, rid in enumerate(room_ids)]
    by_id = {u["id"]: u for u in users}
    joins = [(room["id"], by_id[uid]["token"]) for room in rooms for uid in room["members"][1:]]

    def join(item):
        call(conn(), "POST", f"/api/v1/rooms/{item[0]}/join", None, item[1])

    with ThreadPoolExecutor(a.threads) as pool:
        list(pool.map(join, joins))
    t_joins = time.monotonic() - t0 - t_users - t_rooms
    with open(a.out, "w") as f:
        json.dump({"users": users, "rooms": rooms}, f)
    print(f"{len(users)} users registered in {t_users:.1f} s, {len(rooms)} public rooms created in {t_rooms:.1f} s, "
          f"{len(joins)} joins in {t_joins:.1f} s (each room: its owner and {min(a.members, a.users) - 1} members; "
          f"each user in {sum(1 for r in rooms if users[0]['id'] in r['members'])} rooms besides the default room)")


PROBE_TEXTS = [
    'probe "quoted" back\\slash a/b <tag> & tab\tend',
    "probe привет мир 你好 こんにちは ёжик",
    "probe emoji 🎉 and a long line " + "x" * 40,
]


def cmd_probe(a):
    setup = json.load(open(a.setup))
    user, room = setup["users"][0], setup["rooms"][0]
    conn = Conn(a.port)
    ids = []
    for i, text in enumerate(PROBE_TEXTS):
        m = call(conn, "POST", f"/api/v1/rooms/{room['id']}/messages", {"content": text, "client_id": f"probe-{i}"},
                 user["token"], ok=(201,))
        ids.append(m["id"])
    json.dump({"ids": ids}, open(a.out, "w"))
    print(f"sent {len(ids)} probe messages over REST (ids {ids})")


# ------------------------------------------------------------------------------------------------------- fill


def rfc3339_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def event_payload(mid, uid, username, content, created_text, room_id, client_id):
    """The `message.created` payload as the server writes it: ChatJSON (sorted keys, slashes unescaped, every key
    with nulls, RFC 3339 milliseconds), checked against the server's own bytes by `fill` before it writes any."""
    return json.dumps({
        "attachments": [], "client_id": client_id, "content": content, "created_at": created_text,
        "deleted_at": None, "edited_at": None, "id": mid, "reactions": [], "reply_to": None, "room_id": room_id,
        "user_id": uid, "username": username,
    }, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def check_probes(db, probe_ids, usernames):
    """The payloads the server wrote for the probe messages, against this script's encoding of the same rows."""
    events = {}
    for typ, room_id, user_id, payload, created in db.execute(
            "SELECT type, room_id, user_id, payload, created_at FROM chat_events WHERE type = 'message.created'"):
        events[json.loads(payload)["id"]] = (typ, room_id, user_id, bytes(payload), created)
    for mid in probe_ids:
        row = db.execute("SELECT id, room_id, user_id, client_id, content, created_at, reply_to, edited_at, deleted_at "
                         "FROM chat_messages WHERE id = ?", (mid,)).fetchone()
        if row is None or mid not in events:
            raise SystemExit(f"probe message {mid}: no row or no message.created event")
        _, room_id, uid, cid, content, created, reply_to, edited, deleted = row
        typ, ev_room, ev_user, payload, ev_created = events[mid]
        server = json.loads(payload)
        mine = event_payload(mid, uid, usernames[uid], content, server["created_at"], room_id, cid)
        problems = []
        if mine != payload:
            problems.append(f"payload bytes differ:\n  server: {payload!r}\n  mine:   {mine!r}")
        if (ev_room, ev_user, ev_created) != (room_id, None, created):
            problems.append(f"event columns room_id, user_id, created_at {(ev_room, ev_user, ev_created)} "
                            f"!= {(room_id, None, created)}")
        if abs(calendar.timegm(time.strptime(server["created_at"][:19], "%Y-%m-%dT%H:%M:%S")) * 1000
               + int(server["created_at"][20:23]) - created) > 1:
            problems.append(f"payload created_at {server['created_at']} is not the row's {created}")
        if (reply_to, edited, deleted) != (None, None, None):
            problems.append("probe row has reply_to, edited_at or deleted_at")
        if problems:
            raise SystemExit(f"probe message {mid}: " + "; ".join(problems))
    return len(probe_ids)


def cmd_fill(a):
    setup = json.load(open(a.setup))
    probe = json.load(open(a.probe))
    db = sqlite3.connect(a.db, isolation_level=None)
    journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.execute("PRAGMA foreign_keys = ON")
    # The fill is not what is measured: one fsync per batch is enough (the server runs synchronous=FULL).
    db.execute("PRAGMA synchronous = NORMAL")
    usernames = dict(db.execute("SELECT id, username FROM chat_users"))
    checked = check_probes(db, probe["ids"], usernames)
    print(f"journal_mode {journal}; the {checked} probe messages' event payloads match this script's encoding byte "
          f"for byte; filling {a.messages} messages in transactions of {a.batch}")
    sys.stdout.flush()

    rng = random.Random(a.seed)
    rooms = setup["rooms"]
    order = list(range(len(rooms)))
    rng.shuffle(order)     # room sizes follow a Zipf law (s=0.8) over a shuffled order of the rooms
    room_cum = []
    total = 0.0
    weight = [0.0] * len(rooms)
    for rank, idx in enumerate(order):
        weight[idx] = 1.0 / (rank + 1) ** 0.8
    for w in weight:
        total += w
        room_cum.append(total)
    room_idx = list(range(len(rooms)))

    next_id = (db.execute("SELECT COALESCE(MAX(id), 0) FROM chat_messages").fetchone()[0]) + 1
    first_position = db.execute("SELECT COALESCE(MAX(position), 0) FROM chat_events").fetchone()[0] + 1
    end_ms = int(time.time() * 1000) - 60_000
    span = 30 * 86400 * 1000           # the filled messages were sent over the 30 days before the run
    start_ms = end_ms - span
    classes = search_classes()
    # The single words searched for: the run checks afterwards that the words index finds exactly the generated
    # messages containing each.
    watch = {t for c in ("frequent", "common", "medium", "rare", "russian") for t in classes[c]}
    watched = {w: 0 for w in watch}
    last_read = {}
    t_gen = t_ins = 0.0
    t_start = time.monotonic()
    done = 0
    for start in range(0, a.messages, a.batch):
        n = min(a.batch, a.messages - start)
        tg = time.monotonic()
        picks = rng.choices(room_idx, cum_weights=room_cum, k=n)
        msgs, evs = [], []
        for k in range(n):
            i = start + k
            room = rooms[picks[k]]
            rid = room["id"]
            uid = rng.choice(room["members"])
            mid = next_id + i
            created = start_ms + (i * span) // max(1, a.messages)
            content = make_content(rng)
            cid = f"fill-{i}"
            msgs.append((mid, rid, uid, cid, content, created))
            evs.append(("message.created", rid, None,
                        event_payload(mid, uid, usernames[uid], content, rfc3339_ms(created), rid, cid), created))
            last_read[(rid, uid)] = mid
            if watch:
                for w in tokens(content) & watch:
                    watched[w] += 1
        ti = time.monotonic()
        t_gen += ti - tg
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO chat_messages (id, room_id, user_id, client_id, content, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", msgs)
        db.executemany("INSERT INTO chat_events (type, room_id, user_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                       evs)
        db.execute("COMMIT")
        t_ins += time.monotonic() - ti
        done += n
        elapsed = time.monotonic() - t_start
        print(f"  {done:>9} rows, {elapsed:7.1f} s ({done / elapsed:7.0f} rows/s; this batch: generate "
              f"{ti - tg:.1f} s, insert + index {time.monotonic() - ti:.1f} s)", file=sys.stderr, flush=True)
    tu = time.monotonic()
    # What sendMessage does for the author besides the row and the event: their read position in the room.
    db.execute("BEGIN IMMEDIATE")
    db.executemany("UPDATE chat_members SET last_read_message_id = ? WHERE room_id = ? AND user_id = ? "
                   "AND last_read_message_id < ?", [(mid, rid, uid, mid) for (rid, uid), mid in last_read.items()])
    db.execute("COMMIT")
    t_upd = time.monotonic() - tu
    tc = time.monotonic()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    t_ckpt = time.monotonic() - tc
    last_position = db.execute("SELECT MAX(position) FROM chat_events").fetchone()[0]
    counts = db.execute("SELECT (SELECT COUNT(*) FROM chat_messages), (SELECT COUNT(*) FROM chat_events "
                        "WHERE type = 'message.created')").fetchone()
    sizes = db.execute("SELECT room_id, COUNT(*) FROM chat_messages GROUP BY room_id ORDER BY 2").fetchall()
    db.close()
    wall = time.monotonic() - t_start
    size = os.path.getsize(a.db)
    result = {
        "messages": a.messages, "batch": a.batch, "seconds": wall, "generate_s": t_gen, "insert_s": t_ins,
        "read_positions_s": t_upd, "checkpoint_s": t_ckpt, "rows_per_s": a.messages / wall if wall else 0,
        "first_id": next_id, "last_id": next_id + a.messages - 1, "first_position": first_position,
        "last_position": last_position, "total_messages": counts[0], "message_events": counts[1],
        "db_bytes": size, "watched": watched, "room_sizes": [sizes[0][1], sizes[len(sizes) // 2][1], sizes[-1][1]],
    }
    json.dump(result, open(a.out, "w"))
    print(f"filled {a.messages} messages in {wall:.1f} s ({result['rows_per_s']:.0f} rows/s): generating rows and "
          f"payloads in Python {t_gen:.1f} s, inserting (messages, events, both FTS5 indexes by trigger) {t_ins:.1f} s, "
          f"read positions {t_upd:.1f} s, checkpoint {t_ckpt:.1f} s")
    print(f"database now: {counts[0]} messages, {counts[1]} message.created events (positions {first_position}.."
          f"{last_position}), {size / 2 ** 20:.0f} MiB; messages per room: smallest {sizes[0][1]}, median "
          f"{sizes[len(sizes) // 2][1]}, largest {sizes[-1][1]}")


# --------------------------------------------------------------------------------------- the store's statements
#
# Copied from Sources/Storage/Chat/SQLiteChatStore+Messages.swift, +Rooms.swift, +Attachments.swift and
# +Search.swift: what `history(roomID:visibleTo:cursor:limit:)` and `search(_:visibleTo:roomID:limit:offset:)` run.

ROOM_COLUMNS = "r.id, r.name, r.topic, r.visibility, r.kind, r.created_by, r.created_at"
ACCESS_SQL = f"""
    SELECT {ROOM_COLUMNS}, m.role FROM chat_rooms r
    LEFT JOIN chat_members m ON m.room_id = r.id AND m.user_id = ? AND m.left_position IS NULL
    WHERE r.id = ?
    """
MESSAGE_SELECT = """
    SELECT x.id, x.user_id, u.username, x.content, x.created_at, x.room_id, x.client_id, x.reply_to,
        x.edited_at, x.deleted_at
    FROM chat_messages x JOIN chat_users u ON u.id = x.user_id
    """
LATEST_SQL = f"{MESSAGE_SELECT} WHERE x.room_id = ?  ORDER BY x.id DESC LIMIT ?"
BEFORE_SQL = f"{MESSAGE_SELECT} WHERE x.room_id = ? AND x.id < ? ORDER BY x.id DESC LIMIT ?"
ATTACHMENT_COLUMNS = ("a.id, a.room_id, a.user_id, a.message_id, a.filename, a.content_type, a.size, a.sha256, "
                      "a.created_at, a.storage_name")
BY_ID_SQL = f"{MESSAGE_SELECT} WHERE x.id = ?"


def reactions_sql(n):
    marks = ",".join("?" * n)
    return (f"SELECT message_id, emoji, user_id FROM chat_reactions WHERE message_id IN ({marks}) "
            f"ORDER BY created_at, user_id",
            f"SELECT {ATTACHMENT_COLUMNS} FROM chat_attachments a WHERE a.message_id IN ({marks}) ORDER BY a.id")


SEARCH_WINDOW = 200  # SQLiteChatStore.searchWindow


def search_statement(query, user_id, limit=20, offset=0):
    """The search's candidate statements and their named arguments, built exactly as the store builds them: the
    words source, newest first and bounded by the window, and the fragment source (trigrams, or LIKE under 3
    characters), which the store runs only when the word matches do not fill the page."""
    terms = query.split()
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    wanted = offset + limit
    scope = "x.room_id IN (SELECT room_id FROM chat_members WHERE user_id = :user AND left_position IS NULL)"
    args = {"user": user_id, "room": None, "window": max(SEARCH_WINDOW, wanted),
            "words": " ".join(quoted[:-1]) + " " + quoted[-1] + "*"}
    words = f"""
        SELECT x.id, bm25(chat_search_words), snippet(chat_search_words, 0, char(1), char(2), '…', 12)
        FROM chat_search_words CROSS JOIN chat_messages x ON x.id = chat_search_words.rowid
        WHERE chat_search_words MATCH :words AND x.deleted_at IS NULL AND {scope}
        ORDER BY chat_search_words.rowid DESC LIMIT :window
        """
    if len(query) >= 3:
        args["trigrams"] = '"' + query.replace('"', '""') + '"'
        fragments = ("trigrams", f"""
            SELECT x.id, bm25(chat_search_trigrams), snippet(chat_search_trigrams, 0, char(1), char(2), '…', 12)
            FROM chat_search_trigrams CROSS JOIN chat_messages x ON x.id = chat_search_trigrams.rowid
            WHERE chat_search_trigrams MATCH :trigrams AND x.deleted_at IS NULL AND {scope}
            ORDER BY chat_search_trigrams.rowid DESC LIMIT :window
            """)
    else:
        args["like"] = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        args["wanted"] = wanted
        fragments = ("like", f"""
            SELECT x.id, 0, x.content FROM chat_messages x
            WHERE x.content LIKE :like ESCAPE '\\' AND x.deleted_at IS NULL AND {scope}
            ORDER BY x.id DESC LIMIT :wanted
            """)
    return {"words": words, "fragments": fragments}, args


def search_page(db, statements, args, limit=20, offset=0):
    """The store's ranking: word matches (tier 0) first, the fragment source only when they do not fill the page;
    by tier, bm25, newest. Snippets come with the candidates. Returns [(id, tier, snippet)] of the page."""
    hits = [(0, score, -i, snippet) for i, score, snippet in db.execute(statements["words"], args)]
    if len(hits) < offset + limit:
        tier = 1 if statements["fragments"][0] == "trigrams" else 2
        found = {-h[2] for h in hits}
        hits += [(tier, score, -i, snippet) for i, score, snippet in db.execute(statements["fragments"][1], args)
                 if i not in found]
    hits.sort(key=lambda h: h[:3])
    return [(-neg, tier, snippet) for tier, _, neg, snippet in hits[offset:offset + limit]]


def sql_history(db, user_id, room_id, before, limit=50):
    db.execute("BEGIN")
    db.execute(ACCESS_SQL, (user_id, room_id)).fetchall()
    if before is None:
        rows = db.execute(LATEST_SQL, (room_id, limit)).fetchall()
    else:
        rows = db.execute(BEFORE_SQL, (room_id, before, limit)).fetchall()
    rows.reverse()
    if rows:
        ids = [r[0] for r in rows]
        rs, at = reactions_sql(len(ids))
        db.execute(rs, ids).fetchall()
        db.execute(at, ids).fetchall()
    db.execute("COMMIT")
    return len(rows)


def sql_search(db, user_id, query, limit=20):
    statements, args = search_statement(query, user_id, limit)
    db.execute("BEGIN")
    hits = search_page(db, statements, args, limit)
    messages = [db.execute(BY_ID_SQL, (h[0],)).fetchone() for h in hits]
    if messages:
        ids = [m[0] for m in messages]
        rs, at = reactions_sql(len(ids))
        db.execute(rs, ids).fetchall()
        db.execute(at, ids).fetchall()
    db.execute("COMMIT")
    return len(hits)


def ro_connect(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)


# --------------------------------------------------------------------------------------------------- requests


def cmd_requests(a):
    """Draws every measured request once, so the server and the baseline run exactly the same ones."""
    setup = json.load(open(a.setup))
    rng = random.Random(a.seed)
    db = ro_connect(a.db)
    users = setup["users"]
    step = max(1, len(users) // a.workers)
    workers = []
    for w in range(a.workers):
        user = users[(w * step) % len(users)]
        my_rooms = [r["id"] for r in setup["rooms"] if user["id"] in r["members"]]
        ids = {rid: [row[0] for row in db.execute("SELECT id FROM chat_messages WHERE room_id = ? ORDER BY id", (rid,))]
               for rid in my_rooms}
        deep = [rid for rid in my_rooms if len(ids[rid]) > 50]
        if not deep:
            raise SystemExit(f"user {user['username']} is in no room of more than 50 messages: raise MESSAGES")

        def latest():
            rid = rng.choice(my_rooms)
            return {"kind": "latest", "class": "latest", "room": rid, "expect": min(50, len(ids[rid]))}

        def before():
            rid = rng.choice(deep)
            return {"kind": "before", "class": "before", "room": rid, "before": rng.choice(ids[rid][50:]), "expect": 50}

        classes = search_classes()
        names = list(classes)

        def search():
            c = rng.choice(names)
            return {"kind": "search", "class": c, "q": rng.choice(classes[c])}

        make = {"latest": latest, "before": before, "search": search}
        lists = {}
        for kind, n, warm in (("latest", a.history, a.history_warmup), ("before", a.history, a.history_warmup),
                              ("search", a.search, a.search_warmup)):
            per = (n + a.workers - 1) // a.workers
            per_warm = (warm + a.workers - 1) // a.workers
            lists[kind] = {"warmup": [make[kind]() for _ in range(per_warm)], "measured": [make[kind]() for _ in range(per)]}
        workers.append({"user": user, "rooms": len(my_rooms), "lists": lists})
    db.close()
    json.dump({"workers": workers}, open(a.out, "w"))
    print(f"{a.workers} workers as users {[w['user']['username'] for w in workers]}, each a member of "
          f"{workers[0]['rooms']} rooms; {a.history} history requests per kind, {a.search} searches")


# ---------------------------------------------------------------------------------------------------- latency


def pct(sorted_values, p):
    if not sorted_values:
        return 0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def cpu_seconds_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy_s():
    """CPU seconds the whole machine has been busy (all cores, /proc/stat), and its total (busy + idle)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / hz, sum(fields) / hz


def path_of(req):
    if req["kind"] == "latest":
        return f"/api/v1/rooms/{req['room']}/messages?limit=50"
    if req["kind"] == "before":
        return f"/api/v1/rooms/{req['room']}/messages?limit=50&before={req['before']}"
    return "/api/v1/search?q=" + urllib.parse.quote(req["q"])


def latency_worker(a, spec, kind, barrier, out_path):
    user = spec["user"]
    lists = spec["lists"][kind]
    deadline_s = a.max_seconds
    results = []
    errors = []
    conn = None
    if a.target == "http":
        conn = Conn(a.port)
        raws = {}

        def run(req):
            key = path_of(req)
            raw = raws.get(key)
            if raw is None:
                raw = raws[key] = Conn.encode("GET", key, None, user["token"])
            t0 = time.perf_counter_ns()
            status, body = conn.send(raw)
            t1 = time.perf_counter_ns()
            return t1 - t0, status, body
    else:
        db = ro_connect(a.db)

        def run(req):
            t0 = time.perf_counter_ns()
            if kind == "search":
                n = sql_search(db, user["id"], req["q"])
            else:
                n = sql_history(db, user["id"], req["room"], req.get("before"))
            t1 = time.perf_counter_ns()
            return t1 - t0, 200, n

    for req in lists["warmup"]:
        run(req)
    barrier.wait()
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    checked = 0
    for i, req in enumerate(lists["measured"]):
        if time.monotonic() - start > deadline_s:
            break
        ns, status, body = run(req)
        if status != 200:
            errors.append(f"{status} {path_of(req)} {bytes(body)[:120]!r}")
            continue
        count = None
        # Every search answer and one history page in ten are parsed and counted (outside the timing).
        if a.target == "http" and (kind == "search" or i % 10 == 0):
            doc = json.loads(body)
            count = len(doc["results"]) if kind == "search" else len(doc)
            checked += 1
        elif a.target == "sql":
            count = body
        if kind != "search" and count is not None and count != req["expect"]:
            errors.append(f"page of {count} messages, not {req['expect']}: {path_of(req)}")
        results.append((req["class"], ns, count))
    wall = time.monotonic() - start
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    json.dump({"results": results, "errors": errors[:20], "error_count": len(errors), "wall_s": wall,
               "cpu_s": (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime),
               "reconnects": conn.reconnects if conn else 0}, open(out_path, "w"))


def summarize_latencies(values_ns):
    s = sorted(values_ns)
    return {"count": len(s), "p50_ms": pct(s, 50) / 1e6, "p90_ms": pct(s, 90) / 1e6, "p99_ms": pct(s, 99) / 1e6,
            "max_ms": (s[-1] / 1e6) if s else 0}


def cmd_latency(a):
    reqs = json.load(open(a.requests))
    if a.workers:
        reqs["workers"] = reqs["workers"][:a.workers]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(reqs["workers"]) + 1)
    outs = [f"{a.out}.worker{w}" for w in range(len(reqs["workers"]))]
    procs = [ctx.Process(target=latency_worker, args=(a, spec, a.kind, barrier, outs[w]))
             for w, spec in enumerate(reqs["workers"])]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=600)
    except threading.BrokenBarrierError:
        raise SystemExit("the workers did not get ready (warm-up) within 600 s")
    s0 = cpu_seconds_of(a.server_pid) if a.server_pid else 0.0
    m0, _ = machine_busy_s()
    t0 = time.monotonic()
    for p in procs:
        p.join(a.max_seconds + 600)
        if p.is_alive():
            p.kill()
    wall = time.monotonic() - t0
    s1 = cpu_seconds_of(a.server_pid) if a.server_pid else 0.0
    m1, _ = machine_busy_s()
    parts = []
    for path in outs:
        try:
            parts.append(json.load(open(path)))
        except (OSError, ValueError):
            raise SystemExit(f"a worker left no result ({path})")
        os.unlink(path)
    results = [r for p in parts for r in p["results"]]
    by_class = {}
    hits = {}
    for c, ns, count in results:
        by_class.setdefault(c, []).append(ns)
        if count is not None:
            hits.setdefault(c, []).append(count)
    overall = summarize_latencies([r[1] for r in results])
    summary = {
        "target": a.target, "kind": a.kind, "workers": len(procs), "wall_s": wall,
        "rate": len(results) / wall if wall else 0, **overall,
        "classes": {c: {**summarize_latencies(v), "mean_results": sum(hits.get(c, [0])) / max(1, len(hits.get(c, [])))}
                    for c, v in sorted(by_class.items())},
        "errors": [e for p in parts for e in p["errors"]][:10], "error_count": sum(p["error_count"] for p in parts),
        "client_cpu_s": sum(p["cpu_s"] for p in parts), "reconnects": sum(p["reconnects"] for p in parts),
        "server_cpu_s": s1 - s0 if a.server_pid else None,
        "background": a.background,
    }
    # Other processes during the run: the machine's busy time less the server's and the workers'.
    summary["others_cores"] = max(0.0, (m1 - m0) - (s1 - s0) - summary["client_cpu_s"]) / wall if wall else 0.0
    with open(a.out, "w") as f:
        json.dump(summary, f)
    label = "messagebridge" if a.target == "http" else "direct SQL"
    cpu = ""
    if a.server_pid and results:
        cpu = f"; server CPU {1e6 * summary['server_cpu_s'] / len(results):.0f} us/request"
    cpu += f"; client CPU {1e6 * summary['client_cpu_s'] / max(1, len(results)):.0f} us/request"
    cpu += f"; other processes {summary['others_cores']:.2f} cores"
    print(f"   {label:<14} {a.kind:<7} {len(procs)} client{'s' if len(procs) > 1 else ' '} {len(results):6d} requests in {wall:5.1f} s ({summary['rate']:7.0f}/s), "
          f"p50 {overall['p50_ms']:.2f} ms, p90 {overall['p90_ms']:.2f}, p99 {overall['p99_ms']:.2f}, max "
          f"{overall['max_ms']:.2f}; errors {summary['error_count']}{cpu}")
    if a.kind == "search":
        for c, v in summary["classes"].items():
            print(f"      {c:<10} {v['count']:5d}  p50 {v['p50_ms']:8.2f} ms  p99 {v['p99_ms']:8.2f} ms  max "
                  f"{v['max_ms']:8.2f} ms  ({v['mean_results']:.2f} results per answer)")
    for e in summary["errors"][:5]:
        print(f"      error: {e}")


# ----------------------------------------------------------------------------------------------------- ingest


async def ingest_conn(port, user, rooms, tag, index, bodies, t_start, t_measure, t_end, out):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rng = random.Random(index)
    seq = 0
    try:
        while time.monotonic() < t_end:
            room = rng.choice(rooms)
            body = json.dumps({"content": rng.choice(bodies), "client_id": f"ing-{tag}-{index}-{seq}"}).encode()
            seq += 1
            raw = (f"POST /api/v1/rooms/{room}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: Bearer {user['token']}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            t0 = time.monotonic()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if m:
                await reader.readexactly(int(m.group(1)))
            else:
                raise ConnectionError("response without content-length")
            t1 = time.monotonic()
            if t0 >= t_measure and t1 <= t_end:
                out["lat"].append(t1 - t0)
                if status == 201:
                    out["ok"] += 1
                else:
                    out["bad"] += 1
                    if len(out["bad_samples"]) < 5:
                        out["bad_samples"].append(status)
            elif t1 < t_measure:
                out["warm"] += 1
    finally:
        writer.close()


def cmd_ingest(a):
    setup = json.load(open(a.setup))
    try:
        import uvloop
        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    users = setup["users"]
    member_of = {u["id"]: [r["id"] for r in setup["rooms"] if u["id"] in r["members"]] for u in users}
    rng = random.Random(a.seed)
    bodies = [make_content(rng) for _ in range(2000)]
    tag = f"{os.getpid()}x{time.time_ns() % 10 ** 9}"
    out = {"lat": [], "ok": 0, "bad": 0, "warm": 0, "bad_samples": []}

    async def main():
        now = time.monotonic()
        t_measure = now + a.warmup
        t_end = t_measure + a.duration
        tasks = [ingest_conn(a.port, users[c % len(users)], member_of[users[c % len(users)]["id"]], tag, c, bodies,
                             now, t_measure, t_end, out) for c in range(a.connections)]
        return t_measure, t_end, await asyncio.gather(*tasks, return_exceptions=True)

    c0 = resource.getrusage(resource.RUSAGE_SELF)
    s0 = s1 = 0.0
    # Server CPU over the measured window only: sampled from a thread at its start and end.
    box = {}

    def sample():
        time.sleep(a.warmup)
        box["s0"] = cpu_seconds_of(a.server_pid) if a.server_pid else 0.0
        box["c0"] = resource.getrusage(resource.RUSAGE_SELF)
        box["m0"] = machine_busy_s()[0]
        time.sleep(a.duration)
        box["s1"] = cpu_seconds_of(a.server_pid) if a.server_pid else 0.0
        box["c1"] = resource.getrusage(resource.RUSAGE_SELF)
        box["m1"] = machine_busy_s()[0]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t_measure, t_end, errors = asyncio.run(main())
    sampler.join(5)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    failures = [repr(e) for e in errors if isinstance(e, BaseException)]
    lat = sorted(out["lat"])
    s0, s1 = box.get("s0", 0.0), box.get("s1", 0.0)
    result = {
        "store": a.label, "connections": a.connections, "duration_s": a.duration, "ok": out["ok"], "bad": out["bad"],
        "bad_samples": out["bad_samples"], "rate": out["ok"] / a.duration, "p50_ms": pct(lat, 50) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3, "max_ms": (lat[-1] * 1e3) if lat else 0, "failures": failures[:5],
        "client_cpu_s": (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime),
        "server_cpu_s": s1 - s0, "event_loop": loop_name, "background": a.background, "round": a.round,
    }
    if "c1" in box:
        client = (box["c1"].ru_utime + box["c1"].ru_stime) - (box["c0"].ru_utime + box["c0"].ru_stime)
        result["others_cores"] = max(0.0, box["m1"] - box["m0"] - (s1 - s0) - client) / a.duration
    else:
        result["others_cores"] = -1
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(f"   ingest on the {a.label:<5} store (round {a.round}): {out['ok']} messages stored in {a.duration:.0f} s = "
          f"{result['rate']:.0f}/s, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, non-201 "
          f"{out['bad']}{' ' + str(out['bad_samples']) if out['bad_samples'] else ''}, connection failures "
          f"{len(failures)}; server CPU {1e6 * result['server_cpu_s'] / max(1, out['ok']):.0f} us/message, client "
          f"{result['client_cpu_s'] / (a.warmup + a.duration):.2f} cores ({loop_name}); other processes "
          f"{result['others_cores']:.2f} cores")
    for f in failures[:3]:
        print(f"      failure: {f}")


# ------------------------------------------------------------------------------------------------------- plan


def cmd_plan(a):
    setup = json.load(open(a.setup))
    reqs = json.load(open(a.requests))
    user = reqs["workers"][0]["user"]
    db = ro_connect(a.db)
    some_room = reqs["workers"][0]["lists"]["before"]["measured"][0]

    def plan(title, sql, args):
        print(f"-- {title}")
        for row in db.execute("EXPLAIN QUERY PLAN " + sql, args):
            depth = 0
            parent = row[1]
            ids = plans.setdefault(title, {})
            ids[row[0]] = depth = ids.get(parent, -1) + 1
            print("   " + "  " * depth + row[3])

    plans = {}
    print("== EXPLAIN QUERY PLAN (SQLite %s, the library the server links)" % sqlite3.sqlite_version)
    plan("history: room access check", ACCESS_SQL, (user["id"], some_room["room"]))
    plan("history: latest page (limit=50)", LATEST_SQL, (some_room["room"], 50))
    plan("history: page before an id (before=ID&limit=50)", BEFORE_SQL, (some_room["room"], some_room["before"], 50))
    statements, args = search_statement("meeting", user["id"])
    plan("search: words, newest matches in the user's rooms (window), q=meeting", statements["words"], args)
    plan("search: trigrams (3 characters or more, when the words do not fill the page), q=meeting",
         statements["fragments"][1], args)
    statements, args = search_statement("会议", user["id"])
    plan("search: LIKE (under 3 characters, when the words do not fill the page), q=会议", statements["fragments"][1], args)
    plan("search: each hit's message", BY_ID_SQL, (1,))

    classes = search_classes()
    print()
    print("== where a search's time goes (direct SQL, read-only connection, the server idle; median of 3 runs each)")
    print(f"   user {user['username']}, a member of {reqs['workers'][0]['rooms']} of {len(setup['rooms'])} rooms; "
          f"window {SEARCH_WINDOW}")
    print("   %-10s %-14s %8s %8s %8s | %8s %8s %8s %8s %8s" % (
        "class", "q", "words", "in window", "fragment", "match ms", "words ms", "frag ms", "page ms", "total ms"))

    def timed(fn, reps=3):
        best = []
        result = None
        for _ in range(reps):
            t0 = time.perf_counter()
            result = fn()
            best.append(time.perf_counter() - t0)
        return sorted(best)[len(best) // 2] * 1e3, result

    breakdown = {}
    for c, texts in classes.items():
        q = texts[0]
        statements, args = search_statement(q, user["id"])
        match_ms, n_words = timed(lambda: db.execute(
            "SELECT COUNT(*) FROM chat_search_words WHERE chat_search_words MATCH :words", args).fetchone()[0])
        words_ms, words_rows = timed(lambda: db.execute(statements["words"], args).fetchall())
        needs_fragments = len(words_rows) < 20
        frag_ms, frag_rows = timed(lambda: db.execute(statements["fragments"][1], args).fetchall()) \
            if needs_fragments else (0.0, None)
        total_ms, page = timed(lambda: search_page(db, statements, args))
        page_ms = max(0.0, total_ms - words_ms - frag_ms)
        breakdown[c] = {"q": q, "words_hits": n_words, "words_in_window": len(words_rows),
                        "fragment_rows": None if frag_rows is None else len(frag_rows), "match_ms": match_ms,
                        "words_ms": words_ms, "fragments_ms": frag_ms, "page_ms": page_ms, "total_ms": total_ms}
        print("   %-10s %-14s %8d %8d %8s | %8.1f %8.1f %8.1f %8.1f %8.1f" % (
            c, q, n_words, len(words_rows), "-" if frag_rows is None else len(frag_rows),
            match_ms, words_ms, frag_ms, page_ms, total_ms))
    print("   (words: messages the words index matches, all rooms; in window: the newest of them in the user's rooms, "
          "at most the window; fragment: rows of the fragment source, '-' where the word matches fill the page and "
          "it is not run; match ms: the words MATCH alone, counted; words/frag ms: each source alone; page ms: "
          "ranking the window; total: the store's whole search without the message rows)")
    fill = json.load(open(a.fill)) if a.fill else {}
    mismatched = []
    for w, n in (fill.get("watched") or {}).items():
        got = db.execute("SELECT COUNT(*) FROM chat_search_words WHERE chat_search_words MATCH ?",
                         ('"' + w + '"',)).fetchone()[0]
        if got != n:
            mismatched.append(f"{w}: index {got}, generated {n}")
    if fill.get("watched"):
        print(f"   index check: for each of the {len(fill['watched'])} single query words the words index finds exactly "
              f"the generated messages containing it: {'yes' if not mismatched else 'NO: ' + '; '.join(mismatched[:5])}")
    db.close()
    if a.out:
        json.dump({"breakdown": breakdown}, open(a.out, "w"))


# ----------------------------------------------------------------------------------------------------- report


def cmd_report(a):
    rows = [json.loads(line) for line in open(a.results) if line.strip()]
    fill = json.load(open(a.fill))
    most = max([r["workers"] for r in rows if "kind" in r] or [0])
    lat = {(r["target"], r["kind"]): r for r in rows if "kind" in r and r["workers"] == most}
    seq = {(r["target"], r["kind"]): r for r in rows if "kind" in r and r["workers"] == 1 and most > 1}
    ing = [r for r in rows if "store" in r]
    print(f"stored: {fill['total_messages']} messages in {a.rooms} rooms (+ the default room), filled in "
          f"{fill['seconds']:.1f} s ({fill['rows_per_s']:.0f} rows/s, FTS5 triggers included), database "
          f"{fill['db_bytes'] / 2 ** 20:.0f} MiB")
    print()
    print("%-16s %-8s %7s %8s %8s %9s %9s %9s %9s %7s %13s %7s" % (
        "target", "request", "clients", "count", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
        "server us/req", "others"))
    for table in (lat, seq):
        for kind in ("latest", "before", "search"):
            for target in ("http", "sql"):
                r = table.get((target, kind))
                if not r:
                    continue
                us = f"{1e6 * r['server_cpu_s'] / r['count']:.0f}" if r.get("server_cpu_s") is not None and r["count"] else "-"
                print("%-16s %-8s %7d %8d %8.0f %9.2f %9.2f %9.2f %9.2f %7d %13s %6.2fc" % (
                    "messagebridge" if target == "http" else "direct SQL", kind, r["workers"], r["count"], r["rate"],
                    r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"], r["error_count"], us, r.get("others_cores", -1)))
    print(f"(clients: concurrent workers, each sequential over its own keep-alive connection / read-only SQLite "
          f"connection; direct SQL: the store's statements for the same requests, in a read transaction, from "
          f"Python's sqlite3 on the same file while the server ran idle; server us/req: the server's CPU per request; "
          f"others: cores used meanwhile by processes not of this benchmark)")
    s_http, s_sql = lat.get(("http", "search")), lat.get(("sql", "search"))
    if s_http:
        print()
        print("search by class   count   messagebridge p50 / p99 ms    direct SQL p50 / p99 ms   results per answer")
        for c, v in s_http["classes"].items():
            b = (s_sql or {}).get("classes", {}).get(c)
            print("  %-12s %7d      %9.2f / %9.2f      %9.2f / %9.2f      %6.2f (sql %6.2f)" % (
                c, v["count"], v["p50_ms"], v["p99_ms"], b["p50_ms"] if b else 0, b["p99_ms"] if b else 0,
                v["mean_results"], b["mean_results"] if b else 0))
        print("  (each query class draws one of its texts per request; see benchmarks/history/history.py, search_classes)")
    if ing:
        print()
        print("%-8s %6s %12s %10s %9s %9s %8s %14s %7s" % ("store", "round", "messages/s", "stored", "p50 ms",
                                                            "p99 ms", "non-201", "server us/msg", "others"))
        for r in ing:
            print("%-8s %6d %12.0f %10d %9.2f %9.2f %8d %14.0f %6.2fc" % (
                r["store"], r["round"], r["rate"], r["ok"], r["p50_ms"], r["p99_ms"], r["bad"],
                1e6 * r["server_cpu_s"] / max(1, r["ok"]), r.get("others_cores", -1)))
        print(f"({ing[0]['connections']} connections, each POSTing its next message once answered; "
              f"{ing[0]['duration_s']:.0f} s measured per round; empty: the same users, rooms and members, no messages)")
    print()
    print("== goals")
    verdicts = []

    def goal(text, ok):
        verdicts.append(ok)
        print(f"   {'PASS' if ok else 'MISS'}  {text}")

    for kind, label in (("latest", "history page, latest (limit=50)"), ("before", "history page, before=ID (limit=50)")):
        r, b = lat.get(("http", kind)), lat.get(("sql", kind))
        one = seq.get(("http", kind))
        if r:
            goal(f"{label}, {r['workers']} concurrent clients: p99 {r['p99_ms']:.2f} ms < 5 ms (direct SQL p99 "
                 f"{b['p99_ms'] if b else float('nan'):.2f} ms)"
                 + (f"; 1 client: p99 {one['p99_ms']:.2f} ms" if one else ""),
                 r["p99_ms"] < 5 and r["error_count"] == 0)
    if s_http:
        one = seq.get(("http", "search"))
        goal(f"search, {s_http['workers']} concurrent clients: p99 {s_http['p99_ms']:.2f} ms < 50 ms (direct SQL p99 "
             f"{s_sql['p99_ms'] if s_sql else float('nan'):.2f} ms)"
             + (f"; 1 client: p99 {one['p99_ms']:.2f} ms" if one else ""),
             s_http["p99_ms"] < 50 and s_http["error_count"] == 0)
    empty = [r for r in ing if r["store"] == "empty"]
    full = [r for r in ing if r["store"] == "full"]
    if empty and full:
        e = sum(r["ok"] for r in empty) / sum(r["duration_s"] for r in empty)
        f = sum(r["ok"] for r in full) / sum(r["duration_s"] for r in full)
        ratio = f / e if e else 0
        goal(f"ingest at {fill['total_messages']} stored: {f:.0f} messages/s = {ratio:.3f} x the empty store's {e:.0f}/s "
             f"(goal >= 0.9; rounds: empty {[round(r['rate']) for r in empty]}, full {[round(r['rate']) for r in full]})",
             ratio >= 0.9 and all(r["bad"] == 0 for r in ing))


# ------------------------------------------------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--users", type=int, default=100)
    s.add_argument("--rooms", type=int, default=1000)
    s.add_argument("--members", type=int, default=10)
    s.add_argument("--threads", type=int, default=8)
    s.add_argument("--out", required=True)
    s = sub.add_parser("probe")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--setup", required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("fill")
    s.add_argument("--db", required=True)
    s.add_argument("--setup", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--messages", type=int, default=1_000_000)
    s.add_argument("--batch", type=int, default=50_000)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", required=True)
    s = sub.add_parser("requests")
    s.add_argument("--db", required=True)
    s.add_argument("--setup", required=True)
    s.add_argument("--workers", type=int, default=4)
    s.add_argument("--history", type=int, default=4000)
    s.add_argument("--history-warmup", type=int, default=400)
    s.add_argument("--search", type=int, default=900)
    s.add_argument("--search-warmup", type=int, default=45)
    s.add_argument("--seed", type=int, default=2)
    s.add_argument("--out", required=True)
    s = sub.add_parser("latency")
    s.add_argument("--target", choices=["http", "sql"], required=True)
    s.add_argument("--kind", choices=["latest", "before", "search"], required=True)
    s.add_argument("--port", type=int)
    s.add_argument("--db")
    s.add_argument("--requests", required=True)
    s.add_argument("--server-pid", type=int)
    s.add_argument("--workers", type=int, help="use only the first N workers' requests (default: all)")
    s.add_argument("--max-seconds", type=float, default=120)
    s.add_argument("--background", type=int, default=-1)
    s.add_argument("--out", required=True)
    s = sub.add_parser("ingest")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--setup", required=True)
    s.add_argument("--connections", type=int, default=32)
    s.add_argument("--duration", type=float, default=10)
    s.add_argument("--warmup", type=float, default=2)
    s.add_argument("--server-pid", type=int)
    s.add_argument("--label", required=True)
    s.add_argument("--round", type=int, default=1)
    s.add_argument("--seed", type=int, default=3)
    s.add_argument("--background", type=int, default=-1)
    s.add_argument("--out", required=True)
    s = sub.add_parser("plan")
    s.add_argument("--db", required=True)
    s.add_argument("--setup", required=True)
    s.add_argument("--requests", required=True)
    s.add_argument("--fill")
    s.add_argument("--out")
    s = sub.add_parser("report")
    s.add_argument("--results", required=True)
    s.add_argument("--fill", required=True)
    s.add_argument("--rooms", type=int, required=True)
    a = p.parse_args()
    {"setup": cmd_setup, "probe": cmd_probe, "fill": cmd_fill, "requests": cmd_requests, "latency": cmd_latency,
     "ingest": cmd_ingest, "plan": cmd_plan, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
