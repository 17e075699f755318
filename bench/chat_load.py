"""Live room join storm and chat fan-out: N websocket clients in one talk, Arena beside a bare
Flask-SocketIO server and Node's socket.io server.

    .venv/bin/pip install -r bench/requirements.txt && (cd bench && npm ci)    # or: make bench
    .venv/bin/python bench/chat_load.py [--clients 2000,5000] [--rate 10] [--senders 25] [--repeat 3]
                                        [--warmup 5] [--duration 20] [--servers bare,arena,node]
                                        [--arena-ref GIT_REF] [--json]

For each round (--repeat), each client count and each server, one after the other, with a
fresh server each time:

  arena  `python -m server serve` under eventlet in a subprocess on a free port of 127.0.0.1,
         with SQLite in a temporary folder after `python -m server migrate` and
         `python -m server load-demo` (the same steps as start_live_server in tests/conftest.py).
         Persistence, moderation checks, flood limits (5 messages per 10 s per participant),
         presence and the origin check are all on, as shipped.
  bare   bench/bare_server.py: Flask-SocketIO under eventlet with one namespace that broadcasts
         each message to the room, nothing else. Same async mode, max_http_buffer_size, ping
         settings and origin check as Arena, and the same WSGI set-up as Arena's _serve
         (TCP_NODELAY listener with a backlog of 2,048, eventlet.wsgi max_size 20,000,
         gc.freeze() after start-up).
  node   bench/node_server.js: npm's socket.io (locked in bench/package-lock.json) doing what
         bare does, with the same ping settings, maxHttpBufferSize, origin check, no
         permessage-deflate, backlog 2,048 and TCP_NODELAY: the reference implementation.

--arena-ref REF runs Arena from a commit (`git archive` into the temporary folder, with the
work tree's static/vendor and compiled translations) instead of the work tree, so that edits
under server/ made while the benchmark runs cannot change it, and a before/after pair can be
measured from one tree.

The join storm: every client process first fetches its participant cookies, untimed (each
client GETs the talk page once, as the browser that opened it did; readers too, unless
--no-reader-cookies; bare and node have no talk page, so their clients have none), then at
one instant every client of every process opens its websocket, enters /live and joins
(writers set their name first), all at once (--connect-concurrency 0, the default; a number
caps the handshakes in flight per process). "All joined in" is the time from that instant to
the last join ack; join p50 / p99 are over the clients; the server's CPU over the storm (its
process tree, utime + stime from /proc) divided by the joins gives the CPU per join.

The clients speak Engine.IO 4 / Socket.IO 5 text frames themselves over the `websockets`
package (asyncio; uvloop when installed): `ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket`,
answer the server's ping "2" with "3", `40/live,` to enter the namespace, `42/live,ID["join",...]`
with an ack id. --senders of them (default 25) are writers: each sets a name, joins, and the
writers together send --rate chat messages a second (default 10) round robin, so each writer
sends rate/senders a second (0.4/s: under Arena's per-participant limit). Each body begins
with the send time (time.time_ns()); each message has a unique client_id. The other clients
only read. Everyone is in the room; all servers send a message to everyone but its writer (who
gets it in the ack), so each message makes clients - 1 deliveries.
By default the clients do not offer permessage-deflate; --compression deflate offers it, as
browsers do (eventlet accepts it and then compresses every frame for every connection).

Readers run in --procs worker processes (default 2), writers in one more, so the clients are
not in the server's process. The machine is the same: clients and server share its cores.
The client processes freeze and switch off their own cycle collector once connected, so that
a collection in the load generator is not counted as server latency.

Measured in the client processes, on the machine's clock, for frames received inside the
window [warmup, warmup + duration): deliveries/s (all `message` events received by all clients
/ window), latency = receive time - send time (p50, p99, max), and, after a drain, how many
clients are still connected. Also: the server's CPU over the window (and per delivery; the
server's whole process tree, so an Arena of several processes counts whole), the
clients' CPU, the worst event-loop lag in the client processes (a loaded generator shows it),
the acks (ok or refused) of the sent messages, the share of the window's messages that reached
every client by the end of the drain, the server's RSS, and how long the joins took.

The machine may be shared. Before each run the script waits (at most --quiet-wait s) until
other processes keep fewer than --quiet-cores busy, and over each window it measures what
other processes used (the machine's busy time from /proc/stat minus the server's and the
clients'). The verdicts compare Arena with bare (issue 10's targets: all joined in <= 1.3 x,
deliveries/s >= 0.95 x, p99 <= 1.25 x, at every client count) and with node (the reference,
no target; CPU per delivery and per join too), round by round, using only rounds in which both
runs were clean (other processes at most --clean-cores), unless none was.

Every loop is bounded in count and in time; only 127.0.0.1 is contacted; everything stops by
itself. RLIMIT_NOFILE's soft limit is raised to the hard limit in every process.

By default a Markdown table goes to stdout and progress to stderr; --json prints the results
as JSON instead (the table then goes to stderr). --py-spy DIR records py-spy's collapsed stacks
(idle included, subprocesses too) of each server over the join storm (SERVER-N-join.txt) and
over the measured window (SERVER-N-fanout.txt); `.venv/bin/pip install py-spy` first; diagnosis
only: sampling slows the server it samples.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from array import array
from datetime import date, datetime
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "/live"
DEMO_EVENT = "sociala-medier-i-offentlig-sektor"
DEMO_TALK = "skapa-arenor"
FLOOD_MESSAGES, FLOOD_WINDOW_SECONDS = 5, 10  # Arena's defaults, set explicitly: limits on

# Targets from issue 10, item 3, at 2,000 and 5,000 clients, in the same run.
TARGET_JOIN_RATIO = 1.3         # Arena admits a join storm in <= 1.3 x the bare server's time
TARGET_DELIVERIES_RATIO = 0.95  # Arena's deliveries/s >= 0.95 x the bare server's
TARGET_P99_RATIO = 1.25         # Arena's p99 <= 1.25 x the bare server's

MESSAGE_PREFIX = f'42{NAMESPACE},["message",'
BATCH_PREFIX = f'42{NAMESPACE},["batch",'  # Arena with chat.push_interval_ms: several messages a frame
ARENA_PUSH_INTERVAL_MS: int | None = None   # --push-interval-ms; None: Arena's default (config.toml)
ACK_PREFIX = f"43{NAMESPACE},"
NS_PREFIX = f"40{NAMESPACE},"
SENT_AT = re.compile(r'"body":\s*"(\d+) ')
ACK_ID = re.compile(r"43/live,(\d+)\[")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and of all its living descendants (a server that runs
    several processes, or a worker, counts whole). Read before and after a window."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    family, frontier = {pid}, [pid]
    while frontier:  # bounded: each pid enters once
        children = [child for child, parent in parents.items() if parent in frontier and child not in family]
        family.update(children)
        frontier = children
    total = 0.0
    for member in family:
        try:
            total += cpu_seconds(member)
        except (OSError, ValueError, IndexError):
            pass  # it ended between the listing and the read
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return total - idle, total


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Cores kept busy between two machine_ticks() readings (by anything on the machine)."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return (os.cpu_count() or 1) * busy / total if total else 0.0


def wait_until_quiet(limit_cores: float, max_wait: float) -> float:
    """Wait (bounded) for the machine to be quiet before a run: other work on the same cores
    would be counted against whichever server runs then. Returns the last 1 s reading."""
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_ticks()
        time.sleep(1.0)
        load = busy_cores(before, machine_ticks())
        if load <= limit_cores or time.monotonic() >= deadline:
            if load > limit_cores:
                log(f"warning: the machine is not quiet ({load:.2f} cores busy before the run); going on")
            return load
        log(f"waiting for the machine to be quiet ({load:.2f} cores busy by other processes)")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- servers ------------------------------------------------------------------------------

class Server:
    def __init__(self, kind: str, workdir: Path, arena_root: Path = PROJECT_ROOT) -> None:
        self.kind = kind
        self.workdir = workdir
        self.arena_root = arena_root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.talk_id = 1
        self.talk_page = ""
        self.log_path = workdir / f"{kind}-{self.port}.log"

    def start(self) -> None:
        if self.kind == "arena":
            self._start_arena()
        elif self.kind == "node":
            self.process = subprocess.Popen(
                ["node", str(PROJECT_ROOT / "bench" / "node_server.js"), "--port", str(self.port)],
                cwd=PROJECT_ROOT / "bench", stdout=self.log_path.open("w"), stderr=subprocess.STDOUT)
        else:
            self.process = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "bench" / "bare_server.py"), "--port", str(self.port)],
                cwd=PROJECT_ROOT, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._wait_healthy()

    def _start_arena(self) -> None:
        data = self.workdir / f"arena-{self.port}"
        data.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
        env.update({
            "ARENA_SERVER__PORT": str(self.port),
            "ARENA_SERVER__BASE_URL": self.url,
            "ARENA_SERVER__ASYNC_MODE": "eventlet",
            "ARENA_SERVER__INSTANCE_PATH": str(data / "instance"),
            "ARENA_DATABASE__URL": f"sqlite:///{data / 'arena.db'}",
            "ARENA_MEDIA__RECORDINGS_DIR": str(data / "recordings"),
            "ARENA_CHAT__FLOOD_MESSAGES": str(FLOOD_MESSAGES),
            "ARENA_CHAT__FLOOD_WINDOW_SECONDS": str(FLOOD_WINDOW_SECONDS),
            "PYTHONUNBUFFERED": "1",
        })
        if ARENA_PUSH_INTERVAL_MS is not None:
            env["ARENA_CHAT__PUSH_INTERVAL_MS"] = str(ARENA_PUSH_INTERVAL_MS)
        for args in (("migrate",), ("load-demo", "--date", date.today().isoformat())):
            result = subprocess.run([sys.executable, "-m", "server", *args], cwd=self.arena_root, env=env,
                                    capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise RuntimeError(f"python -m server {' '.join(args)} failed: {result.stderr}")
        with sqlite3.connect(data / "arena.db") as connection:
            row = connection.execute("SELECT id FROM talks WHERE slug = ?", (DEMO_TALK,)).fetchone()
        if row is None:
            raise RuntimeError(f"the demo has no talk {DEMO_TALK!r}")
        self.talk_id = int(row[0])
        self.talk_page = f"{self.url}/events/{DEMO_EVENT}/{DEMO_TALK}"
        self.process = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=self.arena_root, env=env,
                                        stdout=self.log_path.open("w"), stderr=subprocess.STDOUT)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.kind} server exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the {self.kind} server did not answer within 30 s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def export_arena(ref: str, workdir: Path) -> Path:
    """Arena's tracked files at `ref` (git archive, read-only for the repository) in workdir,
    with the work tree's built files that git does not track (static/vendor, compiled
    translations) copied beside them. Another engineer's edits under server/ then cannot
    change a run half-way."""
    root = workdir / "arena-src"
    root.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=PROJECT_ROOT, capture_output=True,
                             timeout=120, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True, timeout=120)
    vendor = PROJECT_ROOT / "static" / "vendor"
    if vendor.is_dir():
        shutil.copytree(vendor, root / "static" / "vendor", dirs_exist_ok=True)
    for compiled in (PROJECT_ROOT / "translations").rglob("*.mo"):
        target = root / compiled.relative_to(PROJECT_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(compiled, target)
    return root


# -- the client processes -------------------------------------------------------------------

class Stats:
    """What one client process measures; sent to the main process at the end."""

    def __init__(self) -> None:
        self.window = (0, 0)          # receive times counted (time.time_ns)
        self.sent_window = (0, 0)     # send times whose messages count towards completeness
        self.deliveries = 0           # message events received inside the window
        self.latencies_us = array("q")
        self.max_us = 0
        self.completed = 0            # deliveries of messages sent inside the window, any time
        self.pings = 0
        self.other_events = 0


class Client:
    """One websocket speaking Engine.IO 4 / Socket.IO 5 text frames."""

    def __init__(self, url: str, stats: Stats, headers: dict[str, str], compression: str | None) -> None:
        self.url = url
        self.stats = stats
        self.headers = headers
        self.compression = compression
        self.ws: Any = None
        self.next_ack = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None
        self.closed_reason: str | None = None

    async def open(self, timeout: float) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.url, compression=self.compression, additional_headers=self.headers or None,
                                proxy=None, open_timeout=timeout, ping_interval=None, close_timeout=2,
                                max_size=2 ** 22, max_queue=64)
        opening = await asyncio.wait_for(self.ws.recv(), timeout)
        if not opening.startswith("0{"):
            raise RuntimeError(f"no Engine.IO open packet: {opening[:80]!r}")
        await self.ws.send(NS_PREFIX)
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            if frame.startswith(NS_PREFIX):
                break
            if frame.startswith(f"44{NAMESPACE},"):
                raise RuntimeError(f"namespace refused: {frame[:120]}")
            if frame == "2":
                await self.ws.send("3")
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def call(self, event: str, data: Any, timeout: float) -> Any:
        """Emit with an ack id and wait for the ack."""
        future = self.emit(event, data)
        return await asyncio.wait_for(future, timeout)

    def emit(self, event: str, data: Any) -> asyncio.Future:
        self.next_ack += 1
        ack_id = self.next_ack
        future = asyncio.get_running_loop().create_future()
        self.pending[ack_id] = future
        frame = f"42{NAMESPACE},{ack_id}" + json.dumps([event, data], separators=(",", ":"), ensure_ascii=False)
        asyncio.get_running_loop().create_task(self._send(frame, future))
        return future

    async def _send(self, frame: str, future: asyncio.Future) -> None:
        try:
            await self.ws.send(frame)
        except Exception as error:  # the connection closed under us
            if not future.done():
                future.set_exception(error)

    async def _read(self) -> None:
        stats = self.stats
        ws = self.ws
        try:
            async for frame in ws:
                if frame.startswith(MESSAGE_PREFIX) or frame.startswith(BATCH_PREFIX):
                    now = time.time_ns()
                    matches = SENT_AT.findall(frame)  # a batch carries several messages
                    if not matches:
                        stats.other_events += 1
                        continue
                    start, end = stats.window
                    for sent_text in matches:
                        sent = int(sent_text)
                        if start <= now < end:
                            latency = (now - sent) // 1000
                            stats.deliveries += 1
                            stats.latencies_us.append(latency)
                            if latency > stats.max_us:
                                stats.max_us = latency
                        if stats.sent_window[0] <= sent < stats.sent_window[1]:
                            stats.completed += 1
                elif frame == "2":
                    stats.pings += 1
                    await ws.send("3")
                elif frame.startswith(ACK_PREFIX):
                    match = ACK_ID.match(frame)
                    future = self.pending.pop(int(match.group(1)), None) if match else None
                    if future is not None and not future.done():
                        future.set_result(json.loads(frame[match.end() - 1:])[0])
                else:
                    stats.other_events += 1
            self.closed_reason = f"closed by server ({ws.close_code})"
        except Exception as error:  # ConnectionClosedError and the like
            self.closed_reason = f"{type(error).__name__}: {error}"[:200]
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(self.closed_reason or "closed"))
            self.pending.clear()

    @property
    def connected(self) -> bool:
        return self.reader is not None and not self.reader.done()

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:
                pass
        if self.reader is not None:
            self.reader.cancel()


def participant_cookie(talk_page: str) -> str:
    """GET the talk page with a cookie jar, as a browser does; the Cookie header to send."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(talk_page, timeout=30) as response:
        response.read()
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def client_process(pipe: Any, config: dict[str, Any]) -> None:
    """Entry point of a client process (multiprocessing, spawn)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop
    raise_nofile()
    if config["loop"] == "uvloop":
        import uvloop

        uvloop.install()
    try:
        asyncio.run(asyncio.wait_for(_client_main(pipe, config), config["hard_deadline"]))
    except Exception as error:
        pipe.send(("error", f"{type(error).__name__}: {error}"))


async def _client_main(pipe: Any, config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    role, count, url = config["role"], config["count"], config["ws_url"]
    compression = None if config["compression"] == "none" else "deflate"
    clients: list[Client] = []
    errors: dict[str, int] = {}
    failed = 0

    # Before the storm, untimed: the participant cookies, as each browser got one from the
    # talk page it opened. Writers always have one; readers too with --reader-cookies (then
    # each reader is a participant of its own, as in a real room, and Arena records it).
    cookies: list[str] = [""] * count
    wants_cookie = config["talk_page"] and (role == "sender" or config["reader_cookies"])
    if wants_cookie:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:
            cookies = list(pool.map(participant_cookie, [config["talk_page"]] * count, timeout=600))
    pipe.send(("prepared", {"cookies": sum(1 for c in cookies if c)}))
    command = await loop.run_in_executor(None, pipe.recv)
    if command[0] != "storm":
        return
    storm_ns = command[1]

    # The join storm: at storm_ns every client of every process connects and joins at once
    # (--connect-concurrency 0, the default) or at most that many at a time per process.
    concurrency = config["connect_concurrency"] or count
    semaphore = asyncio.Semaphore(max(1, concurrency))
    connect_deadline = time.monotonic() + max(0.0, (storm_ns - time.time_ns()) / 1e9) + config["connect_timeout"]
    join_ms = array("d")

    async def connect_one(index: int) -> None:
        nonlocal failed
        async with semaphore:
            remaining = connect_deadline - time.monotonic()
            if remaining <= 0:
                failed += 1
                errors["connect deadline passed"] = errors.get("connect deadline passed", 0) + 1
                return
            headers = {"Cookie": cookies[index]} if cookies[index] else {}
            client = Client(url, stats, headers, compression)
            try:
                await client.open(remaining)
                if role == "sender":
                    ack = await client.call("set_name", {"name": f"Bänk {config['first_index'] + index}"},
                                            max(1.0, connect_deadline - time.monotonic()))
                    if not ack.get("ok"):
                        raise RuntimeError(f"set_name refused: {ack}")
                ack = await client.call("join", {"talk_id": config["talk_id"]},
                                        max(1.0, connect_deadline - time.monotonic()))
                if not ack.get("ok"):
                    raise RuntimeError(f"join refused: {ack}")
                join_ms.append((time.time_ns() - storm_ns) / 1e6)
                clients.append(client)
            except Exception as error:
                failed += 1
                key = f"{type(error).__name__}: {error}"[:160]
                errors[key] = errors.get(key, 0) + 1
                await client.close()

    await asyncio.sleep(max(0.0, (storm_ns - time.time_ns()) / 1e9))
    started = time.monotonic()
    await asyncio.gather(*(connect_one(i) for i in range(count)))
    # The instrument must not pause on its own: the connections' objects go to the permanent
    # generation and the cycle collector stays off until the end (the hot path makes no cycles;
    # the run is bounded). Without this a full collection in a client process shows up as
    # hundreds of milliseconds of "latency" that the server did not cause.
    gc.collect()
    gc.freeze()
    gc.disable()
    pipe.send(("ready", {"connected": len(clients), "failed": failed, "errors": errors,
                         "ramp_seconds": round(time.monotonic() - started, 2),
                         "join_ms": join_ms.tobytes()}))

    command = await loop.run_in_executor(None, pipe.recv)
    if command[0] != "go":
        for client in clients:
            await client.close()
        return
    go_ns, window_start, window_end, stop_ns = command[1:]
    stats.window = (window_start, window_end)
    stats.sent_window = (window_start, window_end)

    def sleep_until(ns: int):
        return asyncio.sleep(max(0.0, (ns - time.time_ns()) / 1e9))

    # Event-loop lag over the window: a loaded generator shows up here, not in the server.
    lags_ms: list[float] = []
    cpu: dict[str, float] = {}

    async def monitor() -> None:
        await sleep_until(window_start)
        cpu["start"] = time.process_time()
        for _ in range(int((window_end - window_start) / 50e6) + 1):  # bounded: one tick per 50 ms
            if time.time_ns() >= window_end:
                break
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            lags_ms.append((time.perf_counter() - before - 0.05) * 1000)
        cpu["end"] = time.process_time()

    sends: dict[str, Any] = {"sent": 0, "sent_in_window": 0, "acked_ok": 0, "refused": {}, "ack_errors": 0,
                             "late_seconds_max": 0.0}

    async def send_schedule() -> None:
        rate = config["rate"]
        acks: list[asyncio.Future] = []
        total = int((window_end - go_ns) / 1e9 * rate)  # bounded: messages until the window ends
        for k in range(total):
            due = go_ns + int(k * 1e9 / rate)
            await sleep_until(due)
            if not clients:
                break
            sends["late_seconds_max"] = max(sends["late_seconds_max"], (time.time_ns() - due) / 1e9)
            client = clients[k % len(clients)]
            if not client.connected:
                continue
            now = time.time_ns()
            body = f"{now} Hej från bänken! Meddelande {k}: hur gör ni med textning i livesändningar?"
            acks.append(client.emit("send_message", {"body": body, "client_id": f"load-{config['run']}-{k}"}))
            sends["sent"] += 1
            if window_start <= now < window_end:
                sends["sent_in_window"] += 1
        for future in acks:
            try:
                ack = await asyncio.wait_for(future, max(0.1, (stop_ns - time.time_ns()) / 1e9))
            except Exception:
                sends["ack_errors"] += 1
                continue
            if ack.get("ok"):
                sends["acked_ok"] += 1
            else:
                code = ack.get("error", "?")
                sends["refused"][code] = sends["refused"].get(code, 0) + 1

    tasks = [loop.create_task(monitor())]
    if role == "sender":
        tasks.append(loop.create_task(send_schedule()))
    await sleep_until(stop_ns)
    for task in tasks:
        try:
            await asyncio.wait_for(task, 5)
        except Exception:
            task.cancel()

    connected = sum(1 for client in clients if client.connected)
    closed_reasons: dict[str, int] = {}
    for client in clients:
        if not client.connected:
            reason = client.closed_reason or "?"
            closed_reasons[reason] = closed_reasons.get(reason, 0) + 1
    lags_ms.sort()
    result = {
        "role": role, "clients": len(clients), "connected_at_end": connected, "closed": closed_reasons,
        "deliveries": stats.deliveries, "completed": stats.completed, "max_us": stats.max_us,
        "pings": stats.pings, "other_events": stats.other_events,
        "cpu_seconds": cpu.get("end", 0.0) - cpu.get("start", 0.0),
        "loop_lag_ms_p99": lags_ms[int(len(lags_ms) * 0.99)] if lags_ms else None,
        "loop_lag_ms_max": lags_ms[-1] if lags_ms else None,
        "sends": sends if role == "sender" else None,
    }
    pipe.send(("result", result, stats.latencies_us.tobytes()))
    await asyncio.gather(*(client.close() for client in clients))


# -- one run ------------------------------------------------------------------------------

def percentile(sorted_values: array | list, fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values))) - 1))
    return sorted_values[index]


def start_py_spy(args: argparse.Namespace, pid: int, name: str, duration: float | None) -> subprocess.Popen | None:
    """py-spy's collapsed stacks ("raw"), idle frames included: where the wall time goes.
    Without a duration it records until SIGINT (stop_py_spy)."""
    if not args.py_spy:
        return None
    out = Path(args.py_spy) / f"{name}.txt"
    py_spy = str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "-p", str(pid), "-r", "100", "--idle", "--subprocesses", "--format", "raw",
               "-o", str(out)]
    if duration is not None:
        command += ["-d", str(int(duration))]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def stop_py_spy(spy: subprocess.Popen | None, interrupt: bool) -> None:
    if spy is None:
        return
    if interrupt and spy.poll() is None:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.terminate()
        spy.wait(timeout=10)


class MetricsScraper:
    """--scrape-metrics: over the measured window, GET /metrics every `interval` seconds, each
    followed by GET /healthz (one database round trip, the cheapest page with work in it), both
    timed on fresh connections, and keep the first and last scrape's figures (docs/benchmarks.md,
    "/metrics under the chat benchmark")."""

    FIGURES = ('arena_socketio_connections{namespace="/live"}', "arena_live_rooms",
               'arena_live_entries_per_minute{kind="message"}', 'arena_live_entries_total{kind="message"}',
               "arena_fanout_oldest_wait_seconds", "arena_fanout_delay_seconds_count",
               "arena_fanout_delay_seconds_sum", 'arena_fanout_delay_seconds_bucket{le="0.05"}',
               'arena_fanout_delay_seconds_bucket{le="0.1"}', "arena_database_up",
               "process_resident_memory_bytes")

    def __init__(self, url: str, interval: float, until_ns: int) -> None:
        self.url, self.interval, self.until_ns = url, interval, until_ns
        self.metrics_ms: list[float] = []
        self.healthz_ms: list[float] = []
        self.scrapes: list[dict[str, float]] = []
        self.size = 0
        self.errors = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> MetricsScraper:
        self.thread.start()
        return self

    def _timed(self, path: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            body = response.read()
        return (time.perf_counter() - started) * 1000, body

    def _run(self) -> None:
        while time.time_ns() < self.until_ns:
            try:
                took, body = self._timed("/metrics")
                self.metrics_ms.append(took)
                self.size = len(body)
                self.scrapes.append(self._figures(body.decode()))
                self.healthz_ms.append(self._timed("/healthz")[0])
            except Exception:  # noqa: BLE001 - counted; the benchmark goes on
                self.errors += 1
            time.sleep(self.interval)

    def _figures(self, text: str) -> dict[str, float]:
        found = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                if name in self.FIGURES:
                    found[name] = float(value)
        return found

    def summary(self) -> dict[str, Any]:
        self.thread.join(timeout=60)
        first, last = (self.scrapes[0], self.scrapes[-1]) if self.scrapes else ({}, {})
        pushed = last.get("arena_fanout_delay_seconds_count", 0) - first.get("arena_fanout_delay_seconds_count", 0)
        delay = last.get("arena_fanout_delay_seconds_sum", 0) - first.get("arena_fanout_delay_seconds_sum", 0)

        def ms(values: list[float]) -> dict[str, float]:
            ordered = sorted(values)
            return {"median": statistics.median(ordered), "max": ordered[-1], "n": len(ordered)} if ordered else {}

        return {"metrics_ms": ms(self.metrics_ms), "healthz_ms": ms(self.healthz_ms), "scrape_bytes": self.size,
                "errors": self.errors, "last": last,
                "window_pushes": pushed, "window_push_delay_mean_ms": (1000 * delay / pushed) if pushed else None}


def run_one(kind: str, clients: int, args: argparse.Namespace, workdir: Path, run_number: int) -> dict[str, Any]:
    background = wait_until_quiet(args.quiet_cores, args.quiet_wait)
    server = Server(kind, workdir, args.arena_root)
    log(f"{kind}, {clients} clients: starting the server")
    server.start()
    context = mp.get_context("spawn")
    senders = min(args.senders, clients)
    readers = clients - senders
    shares = [readers // args.procs + (1 if i < readers % args.procs else 0) for i in range(args.procs)]
    base = {
        "ws_url": f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
        "talk_id": server.talk_id, "compression": args.compression, "loop": args.loop,
        "reader_cookies": args.reader_cookies,
        "connect_concurrency": args.connect_concurrency, "connect_timeout": args.connect_timeout,
        "rate": args.rate, "run": f"{kind}{clients}r{run_number}-{os.getpid()}",
        "hard_deadline": args.connect_timeout + args.warmup + args.duration + args.drain + 120,
    }
    configs = [{**base, "role": "sender", "count": senders, "talk_page": server.talk_page, "first_index": 0}]
    configs += [{**base, "role": "reader", "count": share, "talk_page": server.talk_page, "first_index": 0}
                for share in shares if share > 0]
    processes, pipes = [], []
    try:
        for config in configs:
            parent, child = context.Pipe()
            process = context.Process(target=client_process, args=(child, config), daemon=True)
            process.start()
            processes.append(process)
            pipes.append(parent)

        # Every process first gets its cookies (untimed), then all storm at the same instant.
        deadline = time.monotonic() + 600
        cookies = 0
        for pipe in pipes:
            if not pipe.poll(max(0.1, deadline - time.monotonic())):
                raise RuntimeError("a client process did not prepare in time")
            message = pipe.recv()
            if message[0] != "prepared":
                raise RuntimeError(f"a client process failed: {message[1]}")
            cookies += message[1]["cookies"]
        time.sleep(1.0)  # let the cookie requests' connections close
        storm_ns = time.time_ns() + 500_000_000
        for pipe in pipes:
            pipe.send(("storm", storm_ns))
        time.sleep(max(0.0, (storm_ns - time.time_ns()) / 1e9))
        storm_cpu_start = tree_cpu_seconds(server.process.pid)
        storm_machine_start = machine_ticks()
        storm_started = time.monotonic()
        spy = start_py_spy(args, server.process.pid, f"{kind}-{clients}-join", None)

        ready = []
        deadline = time.monotonic() + args.connect_timeout + 60
        try:
            for pipe in pipes:
                if not pipe.poll(max(0.1, deadline - time.monotonic())):
                    raise RuntimeError("a client process did not report in time")
                message = pipe.recv()
                if message[0] != "ready":
                    raise RuntimeError(f"a client process failed: {message[1]}")
                ready.append(message[1])
        finally:
            stop_py_spy(spy, interrupt=True)
        join_ms = array("d")
        for r in ready:
            join_ms.frombytes(r.pop("join_ms"))
        join_ms = array("d", sorted(join_ms))
        join_seconds = join_ms[-1] / 1000 if join_ms else float("nan")
        # The server's CPU from the storm until the last client process reported (a little
        # idle time after the last ack is included).
        storm_cpu = tree_cpu_seconds(server.process.pid) - storm_cpu_start
        storm_wall = time.monotonic() - storm_started
        storm_busy = busy_cores(storm_machine_start, machine_ticks())
        connected = sum(r["connected"] for r in ready)
        errors: dict[str, int] = {}
        for r in ready:
            for key, value in r["errors"].items():
                errors[key] = errors.get(key, 0) + value
        log(f"{kind}, {clients} clients: {connected} joined in {join_seconds:.1f} s (storm; p50 "
            f"{percentile(join_ms, 0.5) / 1000:.1f} s), server CPU {storm_cpu:.1f} s, {cookies} with cookies"
            + (f"; failures: {errors}" if errors else ""))
        if not server.alive():
            raise RuntimeError(f"the {kind} server died: {server.log_path.read_text()[-2000:]}")

        go_ns = time.time_ns() + 1_000_000_000
        window_start = go_ns + int(args.warmup * 1e9)
        window_end = window_start + int(args.duration * 1e9)
        stop_ns = window_end + int(args.drain * 1e9)
        for pipe in pipes:
            pipe.send(("go", go_ns, window_start, window_end, stop_ns))

        time.sleep(max(0.0, (window_start - time.time_ns()) / 1e9))
        server_cpu_start = tree_cpu_seconds(server.process.pid)
        machine_start = machine_ticks()
        spy = start_py_spy(args, server.process.pid, f"{kind}-{clients}-fanout", args.duration)
        scraper = (MetricsScraper(server.url, args.scrape_metrics, window_end).start()
                   if kind == "arena" and args.scrape_metrics else None)
        time.sleep(max(0.0, (window_end - time.time_ns()) / 1e9))
        server_cpu = tree_cpu_seconds(server.process.pid) - server_cpu_start
        machine_busy = busy_cores(machine_start, machine_ticks())
        server_rss_mb = rss_mb(server.process.pid)
        scraped = scraper.summary() if scraper is not None else None
        if scraped is not None:
            log(f"{kind}, {clients} clients: /metrics {scraped}")
        log(f"{kind}, {clients} clients: window over, draining")

        results, latencies = [], array("q")
        deadline = time.monotonic() + args.drain + 60
        for pipe in pipes:
            if not pipe.poll(max(0.1, deadline - time.monotonic())):
                raise RuntimeError("a client process did not send its results in time")
            message = pipe.recv()
            if message[0] != "result":
                raise RuntimeError(f"a client process failed: {message[1]}")
            results.append(message[1])
            latencies.frombytes(message[2])
        stop_py_spy(spy, interrupt=False)
        server_alive = server.alive()
    finally:
        for pipe in pipes:  # a process still waiting for "go" (an error above) stops at once
            try:
                pipe.send(("stop",))
            except OSError:
                pass
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        server.stop()

    ordered = sorted(latencies)
    deliveries = sum(r["deliveries"] for r in results)
    sender = results[0]["sends"]
    connected_end = sum(r["connected_at_end"] for r in results)
    closed: dict[str, int] = {}
    for r in results:
        for key, value in r["closed"].items():
            closed[key] = closed.get(key, 0) + value
    expected = sender["sent_in_window"] * (connected - 1)  # both servers skip the sender
    client_cpu = sum(r["cpu_seconds"] for r in results)
    return {
        "server": kind, "clients": clients, "joined": connected, "join_failures": errors,
        "ramp_seconds": max(r["ramp_seconds"] for r in ready),
        # The join storm: from the instant every client started connecting to each one's join ack.
        "join_seconds": join_seconds, "join_p50_s": percentile(join_ms, 0.50) / 1000,
        "join_p99_s": percentile(join_ms, 0.99) / 1000, "reader_cookies": cookies,
        "join_server_cpu_s": storm_cpu, "join_wall_s": storm_wall,
        "join_server_cpu_ms_per_join": (1000 * storm_cpu / connected) if connected else None,
        "join_machine_busy_cores": storm_busy,
        "msgs_per_s_sent": sender["sent_in_window"] / args.duration,
        "deliveries_per_s": deliveries / args.duration,
        "p50_ms": percentile(ordered, 0.50) / 1000, "p99_ms": percentile(ordered, 0.99) / 1000,
        "max_ms": max((r["max_us"] for r in results), default=0) / 1000,
        "connected_at_end": connected_end, "closed": closed, "server_alive": server_alive,
        "completeness": (sum(r["completed"] for r in results) / expected) if expected else None,
        "sends": sender,
        "server_cpu_pct": 100 * server_cpu / args.duration,
        "server_cpu_us_per_delivery": (1e6 * server_cpu / deliveries) if deliveries else None,
        "client_cpu_pct": 100 * client_cpu / args.duration,
        "client_loop_lag_ms_max": max((r["loop_lag_ms_max"] or 0) for r in results),
        # Everything busy on the machine over the window, in cores: server + clients + the
        # kernel's loopback work not charged to them + anything else running (the last is
        # what --quiet-cores guards against; "background_cores" is the reading before the run).
        "machine_busy_cores": machine_busy, "background_cores": background,
        "server_rss_mb": server_rss_mb,
        # Other processes' share of the machine over the window: what was busy minus what the
        # server and the clients used (the kernel's loopback work is charged to them).
        "other_cores": max(0.0, machine_busy - (server_cpu + client_cpu) / args.duration),
        "pings_answered": sum(r["pings"] for r in results),
        "metrics": scraped,
    }


# -- report -------------------------------------------------------------------------------

def table(rows: list[dict[str, Any]]) -> str:
    several = len({row.get("round", 1) for row in rows}) > 1

    def name(row: dict[str, Any]) -> str:
        return f"{row['server']} (round {row['round']})" if several else row["server"]

    lines = [
        "Join storm (every client connects and joins at once):",
        "",
        "| server | clients | joined | all joined in | join p50 | join p99 | server CPU | server CPU per join "
        "| failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        failures = sum(row["join_failures"].values())
        lines.append(
            f"| {name(row)} | {row['clients']:,} | {row['joined']:,} | {row['join_seconds']:.1f} s "
            f"| {row['join_p50_s']:.1f} s | {row['join_p99_s']:.1f} s | {row['join_server_cpu_s']:.1f} s "
            f"| {row['join_server_cpu_ms_per_join'] or 0:.2f} ms | {failures:,} |")
    lines += [
        "",
        "Fan-out (10 messages a second by default, over the measured window):",
        "",
        "| server | clients | msgs/s sent | deliveries/s | p50 ms | p99 ms | max ms | connected at end "
        "| server CPU | server CPU per delivery | client CPU | other processes | client loop lag max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {name(row)} | {row['clients']:,} | {row['msgs_per_s_sent']:.1f} | {row['deliveries_per_s']:,.0f} "
            f"| {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['max_ms']:.1f} "
            f"| {row['connected_at_end']:,} / {row['clients']:,} | {row['server_cpu_pct']:.0f} % "
            f"| {row['server_cpu_us_per_delivery'] or 0:.1f} µs "
            f"| {row['client_cpu_pct']:.0f} % | {row['other_cores']:.2f} cores "
            f"| {row['client_loop_lag_ms_max']:.0f} ms |")
    return "\n".join(lines)


# (metric, label, the better direction, the target against bare or None)
COMPARED = [
    ("join_seconds", "time to admit all joins", "lower", TARGET_JOIN_RATIO),
    ("deliveries_per_s", "deliveries/s", "higher", TARGET_DELIVERIES_RATIO),
    ("p99_ms", "fan-out p99", "lower", TARGET_P99_RATIO),
    ("server_cpu_us_per_delivery", "server CPU per delivery", "lower", None),
    ("join_server_cpu_ms_per_join", "server CPU per join", "lower", None),
]


def verdicts(rows: list[dict[str, Any]], clean_cores: float) -> list[str]:
    """Arena against bare (the issue's targets) and against Node (the reference), at each client
    count. Each round's Arena row is compared with the same round's other row; rounds where
    other processes kept more than clean_cores busy during either run are left out (the machine
    is shared), unless no round is clean. The verdict is on the median ratio."""
    out = []
    rounds = sorted({row["round"] for row in rows})
    counts = sorted({row["clients"] for row in rows})
    by = {(row["server"], row["clients"], row["round"]): row for row in rows}

    def dirty(row: dict[str, Any]) -> bool:
        return row["other_cores"] > clean_cores

    for reference in ("bare", "node"):
        for clients in counts:
            pairs = [(by[("arena", clients, r)], by[(reference, clients, r)]) for r in rounds
                     if ("arena", clients, r) in by and (reference, clients, r) in by]
            if not pairs:
                continue
            clean = [(a, b) for a, b in pairs if not dirty(a) and not dirty(b)]
            note = (f"{len(clean)} of {len(pairs)} rounds clean" if clean else
                    f"no round clean (other processes used more than {clean_cores} cores)")
            pairs = clean or pairs
            for metric, label, _better, target in COMPARED:
                ratios = sorted(a[metric] / b[metric] for a, b in pairs if a[metric] is not None and b[metric])
                if not ratios:
                    continue
                median = statistics.median(ratios)
                each = ", ".join(f"{x:.2f}" for x in ratios)
                line = (f"{label} at {clients:,}: Arena / {reference} = {median:.2f} "
                        f"({pairs[0][0][metric]:.4g} / {pairs[0][1][metric]:.4g}"
                        f"{'; rounds: ' + each if len(ratios) > 1 else ''}; {note})")
                if reference == "bare" and target is not None:
                    met = median >= target if metric == "deliveries_per_s" else median <= target
                    line += f"; target {'>=' if metric == 'deliveries_per_s' else '<='} {target}: " \
                            f"{'met' if met else 'NOT met'}"
                out.append(line)
    for row in rows:
        if row["server"] == "arena" and row["clients"] >= 5000:
            held = row["connected_at_end"] == row["clients"] and row["joined"] == row["clients"]
            out.append(f"{row['clients']:,} clients held connected on Arena (round {row['round']}): "
                       f"{row['connected_at_end']:,} / {row['clients']:,}: {'met' if held else 'NOT met'}")
    return out


def machine_facts(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        import websockets

        ws_version = websockets.__version__
    except ImportError:
        ws_version = "missing"
    def git(*words: str) -> str:
        try:
            return subprocess.run(["git", *words], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        socketio_js = json.loads((PROJECT_ROOT / "bench" / "node_modules" / "socket.io" / "package.json")
                                 .read_text())["version"]
    except (OSError, ValueError, subprocess.SubprocessError):
        node, socketio_js = "missing", "missing"
    return {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "nproc": os.cpu_count(),
            "commit": git("rev-parse", "--short", "HEAD"),
            "arena_commit": (git("rev-parse", "--short", args.arena_ref) if args.arena_ref
                             else git("rev-parse", "--short", "HEAD")),
            "arena_from": "git archive" if args.arena_ref else "work tree",
            "server_changes_uncommitted": (False if args.arena_ref
                                           else bool(git("status", "--porcelain", "--", "server"))),
            "node": node, "socket.io (node)": socketio_js,
            "python": platform.python_version(), "platform": platform.platform(), "websockets": ws_version,
            "loop": args.loop, "rlimit_nofile": [soft, hard], "compression": args.compression}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="2000,5000", help="comma-separated client counts (default 2000,5000)")
    parser.add_argument("--servers", default="bare,arena,node",
                        help="which servers, in order (default bare,arena,node)")
    parser.add_argument("--rate", type=float, default=10.0, help="chat messages a second into the room")
    parser.add_argument("--senders", type=int, default=25, help="writing participants (default 25)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds after the window before counting")
    parser.add_argument("--procs", type=int, default=2, help="reader processes (writers get one more)")
    parser.add_argument("--connect-concurrency", type=int, default=0,
                        help="handshakes in flight per client process; 0 (default): all at once, a join storm")
    parser.add_argument("--reader-cookies", action=argparse.BooleanOptionalAction, default=True,
                        help="readers get a participant cookie of their own from the talk page first, as "
                             "browsers do (default; Arena only, untimed); --no-reader-cookies: anonymous readers")
    parser.add_argument("--arena-ref", metavar="GIT_REF",
                        help="run Arena from this commit (git archive into the temporary folder) instead of "
                             "the work tree: a before/after pair from one tree")
    parser.add_argument("--connect-timeout", type=float, default=180.0, help="seconds allowed to connect all")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every server and count, interleaved")
    parser.add_argument("--quiet-cores", type=float, default=0.3,
                        help="before each run wait until other processes keep fewer cores busy than this")
    parser.add_argument("--clean-cores", type=float, default=0.15,
                        help="a run is clean when other processes kept at most this many cores busy")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="longest wait for that, seconds")
    parser.add_argument("--compression", choices=("none", "deflate"), default="none",
                        help="offer permessage-deflate (browsers do; eventlet accepts it). Default none")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--py-spy", metavar="DIR",
                        help="record py-spy collapsed stacks of each server's window into DIR")
    parser.add_argument("--push-interval-ms", type=int, default=None,
                        help="Arena's chat.push_interval_ms: messages closer together share a frame "
                             "(default: Arena's own, config.toml)")
    parser.add_argument("--scrape-metrics", type=float, metavar="SECONDS", default=0,
                        help="Arena only: GET /metrics (and /healthz, to compare) every SECONDS over the window")
    parser.add_argument("--json", action="store_true", help="JSON results on stdout, the table on stderr")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (server logs)")
    args = parser.parse_args()
    global ARENA_PUSH_INTERVAL_MS
    ARENA_PUSH_INTERVAL_MS = args.push_interval_ms
    if args.loop == "auto":
        try:
            import uvloop  # noqa: F401

            args.loop = "uvloop"
        except ImportError:
            args.loop = "asyncio"
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if not counts or any(c < 1 or c > 20000 for c in counts) or any(k not in ("arena", "bare", "node") for k in kinds):
        parser.error("--clients takes 1..20000 each; --servers takes arena, bare and/or node")
    if "node" in kinds and not (PROJECT_ROOT / "bench" / "node_modules" / "socket.io").is_dir():
        parser.error("the node server needs npm's socket.io: (cd bench && npm ci) or make bench")
    if args.senders < 1 or args.rate <= 0 or args.duration <= 0 or args.procs < 1:
        parser.error("--senders, --rate, --duration and --procs must be positive")
    per_sender = args.rate / args.senders
    if per_sender * FLOOD_WINDOW_SECONDS >= FLOOD_MESSAGES:
        log(f"warning: each writer sends {per_sender * FLOOD_WINDOW_SECONDS:.1f} per {FLOOD_WINDOW_SECONDS} s, "
            f"at or over Arena's limit of {FLOOD_MESSAGES}: expect refusals")

    soft, hard = raise_nofile()
    need = max(counts) + 200
    if hard < need:
        log(f"warning: RLIMIT_NOFILE hard limit {hard} is below the {need} descriptors the server needs "
            f"for {max(counts):,} clients: connections past it will fail")
    workdir = Path(tempfile.mkdtemp(prefix="arena-chat-load-"))
    args.arena_root = PROJECT_ROOT
    if args.arena_ref:
        args.arena_root = export_arena(args.arena_ref, workdir)
    facts = machine_facts(args)
    log(f"machine: {facts}")
    rows: list[dict[str, Any]] = []
    try:
        run_number = 0
        order = [(count, kind) for _ in range(max(1, args.repeat)) for count in counts for kind in kinds]
        for count, kind in order:
            run_number += 1
            row = run_one(kind, count, args, workdir, run_number)
            row["round"] = (run_number - 1) // (len(counts) * len(kinds)) + 1
            rows.append(row)
            log(f"{kind}, {count} clients: {row['deliveries_per_s']:,.0f} deliveries/s, p50 {row['p50_ms']:.1f} ms, "
                f"p99 {row['p99_ms']:.1f} ms, connected {row['connected_at_end']}/{count}, "
                f"server CPU {row['server_cpu_pct']:.0f} %, client CPU {row['client_cpu_pct']:.0f} %, "
                f"machine {row['machine_busy_cores']:.2f} cores, acks ok {row['sends']['acked_ok']}, "
                f"refused {row['sends']['refused']}, completeness "
                f"{row['completeness'] if row['completeness'] is None else round(row['completeness'], 4)}")
            time.sleep(2)  # let the sockets of the last run close
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    report = table(rows) + "\n\n" + "\n".join(f"- {line}" for line in verdicts(rows, args.clean_cores))
    args.arena_root = str(args.arena_root)
    if args.json:
        print(report, file=sys.stderr)
        print(json.dumps({"machine": facts, "args": vars(args), "rows": rows}, indent=2, ensure_ascii=False))
    else:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
