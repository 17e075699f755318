"""Simulcast ("also send to"): a talk's live stream is also pushed, as it is, to YouTube,
Facebook or any RTMP(S) server (server/services/simulcast.py, server/media/simulcast.py,
server/sockets/simulcast.py, the admin's page server/web/admin/simulcast.py).

The organisers' page: Swedish refusals of a bad server address, a stream key that is written
once and never shown again (masked, encrypted at rest, not in the audit log or the export),
organisers only, a form sent twice acting once.

The push, with real processes: Debian's nginx with its RTMP module stands in for YouTube, on a
free port in a folder of the test's own; a second one carries Arena's source, published by a
real ffmpeg (lavfi test pattern with a tone, H.264 with 1 s keyframes). The destination receives
the stream (ffprobe reads it); killed mid-stream, the push retries with backoff and says so, and
the source (Arena's viewers) is untouched; restarted, the push resumes.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from server.app import create_app
from server.db import db, utcnow
from server.extensions import socketio
from server.media.simulcast import CONNECTING, IDLE, RETRYING, SENDING, KeyBox, Pusher, Target
from server.models import AuditEntry, SimulcastDestination
from server.services.export import export_event
from server.sockets import protocol as p
from tests.conftest import at, form_token
from tests.services import free_port
from tests.waiting import wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
KEY = "abcd-efgh-ijkl-mnop-q7Xz"
OTHER_KEY = "zyxw-vuts-rqpo-nmlk-W9k2"


# -- the app: 127.0.0.1 allowed as a destination (media.import_allowed_hosts) ---------------------

@pytest.fixture
def app(make_settings, database_url):
    app = create_app(make_settings(database={"url": database_url}, media={"import_allowed_hosts": ["127.0.0.1"]}))
    app.config["TESTING"] = True
    with app.app_context():
        yield app
        db.session.remove()
    app.extensions["arena.simulcast"].stop()
    app.extensions["arena.live"].stop()
    app.extensions["arena.studio"].stop()
    db.engine.dispose()


@pytest.fixture
def talk(session, make_event, make_talk):
    event = make_event(slug="dagen")
    talk = make_talk(event, slug="skapa-arenor", starts_at=at(10), ends_at=at(11))
    session.commit()
    return talk


def page_url(talk) -> str:
    return f"/admin/events/{talk.event.slug}/talks/{talk.slug}/simulcast"


def add(client, talk, *, label="YouTube", url="rtmp://127.0.0.1:1935/live2", key=KEY, enabled=True, token="t1",
        lang="sv"):
    data = {"csrf_token": form_token(client, page_url(talk)), "form_token": token, "label": label, "url": url,
            "stream_key": key}
    if enabled:
        data["enabled"] = "y"
    return client.post(page_url(talk), data=data, headers={"Accept-Language": lang})


def destinations(session) -> list[SimulcastDestination]:
    session.expire_all()
    return list(session.scalars(select(SimulcastDestination).order_by(SimulcastDestination.id)))


def audits(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# -- the organisers' page ---------------------------------------------------------------------------

def test_destination_added_shows_its_key_masked_and_never_again(app, session, organiser_client, talk):
    response = add(organiser_client, talk)

    assert response.status_code == 303
    page = organiser_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "YouTube" in page and "rtmp://127.0.0.1:1935/live2" in page
    assert "\u2022\u2022\u2022\u2022q7Xz" in page
    assert KEY not in page and KEY[:-4] not in page
    [destination] = destinations(session)
    assert destination.enabled and destination.key_hint == "q7Xz"
    assert KEY not in destination.key_ciphertext
    assert KeyBox(app.extensions["arena.settings"].instance_dir).decrypt(destination.key_ciphertext) == KEY
    key_file = app.extensions["arena.settings"].instance_dir / "simulcast_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_destination_key_is_in_no_audit_entry(app, session, organiser_client, talk):
    add(organiser_client, talk)
    [destination] = destinations(session)
    prefix = f"d{destination.id}-"
    organiser_client.post(f"{page_url(talk)}/{destination.id}", data={
        "csrf_token": form_token(organiser_client, page_url(talk)), f"{prefix}label": "YouTube",
        f"{prefix}url": destination.url, f"{prefix}stream_key": OTHER_KEY, f"{prefix}enabled": "y"})

    [created] = audits(session, "simulcast.create")
    [updated] = audits(session, "simulcast.update")
    written = json.dumps([created.before, created.after, updated.before, updated.after])
    assert KEY not in written and OTHER_KEY not in written
    assert updated.after == {"key_hint": "W9k2", "stream_key": "\u2022\u2022\u2022\u2022W9k2"}
    assert updated.before == {"key_hint": "q7Xz", "stream_key": "\u2022\u2022\u2022\u2022q7Xz"}


@pytest.mark.parametrize(("url", "swedish"), [
    ("http://a.rtmp.youtube.com/live2", "måste börja med rtmp:// eller rtmps://"),
    ("srt://127.0.0.1:9000/live", "måste börja med rtmp:// eller rtmps://"),
    ("rtmp://127.0.0.1:1935", "måste sluta med applikationen"),
    ("rtmp://10.20.30.40/live", "inne i vårt eget nätverk"),
    ("rtmp://localhost/live", "inne i vårt eget nätverk"),
    ("rtmp://user:pw@127.0.0.1/live", "användarnamn"),
])
def test_destination_with_a_bad_server_address_is_refused_in_swedish(session, organiser_client, talk, url, swedish):
    response = add(organiser_client, talk, url=url)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert swedish in page
    assert KEY not in page  # the key typed is not shown back either
    assert destinations(session) == []


def test_destination_needs_a_name_and_a_key(session, organiser_client, talk):
    response = add(organiser_client, talk, label=" ", key="")

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Ge mottagaren ett namn" in page or "Klistra in strömnyckeln" in page
    assert destinations(session) == []


def test_destination_key_kept_when_the_key_field_is_left_empty(app, session, organiser_client, talk):
    add(organiser_client, talk)
    [destination] = destinations(session)
    ciphertext, prefix = destination.key_ciphertext, f"d{destination.id}-"

    response = organiser_client.post(f"{page_url(talk)}/{destination.id}", data={
        "csrf_token": form_token(organiser_client, page_url(talk)), f"{prefix}label": "YouTube-kanalen",
        f"{prefix}url": destination.url, f"{prefix}stream_key": ""})

    assert response.status_code == 303
    [destination] = destinations(session)
    assert destination.label == "YouTube-kanalen" and not destination.enabled
    assert destination.key_ciphertext == ciphertext and destination.key_hint == "q7Xz"


def test_destination_added_twice_by_a_double_click_is_added_once(session, organiser_client, talk):
    first = add(organiser_client, talk, token="same")
    second = add(organiser_client, talk, token="same")

    assert first.status_code == second.status_code == 303
    assert len(destinations(session)) == 1


def test_destination_removed_is_audited_and_gone(session, organiser_client, talk):
    add(organiser_client, talk)
    [destination] = destinations(session)
    data = {"csrf_token": form_token(organiser_client, page_url(talk)), "form_token": "r1", "confirm": "yes"}

    first = organiser_client.post(f"{page_url(talk)}/{destination.id}/remove", data=data)
    again = organiser_client.post(f"{page_url(talk)}/{destination.id}/remove", data=data)

    assert first.status_code == again.status_code == 303
    assert destinations(session) == []
    [removed] = audits(session, "simulcast.delete")
    assert removed.before["label"] == "YouTube" and KEY not in json.dumps(removed.before)


def test_destination_remove_needs_the_box_ticked(session, organiser_client, talk):
    add(organiser_client, talk)
    [destination] = destinations(session)

    organiser_client.post(f"{page_url(talk)}/{destination.id}/remove",
                          data={"csrf_token": form_token(organiser_client, page_url(talk))})

    assert len(destinations(session)) == 1


def test_export_holds_no_stream_key(app, session, organiser_client, talk):
    add(organiser_client, talk)
    [destination] = destinations(session)

    archive = zipfile.ZipFile(io.BytesIO(export_event(session, talk.event, now=utcnow())))

    for name in archive.namelist():
        text = archive.read(name).decode("utf-8-sig")
        assert KEY not in text, name
        assert destination.key_ciphertext not in text, name


def test_simulcast_pages_are_for_organisers_only(app, session, organiser_client, role_client, talk):
    add(organiser_client, talk)
    speaker = role_client("speaker", talk=talk, name="Erik Talare")
    moderator = role_client("moderator", event=talk.event, name="Maja Moderator")

    for client in (speaker, moderator):
        assert client.get(page_url(talk)).status_code == 403
        assert client.get(f"{page_url(talk)}/state").status_code == 403
    state = organiser_client.get(f"{page_url(talk)}/state").get_json()
    assert state["destinations"][0]["label"] == "YouTube" and state["destinations"][0]["state"] == IDLE
    assert KEY not in json.dumps(state) and "rtmp://" not in json.dumps(state)


def test_studio_shows_the_destinations_read_only_to_the_speaker(app, session, organiser_client, role_client, talk):
    add(organiser_client, talk)
    speaker = role_client("speaker", talk=talk, name="Erik Talare")

    page = speaker.get(f"/events/{talk.event.slug}/{talk.slug}/studio").get_data(as_text=True)

    assert "Skickas även till" in page and "YouTube" in page
    assert "rtmp://127.0.0.1" not in page and KEY not in page and "q7Xz" not in page
    assert page_url(talk) not in page  # organisers only: the link to change them
    organiser_page = organiser_client.get(f"/events/{talk.event.slug}/{talk.slug}/studio").get_data(as_text=True)
    assert page_url(talk) in organiser_page


def test_watch_simulcast_is_for_the_talks_speaker_and_organisers(app, session, organiser_client, role_client, talk,
                                                                 make_talk):
    add(organiser_client, talk)
    other = make_talk(talk.event, slug="andra-passet", starts_at=at(11), ends_at=at(12))
    session.commit()
    browsers = {"speaker_here": role_client("speaker", talk=talk, name="Erik Talare"),
                "speaker_elsewhere": role_client("speaker", talk=other, name="Eva Talare"),
                "moderator": role_client("moderator", event=talk.event), "organiser": organiser_client}
    participant = app.test_client()
    participant.get(f"/events/{talk.event.slug}/{talk.slug}")
    browsers["participant"] = participant
    outcomes = {}

    for role, client in browsers.items():
        socket = socketio.test_client(app, namespace=p.STUDIO_NAMESPACE, flask_test_client=client)
        ack = socket.emit(p.WATCH_SIMULCAST, {"talk_id": talk.id}, namespace=p.STUDIO_NAMESPACE, callback=True)
        outcomes[role] = [d["label"] for d in ack["destinations"]] if ack.get("ok") else ack["error"]
        socket.disconnect(namespace=p.STUDIO_NAMESPACE)

    assert outcomes == {"speaker_here": ["YouTube"], "speaker_elsewhere": p.E_FORBIDDEN, "moderator": p.E_FORBIDDEN,
                        "organiser": ["YouTube"], "participant": p.E_FORBIDDEN}
