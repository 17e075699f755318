"""The live room whatever fails : Redis killed, a server
process killed, the database lost for a moment, Redis unreachable at start, SQLite under two
processes and 50 writers.

Everything runs on services of the module's own (tests/services.py): a Redis and a PostgreSQL
on free ports in a temporary folder, so they can be killed and restarted; the machine's own
services are never touched. Participants are `RoomClient`s (tests/live/room_client.py), which
keep the room as the browser does under the client's rule of docs/realtime.md, and write
through an outbox that retries `paused` and `unavailable` with the same client id.

The end state every scenario checks is the promise of the issue: every participant, on every
process, without a reload, shows every stored message exactly once, in `seq` order; every send
was acknowledged `ok` in the end and is stored once (no client id twice, as many rows as sends).
Waits are for conditions under generous deadlines; nothing asserts how long anything took.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from server.config import PROJECT_ROOT
from server.sockets import protocol as p
from tests.conftest import STOCKHOLM, LiveServer, free_port, run_cli
from tests.live.conftest import SLUG, TALK_SLUGS, Arena
from tests.live.room_client import RoomClient
from tests.services import PostgresService, RedisService, postgres_service, redis_service
from tests.waiting import wait_until

REDIS_OUTAGE_SECONDS = 30   # the scenario of "Done when" (a duration of the fault, not a deadline)
REJOIN_EVENTS = 500         # entries a join ack carries at the most (docs/realtime.md)
CONVERGE_TIMEOUT = 120      # generous: only a failing test waits this long
START_TIMEOUT = 90
PAUSED_ENGLISH = "The chat is paused for a moment. Retrying…"
UNAVAILABLE_ENGLISH = "The service is unavailable for a moment. Nothing was lost; trying again."


# -- Arena processes that can be killed and started again on the same port ------------------

class Process:
    """`python -m server serve` with a fixed port and environment: start, kill -9, start again."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.port = int(env["ARENA_SERVER__PORT"])
        self.url = env["ARENA_SERVER__BASE_URL"]
        self.log_path = directory / "server.log"
        self.process: subprocess.Popen | None = None
        self.arena = Arena(LiveServer(url=self.url, process=None, log_path=self.log_path, env=env))  # type: ignore[arg-type]

    def start(self, ready_path: str = "/healthz") -> Process:
        with self.log_path.open("a") as log:
            log.write(f"\n=== start at {time.time():.3f} ===\n")
            log.flush()
            self.process = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=PROJECT_ROOT,
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.arena.server.process = self.process

        def answers() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited ({self.process.returncode}): {self.log()[-4000:]}")
            try:
                return requests.get(self.url + ready_path, timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answers, timeout=START_TIMEOUT, interval=0.2,
                   message=lambda: f"{self.url}{ready_path} never answered 200: {self.log()[-4000:]}")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.arena.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def page(self, talk_slug: str) -> str:
        return self.arena.page(talk_slug)


def process_env(directory: Path, shared: dict[str, str]) -> dict[str, str]:
    """As tests.conftest.start_live_server builds it, on a port of its own."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update({
        "ARENA_SERVER__PORT": str(port),
        "ARENA_SERVER__BASE_URL": f"http://127.0.0.1:{port}",
        "ARENA_SERVER__ASYNC_MODE": "eventlet",
        "ARENA_SERVER__INSTANCE_PATH": str(directory / "instance"),
        "ARENA_MEDIA__RECORDINGS_DIR": str(directory / "recordings"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(shared)
    return env


def prepare(env: dict[str, str]) -> None:
    day = datetime.now(STOCKHOLM).date().isoformat()
    for args in (("migrate",), ("load-demo", "--date", day)):
        result = run_cli(env, *args)
        assert result.returncode == 0, result.stderr


def deploy(directory: Path, shared: dict[str, str], count: int = 2) -> list[Process]:
    """`count` processes on one database and queue; the database is migrated and loaded first."""
    processes = []
    for n in range(count):
        folder = directory / f"process-{n}"
        folder.mkdir(parents=True)
        processes.append(Process(folder, process_env(folder, shared)))
    prepare(processes[0].env)
    try:
        for process in processes:
            process.start()
    except BaseException:
        for process in processes:
            process.stop()
        raise
    return processes


# -- the module's own services and deployment --------------------------------------------------

@pytest.fixture(scope="module")
def redis() -> Iterator[RedisService]:
    with redis_service() as service:
        yield service


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresService]:
    with postgres_service() as service:
        yield service


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis: RedisService, postgres: PostgresService) -> Iterator[list[Process]]:
    """Two processes on our PostgreSQL and our Redis. The flood limit is out of the way: these
    tests are about faults, and a retried write counts against it like a new one."""
    shared = {
        "ARENA_DATABASE__URL": postgres.create_database("arena_faults"),
        "ARENA_CHAT__MESSAGE_QUEUE": redis.url(0),
        "ARENA_CHAT__FLOOD_MESSAGES": "100000",
        "ARENA_SERVER__SECRET_KEY": f"faults-{uuid.uuid4().hex}",
    }
    processes = deploy(tmp_path_factory.mktemp("cluster"), shared)
    yield processes
    for process in processes:
        process.stop()


@pytest.fixture
def healthy(cluster: list[Process], redis: RedisService, postgres: PostgresService) -> Iterator[list[Process]]:
    """The cluster, and afterwards every service and process running again, whatever the test did."""
    yield cluster
    if not redis.running:
        redis.start()
    if not postgres.running:
        postgres.start()
    for process in cluster:
        if not process.running:
            process.start()


@pytest.fixture
def room() -> Iterator[Room]:
    room = Room()
    yield room
    room.close()


# -- participants ------------------------------------------------------------------------------

class Room:
    """Participants of one talk, spread over processes; closed at the end of the test."""

    def __init__(self) -> None:
        self.clients: list[RoomClient] = []
        self.writers: list[RoomClient] = []

    def open(self, processes: list[Process], talk_id: int, talk_slug: str, *, participants: int,
             writers: int) -> None:
        """Participant n is on processes[n % len]; the first `writers` of them write."""
        made = []
        for n in range(participants):
            process = processes[n % len(processes)]
            writer = n < writers
            label = f"{'W' if writer else 'R'}{n}@{processes.index(process)}"
            made.append(RoomClient(process.url, process.page(talk_slug), talk_id,
                                   name=f"Skribent {n}" if writer else None, label=label))
        self.clients += made
        self.writers += [c for c in made if c.name]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: c.open(), made))
        for client in made:
            client.wait_joined()

    def on(self, process: Process) -> list[RoomClient]:
        return [c for c in self.clients if c.url == process.url]

    def close(self) -> None:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda c: c.close(), self.clients))

    def acks(self) -> list[dict[str, Any]]:
        return [ack for c in self.clients for ack in list(c.all_acks)]


class Chatter(threading.Thread):
    """Writers say something in turn, one every `interval` seconds, until stopped."""

    def __init__(self, writers: list[RoomClient], interval: float = 0.25, prefix: str = "meddelande") -> None:
        super().__init__(daemon=True)
        self.writers = writers
        self.interval = interval
        self.prefix = prefix
        self.said: list[tuple[RoomClient, str]] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self._stopping.is_set():
            writer = self.writers[n % len(self.writers)]
            self.said.append((writer, writer.say(f"{self.prefix} {n} från {writer.label}")))
            n += 1
            self._stopping.wait(self.interval)

    def count(self) -> int:
        return len(self.said)

    def __enter__(self) -> Chatter:  # noqa: PYI034 - a thread, not meant to be subclassed
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.join(timeout=10)


def new_talk(process: Process) -> tuple[int, str]:
    return process.arena.new_talk()


def stored(process: Process, talk_id: int) -> list[Any]:
    with process.arena.engine.connect() as connection:
        return connection.execute(text(
            "SELECT id, seq, client_id, participant_id, hidden_at FROM chat_messages"
            " WHERE talk_id = :t ORDER BY seq, id"),
            {"t": talk_id}).all()


def log_numbers(process: Process, talk_id: int) -> tuple[list[int], int]:
    with process.arena.engine.connect() as connection:
        seqs = connection.execute(text("SELECT seq FROM room_events WHERE talk_id = :t ORDER BY seq"),
                                  {"t": talk_id}).scalars().all()
        head = connection.execute(text("SELECT room_seq FROM talks WHERE id = :t"), {"t": talk_id}).scalar_one()
    return list(seqs), head


def describe(client: RoomClient, expected: list[int]) -> str:
    shown = client.shown_ids()
    missing = [i for i in expected if i not in set(shown)]
    extra = [i for i in shown if i not in set(expected)]
    first_difference = next((n for n, (x, y) in enumerate(zip(shown, expected, strict=False)) if x != y), None)
    return (f"{client.label}: shows {len(shown)} of {len(expected)}; missing {missing[:10]} ({len(missing)}); "
            f"extra {extra[:10]}; first difference at {first_difference}; {client.snapshot()}")


def assert_every_participant_holds_everything(room: Room, process: Process, talk_id: int,
                                              said: list[tuple[RoomClient, str]]) -> list[Any]:
    """The end state of every scenario (see the module's docstring). Returns the stored rows."""
    # 1. Every send acknowledged ok in the end (the outbox retried paused/unavailable/time-outs).
    wait_until(lambda: all(c.pending() == 0 for c in room.clients), timeout=CONVERGE_TIMEOUT,
               message=lambda: "sends never acknowledged: " + "; ".join(
                   str(c.snapshot()) for c in room.clients if c.pending()))
    refused = [(c.label, cid, ack) for c in room.clients for cid, ack in c.refused]
    assert not refused, f"sends refused for good: {refused[:5]}"
    sent = {cid for _, cid in said}
    assert len(sent) == len(said)
    assert all(c.sent[cid].done and c.sent[cid].done.get("ok") for c, cid in said)

    # 2. ... and stored once each.
    rows = stored(process, talk_id)
    twice = [cid for cid, n in Counter(r.client_id for r in rows).items() if n > 1]
    assert not twice, f"client ids stored more than once: {twice[:10]}"
    assert len(rows) == len(said), f"{len(rows)} stored for {len(said)} sends"
    assert {r.client_id for r in rows} == sent
    # Each ack names the message that was stored.
    acked_ids = {c.sent[cid].done["message"]["id"] for c, cid in said}
    assert acked_ids == {r.id for r in rows}

    # 3. The log: 1..head without a gap; each message has its own number.
    seqs, head = log_numbers(process, talk_id)
    assert seqs == list(range(1, head + 1)), f"the log has gaps or repeats: head {head}, {len(seqs)} entries"
    assert all(r.seq is not None for r in rows) and len({r.seq for r in rows}) == len(rows)

    # 4. Every participant shows every message exactly once, in seq order, without a reload.
    expected = [r.id for r in rows if r.hidden_at is None]

    def everyone_holds_everything() -> bool:
        return all(c.shown_ids() == expected for c in room.clients)

    wait_until(everyone_holds_everything, timeout=CONVERGE_TIMEOUT,
               message=lambda: "participants differ from the database:\n" + "\n".join(
                   describe(c, expected) for c in room.clients if c.shown_ids() != expected))
    twice_shown = {c.label: c.displayed_twice for c in room.clients if c.displayed_twice}
    assert not twice_shown, f"messages displayed twice: {twice_shown}"
    # Pushes and history agree on each message's number with the database.
    numbers = {r.id: r.seq for r in rows}
    for client in room.clients:
        with client.lock:
            wrong = {i: s for i, s in client.seq_of.items() if numbers.get(i) != s}
        assert not wrong, f"{client.label} holds messages under other numbers: {list(wrong.items())[:5]}"
    return rows


def assert_pushed_to_everyone(room: Room, process: Process, talk_id: int) -> None:
    """One more message from a writer on `process`: every other participant, on every process,
    gets it as a push through the queue."""
    writer = next(w for w in room.writers if w.url == process.url)
    item = writer.sent[writer.say("via kön")]
    done = wait_until(lambda: item.done, timeout=CONVERGE_TIMEOUT, message=lambda: str(writer.snapshot()))
    assert done["ok"] is True, done
    seq = done["message"]["seq"]
    others = [c for c in room.clients if c is not writer]
    wait_until(lambda: all(seq in c.pushed for c in others), timeout=CONVERGE_TIMEOUT,
               message=lambda: "no push of the new message (the queue's listener did not come back?) to: "
                               + ", ".join(c.label for c in others if seq not in c.pushed))


def server_lines(processes: list[Process], pattern: str) -> list[str]:
    found = re.compile(pattern, re.IGNORECASE)
    return [line for process in processes for line in process.log().splitlines() if found.search(line)]


# -- the client's rule, without a server ----------------------------------------------------------

def test_the_room_client_follows_the_clients_rule():
    # The harness itself: duplicates dropped, pushes ahead of order held, gaps found.
    client = RoomClient("http://127.0.0.1:9", "http://127.0.0.1:9/", talk_id=7)
    client.last = 0

    def push(seq: int, message_id: int) -> None:
        client._entry(p.MESSAGE, {"talk_id": 7, "seq": seq, "id": message_id})

    push(1, 101)
    push(3, 103)                      # ahead: held
    assert client.shown == [101] and client._gap() == (1, 3)
    push(1, 101)                      # a duplicate
    push(2, 102)                      # fills the gap: 3 follows
    client._entry(p.SKIP, {"talk_id": 7, "seq": 4})
    client._entry(p.MESSAGE, {"talk_id": 8, "seq": 5, "id": 999})  # another talk
    assert client.shown == [101, 102, 103] and client.last == 4 and client.duplicates == 1
    client.head_seen = 6              # presence says the head is 6
    assert client._gap() == (4, None)
    client._entry(p.MESSAGE_HIDDEN, {"talk_id": 7, "seq": 5, "id": 102})
    client._entry(p.MESSAGE_RESTORED, {"talk_id": 7, "seq": 6, "id": 102})
    assert client.shown == [101, 102, 103] and client.displayed_twice == [] and client._gap() is None


# -- the scenarios ----------------------------------------------------------------------------------

def test_a_server_started_while_redis_is_unreachable_says_so_and_serves_pages(tmp_path, cluster):
    nowhere = free_port()  # nothing listens here (and it is not the machine's Redis)
    shared = {key: cluster[0].env[key] for key in ("ARENA_DATABASE__URL", "ARENA_SERVER__SECRET_KEY",
                                                    "ARENA_CHAT__FLOOD_MESSAGES")}
    shared["ARENA_CHAT__MESSAGE_QUEUE"] = f"redis://127.0.0.1:{nowhere}/0"
    process = Process(tmp_path, process_env(tmp_path, shared))
    try:
        process.start(ready_path=f"/events/{SLUG}/{TALK_SLUGS[0]}")

        said = wait_until(lambda: server_lines([process], r"redis|message queue"), timeout=30,
                          message=lambda: f"the log does not mention Redis: {process.log()[-3000:]}")
        assert any(str(nowhere) in line and re.search(r"unreachable|cannot|could not|refused", line, re.IGNORECASE)
                   for line in said), said
        for path in ("/", f"/events/{SLUG}", f"/events/{SLUG}/{TALK_SLUGS[0]}"):
            assert requests.get(process.url + path, timeout=10).status_code == 200, path

        # Its room takes nobody's word meanwhile: a write waits, paused, until Redis is there.
        talk_id, slug = new_talk(process)
        writer = RoomClient(process.url, process.page(slug), talk_id, name="Anna", label="early").open()
        reader = RoomClient(process.url, process.page(slug), talk_id, name=None, label="reader").open()
        try:
            writer.wait_joined()
            reader.wait_joined()
            client_id = writer.say("före Redis")
            item = writer.sent[client_id]
            paused = wait_until(lambda: [a for a in list(item.acks) if a.get("error") == p.E_PAUSED], timeout=30,
                                message=lambda: f"no paused ack: {item.acks}")
            assert paused[0]["message"], paused[0]
            late = RedisService(Path(tempfile.mkdtemp(prefix="arena-redis-late-")), nowhere)
            try:
                late.start()
                done = wait_until(lambda: item.done, timeout=CONVERGE_TIMEOUT,
                                  message=lambda: f"never sent once Redis was there: {item.acks[-3:]}")
                assert done["ok"] is True, done
                for client in (writer, reader):
                    wait_until(lambda c=client: c.shown_ids() == [done["message"]["id"]], timeout=CONVERGE_TIMEOUT,
                               message=lambda c=client: str(c.snapshot()))
                # ... through the queue, which the process subscribed to when Redis came.
                wait_until(lambda: done["message"]["seq"] in reader.pushed, timeout=CONVERGE_TIMEOUT,
                           message=lambda: f"no push through the queue: {reader.snapshot()}")
            finally:
                late.close()
        finally:
            writer.close()
            reader.close()
    finally:
        process.stop()


def test_the_database_lost_for_a_moment(healthy, postgres: PostgresService, room: Room):
    a = healthy[0]
    talk_id, slug = new_talk(a)
    room.open(healthy, talk_id, slug, participants=4, writers=2)
    before = [w.say("före") for w in room.writers]
    wait_until(lambda: all(c.pending() == 0 for c in room.clients), timeout=CONVERGE_TIMEOUT)

    untranslated: list[dict[str, Any]] = []  # checked last, after the recovery
    postgres.stop()
    try:
        during = [(w, w.say("under avbrottet")) for w in room.writers]
        # Socket writes: "unavailable", in the participant's language (Swedish by default).
        for writer, client_id in during:
            item = writer.sent[client_id]
            refusals = wait_until(lambda i=item: [x for x in list(i.acks) if not x.get("ok")], timeout=60,
                                  message=lambda i=item, w=writer: f"{w.label}: no refusal while the database "
                                                                   f"is away: {i.acks} {w.snapshot()}")
            assert {x["error"] for x in refusals} == {p.E_UNAVAILABLE}, refusals
            untranslated += [x for x in refusals if not x["message"] or x["message"] == UNAVAILABLE_ENGLISH]
        # Pages: 503 (with Retry-After), on both processes, however many times asked.
        for process in healthy:
            for _ in range(3):
                page = requests.get(process.page(slug), timeout=30)
                assert page.status_code == 503, (page.status_code, page.text[:300])
                assert page.headers.get("Retry-After"), page.headers
    finally:
        postgres.start()

    # Both recover by themselves: the outbox gets its acks, the pages come back.
    for process in healthy:
        wait_until(lambda pr=process: requests.get(pr.page(slug), timeout=30).status_code == 200,
                   timeout=CONVERGE_TIMEOUT)
    said = [(w, cid) for w, cid in zip(room.writers, before, strict=False)] + during
    after = [(w, w.say("efter")) for w in room.writers]
    assert_every_participant_holds_everything(room, a, talk_id, said + after)
    assert not untranslated, f"the refusal is not in the participant's language (sv): {untranslated[0]}"


def test_nothing_lost_or_shown_twice_while_redis_is_killed_for_30_seconds(healthy, redis: RedisService, room: Room):
    a = healthy[0]
    talk_id, slug = new_talk(a)
    room.open(healthy, talk_id, slug, participants=20, writers=6)

    with Chatter(room.writers) as chatter:
        wait_until(lambda: chatter.count() >= 12)
        redis.kill()
        killed_at = chatter.count()
        time.sleep(REDIS_OUTAGE_SECONDS)  # the outage itself: writing goes on meanwhile
        during = chatter.count() - killed_at
        redis.start()
        returned_at = time.monotonic()
        wait_until(lambda: chatter.count() >= killed_at + during + 12)
    assert during > 0

    rows = assert_every_participant_holds_everything(room, a, talk_id, chatter.said)
    converged = time.monotonic() - returned_at  # for the report, never asserted

    # The queue's listeners subscribed again: a message now reaches everyone as a push (not only
    # through presence and history, which would hide a listener that never came back).
    assert_pushed_to_everyone(room, a, talk_id)

    paused = [ack for ack in room.acks() if ack.get("error") == p.E_PAUSED]
    print(f"\nRedis {REDIS_OUTAGE_SECONDS} s: {len(rows)} messages, {len(paused)} paused acks, everyone held "
          f"everything {converged:.1f} s after Redis returned (checked after the sends drained); history "
          f"requests {sum(c.history_requests for c in room.clients)}, duplicates dropped "
          f"{sum(c.duplicates for c in room.clients)}, reconnects {sum(c.connects - 1 for c in room.clients)}")
    # Writes that could not be delivered in order were refused "paused", translated, and retried.
    assert paused, "no write was refused as paused while Redis was down"
    assert {ack.get("error") for ack in room.acks() if not ack.get("ok")} == {p.E_PAUSED}
    assert all(ack["message"] and ack["message"] != PAUSED_ENGLISH for ack in paused), \
        f"the paused refusal is not in the participant's language (sv): {paused[0]}"


def test_nothing_lost_or_shown_twice_when_a_server_process_is_killed(healthy, room: Room):
    a, b = healthy
    talk_id, slug = new_talk(a)
    room.open(healthy, talk_id, slug, participants=20, writers=6)
    on_b = room.on(b)

    with Chatter(room.writers) as chatter:
        wait_until(lambda: chatter.count() >= 12)
        b.kill()
        wait_until(lambda: all(c.disconnects > 0 for c in on_b), timeout=60,
                   message=lambda: str([c.snapshot() for c in on_b if not c.disconnects]))
        killed_at = chatter.count()
        wait_until(lambda: chatter.count() >= killed_at + 12)  # writing goes on while B is down
        # ... and more than one join ack holds (500): B's participants come back with `more`
        # and page through history for the rest.
        on_a = [w for w in room.writers if w.url == a.url]
        burst = []
        for n in range(REJOIN_EVENTS + 20):
            writer = on_a[n % len(on_a)]
            burst.append((writer, writer.say(f"skur {n}")))
        wait_until(lambda: all(w.pending() == 0 for w in on_a), timeout=CONVERGE_TIMEOUT,
                   message=lambda: str([w.snapshot() for w in on_a]))
        b.start()
        wait_until(lambda: all(c.connects >= 2 for c in on_b), timeout=CONVERGE_TIMEOUT,
                   message=lambda: str([c.snapshot() for c in on_b if c.connects < 2]))
        restarted_at = chatter.count()
        wait_until(lambda: chatter.count() >= restarted_at + 12)

    rows = assert_every_participant_holds_everything(room, a, talk_id, chatter.said + burst)
    rejoins = [ack for c in on_b for ack in c.joins[1:] if isinstance(ack, dict) and "events" in ack]
    assert any(ack.get("more") for ack in rejoins), "no rejoin needed more than its ack (the test wrote too little)"
    assert_pushed_to_everyone(room, b, talk_id)  # the restarted process is in the queue again
    refusals = Counter(ack.get("error") for ack in room.acks() if not ack.get("ok"))
    retried = sum(item.attempts > 1 for c in room.writers for item in c.sent.values())
    print(f"\nkill -9 of one process: {len(rows)} messages; refusals {dict(refusals)}; {retried} sends retried")


class Importer(threading.Thread):
    """Imports recordings from a local site with the command line, one after the other, into
    the demo's other talks, until stopped (at least one): yt-dlp's progress rows are written to
    the same database as the chat."""

    def __init__(self, env: dict[str, str], site: Any) -> None:
        super().__init__(daemon=True)
        self.env, self.site = env, site
        self.results: list[subprocess.CompletedProcess] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self._stopping.is_set() or not self.results:
            talk = TALK_SLUGS[1 + n % 2]
            self.results.append(run_cli(self.env, "import-recording", SLUG, talk, "--url", self.site.url("page.html")))
            n += 1

    def finish(self) -> list[subprocess.CompletedProcess]:
        self._stopping.set()
        self.join(timeout=300)
        return self.results


@pytest.fixture(scope="module")
def media_site(tmp_path_factory) -> Iterator[Any]:
    from tests.recording_media import MediaSite, make_clip

    clip = make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=4)
    site = MediaSite(clip)
    yield site
    site.close()


def test_sqlite_with_two_processes_and_50_writers_never_says_database_is_locked(tmp_path, redis: RedisService,
                                                                                media_site, room: Room):
    shared = {
        "ARENA_DATABASE__URL": f"sqlite:///{tmp_path / 'arena.db'}",
        "ARENA_CHAT__MESSAGE_QUEUE": redis.url(1),
        "ARENA_SERVER__SECRET_KEY": f"sqlite-{uuid.uuid4().hex}",
        "ARENA_MEDIA__IMPORT_ALLOWED_HOSTS": "127.0.0.1",
    }
    processes = deploy(tmp_path, shared)
    try:
        talk_id, slug = new_talk(processes[0])
        room.open(processes, talk_id, slug, participants=54, writers=50)  # 4 only read; presence runs for all
        importer = Importer(processes[1].env, media_site)
        importer.start()
        said: list[tuple[RoomClient, str]] = []
        for round_ in range(4):  # within the default flood limit (5 in 10 s)
            said += [(w, w.say(f"runda {round_} från {w.label}")) for w in room.writers]

        assert_every_participant_holds_everything(room, processes[0], talk_id, said)
        imports = importer.finish()

        acks = room.acks()
        locked = [ack for ack in acks if "locked" in str(ack).lower()]
        internal = [ack for ack in acks if ack.get("error") == p.E_INTERNAL]
        assert not locked and not internal, (locked[:3], internal[:3])
        assert not server_lines(processes, r"database is locked")
        assert not server_lines(processes, r"Traceback")
        for result in imports:
            assert result.returncode == 0 and "locked" not in result.stdout + result.stderr, \
                (result.returncode, result.stdout[-1000:], result.stderr[-2000:])
        refusals = Counter(ack.get("error") for ack in acks if not ack.get("ok"))
        print(f"\nSQLite, two processes: {len(said)} messages from 50 writers, {len(imports)} imports meanwhile; "
              f"refusals {dict(refusals)}")
    finally:
        room.close()
        for process in processes:
            process.stop()
