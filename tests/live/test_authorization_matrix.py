"""Who may do what in a talk's live room, for every client event, through real sockets against
a real server: one row per event, one column per kind of person. Each cell opens a fresh
browser of that kind, joins the talk (except for the `join` cell itself) and sends the event.

The talk is "Skapa arenor!" of the demo event; "elsewhere" is another talk of the same event
(speakers) or a second event (moderators).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from server.sockets import protocol as p
from tests.live.conftest import SLUG, TALK_SLUGS, Arena, Browser, Browsers, Grant, open_browsers, unique

OK = "ok"
FORBIDDEN, BANNED, NAME_REQUIRED, COOKIES = p.E_FORBIDDEN, p.E_BANNED, p.E_NAME_REQUIRED, p.E_COOKIES_REQUIRED
ROLES = ("anonymous", "participant", "banned", "speaker_here", "speaker_elsewhere", "moderator_here",
         "moderator_elsewhere", "organiser")

# anonymous: a socket with no cookie and no name; participant: the talk page's cookie and a
# name; banned: a participant banned from the whole event; speaker_here / speaker_elsewhere:
# signed in as the speaker of this talk / of another talk of the event; moderator_here /
# moderator_elsewhere: signed in as a moderator of this event / of another event.
MATRIX: dict[str, tuple[str, ...]] = {
    #                       anonymous      participant banned  speaker_here speaker_elsewhere moderator_here moderator_elsewhere organiser
    p.JOIN:               (OK,            OK,         OK,     OK,          OK,               OK,            OK,                 OK),
    p.SET_NAME:           (OK,            OK,         OK,     OK,          OK,               OK,            OK,                 OK),
    p.SEND_MESSAGE:       (COOKIES,       OK,         BANNED, OK,          OK,               OK,            OK,                 OK),
    p.ASK_QUESTION:       (COOKIES,       OK,         BANNED, OK,          OK,               OK,            OK,                 OK),
    p.VOTE:               (COOKIES,       OK,         BANNED, OK,          OK,               OK,            OK,                 OK),
    p.REPORT:             (COOKIES,       OK,         OK,     OK,          OK,               OK,            OK,                 OK),
    p.HIDE:               (FORBIDDEN,     FORBIDDEN,  FORBIDDEN, FORBIDDEN, FORBIDDEN,       OK,            FORBIDDEN,          OK),
    p.RESTORE:            (FORBIDDEN,     FORBIDDEN,  FORBIDDEN, FORBIDDEN, FORBIDDEN,       OK,            FORBIDDEN,          OK),
    p.BAN:                (FORBIDDEN,     FORBIDDEN,  FORBIDDEN, FORBIDDEN, FORBIDDEN,       OK,            FORBIDDEN,          OK),
    p.LIFT_BAN:           (FORBIDDEN,     FORBIDDEN,  FORBIDDEN, FORBIDDEN, FORBIDDEN,       OK,            FORBIDDEN,          OK),
    p.SET_RULES:          (FORBIDDEN,     FORBIDDEN,  FORBIDDEN, FORBIDDEN, FORBIDDEN,       OK,            FORBIDDEN,          OK),
    p.SET_QUESTION_STATE: (FORBIDDEN,     FORBIDDEN,  FORBIDDEN, OK,        FORBIDDEN,       OK,            FORBIDDEN,          OK),
    p.HISTORY:            (OK,            OK,         OK,     OK,          OK,               OK,            OK,                 OK),
}
CELLS = [(role, event, expected) for event, row in MATRIX.items() for role, expected in zip(ROLES, row, strict=True)]


def test_matrix_covers_every_client_event():
    assert set(MATRIX) == set(p.CLIENT_EVENTS)
    assert all(len(row) == len(ROLES) for row in MATRIX.values())


@dataclass
class Room:
    arena: Arena
    talk_id: int
    message_id: int
    question_id: int
    ban_to_lift: int
    banned_http: requests.Session
    grants: dict[str, Grant]


@pytest.fixture(scope="module")
def room(arena: Arena) -> Iterator[Room]:
    """The talk with a message, a question, a banned participant and a ban to lift."""
    other_event, _, _ = arena.new_event("Annan dag om sociala medier")
    talk_id = arena.talk_id(TALK_SLUGS[0])
    grants = {
        "speaker_here": arena.grant("speaker", "Sara Talare", event=SLUG, talk=TALK_SLUGS[0]),
        "speaker_elsewhere": arena.grant("speaker", "Sven Talare", event=SLUG, talk=TALK_SLUGS[1]),
        "moderator_here": arena.grant("moderator", "Moa Moderator", event=SLUG),
        "moderator_elsewhere": arena.grant("moderator", "Mats Moderator", event=other_event),
        "organiser": arena.grant("organiser", "Olga Organisatör"),
    }
    with open_browsers(arena) as browsers:
        anna = browsers.open("Anna", talk_id=talk_id)
        troll = browsers.open("Troll", talk_id=talk_id)
        moa = browsers.open(None, talk_id=talk_id, sign_in=grants["moderator_here"].link)
        message_id = anna.say("Hej!")["message"]["id"]
        question_id = anna.ask("Hur kommer vi igång?")["question"]["id"]
        from_troll = troll.say("trams")["message"]["id"]
        seen = moa.wait_for(p.MESSAGE, lambda m: m["id"] == from_troll)  # moderators see who wrote
        assert seen is not None
        ban = moa.call(p.BAN, {"participant_id": seen["participant_id"], "whole_event": True, "reason": "Trams"})
        assert ban["ok"] is True, ban
        to_lift = moa.call(p.BAN, {"participant_id": unique("forgiven"), "whole_event": False})
        assert to_lift["ok"] is True, to_lift
        assert troll.wait_disconnected(timeout=30)
    # A ban closes the connections open when it was made; later ones stay open to read
    # (the cells below use one), and writing is refused on them.
    yield Room(arena, talk_id, message_id, question_id, to_lift["ban_id"], troll.http, grants)


def open_as(browsers: Browsers, room: Room, role: str) -> Browser:
    """A fresh connection of the given kind of person, not yet joined."""
    if role == "anonymous":
        return browsers.open(None, cookie=False)
    if role == "participant":
        browser = browsers.open(None)
        browser.set_name("Per Deltagare")
        return browser
    if role == "banned":
        return browsers.open(None, http=room.banned_http)  # the same browser, its cookie kept
    return browsers.open(None, sign_in=room.grants[role].link)


def payload(event: str, room: Room) -> dict[str, Any]:
    return {
        p.JOIN: {"talk_id": room.talk_id},
        p.SET_NAME: {"name": "Nytt Namn"},
        p.HISTORY: {"talk_id": room.talk_id, "after": 0},
        p.SEND_MESSAGE: {"body": "Hej allihop", "client_id": unique("m")},
        p.ASK_QUESTION: {"body": "En fråga?", "client_id": unique("q")},
        p.VOTE: {"question_id": room.question_id, "up": True},
        p.REPORT: {"message_id": room.message_id, "reason": "Reklam"},
        p.HIDE: {"kind": "message", "id": room.message_id, "reason": "Test"},
        p.RESTORE: {"kind": "message", "id": room.message_id, "reason": "Test"},
        p.BAN: {"participant_id": unique("target"), "whole_event": False, "reason": "Test"},
        p.LIFT_BAN: {"ban_id": room.ban_to_lift},
        p.SET_RULES: {"slow_mode_seconds": 0},
        p.SET_QUESTION_STATE: {"question_id": room.question_id, "state": "answering"},
    }[event]


@pytest.mark.parametrize(("role", "event", "expected"), CELLS,
                         ids=[f"{role}-{event}-{expected}" for role, event, expected in CELLS])
def test_role_may_or_may_not_send_event(browsers: Browsers, room: Room, role: str, event: str, expected: str):
    browser = open_as(browsers, room, role)
    if event != p.JOIN:
        browser.join(room.talk_id)

    ack = browser.call(event, payload(event, room))

    if expected == OK:
        assert ack["ok"] is True, ack
    else:
        assert ack["ok"] is False, ack
        assert ack["error"] == expected, ack
        assert isinstance(ack["message"], str) and ack["message"]


def test_revoked_moderator_link_closes_the_connection_and_ends_the_role(arena: Arena, browsers: Browsers,
                                                                        room: Room):
    grant = arena.grant("moderator", "Tilda Tillfällig", event=SLUG)
    moderator = browsers.open(None, talk_id=room.talk_id, sign_in=grant.link)
    assert moderator.joined["me"]["moderator"] is True
    assert moderator.call(p.HIDE, {"kind": "message", "id": room.message_id})["ok"] is True

    arena.revoke(grant.id)
    closed = moderator.wait_disconnected(timeout=30)
    # The page reconnects on its own, with the same cookie: a connection without the role.
    moderator.connect()
    rejoined = moderator.join(room.talk_id)
    after = moderator.call(p.RESTORE, {"kind": "message", "id": room.message_id})
    link_again = requests.get(grant.link, timeout=10)

    assert closed, "the connection stayed open after the link was withdrawn"
    assert rejoined["me"]["moderator"] is False and rejoined["me"]["role"] == ""
    assert (after["ok"], after["error"]) == (False, FORBIDDEN)
    assert link_again.status_code == 403


# -- stream keys over HTTP: the studio's key section and the admin's Live video page --

SIGN_IN, REFUSED = "sign_in", "refused"
KEY_ROUTES: dict[tuple[str, str], tuple[str, ...]] = {
    #                                      anonymous participant banned  speaker_here speaker_elsewhere moderator_here moderator_elsewhere organiser
    ("GET", "studio"):                    (REFUSED,  REFUSED,    REFUSED, OK,         REFUSED,          REFUSED,       REFUSED,            OK),
    ("POST", "studio/stream-key"):        (REFUSED,  REFUSED,    REFUSED, OK,         REFUSED,          REFUSED,       REFUSED,            OK),
    ("GET", "studio/stream-key"):         (REFUSED,  REFUSED,    REFUSED, OK,         REFUSED,          REFUSED,       REFUSED,            OK),
    ("GET", "admin/live-video"):          (SIGN_IN,  SIGN_IN,    SIGN_IN, REFUSED,    REFUSED,          REFUSED,       REFUSED,            OK),
    ("POST", "admin/live-video/key"):     (SIGN_IN,  SIGN_IN,    SIGN_IN, REFUSED,    REFUSED,          REFUSED,       REFUSED,            OK),
    ("POST", "admin/live-video/revoke"):  (SIGN_IN,  SIGN_IN,    SIGN_IN, REFUSED,    REFUSED,          REFUSED,       REFUSED,            OK),
    ("GET", "admin/live-video/key"):      (SIGN_IN,  SIGN_IN,    SIGN_IN, REFUSED,    REFUSED,          REFUSED,       REFUSED,            OK),
}
KEY_CELLS = [(role, route, expected) for route, row in KEY_ROUTES.items() for role, expected in zip(ROLES, row, strict=True)]


def key_route_url(arena: Arena, route: str) -> str:
    if route.startswith("admin/"):
        return f"{arena.url}/admin/events/{SLUG}/talks/{TALK_SLUGS[0]}/{route.removeprefix('admin/')}"
    return f"{arena.url}/events/{SLUG}/{TALK_SLUGS[0]}/{route}"


def http_as(arena: Arena, room: Room, role: str) -> requests.Session:
    if role == "banned":
        return room.banned_http
    http = requests.Session()
    if role == "participant":
        assert http.get(arena.page(), timeout=10).status_code == 200
    elif role != "anonymous":
        assert http.get(room.grants[role].link, timeout=10).status_code == 200
    return http


@pytest.mark.parametrize(("role", "route", "expected"), KEY_CELLS,
                         ids=[f"{role}-{route[0]}-{route[1]}-{expected}" for role, route, expected in KEY_CELLS])
def test_role_may_or_may_not_use_stream_key_route(room: Room, role: str, route: tuple[str, str], expected: str):
    import re

    arena = room.arena
    http = http_as(arena, room, role)
    method, path = route
    url = key_route_url(arena, path)
    if method == "GET":
        response = http.get(url, allow_redirects=False, timeout=10)
    else:
        # The person's own valid CSRF token: only the role decides.
        page = http.get(f"{arena.url}/sign-in", timeout=10).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        data = {"csrf_token": token, "make-csrf_token": token, "revoke-csrf_token": token, "confirm": "yes",
                "make-confirm": "y", "revoke-confirm": "y"}
        response = http.post(url, data=data, allow_redirects=False, timeout=10)
    location = response.headers.get("Location", "")

    if expected == OK:
        assert response.status_code in (200, 303) and "/sign-in" not in location, (response.status_code, location)
    elif expected == SIGN_IN:
        assert response.status_code == 303 and "/sign-in?next=" in location, (response.status_code, location)
    else:
        assert response.status_code == 403, response.status_code
        assert "rtmp://" not in response.text
