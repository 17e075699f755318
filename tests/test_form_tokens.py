"""A creating form sent twice (a double click on a slow connection, a reload of the POST)
creates once, and the second answer is the first one's: its page and its message, never a
false error such as "the address is taken". Also when both requests run at the same time,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, func, select, text

from server.db import utcnow
from server.models import AuditEntry, Event, FormToken, Organiser, Recording, RoleGrant, Speaker, Talk
from tests.conftest import at

pytestmark = pytest.mark.both_databases
EN = {"Accept-Language": "en"}
SV = {"Accept-Language": "sv"}


def hidden(html: str, name: str, occurrence: int = 0) -> str:
    return re.findall(rf'name="{name}"[^>]*value="([^"]+)"', html)[occurrence]


def filled_form(client, path: str, fields: dict, occurrence: int = 0) -> dict:
    """The form on `path` as a browser sends it: its CSRF and one-time tokens, and `fields`."""
    html = client.get(path, headers=EN).get_data(as_text=True)
    return {"csrf_token": hidden(html, "csrf_token"), "form_token": hidden(html, "form_token", occurrence), **fields}


def count(session, model) -> int:
    session.rollback()  # see what other connections committed
    return session.scalar(select(func.count()).select_from(model))


def speaker_fields(name: str = "Anna Karlsson") -> dict:
    return {"name": name, "role": "lärare, Viktor Rydbergs samskola", "bio": "", "links": ""}


def event_fields(title: str = "Digitaliseringsdagen") -> dict:
    return {"title": title, "slug": "", "starts_on": "2026-11-24", "ends_on": "", "time_zone": "Europe/Stockholm",
            "organiser": "Kommunförbundet Norrbotten", "venue": "", "invitation_text": ""}


def location(response) -> str:
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"#{parts.fragment}" if parts.fragment else "")


# -- sent twice, one after the other -----------------------------------------------------------

def test_new_speaker_sent_twice_creates_one_and_both_land_on_it(organiser_client, session, make_event):
    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields())

    first = organiser_client.post(path, data=form, headers=SV)
    second = organiser_client.post(path, data=form, headers=SV)

    assert first.status_code == second.status_code == 303
    assert location(second) == location(first) == f"/admin/events/{event.slug}#speakers"
    assert count(session, Speaker) == 1
    assert session.scalar(select(func.count()).where(AuditEntry.action == "speaker.create")) == 1
    # The page the second answer leads to says what the first did, in Swedish.
    assert "Talaren lades till." in organiser_client.get(location(second), headers=SV).get_data(as_text=True)


def test_new_event_sent_twice_lands_on_the_event_without_an_address_error(organiser_client, session):
    form = filled_form(organiser_client, "/admin/events/new", event_fields())

    first = organiser_client.post("/admin/events/new", data=form, headers=EN)
    second = organiser_client.post("/admin/events/new", data=form, headers=EN)

    assert first.status_code == second.status_code == 303
    assert location(second) == location(first) == "/admin/events/digitaliseringsdagen"
    assert count(session, Event) == 1
    assert "already uses" not in organiser_client.get(location(second), headers=EN).get_data(as_text=True)


def test_new_talk_sent_twice_creates_one_talk(organiser_client, session, make_event):
    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/talks/new"
    form = filled_form(organiser_client, path, {"title": "Skapa arenor!", "slug": "", "day": "2026-11-24",
                                                "starts": "10:00", "ends": "10:45", "invitation_text": "",
                                                "stream_url": "", "slides_url": ""})

    responses = [organiser_client.post(path, data=form, headers=EN) for _ in range(2)]

    assert [r.status_code for r in responses] == [303, 303]
    assert location(responses[1]) == f"/admin/events/{event.slug}/talks/skapa-arenor"
    assert count(session, Talk) == 1


@pytest.mark.parametrize(("role", "action", "occurrence", "fields"), [
    ("moderator", "moderators", 0, {"moderator-name": "Maja Moderator", "moderator-valid_days": "7"}),
    ("speaker", "speakers", 1, {"invite-name": "Erik Talare", "invite-valid_days": "14"}),
])
def test_sign_in_link_sent_twice_is_made_once(organiser_client, session, make_event, make_talk, role, action,
                                              occurrence, fields):
    event = make_event()
    talk = make_talk(event)
    session.commit()
    if role == "speaker":
        fields = {**fields, "invite-talk": str(talk.id)}
    form = filled_form(organiser_client, f"/admin/events/{event.slug}/people", fields, occurrence)

    responses = [organiser_client.post(f"/admin/events/{event.slug}/people/{action}", data=form, headers=EN)
                 for _ in range(2)]

    grants = session.scalars(select(RoleGrant)).all()
    assert [r.status_code for r in responses] == [303, 303]
    assert len(grants) == 1
    assert location(responses[1]) == f"/admin/events/{event.slug}/people#grant-{grants[0].id}"


def test_moderator_link_form_sent_again_after_its_link_was_revoked_makes_a_new_link(organiser_client, session,
                                                                                   make_event):
    event = make_event()
    session.commit()
    people = f"/admin/events/{event.slug}/people"
    form = filled_form(organiser_client, people, {"moderator-name": "Moa Moderator", "moderator-valid_days": "7"}, 0)
    assert organiser_client.post(people + "/moderators", data=form, headers=EN).status_code == 303
    first = session.scalars(select(RoleGrant)).one()
    revoked = organiser_client.post(f"{people}/{first.id}/revoke", data={"csrf_token": hidden(
        organiser_client.get(people, headers=EN).get_data(as_text=True), "csrf_token")}, headers=EN)
    assert revoked.status_code == 303

    # Back to the form the browser kept, and sent again on purpose: a new, working link.
    again = organiser_client.post(people + "/moderators", data=form, headers=EN)

    session.expire_all()
    grants = session.scalars(select(RoleGrant).order_by(RoleGrant.id)).all()
    assert again.status_code == 303
    assert [grant.revoked_at is None for grant in grants] == [False, True]
    assert location(again) == f"{people}#grant-{grants[1].id}"


def test_organiser_account_sent_twice_is_made_once_and_its_link_shown(organiser_client, session):
    form = filled_form(organiser_client, "/admin/organisers", {"name": "Olle Kollega", "email": "olle@norrbotten.se"},
                       occurrence=1)  # the first one-time token is the password link's of Karin's own row

    first = organiser_client.post("/admin/organisers", data=form, headers=EN)
    second = organiser_client.post("/admin/organisers", data=form, headers=EN)

    assert first.status_code == second.status_code == 303
    assert count(session, Organiser) == 2  # Karin, who is signed in, and Olle once
    html = organiser_client.get("/admin/organisers", headers=EN).get_data(as_text=True)
    assert "The account of Olle Kollega was made" in html and "/set-password/" in html
    assert "already has an account" not in html


# -- sent twice at the same time ----------------------------------------------------------------

@contextlib.contextmanager
def writes_held(database_url: str):
    """Holds back every write to the one-time tokens until the block ends, so requests
    started inside it meet at the same moment."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")  # the write lock: other writers wait in their busy handler
        try:
            yield
        finally:
            connection.execute("COMMIT")
            connection.close()
        return
    engine = create_engine(database_url)
    with engine.connect() as connection:
        # Other writers try, give up after a moment and try again (form_tokens.claim).
        connection.execute(text("LOCK TABLE form_tokens IN SHARE ROW EXCLUSIVE MODE"))
        try:
            yield
        finally:
            connection.commit()
    engine.dispose()


def post_together(client, path: str, form: dict, database_url: str) -> list:
    responses: list = [None, None]
    started = threading.Barrier(3)

    def send(index: int) -> None:
        started.wait()
        responses[index] = client.post(path, data=form, headers=EN)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(2)]
    with writes_held(database_url):
        for thread in threads:
            thread.start()
        started.wait()
        # Neither database says which request is held back when: give both a moment to reach
        # the lock. What is asserted afterwards holds for any interleaving.
        threading.Event().wait(1.0)
    for thread in threads:
        thread.join(timeout=60)
    return responses


def test_new_speaker_sent_twice_at_the_same_time_creates_one(organiser_client, session, make_event, database_url):
    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields())

    responses = post_together(organiser_client, path, form, database_url)

    assert [r.status_code for r in responses] == [303, 303]
    assert location(responses[0]) == location(responses[1]) == f"/admin/events/{event.slug}#speakers"
    assert count(session, Speaker) == 1


def test_new_event_sent_twice_at_the_same_time_creates_one_without_an_error(organiser_client, session,
                                                                           database_url):
    form = filled_form(organiser_client, "/admin/events/new", event_fields())

    responses = post_together(organiser_client, "/admin/events/new", form, database_url)

    assert [r.status_code for r in responses] == [303, 303]
    assert location(responses[0]) == location(responses[1]) == "/admin/events/digitaliseringsdagen"
    assert count(session, Event) == 1


def test_repeat_waits_for_the_first_still_saving_and_gets_its_page(organiser_client, session, make_event,
                                                                   database_url):
    """The first request has claimed the form and is still saving (its transaction open, here
    on a connection of the test's own) when the repeat arrives: the repeat waits, then answers
    with the first one's page."""
    from server.services.form_tokens import submission_key

    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields())
    key = submission_key(form["form_token"], path,
                         [(name, value) for name, value in form.items() if name not in ("csrf_token", "form_token")])
    insert = text("INSERT INTO form_tokens (key, created_at, result_url, message) VALUES (:key, :now, :url, :message)")
    values = {"key": key, "now": utcnow().replace(tzinfo=None), "url": "/admin/the-first-ones-page",
              "message": "Saved by the first."}
    answer: list = []
    repeat = threading.Thread(target=lambda: answer.append(organiser_client.post(path, data=form, headers=EN)))

    engine = create_engine(database_url)
    with engine.connect() as first:
        first.execute(insert, values)  # claimed, not committed
        repeat.start()
        threading.Event().wait(1.0)  # time for the repeat to reach the claim; any interleaving gives the same end
        first.commit()
    engine.dispose()
    repeat.join(timeout=60)

    assert answer[0].status_code == 303
    assert location(answer[0]) == "/admin/the-first-ones-page"
    assert count(session, Speaker) == 0  # the repeat created nothing of its own


# -- what is not a repeat -------------------------------------------------------------------------

def test_form_restored_with_its_old_token_but_new_contents_creates_again(organiser_client, session, make_event):
    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields("Anna Karlsson"))
    assert organiser_client.post(path, data=form, headers=EN).status_code == 303

    # Back, a new name typed into the page the browser kept, sent: a new speaker on purpose.
    again = organiser_client.post(path, data={**form, **speaker_fields("Mattias Jansson")}, headers=EN)

    assert again.status_code == 303
    assert sorted(session.scalars(select(Speaker.name))) == ["Anna Karlsson", "Mattias Jansson"]


def test_refused_form_keeps_its_token_and_its_correction_creates(organiser_client, session, make_event):
    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields(""))

    refused = organiser_client.post(path, data=form, headers=EN)
    html = refused.get_data(as_text=True)
    corrected = organiser_client.post(path, data={**form, "csrf_token": hidden(html, "csrf_token"),
                                                  "form_token": hidden(html, "form_token"), "name": "Anna Karlsson"},
                                      headers=EN)

    assert refused.status_code == 400
    assert hidden(html, "form_token") == form["form_token"]
    assert corrected.status_code == 303
    assert count(session, Speaker) == 1


def test_form_without_a_token_still_creates(organiser_client, session, make_event):
    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields())
    del form["form_token"]

    assert organiser_client.post(path, data=form, headers=EN).status_code == 303
    assert count(session, Speaker) == 1


def test_tokens_older_than_a_day_are_deleted_when_a_form_is_sent(organiser_client, session, make_event):
    event = make_event()
    session.add_all([FormToken(key="a" * 64, created_at=utcnow() - timedelta(days=1, minutes=1),
                               result_url="/admin/"),
                     FormToken(key="b" * 64, created_at=utcnow() - timedelta(hours=23), result_url="/admin/")])
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"

    organiser_client.post(path, data=filled_form(organiser_client, path, speaker_fields()), headers=EN)

    session.rollback()
    keys = set(session.scalars(select(FormToken.key)))
    assert "a" * 64 not in keys and "b" * 64 in keys and len(keys) == 2


def test_every_creating_form_carries_a_one_time_token(organiser_client, session, make_event, make_talk):
    event = make_event()
    talk = make_talk(event, starts_at=at(10), ends_at=at(10, 45))
    session.commit()
    pages = {
        "/admin/events/new": ["/admin/events/new"],
        f"/admin/events/{event.slug}/talks/new": [f"/admin/events/{event.slug}/talks/new"],
        f"/admin/events/{event.slug}/speakers/new": [f"/admin/events/{event.slug}/speakers/new"],
        f"/admin/events/{event.slug}/people": [f"/admin/events/{event.slug}/people/moderators",
                                               f"/admin/events/{event.slug}/people/speakers"],
        "/admin/organisers": ["/admin/organisers"],
        f"/admin/events/{event.slug}/talks/{talk.slug}/recording": [
            f"/admin/events/{event.slug}/talks/{talk.slug}/recording/import",
            f"/admin/events/{event.slug}/talks/{talk.slug}/recording/upload",
            f"/admin/events/{event.slug}/talks/{talk.slug}/recording/captions"],
    }
    for page, actions in pages.items():
        html = organiser_client.get(page, headers=EN).get_data(as_text=True)
        forms = re.findall(r'<form\b[^>]*action="([^"]+)"[^>]*>(.*?)</form>', html, re.S)
        forms += [(page, body) for body in re.findall(r'<form\b(?![^>]*action=)[^>]*>(.*?)</form>', html, re.S)]
        for action in actions:
            bodies = [body for form_action, body in forms if form_action == action]
            assert bodies and all('name="form_token"' in body for body in bodies), action


def test_video_upload_sent_twice_is_stored_once(app, organiser_client, session, make_event, make_talk, tmp_path):
    from tests.recording_media import make_clip

    clip = make_clip(tmp_path / "clip.mp4", seconds=2)
    event = make_event()
    talk = make_talk(event, starts_at=at(10), ends_at=at(10, 45))
    session.commit()
    page = f"/admin/events/{event.slug}/talks/{talk.slug}/recording"
    form = filled_form(organiser_client, page, {}, occurrence=1)  # import, upload, captions: the upload's

    responses = []
    for _ in range(2):
        with open(clip, "rb") as video:
            responses.append(organiser_client.post(page + "/upload", data={**form, "file": (video, "clip.mp4")},
                                                   content_type="multipart/form-data", headers=EN))

    assert [r.status_code for r in responses] == [303, 303]
    assert location(responses[1]) == page
    assert session.scalar(select(func.count()).where(AuditEntry.action == "recording.upload")) == 1
    # The repeat's own copy is not left behind.
    folder = app.extensions["arena.settings"].recordings_path / event.slug / talk.slug
    assert [path.name for path in folder.iterdir() if path.suffix == ".mp4"] == [
        session.scalar(select(Recording.file_path)).rsplit("/", 1)[-1]]


# -- the claim holds no lock but its own, for no longer than it must ---------------------------

def another_writer_gets_in(database_url: str) -> bool:
    """A writer on a connection of its own can write at once, without waiting: on SQLite it
    takes the database's write lock; on PostgreSQL a lock on the one-time tokens that any
    unfinished claim of theirs would hold up. Given back at once."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            connection.close()
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            try:
                connection.execute(text("LOCK TABLE form_tokens IN SHARE ROW EXCLUSIVE MODE NOWAIT"))
                return True
            except Exception:  # lock not available: another transaction writes to it
                return False
            finally:
                connection.rollback()
    finally:
        engine.dispose()


def test_video_upload_leaves_the_database_free_while_the_file_is_checked(app, organiser_client, session, make_event,
                                                                        make_talk, tmp_path, database_url):
    """Copying and checking a video of gigabytes takes minutes: meanwhile chat, votes and
    other organisers' forms must write. ffprobe (a real one, behind a script that waits until
    the test lets it go on) is checking the file while another writer writes."""
    import dataclasses
    import os
    import shutil

    from tests.recording_media import make_clip
    from tests.waiting import wait_until

    clip = make_clip(tmp_path / "clip.mp4", seconds=2)
    probing, go_on = tmp_path / "probing", tmp_path / "go-on"
    slow_ffprobe = tmp_path / "slow-ffprobe"
    slow_ffprobe.write_text(f'#!/bin/sh\ntouch "{probing}"\ni=0\nwhile [ ! -e "{go_on}" ] && [ $i -lt 1200 ]; do '
                            f'sleep 0.05; i=$((i+1)); done\nexec "{shutil.which("ffprobe")}" "$@"\n')
    os.chmod(slow_ffprobe, 0o755)  # noqa: S103  a script the server runs as ffprobe
    settings = app.extensions["arena.settings"]
    app.extensions["arena.settings"] = dataclasses.replace(
        settings, media=dataclasses.replace(settings.media, ffprobe=str(slow_ffprobe)))
    event = make_event()
    talk = make_talk(event, starts_at=at(10), ends_at=at(10, 45))
    session.add(FormToken(key="a" * 64, created_at=utcnow() - timedelta(days=2), result_url="/admin/"))
    session.commit()
    page = f"/admin/events/{event.slug}/talks/{talk.slug}/recording"
    form = filled_form(organiser_client, page, {}, occurrence=1)  # import, upload, captions: the upload's
    answer: list = []

    def upload() -> None:
        with open(clip, "rb") as video:
            answer.append(organiser_client.post(page + "/upload", data={**form, "file": (video, "clip.mp4")},
                                                content_type="multipart/form-data", headers=EN))

    uploading = threading.Thread(target=upload)
    uploading.start()
    try:
        wait_until(probing.exists, message="the upload never reached its check")
        free_while_checking = another_writer_gets_in(database_url)
    finally:
        go_on.touch()
        uploading.join(timeout=60)

    assert free_while_checking
    assert answer[0].status_code == 303
    assert session.scalar(select(func.count()).where(AuditEntry.action == "recording.upload")) == 1


@pytest.mark.postgresql_only  # SQLite has one writer at a time: an open claim holds the whole database
def test_unrelated_form_is_created_while_another_organisers_form_is_being_saved(organiser_client, session,
                                                                             make_event, database_url):
    """Another organiser's request has claimed its form and is still saving (its transaction
    open) when this organiser adds a speaker, and a token older than a day is due to go: the
    speaker is added, never "this form was sent twice"."""
    from server.services import form_tokens

    event = make_event()
    session.add(FormToken(key="a" * 64, created_at=utcnow() - timedelta(days=2), result_url="/admin/"))
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields())

    engine = create_engine(database_url)
    with engine.connect() as other_connection:
        from sqlalchemy.orm import Session

        other = Session(other_connection)
        assert not form_tokens.claim(other, "c" * 64, utcnow()).repeat  # still saving: not committed
        response = organiser_client.post(path, data=form, headers=EN)
        other.rollback()
        other.close()
    engine.dispose()

    assert response.status_code == 303
    assert location(response) == f"/admin/events/{event.slug}#speakers"
    assert count(session, Speaker) == 1


@pytest.mark.postgresql_only  # likewise: an open clean-up would hold the whole SQLite database
def test_old_tokens_held_by_another_transaction_do_not_hold_up_a_form(organiser_client, session, make_event,
                                                                      database_url):
    """The old tokens are being deleted by another request's clean-up that has not finished:
    this form is created all the same, and that token is left for next time."""
    event = make_event()
    session.add(FormToken(key="a" * 64, created_at=utcnow() - timedelta(days=2), result_url="/admin/"))
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields())

    engine = create_engine(database_url)
    with engine.connect() as other:
        other.execute(text("SELECT id FROM form_tokens WHERE key = :key FOR UPDATE"), {"key": "a" * 64})
        response = organiser_client.post(path, data=form, headers=EN)
        other.rollback()
    engine.dispose()

    assert response.status_code == 303
    assert count(session, Speaker) == 1


# -- a repeat whose first result is gone ---------------------------------------------------------

def test_form_sent_again_after_its_speaker_was_deleted_adds_the_speaker_again(organiser_client, session,
                                                                             make_event):
    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/speakers/new"
    form = filled_form(organiser_client, path, speaker_fields())
    assert organiser_client.post(path, data=form, headers=EN).status_code == 303
    speaker_id = session.scalar(select(Speaker.id))
    edit = f"/admin/events/{event.slug}/speakers/{speaker_id}"
    deleted = organiser_client.post(edit + "/delete", data={"csrf_token": hidden(
        organiser_client.get(edit, headers=EN).get_data(as_text=True), "csrf_token"), "confirm": "yes"}, headers=EN)
    assert deleted.status_code == 303 and count(session, Speaker) == 0

    # Back to the form the browser kept, and sent again on purpose.
    again = organiser_client.post(path, data=form, headers=SV)

    assert again.status_code == 303
    assert location(again) == f"/admin/events/{event.slug}#speakers"
    assert session.scalars(select(Speaker.name)).all() == ["Anna Karlsson"]
    assert session.scalar(select(func.count()).where(AuditEntry.action == "speaker.create")) == 2
    assert "Talaren lades till." in organiser_client.get(location(again), headers=SV).get_data(as_text=True)
    # And a third time is a repeat of the second: still one speaker.
    assert organiser_client.post(path, data=form, headers=EN).status_code == 303
    assert count(session, Speaker) == 1


def test_form_sent_again_after_its_talk_was_deleted_adds_the_talk_again(organiser_client, session, make_event):
    event = make_event()
    session.commit()
    path = f"/admin/events/{event.slug}/talks/new"
    form = filled_form(organiser_client, path, {"title": "Skapa arenor!", "slug": "", "day": "2026-11-24",
                                                "starts": "10:00", "ends": "10:45", "invitation_text": "",
                                                "stream_url": "", "slides_url": ""})
    assert organiser_client.post(path, data=form, headers=EN).status_code == 303
    edit = f"/admin/events/{event.slug}/talks/skapa-arenor"
    deleted = organiser_client.post(edit + "/delete", data={"csrf_token": hidden(
        organiser_client.get(edit, headers=EN).get_data(as_text=True), "csrf_token"), "confirm": "yes"}, headers=EN)
    assert deleted.status_code == 303 and count(session, Talk) == 0

    again = organiser_client.post(path, data=form, headers=EN)

    assert again.status_code == 303
    assert organiser_client.get(location(again), headers=EN).status_code == 200
    assert count(session, Talk) == 1
