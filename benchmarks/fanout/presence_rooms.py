#!/usr/bin/env python3
"""What a presence change costs a server that holds many rooms.

Usage: presence_rooms.py BINARY ROOMS CYCLES

Bob connects and disconnects a WebSocket CYCLES times (after 20 unmeasured cycles) while Ann, who shares the default
room with him, stays connected and waits for his `online` and `offline` presence each time. The server's CPU per
cycle is printed twice in the same run: with ROOMS extra rooms (two members each, neither Ann nor Bob, inserted
into the file with sqlite3 before the server starts, so the hub loads them) and, as the baseline, with none. The
difference is what the extra rooms cost a user's connect and disconnect. Needs the PyPI package `websockets`."""
import asyncio, json, os, sqlite3, subprocess, sys, tempfile, time, http.client, socket
import websockets

binary, extra_rooms, cycles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def measure(rooms):
    work = tempfile.mkdtemp()
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    config = os.path.join(work, "c.yaml")
    open(config, "w").write(f"""server:\n  host: 127.0.0.1\n  port: {port}\nroutes:\n  - path: "/w"\n    destination: "http://127.0.0.1:9/"\nsqlite:\n  database_path: "{work}/d.db"\nlogging:\n  level: warning\n""")
    def start():
        p = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2); c.request("GET", "/health/live"); c.getresponse().read(); return p
            except OSError: time.sleep(0.02)
        raise SystemExit("server did not start")
    def call(method, path, body=None, token=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if token: headers["Authorization"] = "Bearer " + token
        c.request(method, path, json.dumps(body) if body else None, headers)
        r = c.getresponse(); return json.loads(r.read() or b"null")
    p = start()
    ann = call("POST", "/api/v1/auth/register", {"username": "ann", "email": "ann@example.com", "password": "correct horse"})
    bob = call("POST", "/api/v1/auth/register", {"username": "bob", "email": "bob@example.com", "password": "correct horse"})
    p.terminate(); p.wait()
    db = sqlite3.connect(os.path.join(work, "d.db"))
    now = int(time.time() * 1000)
    base = db.execute("SELECT max(id) FROM chat_rooms").fetchone()[0]
    filler = db.execute("SELECT max(id) FROM chat_users").fetchone()[0]
    db.executemany("INSERT INTO chat_rooms (id, name, visibility, kind, created_at, updated_at) VALUES (?, ?, 'public', 'room', ?, ?)",
                   [(base + i + 1, f"r{i}", now, now) for i in range(rooms)])
    # Each room has two members that are neither ann nor bob (ann's and bob's own users sit in general only).
    db.executemany("INSERT INTO chat_members (room_id, user_id, role, joined_at, joined_position) VALUES (?, ?, 'member', ?, 0)",
                   [(base + i + 1, uid, now) for i in range(rooms) for uid in (ann["user"]["id"] + 100000 + i, ann["user"]["id"] + 200000 + i)])
    db.commit(); db.close()
    p = start()
    ticks = os.sysconf("SC_CLK_TCK")
    def cpu():
        f = open(f"/proc/{p.pid}/stat").read().split(")")[1].split(); return (int(f[11]) + int(f[12])) / ticks
    async def main():
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws?token={ann['access_token']}") as a:
            await a.recv()  # ready
            async def cycle():
                async with websockets.connect(f"ws://127.0.0.1:{port}/ws?token={bob['access_token']}") as b:
                    await b.recv()
                # ann hears bob online and offline: the hub's work for both is done
                seen = 0
                while seen < 2:
                    frame = json.loads(await a.recv())
                    if frame.get("type") == "presence": seen += 1
            for _ in range(20): await cycle()
            c0, t0 = cpu(), time.time()
            for _ in range(cycles): await cycle()
            return cpu() - c0, time.time() - t0
    used, wall = asyncio.run(main())
    p.terminate(); p.wait()
    print(f"rooms={rooms} cycles={cycles} server_cpu_ms_per_cycle={used * 1000 / cycles:.3f} wall_ms_per_cycle={wall * 1000 / cycles:.3f}", flush=True)


measure(extra_rooms)
measure(0)
