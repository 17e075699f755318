"""The live room through real websockets against one `python -m server serve` (eventlet):
broadcast, history, catch-up after a reconnect, de-duplication, batched votes, flood and frame
limits, the origin check, presence, and more than 1,024 open connections.

Each test uses a talk of its own (made in the server's database), so history, votes and
viewer counts start from nothing whatever ran before.
"""

from __future__ import annotations

import json
import resource
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import websocket
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import ChatMessage
from server.sockets import protocol as p
from tests.live.conftest import Arena, Browsers, unique


@pytest.fixture
def talk_id(arena: Arena) -> int:
    return arena.new_talk()[0]


# -- chat -----------------------------------------------------------------------------------

def test_message_is_broadcast_to_the_other_viewers_with_the_same_id_and_body(browsers: Browsers, talk_id):
    anna, helen, ulla = (browsers.open(name, talk_id=talk_id) for name in ("Anna", "Helen", "Ulla"))

    ack = anna.say("Hej från Luleå!")

    assert ack["ok"] is True
    sent = ack["message"]
    for other in (helen, ulla):
        received = other.wait_for(p.MESSAGE, lambda m: m["id"] == sent["id"], timeout=30)
        assert received is not None, f"{other.events(p.MESSAGE)}"
        assert (received["body"], received["name"]) == ("Hej från Luleå!", "Anna")
        assert "participant_id" not in received  # participants do not see who is behind a name


def test_new_viewer_gets_the_latest_fifty_of_sixty_messages_oldest_first(browsers: Browsers, talk_id):
    # Twelve people write five messages each (the flood limit is five in ten seconds).
    writers = [browsers.open(f"Skribent {n}", talk_id=talk_id) for n in range(12)]
    sent = []
    for round_ in range(5):
        for n, writer in enumerate(writers):
            ack = writer.say(f"meddelande {round_}-{n}")
            assert ack["ok"] is True, ack
            sent.append(ack["message"]["id"])

    history = browsers.open(None, talk_id=talk_id).joined["messages"]

    assert len(sent) == 60
    assert [m["id"] for m in history] == sorted(sent)[-50:]
    assert history[0]["body"] == "meddelande 0-10" and history[-1]["body"] == "meddelande 4-11"


def test_reconnecting_viewer_gets_exactly_the_messages_it_missed(browsers: Browsers, talk_id):
    anna, ulla = browsers.open("Anna", talk_id=talk_id), browsers.open("Ulla", talk_id=talk_id)
    helen = browsers.open("Helen", talk_id=talk_id)
    first = anna.say("före")["message"]["id"]
    assert helen.wait_for(p.MESSAGE, lambda m: m["id"] == first) is not None
    last_seen = max(m["seq"] for m in helen.events(p.MESSAGE))

    helen.disconnect()  # the network goes away; the socket really closes
    missed = [(anna if n % 2 else ulla).say(f"medan du var borta {n}")["message"]["id"] for n in range(5)]
    helen.connect()
    rejoin = helen.join(talk_id, last_seq=last_seen)
    after = anna.say("efter")["message"]["id"]
    assert helen.wait_for(p.MESSAGE, lambda m: m["id"] == after) is not None

    caught_up = [e["data"] for e in rejoin["events"] if e["event"] == p.MESSAGE]
    assert [m["id"] for m in caught_up] == missed
    # What the page shows: each number once (a push of a number it holds is dropped, as
    # static/js/live/log.js does), in number order.
    by_number = {m["seq"]: m["id"] for m in helen.events(p.MESSAGE) + caught_up}
    numbers = sorted(by_number)
    assert [by_number[n] for n in numbers] == [first, *missed, after]
    assert numbers == list(range(numbers[0], numbers[0] + 7))  # no gap


def test_retry_with_the_same_client_id_is_stored_and_broadcast_once(arena: Arena, browsers: Browsers, talk_id):
    anna, helen = browsers.open("Anna", talk_id=talk_id), browsers.open("Helen", talk_id=talk_id)
    client_id = unique("retry")

    first = anna.say("En gång", client_id=client_id)
    second = anna.say("En gång", client_id=client_id)
    marker = anna.say("markör")["message"]["id"]  # once this arrives, any second copy would have too
    assert helen.wait_for(p.MESSAGE, lambda m: m["id"] == marker) is not None

    assert (first["ok"], first["duplicate"]) == (True, False)
    assert (second["ok"], second["duplicate"]) == (True, True)
    assert second["message"]["id"] == first["message"]["id"]
    assert [m["id"] for m in helen.events(p.MESSAGE)].count(first["message"]["id"]) == 1
    with Session(arena.engine) as session:
        assert session.scalar(select(func.count()).select_from(ChatMessage)
                              .where(ChatMessage.client_id == client_id)) == 1


def test_sixth_message_within_the_flood_window_is_refused_with_flooding(browsers: Browsers, talk_id):
    anna = browsers.open("Anna", talk_id=talk_id)

    acks = [anna.say(f"spam {n}") for n in range(6)]

    assert [a["ok"] for a in acks] == [True] * 5 + [False]
    assert acks[-1]["error"] == p.E_FLOODING
    assert isinstance(acks[-1]["message"], str) and acks[-1]["message"]


# -- votes ----------------------------------------------------------------------------------

def test_twenty_simultaneous_votes_are_all_counted_and_pushed_as_totals(browsers: Browsers, talk_id):
    asker = browsers.open("Anna", talk_id=talk_id)
    question_id = asker.ask("Vilka verktyg använder ni?")["question"]["id"]
    voters = [browsers.open(None, talk_id=talk_id) for _ in range(20)]
    watcher = browsers.open(None, talk_id=talk_id)
    start = threading.Barrier(len(voters))

    def vote(voter):
        start.wait(timeout=10)
        return voter.call(p.VOTE, {"question_id": question_id, "up": True})

    with ThreadPoolExecutor(len(voters)) as pool:
        acks = list(pool.map(vote, voters))
    final = watcher.wait_for(p.VOTES, lambda v: v["counts"].get(str(question_id)) == 20, timeout=30)
    batches = watcher.events(p.VOTES)

    assert all(a["ok"] and a["voted"] is True and a["question_id"] == question_id for a in acks), acks
    assert sorted(a["votes"] for a in acks) == list(range(1, 21))
    assert final is not None, batches
    # Totals, not increments: a page that misses a batch still shows the right count, and
    # never more than 20. (How often batches go out is a performance figure: bench/.)
    counts = [batch["counts"][str(question_id)] for batch in batches]
    assert counts == sorted(counts) and max(counts) == 20 and len(batches) <= 20


def test_withdrawing_a_vote_lowers_the_count_for_everyone(browsers: Browsers, talk_id):
    anna, helen = browsers.open("Anna", talk_id=talk_id), browsers.open("Helen", talk_id=talk_id)
    question_id = anna.ask("Fråga?")["question"]["id"]
    assert helen.call(p.VOTE, {"question_id": question_id, "up": True})["votes"] == 1
    assert anna.wait_for(p.VOTES, lambda v: v["counts"].get(str(question_id)) == 1, timeout=30) is not None

    ack = helen.call(p.VOTE, {"question_id": question_id, "up": False})

    assert (ack["ok"], ack["voted"], ack["votes"]) == (True, False, 0)
    assert anna.wait_for(p.VOTES, lambda v: v["counts"].get(str(question_id)) == 0, timeout=30) is not None
    assert browsers.open(None, talk_id=talk_id).joined["questions"][0]["votes"] == 0


# -- limits ---------------------------------------------------------------------------------

def test_oversized_frame_is_refused_and_the_server_keeps_serving(arena: Arena, browsers: Browsers, talk_id):
    mallory = browsers.open("Mallory", talk_id=talk_id)
    anna, helen = browsers.open("Anna", talk_id=talk_id), browsers.open("Helen", talk_id=talk_id)

    acks: list = []

    def answered(*args):
        with mallory.changed:
            acks.append(args[0] if args else None)
            mallory.changed.notify_all()

    mallory.sio.emit(p.SEND_MESSAGE, {"body": "x" * 200_000, "client_id": unique("big")},
                     namespace=p.LIVE_NAMESPACE, callback=answered)
    # Either the server closes the connection (the frame is over chat.max_http_buffer_size)
    # or it answers with a refusal; it never stores or broadcasts the message.
    assert mallory.wait_until(lambda: bool(mallory.disconnects) or bool(acks), timeout=30)
    if acks:
        assert acks[0]["ok"] is False and acks[0]["error"] != p.E_INTERNAL, acks

    assert arena.healthy()
    sent = anna.say("fortfarande här")
    assert sent["ok"] is True
    assert helen.wait_for(p.MESSAGE, lambda m: m["id"] == sent["message"]["id"]) is not None
    assert not any(m["body"].startswith("xxxx") for m in helen.events(p.MESSAGE))


def test_websocket_handshake_from_another_origin_is_refused(arena: Arena):
    url = arena.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, origin="https://evil.example", timeout=30)
    same_origin = websocket.create_connection(url, origin=arena.url, timeout=30)
    opened = same_origin.recv()
    same_origin.close()

    assert refused.value.status_code == 400
    assert opened.startswith("0{")  # the Engine.IO open packet: the same handshake passes


# -- presence -------------------------------------------------------------------------------

def test_viewer_count_follows_who_is_watching(browsers: Browsers, talk_id):
    anna, helen, ulla = (browsers.open(None, talk_id=talk_id) for _ in range(3))

    three = anna.wait_for(p.PRESENCE, lambda e: e["talk_id"] == talk_id and e["viewers"] == 3, timeout=30)
    ulla.disconnect()
    two = helen.wait_for(p.PRESENCE, lambda e: e["talk_id"] == talk_id and e["viewers"] == 2, timeout=30)

    assert three is not None, anna.events(p.PRESENCE)
    assert two is not None, helen.events(p.PRESENCE)


# -- many connections -----------------------------------------------------------------------

CONNECTIONS = 1100


def _open_raw_viewer(arena: Arena, talk_id: int) -> websocket.WebSocket:
    """A bare Socket.IO client over one websocket: open, connect to /live, join the talk."""
    url = arena.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, origin=arena.url, timeout=20)
    assert ws.recv().startswith("0{")
    ws.send(f"40{p.LIVE_NAMESPACE},")
    assert ws.recv().startswith(f"40{p.LIVE_NAMESPACE},")
    ws.send(f"42{p.LIVE_NAMESPACE},1" + json.dumps([p.JOIN, {"talk_id": talk_id}]))
    while True:  # presence pushes may come before the ack
        frame = ws.recv()
        if frame.startswith(f"43{p.LIVE_NAMESPACE},1"):
            assert json.loads(frame[len(f"43{p.LIVE_NAMESPACE},1"):])[0]["ok"] is True
            return ws


def test_more_than_1024_viewers_stay_connected_and_chat_still_works(arena: Arena, browsers: Browsers, talk_id):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert hard >= CONNECTIONS + 200, f"the hard limit on open files ({hard}) is too low for this test"
    viewers: list[websocket.WebSocket] = []
    lock = threading.Lock()

    def open_one(_):
        ws = _open_raw_viewer(arena, talk_id)
        with lock:
            viewers.append(ws)

    try:
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(open_one, range(CONNECTIONS)))

        anna, helen = browsers.open("Anna", talk_id=talk_id), browsers.open("Helen", talk_id=talk_id)
        sent = anna.say("Hej alla tusen!")

        assert len(viewers) == CONNECTIONS and all(ws.connected for ws in viewers)
        assert helen.joined["viewers"] >= CONNECTIONS + 2  # the server holds every one of them
        assert sent["ok"] is True
        assert helen.wait_for(p.MESSAGE, lambda m: m["id"] == sent["message"]["id"], timeout=30) is not None
        assert requests.get(f"{arena.url}/healthz", timeout=30).status_code == 200
    finally:
        for ws in viewers:
            try:
                ws.send_close()
            except Exception:  # noqa: BLE001 - close every one, whatever state it is in
                pass
            ws.shutdown()
