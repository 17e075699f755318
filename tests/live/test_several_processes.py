"""Two server processes sharing one PostgreSQL database (a fresh schema in the suite's `test`)
and one Redis message queue (a database number of the suite's Redis): messages, viewer counts
and bans cross from one process to the other.
"""

from __future__ import annotations

import contextlib
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from server.sockets import protocol as p
from tests.conftest import postgres_schema, suite_redis_url
from tests.live.conftest import SLUG, Arena, Browsers, open_browsers, start_server


@dataclass
class Deployment:
    """Processes that belong together: one database schema, one Redis database."""

    processes: list[Arena]
    database_url: str
    queue_url: str


@pytest.fixture(scope="module")
def postgres_schemas() -> Iterator[Callable[[], str]]:
    """Makes fresh schemas in the suite's `test` database; drops every one at the end."""
    with contextlib.ExitStack() as made:
        yield lambda: made.enter_context(postgres_schema("arena_live"))


@pytest.fixture(scope="module")
def redis_databases() -> Iterator[Callable[[], str]]:
    """Hands out empty Redis database numbers (1-15, in random order); flushes each at the end."""
    redis_url = suite_redis_url()
    candidates = list(range(1, 16))
    random.shuffle(candidates)
    taken: list[int] = []

    def take() -> str:
        while candidates:
            number = candidates.pop()
            client = redis.Redis.from_url(f"{redis_url}/{number}")
            try:
                if client.dbsize() == 0:
                    taken.append(number)
                    return f"{redis_url}/{number}"
            finally:
                client.close()
        raise RuntimeError("no empty Redis database left")

    yield take
    for number in taken:
        client = redis.Redis.from_url(f"{redis_url}/{number}")
        client.flushdb()
        client.close()


def deploy(tmp_dir: Path, database_url: str, queue_url: str, processes: int) -> Deployment:
    """`processes` servers on one database and one queue; the first migrates and loads the demo."""
    shared = {
        "ARENA_DATABASE__URL": database_url,
        "ARENA_CHAT__MESSAGE_QUEUE": queue_url,
        # Every process must read the others' cookies and sign-in links.
        "ARENA_SERVER__SECRET_KEY": f"live-test-{uuid.uuid4().hex}",
    }
    started: list[Arena] = []
    try:
        for n in range(processes):
            directory = tmp_dir / f"process-{n}"
            directory.mkdir()
            started.append(Arena(start_server(directory, extra_env=shared, prepare=(n == 0))))
    except BaseException:
        undeploy(Deployment(started, database_url, queue_url))
        raise
    return Deployment(started, database_url, queue_url)


def undeploy(deployment: Deployment) -> None:
    for arena in deployment.processes:
        arena.close()
        arena.server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_schemas, redis_databases) -> Iterator[Deployment]:
    deployment = deploy(tmp_path_factory.mktemp("cluster"), postgres_schemas(), redis_databases(), processes=2)
    # Redis delivers a message queue's messages to every subscriber on the server, whatever
    # the database number (see the last test): new talks get ids of this run's own, so that
    # a run elsewhere on the same Redis does not talk into these rooms.
    with deployment.processes[0].engine.begin() as connection:
        connection.execute(text("SELECT setval(pg_get_serial_sequence('talks', 'id'), :n)"),
                           {"n": random.randrange(10_000, 1_000_000_000)})
    yield deployment
    undeploy(deployment)


@pytest.fixture
def a(cluster: Deployment) -> Arena:
    return cluster.processes[0]


@pytest.fixture
def b(cluster: Deployment) -> Arena:
    return cluster.processes[1]


@pytest.fixture
def browsers(a: Arena) -> Iterator[Browsers]:
    with open_browsers(a) as browsers:
        yield browsers


@pytest.fixture
def talk_id(a: Arena) -> int:
    return a.new_talk()[0]


def test_messages_from_both_processes_reach_everyone_complete_and_in_order(browsers: Browsers, a, b, talk_id):
    # Two writers on each process (the flood limit is five in ten seconds per person).
    writers = {a: [browsers.open(f"A{n}", talk_id=talk_id, arena=a) for n in range(2)],
               b: [browsers.open(f"B{n}", talk_id=talk_id, arena=b) for n in range(2)]}
    on_a, on_b = browsers.open(None, talk_id=talk_id, arena=a), browsers.open(None, talk_id=talk_id, arena=b)

    sent = []
    for n in range(20):
        writer = writers[a if n % 2 == 0 else b][(n // 2) % 2]
        ack = writer.say(f"meddelande {n}")
        assert ack["ok"] is True, ack
        sent.append(ack["message"]["id"])
    for reader in (on_a, on_b):
        assert reader.wait_until(lambda r=reader: len(r.events(p.MESSAGE)) >= 20, timeout=60), reader.events(p.MESSAGE)

    # Pushes from two processes may cross (one process's may wait a moment to share a frame);
    # the page shows them in the room log's order, which is the order they were said.
    for reader in (on_a, on_b):
        shown = [m["id"] for m in sorted(reader.events(p.MESSAGE), key=lambda m: m["seq"])]
        assert shown == sent, shown


def test_messages_sent_at_the_same_moment_on_both_processes_are_numbered_in_one_order(browsers: Browsers, a, b,
                                                                                      talk_id):
    # A busy room: ten people on each process press "send" at the same moment, twice.
    senders = [browsers.open(f"S{n}", talk_id=talk_id, arena=a if n % 2 else b) for n in range(20)]
    on_a, on_b = browsers.open(None, talk_id=talk_id, arena=a), browsers.open(None, talk_id=talk_id, arena=b)
    sent: list[int] = []
    for round_ in range(2):
        start = threading.Barrier(len(senders))

        def send(sender, round_=round_, start=start):
            start.wait(timeout=10)
            return sender.say(f"samtidigt {round_}")

        with ThreadPoolExecutor(len(senders)) as pool:
            acks = list(pool.map(send, senders))
        assert all(ack["ok"] for ack in acks), acks
        sent += [ack["message"]["id"] for ack in acks]
    for reader in (on_a, on_b):
        assert reader.wait_until(lambda r=reader: len(r.events(p.MESSAGE)) >= 40, timeout=60)

    # Pushes from two processes may cross on the way; the room log's number is the order a
    # page shows (docs/realtime.md): both processes' readers get the same numbers, none twice,
    # none missing, and so show the same conversation.
    shown = {name: [m["id"] for m in sorted(reader.events(p.MESSAGE), key=lambda m: m["seq"])]
             for name, reader in (("A", on_a), ("B", on_b))}
    numbers = sorted(m["seq"] for m in on_a.events(p.MESSAGE))
    assert shown["A"] == shown["B"] and sorted(shown["A"]) == sorted(sent)
    assert numbers == list(range(numbers[0], numbers[0] + 40))


def test_viewer_counts_add_up_across_processes(browsers: Browsers, a, b, talk_id):
    viewers = [browsers.open(None, talk_id=talk_id, arena=a) for _ in range(2)]
    viewers += [browsers.open(None, talk_id=talk_id, arena=b) for _ in range(3)]

    seen = [v.wait_for(p.PRESENCE, lambda e: e["talk_id"] == talk_id and e["viewers"] == 5, timeout=30)
            for v in (viewers[0], viewers[2])]

    assert seen[0] is not None, f"on A: {viewers[0].events(p.PRESENCE)}"
    assert seen[1] is not None, f"on B: {viewers[2].events(p.PRESENCE)}"


def _ban_from_a(browsers: Browsers, a: Arena, troll_on: Arena, talk_id: int):
    """A moderator on A bans, for the whole event, a participant who writes on `troll_on`."""
    grant = a.grant("moderator", "Moa Moderator", event=SLUG)
    moderator = browsers.open(None, talk_id=talk_id, arena=a, sign_in=grant.link)
    troll = browsers.open("Troll", talk_id=talk_id, arena=troll_on)
    said = troll.say("trams")["message"]["id"]
    seen = moderator.wait_for(p.MESSAGE, lambda m: m["id"] == said, timeout=30)
    assert seen is not None
    ban = moderator.call(p.BAN, {"participant_id": seen["participant_id"], "whole_event": True, "reason": "Trams"})
    assert ban["ok"] is True, ban
    return troll


def test_ban_made_on_one_process_closes_the_connection_on_the_other(browsers: Browsers, a, b, talk_id):
    troll = _ban_from_a(browsers, a, b, talk_id)

    closed = troll.wait_disconnected(timeout=30)

    assert closed, "the banned participant's connection on B stayed open"


@pytest.mark.parametrize("where", ["same_process", "other_process"])
def test_banned_participant_is_told_before_the_connection_closes(browsers: Browsers, a, b, talk_id, where):
    troll = _ban_from_a(browsers, a, a if where == "same_process" else b, talk_id)

    assert troll.wait_disconnected(timeout=30)
    notice = troll.wait_for(p.BANNED, timeout=5)  # sent before the close: already here, or never

    assert notice is not None and notice["message"], "the page closed without telling the participant why"


def test_out_of_range_id_on_postgresql_is_refused_not_internal(browsers: Browsers, a, talk_id):
    viewer = browsers.open("Anna", talk_id=talk_id, arena=a)

    acks = {
        "join": viewer.call(p.JOIN, {"talk_id": 2**31}),
        "vote": viewer.call(p.VOTE, {"question_id": 2**31, "up": True}),
        "report": viewer.call(p.REPORT, {"message_id": 2**31}),
    }

    # 2**31 is past PostgreSQL's INTEGER: no such talk, question or message (or a refused field).
    expected = {"join": "talk_not_found", "vote": "question_not_found", "report": "not_found"}
    for name, ack in acks.items():
        assert ack["ok"] is False and ack["error"] in (expected[name], p.E_INVALID_PAYLOAD), (name, ack)


@pytest.mark.parametrize("event", [p.REPORT, p.HIDE, p.BAN])
def test_nul_character_that_postgresql_cannot_store_is_refused_not_internal(browsers: Browsers, a, talk_id, event):
    moderator = browsers.open(None, talk_id=talk_id, sign_in=a.grant("moderator", "Moa", event=SLUG).link)
    anna = browsers.open("Anna", talk_id=talk_id)
    message_id = anna.say("Hej")["message"]["id"]
    sender, data = {
        p.REPORT: (anna, {"message_id": message_id, "reason": "Reklam\x00"}),
        p.HIDE: (moderator, {"kind": "message", "id": message_id, "reason": "Reklam\x00"}),
        p.BAN: (moderator, {"participant_id": "någon\x00", "whole_event": False}),
    }[event]

    ack = sender.call(event, data)

    # Refused as invalid, or stored without the NUL: either way not "something went wrong".
    assert ack.get("error") != p.E_INTERNAL, ack


def test_two_deployments_on_one_redis_do_not_hear_each_other(tmp_path, browsers: Browsers, a,
                                                            postgres_schemas, redis_databases):
    # Another Arena (say, staging) with its own PostgreSQL schema and its own Redis database
    # number on the same Redis server, as config.toml suggests; its demo talks have the same ids.
    other = deploy(tmp_path, postgres_schemas(), redis_databases(), processes=1).processes[0]
    try:
        talk_id = a.talk_id()
        assert other.talk_id() == talk_id  # the same room name, "talk:<id>", in both
        stranger = browsers.open(None, talk_id=talk_id, arena=other)
        sender, local = browsers.open("Anna", talk_id=talk_id, arena=a), browsers.open(None, talk_id=talk_id, arena=a)

        sent = sender.say("Bara för den här Arenan")["message"]["id"]
        assert local.wait_for(p.MESSAGE, lambda m: m["id"] == sent, timeout=30) is not None
        leaked = stranger.wait_for(p.MESSAGE, timeout=1)

        assert leaked is None, f"a message of another deployment arrived: {leaked}"
    finally:
        other.close()
        other.server.stop()


def test_a_talk_ended_in_the_admin_reaches_open_pages_on_every_process(browsers: Browsers, a, b, talk_id):
    """The organiser's "Ended" is one row in the database, written by whichever process served
    the admin form: every process reads its talks' live status each second and tells its own
    clients."""
    viewers = [browsers.open("Anna", talk_id=talk_id, arena=a), browsers.open("Helen", talk_id=talk_id, arena=b)]
    with a.engine.begin() as connection:
        connection.execute(text("UPDATE talks SET live_state = 'live' WHERE id = :id"), {"id": talk_id})
    for viewer in viewers:
        assert viewer.wait_for(p.TALK_LIVE, lambda data: data["live"] is True, timeout=30) is not None

    with a.engine.begin() as connection:
        connection.execute(text("UPDATE talks SET live_state = 'ended' WHERE id = :id"), {"id": talk_id})

    try:
        for viewer in viewers:
            ended = viewer.wait_for(p.TALK_LIVE, lambda data: data["live"] is False, timeout=30)
            assert ended == {"talk_id": talk_id, "live": False}
    finally:
        with a.engine.begin() as connection:
            connection.execute(text("UPDATE talks SET live_state = 'scheduled' WHERE id = :id"), {"id": talk_id})
