"""Arbitrary JSON for every client event, over a real socket to a real server, from a named
participant and from a moderator: every answer is a well-formed ack, never "internal", and the
server carries on serving afterwards.

Payloads are Hypothesis-generated: anything JSON can carry (null, booleans, integers far
beyond 64 bits, floats with NaN and infinities, text with control and non-Latin characters,
lists, nested objects), and objects with the event's own keys holding either plausible values
(real ids, valid client ids) or anything at all, sometimes with unknown keys beside them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.sockets import protocol as p
from tests.live.conftest import SLUG, Arena, Browser, open_browsers, start_server, unique


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    """A server of its own whose flood limit does not stop the fuzzing at the fifth write."""
    server = start_server(tmp_path_factory.mktemp("fuzz"), extra_env={"ARENA_CHAT__FLOOD_MESSAGES": "100000"})
    arena = Arena(server)
    yield arena
    arena.close()
    server.stop()


NAMES = {"participant": "Fia Fuzz", "moderator": "Moa Moderator"}


@dataclass
class FuzzRoom:
    talk_id: int
    message_id: int
    question_id: int
    ban_id: int
    actors: dict[str, Browser]


@pytest.fixture(scope="module")
def room(arena: Arena) -> Iterator[FuzzRoom]:
    talk_id, _ = arena.new_talk("Fuzzpass")
    grant = arena.grant("moderator", NAMES["moderator"], event=SLUG)
    with open_browsers(arena) as browsers:
        participant = browsers.open(NAMES["participant"], talk_id=talk_id)
        moderator = browsers.open(None, talk_id=talk_id, sign_in=grant.link)
        message_id = participant.say("Ett vanligt meddelande")["message"]["id"]
        question_id = participant.ask("En vanlig fråga?")["question"]["id"]
        ban_id = moderator.call(p.BAN, {"participant_id": unique("someone"), "whole_event": False})["ban_id"]
        yield FuzzRoom(talk_id, message_id, question_id, ban_id, {"participant": participant, "moderator": moderator})


# -- payloads -----------------------------------------------------------------------------

HUGE_INTEGERS = st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30)])
INTEGERS = st.one_of(st.integers(), st.integers(-3, 1000), HUGE_INTEGERS)
HALF_EMOJI = "\ud83d"  # what slicing a JavaScript string in the middle of 😀 leaves
SURROGATES = st.lists(st.sampled_from(["a", " ", "\ud800", "\udfff", HALF_EMOJI, "😀"]), min_size=1,
                      max_size=6).map("".join)
TEXTS = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(codec="utf-8"), min_size=280, max_size=620),  # around the length limits
    SURROGATES,  # JSON's "\ud83d" escapes carry lone surrogates, which UTF-8 cannot encode
    st.sampled_from(["", " ", "\x00", "\n\t", "\u202e\u200b", "message", "question", "visible", "answering",
                     "answered", "hidden", "awaiting_approval", "Ölandsbron ✨", "<script>alert(1)</script>"]),
)
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, st.floats(allow_nan=True, allow_infinity=True), TEXTS)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
CLIENT_IDS = st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True)

KNOWN_KEYS = {
    p.JOIN: ("talk_id", "last_seq"),
    p.HISTORY: ("talk_id", "after", "before", "limit"),
    p.SET_NAME: ("name",),
    p.SEND_MESSAGE: ("body", "client_id"),
    p.ASK_QUESTION: ("body", "client_id", "anonymous"),
    p.VOTE: ("question_id", "up"),
    p.REPORT: ("message_id", "question_id", "reason"),
    p.HIDE: ("kind", "id", "reason"),
    p.RESTORE: ("kind", "id", "reason"),
    p.BAN: ("participant_id", "whole_event", "reason"),
    p.LIFT_BAN: ("ban_id",),
    p.SET_RULES: ("chat_open", "questions_open", "questions_premoderated", "slow_mode_seconds"),
    p.SET_QUESTION_STATE: ("question_id", "state"),
}


def plausible(key: str, room: FuzzRoom) -> st.SearchStrategy:
    """Values of the right kind for a known key (real ids among them)."""
    ids = {"talk_id": room.talk_id, "last_seq": 1, "after": 0, "before": 3, "limit": 100, "message_id": room.message_id,
           "question_id": room.question_id, "ban_id": room.ban_id}
    if key in ids:
        return st.one_of(st.just(ids[key]), INTEGERS)
    if key == "id":
        return st.one_of(st.sampled_from([room.message_id, room.question_id]), INTEGERS)
    if key == "client_id":
        return CLIENT_IDS
    if key in ("anonymous", "up", "whole_event", "chat_open", "questions_open", "questions_premoderated"):
        return st.booleans()
    if key == "slow_mode_seconds":
        return st.one_of(st.integers(-5, 700), INTEGERS)
    if key == "kind":
        return st.sampled_from(["message", "question"])
    if key == "state":
        return st.sampled_from(["visible", "answering", "answered", "hidden", "awaiting_approval"])
    return TEXTS  # name, body, reason, participant_id


_strategies: dict[tuple[str, int], st.SearchStrategy] = {}


def payloads(event: str, room: FuzzRoom) -> st.SearchStrategy:
    key = (event, id(room))
    if key not in _strategies:
        known = st.fixed_dictionaries({}, optional={
            name: st.one_of(plausible(name, room), JSON) for name in KNOWN_KEYS[event]})
        extra = st.dictionaries(st.text(max_size=12), JSON, min_size=1, max_size=2)
        _strategies[key] = st.one_of(JSON, known, known, st.builds(lambda k, e: {**e, **k}, known, extra))
    return _strategies[key]


# -- the tests ----------------------------------------------------------------------------

@pytest.mark.parametrize("actor", ["participant", "moderator"])
@pytest.mark.parametrize("event", p.CLIENT_EVENTS)
@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_payload_is_answered_with_a_well_formed_ack(room: FuzzRoom, event: str, actor: str, data):
    browser = room.actors[actor]
    payload = data.draw(payloads(event, room), label="payload")
    assert browser.connected, "the server closed the connection"

    ack = browser.call(event, payload)
    # Each example starts from the same place: named as before, in the fuzzed talk. (What a
    # strange name does to later messages has a test of its own below.)
    if event == p.SET_NAME:
        browser.set_name(NAMES[actor])
    elif event == p.JOIN:
        browser.join(room.talk_id)

    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    if not ack["ok"]:
        assert isinstance(ack.get("error"), str) and ack["error"], ack
        assert isinstance(ack.get("message"), str) and ack["message"].strip(), ack
        assert ack["error"] != p.E_INTERNAL, ack


BEYOND_64_BITS = 2**63  # what the fuzzing found first; SQLite stores at most 2**63 - 1
OUT_OF_RANGE_IDS = [
    pytest.param(p.JOIN, {"talk_id": BEYOND_64_BITS}, "talk_not_found", id="join-talk_id"),
    pytest.param(p.JOIN, {"talk_id": "TALK", "last_seq": BEYOND_64_BITS}, None, id="join-last_seq"),
    pytest.param(p.HISTORY, {"talk_id": "TALK", "after": BEYOND_64_BITS}, None, id="history-after"),
    pytest.param(p.VOTE, {"question_id": BEYOND_64_BITS, "up": True}, "question_not_found", id="vote"),
    pytest.param(p.REPORT, {"message_id": BEYOND_64_BITS}, "not_found", id="report-message"),
    pytest.param(p.REPORT, {"question_id": BEYOND_64_BITS}, "not_found", id="report-question"),
    pytest.param(p.HIDE, {"kind": "message", "id": BEYOND_64_BITS}, "message_not_found", id="hide-message"),
    pytest.param(p.HIDE, {"kind": "question", "id": BEYOND_64_BITS}, "question_not_found", id="hide-question"),
    pytest.param(p.RESTORE, {"kind": "message", "id": BEYOND_64_BITS}, "message_not_found", id="restore-message"),
    pytest.param(p.LIFT_BAN, {"ban_id": BEYOND_64_BITS}, "ban_not_found", id="lift_ban"),
    pytest.param(p.SET_QUESTION_STATE, {"question_id": BEYOND_64_BITS, "state": "answered"}, "question_not_found",
                 id="set_question_state"),
]


@pytest.mark.parametrize(("event", "data", "expected"), OUT_OF_RANGE_IDS)
def test_id_beyond_the_database_range_is_not_found_rather_than_internal(room: FuzzRoom, event, data, expected):
    moderator = room.actors["moderator"]
    data = {key: room.talk_id if value == "TALK" else value for key, value in data.items()}

    ack = moderator.call(event, data)
    if event == p.JOIN:
        moderator.join(room.talk_id)  # back in the fuzzed talk, whatever happened

    # No such thing (or a refused field): what a user can act on, unlike "internal".
    if expected is None:  # a cursor past every message: nothing to catch up on
        assert (ack["ok"] is True and ack["messages"] == []) or ack["error"] == p.E_INVALID_PAYLOAD, ack
    else:
        assert ack["ok"] is False and ack["error"] in (expected, p.E_INVALID_PAYLOAD), ack


@pytest.fixture
def calm_talk(arena: Arena) -> int:
    """A talk of its own, away from whatever the fuzzing did to the rules of the fuzzed one."""
    return arena.new_talk()[0]


@pytest.mark.parametrize("event", [p.SEND_MESSAGE, p.ASK_QUESTION, p.REPORT])
def test_text_with_a_lone_surrogate_is_refused_not_internal(arena: Arena, calm_talk: int, event):
    with open_browsers(arena) as browsers:
        anna, helen = browsers.open("Anna", talk_id=calm_talk), browsers.open("Helen", talk_id=calm_talk)
        message_id = helen.say("Köp billiga klockor!")["message"]["id"]
        data = {
            p.SEND_MESSAGE: {"body": f"Hej {HALF_EMOJI}", "client_id": unique("m")},
            p.ASK_QUESTION: {"body": f"Varför {HALF_EMOJI}", "client_id": unique("q")},
            p.REPORT: {"message_id": message_id, "reason": f"Reklam {HALF_EMOJI}"},
        }[event]

        ack = anna.call(event, data)

    # Refused, or stored with the broken character replaced: either way not "internal".
    assert ack.get("error") != p.E_INTERNAL, ack


def test_name_with_a_lone_surrogate_does_not_stop_the_participant_from_writing(arena: Arena, calm_talk: int):
    with open_browsers(arena) as browsers:
        anna = browsers.open(None, talk_id=calm_talk)

        named = anna.call(p.SET_NAME, {"name": f"Anna {HALF_EMOJI}"})
        said = anna.say("Hej!")

    # Either the name is refused (and she picks another), or her messages go through.
    assert named["ok"] is False or said["ok"] is True, (named, said)


def test_server_still_serves_after_the_fuzzing(arena: Arena, room: FuzzRoom):
    moderator = room.actors["moderator"]
    reopened = moderator.call(p.SET_RULES, {"chat_open": True, "slow_mode_seconds": 0})
    with open_browsers(arena) as browsers:
        anna, helen = browsers.open("Anna", talk_id=room.talk_id), browsers.open("Helen", talk_id=room.talk_id)

        sent = anna.say("Fungerar det fortfarande?")

        assert reopened["ok"] is True, reopened
        assert requests.get(f"{arena.url}/healthz", timeout=5).json()["ok"] is True
        assert sent["ok"] is True, sent
        assert helen.wait_for(p.MESSAGE, lambda m: m["id"] == sent["message"]["id"]) is not None
    assert "ticker failed" not in arena.server.log()
