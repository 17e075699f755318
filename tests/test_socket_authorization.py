"""Who may use the organisers' and speakers' sockets: every event of the studio (/studio) and
of the admin (/admin), for the seven kinds of person of the admin's route matrix
(tests/test_admin_authorization.py). The live room's own matrix, with real sockets against a
real server, is tests/live/test_authorization_matrix.py.

Only the talk's speaker and organisers go live; nobody touches a stream that is not theirs;
only organisers open the admin's socket."""

from __future__ import annotations

from typing import Any

import pytest

from server.extensions import socketio
from server.sockets import protocol as p
from tests.conftest import EVERY_KIND_OF_PERSON, at
from tests.waiting import wait_until

ROLES = EVERY_KIND_OF_PERSON
MAY_GO_LIVE_HERE = {"speaker_here", "organiser"}
VP8 = "video/webm;codecs=vp8,opus"


@pytest.fixture
def world(app, session, make_event, make_talk, every_kind_of_person):
    event = make_event(slug="dagen")
    talk = make_talk(event, slug="skapa-arenor", starts_at=at(10), ends_at=at(11))
    organisers_talk = make_talk(event, slug="organisatorns-pass", starts_at=at(12), ends_at=at(13))
    other_talk = make_talk(event, slug="andra-passet", starts_at=at(11), ends_at=at(12))
    other_event = make_event(slug="annan-dag")
    make_talk(other_event, slug="annat-pass")
    session.commit()
    browsers = every_kind_of_person(talk, other_talk, other_event)
    return browsers, talk.id, organisers_talk.id


def studio(app, client) -> Any:
    return socketio.test_client(app, namespace=p.STUDIO_NAMESPACE, flask_test_client=client)


def wait_until_free(talk_id: int) -> None:
    from server.db import db
    from server.models import Talk
    from server.services import golive

    def free() -> bool:
        db.session.rollback()
        return golive.active_stream(db.session, talk_id) is None

    wait_until(free, timeout=60, message="the ended stream never let the talk go")
    assert db.session.get(Talk, talk_id) is not None


def call(socket, event: str, data: dict) -> dict:
    return socket.emit(event, data, namespace=p.STUDIO_NAMESPACE, callback=True)


def test_only_the_talks_speaker_and_organisers_go_live(app, world):
    browsers, talk_id, _ = world
    outcomes, started = {}, []

    for role in ROLES:
        socket = studio(app, browsers[role])
        ack = call(socket, p.START, {"talk_id": talk_id, "mime_type": VP8})
        outcomes[role] = "ok" if ack.get("ok", True) and "stream_id" in ack else ack.get("error")
        if "stream_id" in ack:
            started.append((socket, ack["stream_id"]))
            call(socket, p.END, {"stream_id": ack["stream_id"]})
            wait_until_free(talk_id)  # one publisher per talk: the next cell needs it free

    for socket, _ in started:
        socket.disconnect(namespace=p.STUDIO_NAMESPACE)
    expected = {role: "ok" if role in MAY_GO_LIVE_HERE else p.E_FORBIDDEN for role in ROLES}
    expected["anonymous"] = p.E_COOKIES_REQUIRED  # no cookie at all: not even a participant
    assert outcomes == expected


@pytest.mark.parametrize("event", [p.CHUNK, p.RESUME, p.END])
def test_nobody_but_its_publisher_touches_a_stream(app, world, event):
    browsers, _, organisers_talk_id = world
    owner = studio(app, browsers["organiser"])
    stream_id = call(owner, p.START, {"talk_id": organisers_talk_id, "mime_type": VP8})["stream_id"]
    payload = {"stream_id": stream_id, "seq": 0, "data": b"\x1a\x45\xdf\xa3"} if event == p.CHUNK else {
        "stream_id": stream_id}
    outcomes = {}

    try:
        for role in ROLES[:-1]:
            ack = call(studio(app, browsers[role]), event, payload)
            outcomes[role] = ack.get("error") if ack.get("ok") is False else "accepted"
    finally:
        call(owner, p.END, {"stream_id": stream_id})
        owner.disconnect(namespace=p.STUDIO_NAMESPACE)

    refusals = (p.E_FORBIDDEN, p.E_NOT_PUBLISHING, p.E_COOKIES_REQUIRED)
    assert all(error in refusals for error in outcomes.values()), outcomes


def test_only_organisers_open_the_admin_socket(app, world):
    browsers, talk_id, _ = world
    connected = {}

    for role in ROLES:
        socket = socketio.test_client(app, namespace=p.ADMIN_NAMESPACE, flask_test_client=browsers[role])
        connected[role] = socket.is_connected(p.ADMIN_NAMESPACE)
        if connected[role]:
            ack = socket.emit(p.WATCH_IMPORT, {"talk_id": talk_id}, namespace=p.ADMIN_NAMESPACE, callback=True)
            assert ack.get("ok", True) is not False and ack["job"] is None
            socket.disconnect(namespace=p.ADMIN_NAMESPACE)

    assert connected == {role: role == "organiser" for role in ROLES}
