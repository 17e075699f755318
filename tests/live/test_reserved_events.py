"""A client cannot send Socket.IO's own event names: a `connect` sent on an open connection
used to re-run the connect handler (one more viewer each time, kept after it closed), and a
`disconnect` made the server forget a connection that was still open."""

from __future__ import annotations

from sqlalchemy import func, select

from server.models import Presence
from server.sockets import protocol as p
from tests.live.conftest import Arena, Browsers
from tests.waiting import wait_until


def viewers_in_database(arena: Arena, talk_id: int) -> int:
    with arena.engine.connect() as connection:
        return connection.scalar(select(func.coalesce(func.sum(Presence.viewers), 0))
                                 .where(Presence.talk_id == talk_id)) or 0


def test_a_client_connect_event_adds_no_viewer(arena: Arena, browsers: Browsers):
    talk_id = arena.talk_id()
    faker = browsers.open("Falsk", talk_id=talk_id)
    for _ in range(200):
        faker.sio.emit("connect", {}, namespace=p.LIVE_NAMESPACE)
    honest = browsers.open("Ärlig", talk_id=talk_id)

    # A round trip after the fakes: the server has handled every one of them by now.
    assert honest.call(p.SET_NAME, {"name": "Ärlig"})["ok"] is True
    assert faker.say("Samma anslutning som förut")["ok"] is True  # still the one joined connection
    wait_until(lambda: viewers_in_database(arena, talk_id) == 2,
               message=lambda: f"viewers counted: {viewers_in_database(arena, talk_id)}, expected 2")
    latest = honest.wait_for(p.PRESENCE, lambda data: data["talk_id"] == talk_id and data["viewers"] == 2)
    assert latest is not None


def test_a_client_disconnect_event_does_not_forget_an_open_connection(arena: Arena, browsers: Browsers):
    talk_id = arena.talk_id()
    anna = browsers.open("Anna", talk_id=talk_id)

    anna.sio.emit("disconnect", {}, namespace=p.LIVE_NAMESPACE)
    ack = anna.say("Fortfarande här")

    assert ack["ok"] is True, ack


def test_reserved_names_are_refused_on_every_namespace(arena: Arena, browsers: Browsers):
    talk_id = arena.talk_id()
    anna = browsers.open("Anna", talk_id=talk_id)
    for name in sorted(p.RESERVED_EVENTS):
        anna.sio.emit(name, {"talk_id": talk_id}, namespace=p.LIVE_NAMESPACE)

    assert anna.say("Efter alla försök")["ok"] is True
    assert "refused a client event named 'connect'" in arena.server.log()
