"""chat.push_interval_ms: entries of a talk that come close together reach clients as one
`batch` frame; a page shows each once and in order, and the first after a quiet moment is not
held back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.sockets import protocol as p
from tests.live.conftest import Arena, Browsers, open_browsers, start_server


@pytest.fixture(scope="module")
def busy_arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    server = start_server(tmp_path_factory.mktemp("pushes"), extra_env={
        "ARENA_CHAT__PUSH_INTERVAL_MS": "200", "ARENA_CHAT__FLOOD_MESSAGES": "1000"})
    arena = Arena(server)
    yield arena
    arena.close()
    server.stop()


@pytest.fixture
def browsers(busy_arena: Arena) -> Iterator[Browsers]:
    with open_browsers(busy_arena) as browsers:
        yield browsers


def test_messages_close_together_share_a_frame_and_arrive_once_in_order(busy_arena: Arena, browsers: Browsers):
    talk_id = busy_arena.talk_id()
    anna, reader = browsers.open("Anna", talk_id=talk_id), browsers.open(None, talk_id=talk_id)

    sent = [anna.say(f"snabbt {n}")["message"]["id"] for n in range(12)]

    assert reader.wait_until(lambda: len(reader.events(p.MESSAGE)) >= 12, timeout=30)
    shown = [m["id"] for m in sorted(reader.events(p.MESSAGE), key=lambda m: m["seq"])]
    seqs = sorted(m["seq"] for m in reader.events(p.MESSAGE))
    assert shown == sent
    assert seqs == list(range(seqs[0], seqs[0] + 12))  # each once
    assert reader.events(p.BATCH), "twelve messages in a row went out one frame each"


def test_the_first_message_after_a_quiet_moment_goes_alone(busy_arena: Arena, browsers: Browsers):
    talk_id = busy_arena.talk_id()
    anna, reader = browsers.open("Anna", talk_id=talk_id), browsers.open(None, talk_id=talk_id)
    batches_before = len(reader.events(p.BATCH))

    sent = anna.say("ensam")["message"]["id"]

    assert reader.wait_for(p.MESSAGE, lambda m: m["id"] == sent) is not None
    assert len(reader.events(p.BATCH)) == batches_before
