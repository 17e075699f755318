"""A talk's RTMP stream key: the service, the admin's Live video page, the studio's
key section and `python -m server stream-key`.

The key is shown once, when it is made; only its SHA-256 and last four characters are stored.
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from server.db import utcnow
from server.models import AuditEntry, Role, StreamKey
from server.services import stream_keys
from server.services.errors import Forbidden
from server.services.roles import Actor
from tests.conftest import EVERY_KIND_OF_PERSON, at, form_token, run_cli

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
ORGANISER = Actor(participant_id="o", role=Role.organiser, staff_name="Karin Kommunikatör")
KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


@pytest.fixture
def talk(session, make_event, make_talk):
    event = make_event(slug="nyckeldagen")
    talk = make_talk(event, slug="nyckelpasset", starts_at=at(10), ends_at=at(11))
    session.commit()
    return talk


def speaker_of(talk, talk_id=None) -> Actor:
    return Actor(participant_id="s", role=Role.speaker, staff_name="Sara Talare", talk_id=talk_id or talk.id,
                 event_id=talk.event_id)


def audits(session, talk) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.talk_id == talk.id,
                                                         AuditEntry.action.like("stream_key.%"))
                                .order_by(AuditEntry.id)))


# -- the service -----------------------------------------------------------------------

def test_make_returns_a_long_random_key_and_stores_only_its_hash(session, talk):
    key = stream_keys.make(session, talk, ORGANISER, NOW)
    session.commit()

    row = stream_keys.active(session, talk.id)
    assert KEY_SHAPE.fullmatch(key)
    assert row.key_hash == stream_keys.hash_key(key) and row.hint == key[-4:]
    assert row.created_by == "Karin Kommunikatör"
    assert stream_keys.lookup(session, key).id == row.id


def test_make_by_the_talks_speaker_is_allowed(session, talk):
    key = stream_keys.make(session, talk, speaker_of(talk), NOW)

    assert stream_keys.lookup(session, key).created_by == "Sara Talare"


@pytest.mark.parametrize("actor", [
    Actor(participant_id="p"),
    Actor(participant_id="m", role=Role.moderator, staff_name="Maja Moderator"),
], ids=["participant", "moderator"])
def test_make_and_revoke_by_others_are_refused(session, talk, actor):
    stream_keys.make(session, talk, ORGANISER, NOW)
    session.commit()

    with pytest.raises(Forbidden):
        stream_keys.make(session, talk, actor, NOW)
    with pytest.raises(Forbidden):
        stream_keys.revoke(session, talk, actor, NOW)
    assert session.scalar(select(func.count()).select_from(StreamKey)) == 1
    assert stream_keys.active(session, talk.id) is not None


def test_make_by_another_talks_speaker_is_refused(session, talk, make_talk):
    other = make_talk(talk.event, slug="annat-pass")

    with pytest.raises(Forbidden):
        stream_keys.make(session, talk, speaker_of(talk, talk_id=other.id), NOW)


def test_rotate_revokes_the_old_key_and_lookup_finds_it_as_revoked(session, talk):
    old = stream_keys.make(session, talk, ORGANISER, NOW)
    session.commit()

    new = stream_keys.make(session, talk, speaker_of(talk), NOW + timedelta(minutes=1))
    session.commit()

    old_row, new_row = stream_keys.lookup(session, old), stream_keys.lookup(session, new)
    assert old != new
    assert old_row.revoke_reason == "rotated" and old_row.revoked_by == "Sara Talare"
    assert not stream_keys.is_valid(old_row) and stream_keys.is_valid(new_row)
    assert stream_keys.active(session, talk.id).id == new_row.id
    assert [entry.action for entry in audits(session, talk)] == ["stream_key.create", "stream_key.rotate"]


def test_revoke_ends_the_key_and_a_second_revoke_changes_nothing(session, talk):
    key = stream_keys.make(session, talk, ORGANISER, NOW)
    session.commit()

    stream_keys.revoke(session, talk, ORGANISER, NOW)
    stream_keys.revoke(session, talk, ORGANISER, NOW)
    session.commit()

    row = stream_keys.lookup(session, key)
    assert row.revoke_reason == "revoked" and row.revoked_at is not None
    assert stream_keys.active(session, talk.id) is None
    assert [entry.action for entry in audits(session, talk)] == ["stream_key.create", "stream_key.revoke"]


@pytest.mark.parametrize("presented", [None, "", 42, b"bytes", "x" * 42, "x" * 44, "a/b" + "c" * 40,
                                       "ä" * 43, "' OR 1=1 --" + "a" * 32, "\x00" * 43, "A" * 10_000])
def test_lookup_of_malformed_input_is_none(session, talk, presented):
    stream_keys.make(session, talk, ORGANISER, NOW)

    assert stream_keys.lookup(session, presented) is None


def test_lookup_of_an_unknown_well_formed_key_is_none(session, talk):
    stream_keys.make(session, talk, ORGANISER, NOW)

    assert stream_keys.lookup(session, "A" * 43) is None


def test_the_plaintext_key_is_nowhere_in_the_database(session, talk, app):
    key = stream_keys.make(session, talk, ORGANISER, NOW)
    rotated = stream_keys.make(session, talk, ORGANISER, NOW)
    stream_keys.revoke(session, talk, ORGANISER, NOW)
    session.commit()

    path = app.extensions["arena.settings"].database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        dump = "\n".join(connection.iterdump())
    assert key not in dump and rotated not in dump
    assert key[-4:] in dump  # the hint is, and only it
    assert key[:-4] not in dump and rotated[:-4] not in dump


def test_audit_entries_name_the_hint_only(session, talk):
    key = stream_keys.make(session, talk, ORGANISER, NOW)
    new = stream_keys.make(session, talk, ORGANISER, NOW)
    session.commit()

    text = repr([(entry.before, entry.after, entry.reason, entry.target_id) for entry in audits(session, talk)])
    assert key not in text and new not in text
    assert new[-4:] in text


def test_a_second_make_racing_the_first_is_told_and_leaves_the_first_key_valid(session, talk, monkeypatch):
    first = stream_keys.make(session, talk, ORGANISER, NOW)
    session.commit()
    # Another process's new key lands between this make's read of the valid key and its insert
    # (the read is where the interleaving is forced; the unique index does the rest).
    other = StreamKey(talk_id=talk.id, active_talk_id=talk.id, key_hash="0" * 64, hint="zzzz",
                      created_at=NOW, created_by="Annan")
    read = stream_keys.active

    def read_then_the_other_process_writes(session_, talk_id):
        row = read(session_, talk_id)
        row.active_talk_id = None
        session_.add(other)
        return row

    monkeypatch.setattr(stream_keys, "active", read_then_the_other_process_writes)
    with pytest.raises(stream_keys.KeyRace):
        stream_keys.make(session, talk, ORGANISER, NOW)
    monkeypatch.undo()
    session.rollback()

    assert stream_keys.is_valid(stream_keys.lookup(session, first))
    assert session.scalar(select(func.count()).select_from(StreamKey)) == 1


def test_server_url_uses_the_public_host_or_the_base_urls(make_settings):
    from_base = make_settings(server={"base_url": "https://arena.norrbotten.se/"}, ingest={"rtmp_port": 1935})
    named = make_settings(ingest={"public_host": "ingest.example.se", "rtmp_port": 19350})
    ipv6 = make_settings(server={"base_url": "http://[::1]:5000"}, ingest={"rtmp_port": 1935})

    assert stream_keys.server_url(from_base) == "rtmp://arena.norrbotten.se:1935/live"
    assert stream_keys.server_url(named) == "rtmp://ingest.example.se:19350/live"
    assert stream_keys.server_url(ipv6) == "rtmp://[::1]:1935/live"
    assert stream_keys.publish_url(named, "K" * 43) == "rtmp://ingest.example.se:19350/live/" + "K" * 43


def test_recent_refusals_reads_the_ingests_audit_entries(session, talk):
    from server.services.ingest import recent_refusals, record_refusal

    key = stream_keys.make(session, talk, ORGANISER, NOW)
    stream_keys.make(session, talk, ORGANISER, NOW)
    record_refusal(session, talk=talk, code="revoked_key", address="192.0.2.7",
                   stream_key=stream_keys.lookup(session, key))
    session.commit()

    [refusal] = recent_refusals(session, talk.id)
    assert (refusal.code, refusal.address, refusal.key_hint) == ("revoked_key", "192.0.2.7", key[-4:])


def refusal_rows(session, talk=None) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == "ingest.refused").order_by(AuditEntry.id)
    if talk is not None:
        query = query.where(AuditEntry.talk_id == talk.id)
    return list(session.scalars(query))


def test_record_refusal_repeats_within_ten_minutes_are_one_entry_with_a_count(session, talk):
    from server.services.ingest import recent_refusals, record_refusal

    for minutes in (0, 3, 9):
        record_refusal(session, talk=talk, code="already_live", address="192.0.2.7",
                       now=NOW + timedelta(minutes=minutes))
        session.commit()
    record_refusal(session, talk=talk, code="revoked_key", address="192.0.2.7", now=NOW + timedelta(minutes=9))
    record_refusal(session, talk=talk, code="already_live", address="192.0.2.8", now=NOW + timedelta(minutes=9))
    session.commit()

    rows = refusal_rows(session, talk)
    assert [(r.reason, r.after["address"], r.after["count"]) for r in rows] == [
        ("already_live", "192.0.2.7", 3), ("revoked_key", "192.0.2.7", 1), ("already_live", "192.0.2.8", 1)]
    assert rows[0].after["last_seen"] == (NOW + timedelta(minutes=9)).isoformat()
    newest_first = recent_refusals(session, talk.id)
    assert (newest_first[-1].count, newest_first[-1].at, newest_first[-1].last_seen) == (
        3, NOW, NOW + timedelta(minutes=9))


def test_record_refusal_after_the_window_starts_a_new_entry(session, talk):
    from server.services.ingest import record_refusal

    record_refusal(session, talk=None, code="unknown_key", address="198.51.100.1", now=NOW)
    record_refusal(session, talk=None, code="unknown_key", address="198.51.100.1", now=NOW + timedelta(minutes=5))
    record_refusal(session, talk=None, code="unknown_key", address="198.51.100.1", now=NOW + timedelta(minutes=11))
    session.commit()

    assert [r.after["count"] for r in refusal_rows(session)] == [2, 1]


@pytest.mark.both_databases
def test_record_refusal_from_two_processes_at_once_counts_both_in_one_entry(session, talk, database_url):
    # Two connections (as two server processes): the second waits for the first's lock
    # instead of reading "no entry yet" and writing a second one.
    import threading
    import time

    from sqlalchemy.orm import Session as OrmSession

    from server.db import make_engine
    from server.services.ingest import record_refusal

    engine = make_engine(database_url)
    first, second = OrmSession(engine), OrmSession(engine)
    try:
        record_refusal(first, talk=None, code="unknown_key", address="203.0.113.77", now=NOW)  # holds the lock
        started = threading.Event()

        def other() -> None:
            started.set()
            record_refusal(second, talk=None, code="unknown_key", address="203.0.113.77",
                           now=NOW + timedelta(seconds=1))
            second.commit()

        thread = threading.Thread(target=other)
        thread.start()
        started.wait(10)
        time.sleep(0.5)  # let it reach the lock (not an assertion on time)
        first.commit()
        thread.join(30)
    finally:
        first.close()
        second.close()
        engine.dispose()

    session.expire_all()
    assert [(r.after["count"], r.after["address"]) for r in refusal_rows(session)] == [(2, "203.0.113.77")]


# -- the admin's Live video page -------------------------------------------------------

def page_url(talk) -> str:
    return f"/admin/events/{talk.event.slug}/talks/{talk.slug}/live-video"


def make_form(client, talk, *, confirm: bool = False) -> dict[str, str]:
    """The Make key form of the page as the browser would send it."""
    page = client.get(page_url(talk)).get_data(as_text=True)
    data = {"make-csrf_token": re.search(r'name="make-csrf_token"[^>]*value="([^"]+)"', page).group(1),
            "form_token": re.search(r'name="form_token" value="([^"]+)"', page).group(1)}
    if confirm:
        data["make-confirm"] = "y"
    return data


def make_key(client, talk, *, confirm: bool = False, data: dict[str, str] | None = None):
    return client.post(page_url(talk) + "/key", data=data or make_form(client, talk, confirm=confirm),
                       headers={"Accept-Language": "en"})


def shown_key(html: str) -> str | None:
    found = re.search(r'id="admin-new-key-value" type="text" readonly value="([^"]+)"', html)
    return found.group(1) if found else None


def test_admin_page_shows_the_server_url_and_no_key_yet(organiser_client, talk, app):
    response = organiser_client.get(page_url(talk), headers={"Accept-Language": "en"})
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    port = app.extensions["arena.settings"].ingest.rtmp_port
    assert f"rtmp://arena.test:{port}/live" in html
    assert "No key yet." in html and "Make a key" in html


def test_admin_key_is_shown_once_then_masked(organiser_client, talk, session):
    made = make_key(organiser_client, talk)
    html = made.get_data(as_text=True)
    key = shown_key(html)

    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    assert KEY_SHAPE.fullmatch(key)
    assert f"/live/{key}" in html  # the whole publish URL
    assert "shown only this once" in html
    assert stream_keys.lookup(session, key) is not None

    again = organiser_client.get(page_url(talk), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert key not in again and key[:-4] not in again
    assert key[-4:] in again and "Make a new key" in again
    path = session.get_bind().url.database
    with sqlite3.connect(path) as connection:  # the form token's row, the audit log: nowhere
        assert key[:-4] not in "\n".join(connection.iterdump())


def test_admin_double_submit_makes_one_key_and_shows_it_no_more(organiser_client, talk, session):
    form = make_form(organiser_client, talk)

    first = make_key(organiser_client, talk, data=form)
    repeat = make_key(organiser_client, talk, data=form)  # the same form sent again

    key = shown_key(first.get_data(as_text=True))
    assert repeat.status_code == 303
    followed = organiser_client.get(repeat.headers["Location"], headers={"Accept-Language": "en"})
    assert key not in followed.get_data(as_text=True)
    assert "shown only then" in followed.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(StreamKey)) == 1


def test_admin_new_key_needs_confirmation_and_then_rotates(organiser_client, talk, session):
    old = shown_key(make_key(organiser_client, talk).get_data(as_text=True))

    unconfirmed = make_key(organiser_client, talk)
    confirmed = make_key(organiser_client, talk, confirm=True)

    assert unconfirmed.status_code == 400
    assert "Tick the box" in unconfirmed.get_data(as_text=True)
    new = shown_key(confirmed.get_data(as_text=True))
    session.expire_all()
    assert new and new != old
    assert stream_keys.lookup(session, old).revoke_reason == "rotated"
    assert stream_keys.is_valid(stream_keys.lookup(session, new))


def test_admin_revoke_needs_confirmation_and_is_audited(organiser_client, talk, session):
    key = shown_key(make_key(organiser_client, talk).get_data(as_text=True))
    page = organiser_client.get(page_url(talk)).get_data(as_text=True)
    csrf = re.search(r'name="revoke-csrf_token"[^>]*value="([^"]+)"', page).group(1)

    unconfirmed = organiser_client.post(page_url(talk) + "/revoke", data={"revoke-csrf_token": csrf})
    confirmed = organiser_client.post(page_url(talk) + "/revoke", data={"revoke-csrf_token": csrf,
                                                                        "revoke-confirm": "y"})

    assert unconfirmed.status_code == 400
    assert confirmed.status_code == 303
    session.expire_all()
    assert stream_keys.lookup(session, key).revoke_reason == "revoked"
    assert [entry.action for entry in audits(session, talk)] == ["stream_key.create", "stream_key.revoke"]
    assert audits(session, talk)[-1].actor == "Karin Kommunikatör"


def test_admin_post_without_csrf_is_refused(organiser_client, talk, session):
    response = organiser_client.post(page_url(talk) + "/key", data={"make-confirm": "y"})

    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(StreamKey)) == 0


def test_admin_page_shows_refusals_and_that_ingest_is_off(make_settings, database_url, session, talk):
    from server import create_app
    from server.services.ingest import record_refusal

    record_refusal(session, talk=talk, code="already_live", address="198.51.100.23")
    session.commit()
    off = create_app(make_settings(database={"url": database_url}, ingest={"enabled": False}))
    off.config["TESTING"] = True
    with off.app_context():
        client = off.test_client()
        from server.db import db
        from server.services.accounts import create_organiser

        create_organiser(db.session, email="olle@norrbotten.se", name="Olle", password="ett långt lösenord 1")
        db.session.commit()
        client.post("/sign-in", data={"email": "olle@norrbotten.se", "password": "ett långt lösenord 1",
                                      "csrf_token": form_token(client, "/sign-in")})
        html = client.get(page_url(talk), headers={"Accept-Language": "en"}).get_data(as_text=True)
        db.session.remove()
    off.extensions["arena.live"].stop()
    off.extensions["arena.studio"].stop()

    assert "turned off on this server" in html
    assert "198.51.100.23" in html and "already live" in html


def test_admin_page_shows_refusal_counts_and_no_raw_codes(organiser_client, talk, session):
    from server.services.ingest import record_refusal

    for seconds in (0, 30, 90):
        record_refusal(session, talk=talk, code="server_error", address="192.0.2.44", detail="ingest_unavailable",
                       now=utcnow() + timedelta(seconds=seconds))
    record_refusal(session, talk=talk, code="server_error", address="192.0.2.45", detail="ffmpeg_missing_codec")
    session.commit()

    english = organiser_client.get(page_url(talk), headers={"Accept-Language": "en"}).get_data(as_text=True)
    swedish = organiser_client.get(page_url(talk), headers={"Accept-Language": "sv"}).get_data(as_text=True)

    rows = re.findall(r"<tr>.*?</tr>", english.split('id="refusals-heading"')[1].split("<tbody>")[1], re.S)
    assert len(rows) == 2
    counts = [re.search(r'data-label="Attempts">(\d+)<', row).group(1) for row in rows]
    assert counts == ["1", "3"]  # newest first
    assert "Last:" in rows[1] and "Last:" not in rows[0]
    assert "a server administrator must set it up" in rows[1]
    for html in (english, swedish):
        assert "ingest_unavailable" not in html and "ffmpeg_missing_codec" not in html
        assert "server_error" not in html
    assert "Försök" in swedish and "Senast:" in swedish


def test_admin_page_shows_the_rtmp_stream_arriving_now(organiser_client, talk, session):
    from server.models import LiveStream, StreamState

    stream_keys.make(session, talk, ORGANISER, NOW)
    session.add(LiveStream(talk_id=talk.id, active_talk_id=talk.id, state=StreamState.live, source="rtmp",
                           stream_key_id=stream_keys.active(session, talk.id).id, rtmp_name="n" * 32,
                           client_address="203.0.113.9", video_width=1280, video_height=720, started_at=NOW))
    session.commit()

    html = organiser_client.get(page_url(talk), headers={"Accept-Language": "en"}).get_data(as_text=True)

    assert "Live from an encoder" in html
    assert "1280×720" in html and "203.0.113.9" in html


def test_the_talk_form_links_to_the_live_video_page(organiser_client, talk):
    html = organiser_client.get(f"/admin/events/{talk.event.slug}/talks/{talk.slug}").get_data(as_text=True)

    assert page_url(talk) in html


# -- the studio's key section ------------------------------------------------------------

def studio_url(talk) -> str:
    return f"/events/{talk.event.slug}/{talk.slug}/studio"


def studio_make(client, talk, *, confirm: bool = False):
    page = client.get(studio_url(talk)).get_data(as_text=True)
    data = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "form_token": re.search(r'name="form_token" value="([^"]+)"', page).group(1)}
    if confirm:
        data["confirm"] = "yes"
    return client.post(studio_url(talk) + "/stream-key", data=data, headers={"Accept-Language": "en"})


def test_speaker_makes_a_key_in_the_studio_shown_once(role_client, talk, session):
    speaker = role_client("speaker", talk=talk, name="Sara Talare")

    made = studio_make(speaker, talk)
    html = made.get_data(as_text=True)
    key = re.search(r'id="studio-new-key-value" type="text" readonly value="([^"]+)"', html).group(1)

    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    assert stream_keys.lookup(session, key).created_by == "Sara Talare"
    again = speaker.get(studio_url(talk), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert key not in again and key[-4:] in again and "OBS" in again
    refused = studio_make(speaker, talk)
    assert refused.status_code == 400 and "Tick the box" in refused.get_data(as_text=True)
    rotated = studio_make(speaker, talk, confirm=True)
    assert rotated.status_code == 200
    session.expire_all()
    assert stream_keys.lookup(session, key).revoke_reason == "rotated"


def test_studio_key_route_is_for_the_talks_speaker_and_organisers_only(app, session, talk, make_talk, make_event,
                                                                      every_kind_of_person):
    other_talk = make_talk(talk.event, slug="andra-passet")
    other_event = make_event(slug="annan-nyckeldag")
    session.commit()
    browsers = every_kind_of_person(talk, other_talk, other_event)
    failures = []

    for role in EVERY_KIND_OF_PERSON:
        client = browsers[role]
        before = session.scalar(select(func.count()).select_from(StreamKey))
        response = client.post(studio_url(talk) + "/stream-key",
                               data={"csrf_token": form_token(client, "/sign-in"), "confirm": "yes"})
        session.expire_all()
        made = session.scalar(select(func.count()).select_from(StreamKey)) - before
        allowed = role in ("speaker_here", "organiser")
        if allowed != (response.status_code == 200 and made == 1) or (not allowed and response.status_code != 403):
            failures.append(f"{role}: {response.status_code}, {made} keys made")

    assert failures == []


# -- the command line ----------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update({"ARENA_DATABASE__URL": f"sqlite:///{tmp_path / 'arena.db'}",
                "ARENA_SERVER__INSTANCE_PATH": str(tmp_path / "instance"),
                "ARENA_SERVER__BASE_URL": "https://arena.norrbotten.se",
                "ARENA_INGEST__RTMP_PORT": "19351"})
    for args in (("migrate",), ("load-demo", "--date", "2026-11-24")):
        assert run_cli(env, *args).returncode == 0
    return env


def test_cli_stream_key_prints_the_key_and_ends_with_the_publish_url(cli_env, tmp_path):
    event, talk = "sociala-medier-i-offentlig-sektor", "skapa-arenor"

    made = run_cli(cli_env, "stream-key", event, talk)
    again = run_cli(cli_env, "stream-key", event, talk)
    rotated = run_cli(cli_env, "stream-key", event, talk, "--rotate")
    unknown_talk = run_cli(cli_env, "stream-key", event, "finns-inte")
    unknown_event = run_cli(cli_env, "stream-key", "finns-inte", talk)

    assert made.returncode == 0, made.stderr
    lines = made.stdout.strip().splitlines()
    key = re.search(r"^Stream key: (\S+)$", made.stdout, re.M).group(1)
    assert "Server: rtmp://arena.norrbotten.se:19351/live" in lines
    assert lines[-1] == f"rtmp://arena.norrbotten.se:19351/live/{key}"

    assert again.returncode == 1
    assert key not in again.stdout + again.stderr
    assert "--rotate" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert "Server: rtmp://arena.norrbotten.se:19351/live" in again.stdout

    assert rotated.returncode == 0, rotated.stderr
    new_key = re.search(r"^Stream key: (\S+)$", rotated.stdout, re.M).group(1)
    assert new_key != key and rotated.stdout.strip().splitlines()[-1].endswith(f"/live/{new_key}")

    assert unknown_talk.returncode == 2 and "finns-inte" in unknown_talk.stderr
    assert unknown_event.returncode == 2 and "no event" in unknown_event.stderr

    with sqlite3.connect(tmp_path / "arena.db") as connection:
        rows = connection.execute("SELECT revoke_reason, created_by FROM stream_keys ORDER BY id").fetchall()
        actions = [row[0] for row in connection.execute(
            "SELECT action FROM audit_log WHERE action LIKE 'stream_key.%' ORDER BY id")]
    assert [row[0] for row in rows] == ["rotated", None]
    assert rows[0][1].startswith("command line (")
    assert actions == ["stream_key.create", "stream_key.rotate"]


def test_the_answers_address_opened_again_shows_the_page_with_the_key_masked(organiser_client, role_client, talk):
    key = shown_key(make_key(organiser_client, talk).get_data(as_text=True))
    speaker = role_client("speaker", talk=talk, name="Sara Talare")

    admin = organiser_client.get(page_url(talk) + "/key")  # e.g. the language switch on the answer
    studio = speaker.get(studio_url(talk) + "/stream-key")

    assert admin.status_code == 303 and admin.headers["Location"].endswith(page_url(talk))
    assert studio.status_code == 303 and studio_url(talk) in studio.headers["Location"]
    assert key not in organiser_client.get(admin.headers["Location"]).get_data(as_text=True)


def test_studio_post_without_csrf_is_refused(role_client, talk, session):
    speaker = role_client("speaker", talk=talk, name="Sara Talare")

    response = speaker.post(studio_url(talk) + "/stream-key", data={"confirm": "yes"})

    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(StreamKey)) == 0
