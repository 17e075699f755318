"""The organiser's recording page in the admin: import from an address with live progress over
Socket.IO, upload a video and captions, publish, cancel; organisers only, every action
audited, every refusal in words. Real yt-dlp and ffmpeg, a web site on 127.0.0.1."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from server import create_app
from server.db import db
from server.extensions import socketio
from server.models import AuditEntry, ImportJob, JobState, Recording
from server.sockets import protocol as p
from tests.conftest import form_token
from tests.recording_media import MediaSite, make_clip
from tests.waiting import wait_until

PAGE = "/admin/events/sociala-medier/talks/skapa-arenor/recording"
EN = {"Accept-Language": "en"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=4)


@pytest.fixture(scope="module")
def site(clip):
    server = MediaSite(clip, clip)
    yield server
    server.close()


@pytest.fixture
def app(make_settings, database_url):
    """The test app, allowed to import from the test's own web site on 127.0.0.1."""
    app = create_app(make_settings(database={"url": database_url}, media={"import_allowed_hosts": ["127.0.0.1"]}))
    app.config["TESTING"] = True
    with app.app_context():
        yield app
        db.session.remove()
    app.extensions["arena.live"].stop()
    db.engine.dispose()


@pytest.fixture
def talk(make_event, make_talk, session):
    event = make_event(slug="sociala-medier")
    talk = make_talk(event, title="Skapa arenor!", slug="skapa-arenor")
    session.commit()
    return talk


def wait_for_job_end(session, job_id: int) -> ImportJob:
    """The job once it has ended; the background task runs in a thread here (async_mode threading)."""
    def ended() -> ImportJob | None:
        session.expire_all()
        job = session.get(ImportJob, job_id)
        return job if job.state.is_finished else None

    return wait_until(ended, timeout=120, message="the import never ended")


def progress_views(socket) -> list[dict]:
    """The import views this admin socket has received so far. Read without taking them
    (get_received would): the import's thread may be adding one at the same moment."""
    return [packet["args"][0] for packet in list(socket.queue)
            if packet["namespace"] == p.ADMIN_NAMESPACE and packet["name"] == p.IMPORT_PROGRESS]


def ended_views(socket) -> list[dict] | None:
    """The views received, once the last of them is a finished job's."""
    views = progress_views(socket)
    return views if views and JobState(views[-1]["state"]).is_finished else None


def upload(client, clip: Path):
    with open(clip, "rb") as fh:
        return client.post(PAGE + "/upload",
                           data={"csrf_token": form_token(client, PAGE), "file": (fh, "whatever.mp4")},
                           headers=EN, content_type="multipart/form-data")


def test_organiser_sees_the_recording_page_with_its_forms(organiser_client, talk):
    html = organiser_client.get(PAGE, headers=EN).get_data(as_text=True)

    assert "Recording: Skapa arenor!" in html
    assert "This talk has no recording yet." in html
    for label in ("Address of the video", "Keep an archive copy on our server", "Video file", "Captions file"):
        assert label in html


def test_moderator_and_anonymous_visitor_are_kept_out(app, talk, role_client):
    moderator = role_client("moderator", event=talk.event)

    assert moderator.get(PAGE).status_code == 403
    assert app.test_client().get(PAGE).status_code == 303  # to the sign-in page


def test_import_progress_arrives_over_socketio_and_the_recording_is_kept(organiser_client, session, talk, site, app):
    socket = socketio.test_client(app, namespace=p.ADMIN_NAMESPACE, flask_test_client=organiser_client)
    watched = socket.emit(p.WATCH_IMPORT, {"talk_id": talk.id}, namespace=p.ADMIN_NAMESPACE, callback=True)

    response = organiser_client.post(PAGE + "/import", headers=EN, data={
        "url": site.url("page.html"), "archive": "y", "csrf_token": form_token(organiser_client, PAGE)})
    job = wait_for_job_end(session, session.scalars(select(ImportJob.id)).one())
    # The row is committed first, then the last view is sent: wait for that view too.
    views = wait_until(lambda: ended_views(socket), message=lambda: f"no last view: {progress_views(socket)}")
    page = organiser_client.get(PAGE, headers=EN).get_data(as_text=True)

    assert watched == {"ok": True, "job": None}
    assert response.status_code == 303
    assert job.state is JobState.succeeded, job.error_detail
    assert views[0]["state"] == "running" and views[-1] == {**views[-1], "state": "succeeded", "percent": 100}
    assert 'role="progressbar"' in page and 'aria-valuenow="100"' in page
    assert "Imported." in page
    recording = session.scalars(select(Recording)).one()
    assert re.fullmatch(r".*/recording-[A-Za-z0-9_-]{22}\.mp4", recording.file_path) and recording.captions_path


def test_admin_socket_refuses_anyone_but_an_organiser(app, talk, role_client):
    moderator = role_client("moderator", event=talk.event)

    socket = socketio.test_client(app, namespace=p.ADMIN_NAMESPACE, flask_test_client=moderator)

    assert not socket.is_connected(p.ADMIN_NAMESPACE)


def test_import_of_a_file_address_is_refused_on_the_form(organiser_client, session, talk):
    response = organiser_client.post(PAGE + "/import", headers=EN, data={
        "url": "file:///etc/passwd", "csrf_token": form_token(organiser_client, PAGE)})

    assert response.status_code == 400
    assert "Only web addresses that start with http:// or https:// can be imported." in response.get_data(as_text=True)
    assert session.scalars(select(ImportJob)).all() == []


def test_failed_import_shows_its_reason_on_the_page(organiser_client, session, talk, site):
    organiser_client.post(PAGE + "/import", data={"url": site.url("missing.mp4"),
                                                  "csrf_token": form_token(organiser_client, PAGE)})
    wait_for_job_end(session, session.scalars(select(ImportJob.id)).one())

    page = organiser_client.get(PAGE, headers=EN).get_data(as_text=True)

    assert "The address gave “not found” (HTTP 404)." in page


def test_uploaded_video_without_captions_warns_until_captions_come(organiser_client, session, talk, clip):
    uploaded = upload(organiser_client, clip)
    warned = organiser_client.get(PAGE, headers=EN).get_data(as_text=True)
    captions = organiser_client.post(PAGE + "/captions", headers=EN, content_type="multipart/form-data", data={
        "csrf_token": form_token(organiser_client, PAGE), "language": "sv",
        "captions": (io.BytesIO(b"1\n00:00:00,000 --> 00:00:02,000\nHej\n"), "text.srt")})
    after = organiser_client.get(PAGE, headers=EN).get_data(as_text=True)

    assert uploaded.status_code == 303
    assert "This recording has no captions." in warned and "1.2.2" in warned
    assert captions.status_code == 303
    assert "This recording has no captions." not in after


def test_upload_without_csrf_token_is_refused(organiser_client, session, talk, clip):
    with open(clip, "rb") as fh:
        response = organiser_client.post(PAGE + "/upload", data={"file": (fh, "clip.mp4")},
                                         content_type="multipart/form-data")

    assert response.status_code == 400
    assert session.scalars(select(Recording)).all() == []


def test_publish_shows_the_recording_on_the_talk_page_and_is_audited(organiser_client, session, talk, clip):
    upload(organiser_client, clip)

    response = organiser_client.post(PAGE + "/publish", data={"csrf_token": form_token(organiser_client, PAGE)})
    talk_page = organiser_client.get("/events/sociala-medier/skapa-arenor").get_data(as_text=True)

    assert response.status_code == 303
    assert 'id="recording"' in talk_page
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["recording.upload", "recording.publish"]


def test_publishing_twice_logs_one_publication(organiser_client, session, talk, clip):
    upload(organiser_client, clip)

    for _ in range(2):
        response = organiser_client.post(PAGE + "/publish", data={"csrf_token": form_token(organiser_client, PAGE)})

    assert response.status_code == 303
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["recording.upload", "recording.publish"]


def test_publishing_while_the_talk_is_live_says_the_recording_shows_once_it_has_ended(
        organiser_client, session, talk, clip):
    from server.models import LiveState

    upload(organiser_client, clip)
    talk.live_state = LiveState.live
    session.commit()

    organiser_client.post(PAGE + "/publish", data={"csrf_token": form_token(organiser_client, PAGE)}, headers=EN)

    page = organiser_client.get(PAGE, headers=EN).get_data(as_text=True)
    assert "The talk is still live, so its page shows the live broadcast until the talk has ended" in page


def test_cancel_of_a_running_import_ends_it_and_keeps_nothing(organiser_client, session, talk, site, app):
    organiser_client.post(PAGE + "/import", data={"url": site.url("slow.mp4"),
                                                  "csrf_token": form_token(organiser_client, PAGE)})
    job_id = session.scalars(select(ImportJob.id)).one()

    response = organiser_client.post(f"{PAGE}/cancel/{job_id}", data={"csrf_token": form_token(organiser_client, PAGE)},
                                     headers=EN)
    job = wait_for_job_end(session, job_id)

    assert response.status_code == 303
    assert (job.state, job.error_code) == (JobState.cancelled, "cancelled")
    recordings_path = app.extensions["arena.settings"].recordings_path
    assert not any(path.is_file() for path in recordings_path.rglob("*"))
    assert "The import was cancelled." in organiser_client.get(PAGE, headers=EN).get_data(as_text=True)


def test_upload_larger_than_the_apps_form_limit_reaches_the_video_check(organiser_client, session, talk, app):
    # The app refuses bodies over 60 MB; the video upload raises that for its own request.
    assert app.config["MAX_CONTENT_LENGTH"] < 61 * 1024 * 1024
    body = io.BytesIO(b"\0" * (61 * 1024 * 1024))

    response = organiser_client.post(PAGE + "/upload", data={"csrf_token": form_token(organiser_client, PAGE),
                                                             "file": (body, "big.mp4")},
                                     headers=EN, content_type="multipart/form-data")

    assert response.status_code == 400
    assert "This file is not an MP4 or WebM video." in response.get_data(as_text=True)
    assert session.scalars(select(Recording)).all() == []


def test_upload_over_the_configured_cap_is_refused_with_the_limit(make_settings, database_url, talk, session):
    from server.services.accounts import create_organiser

    small = create_app(make_settings(database={"url": database_url}, media={"upload_max_megabytes": 1}))
    with small.app_context():
        create_organiser(db.session, email="olle@norrbotten.se", name="Olle", password="kluriga-lösenordet-2026")
        db.session.commit()
        client = small.test_client()
        client.post("/sign-in", data={"email": "olle@norrbotten.se", "password": "kluriga-lösenordet-2026",
                                      "csrf_token": form_token(client, "/sign-in")})

        response = client.post(PAGE + "/upload", data={"csrf_token": form_token(client, PAGE),
                                                        "file": (io.BytesIO(b"\0" * (1024 * 1024 + 10)), "a.mp4")},
                               headers=EN, content_type="multipart/form-data")

        assert response.status_code == 400
        assert "The file is larger than the limit of 1 MB." in response.get_data(as_text=True)
    small.extensions["arena.live"].stop()


def test_signing_out_closes_the_admin_socket(organiser_client, app, talk):
    socket = socketio.test_client(app, namespace=p.ADMIN_NAMESPACE, flask_test_client=organiser_client)
    assert socket.is_connected(p.ADMIN_NAMESPACE)

    organiser_client.post("/sign-out", data={"csrf_token": form_token(organiser_client, PAGE)})

    assert not socket.is_connected(p.ADMIN_NAMESPACE)


def test_failed_imports_message_goes_once_a_video_is_uploaded(organiser_client, session, talk, site, clip):
    organiser_client.post(PAGE + "/import", data={"url": site.url("missing.mp4"),
                                                  "csrf_token": form_token(organiser_client, PAGE)})
    wait_for_job_end(session, session.scalars(select(ImportJob.id)).one())

    uploaded = upload(organiser_client, clip)
    page = organiser_client.get(PAGE, headers=EN).get_data(as_text=True)

    assert uploaded.status_code == 303
    assert "Uploaded file" in page  # the recording is the upload now
    assert "The address gave “not found” (HTTP 404)." not in page
    assert session.scalars(select(ImportJob.state)).one() is JobState.failed  # kept, as a record
