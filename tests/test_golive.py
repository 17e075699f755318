"""Going live from the browser: who may publish, one publisher per talk, what the
server takes and refuses, the HLS viewers get and the recording the admin gets.

Sockets go through Flask-SocketIO's test client sharing each browser's HTTP cookies (role
and participant id come from the signed session, as in a browser); ffmpeg is the real one.
tests/test_golive_server.py does the same against a real eventlet server process.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from server.db import db, utcnow
from server.extensions import socketio
from server.media import hls
from server.models import LiveState, LiveStream, Role, StreamState, Talk
from server.services import golive
from server.services.accounts import sign_in_session
from server.services.errors import ValidationError
from server.services.roles import Actor, grant_role, sign_in_token
from server.sockets import protocol as p
from tests.golive_media import pieces, probe, recorder_output
from tests.waiting import wait_until

H264 = "video/x-matroska;codecs=avc1,opus"
VP8 = "video/webm;codecs=vp8,opus"


@pytest.fixture(scope="module")
def h264_input(tmp_path_factory) -> bytes:
    return recorder_output(tmp_path_factory.mktemp("media") / "h264.mkv", seconds=4).read_bytes()


@pytest.fixture(scope="module")
def vp8_input(tmp_path_factory) -> bytes:
    return recorder_output(tmp_path_factory.mktemp("media") / "vp8.webm", codec="vp8", seconds=3).read_bytes()


class Studio:
    """A browser on the studio page: HTTP cookies (the sign-in link's role) and a /studio socket."""

    def __init__(self, app, talk: Talk, grant=None, organiser=None) -> None:
        self.http = app.test_client()
        if grant is not None:
            token = sign_in_token(app.config["SECRET_KEY"], grant)
            assert self.http.get(f"/staff/sign-in/{token}").status_code == 303
        if organiser is not None:
            with self.http.session_transaction() as cookie:
                sign_in_session(cookie, organiser)
        self.http.get(f"/events/{talk.event.slug}/{talk.slug}")  # the participant id cookie
        self.socket = socketio.test_client(app, namespace=p.STUDIO_NAMESPACE, flask_test_client=self.http)
        self.talk_id = talk.id
        self.stream_id: int | None = None
        self.next_seq = 0

    def call(self, event: str, data: Any) -> dict[str, Any]:
        return self.socket.emit(event, data, namespace=p.STUDIO_NAMESPACE, callback=True)

    def start(self, mime_type: str = H264) -> dict[str, Any]:
        ack = self.call(p.START, {"talk_id": self.talk_id, "mime_type": mime_type})
        if ack["ok"]:
            self.stream_id, self.next_seq = ack["stream_id"], ack["next_seq"]
        return ack

    def send(self, data: bytes, size: int = 30_000) -> list[dict[str, Any]]:
        acks = []
        for piece in pieces(data, size):
            ack = self.call(p.CHUNK, {"stream_id": self.stream_id, "seq": self.next_seq, "data": piece})
            acks.append(ack)
            if ack["ok"]:
                self.next_seq = ack["next_seq"]
        return acks

    def end(self) -> dict[str, Any]:
        return self.call(p.END, {"stream_id": self.stream_id})

    def states(self) -> list[dict[str, Any]]:
        return [item["args"][0] for item in self.socket.get_received(p.STUDIO_NAMESPACE)
                if item["name"] == p.STREAM_STATE]


def archived(stream_id: int) -> LiveStream | None:
    """The stream's row once its recording is written (read afresh from the database)."""
    db.session.expire_all()
    stream = db.session.get(LiveStream, stream_id)
    return stream if stream is not None and stream.archive_path else None


def ended_state(studio: Studio, collected: list) -> dict[str, Any] | None:
    collected.extend(studio.states())
    return next((s for s in collected if s["state"] == "ended"), None)


@pytest.fixture
def talk(demo_event) -> Talk:
    return demo_event.talks[0]


@pytest.fixture
def speaker_grant(session, talk):
    grant = grant_role(session, role=Role.speaker, name="Mattias Jansson", now=utcnow(), talk=talk)
    session.commit()
    return grant


@pytest.fixture
def recordings(app) -> Path:
    return app.extensions["arena.settings"].recordings_path


# -- who may publish ----------------------------------------------------------------------

def test_can_publish_only_the_talks_speaker_or_an_organiser(talk, demo_event):
    other_talk = demo_event.talks[1]

    assert golive.can_publish(Actor("p", Role.speaker, talk_id=talk.id, event_id=talk.event_id), talk)
    assert golive.can_publish(Actor("p", Role.organiser), talk)
    assert not golive.can_publish(Actor("p", Role.speaker, talk_id=other_talk.id, event_id=talk.event_id), talk)
    assert not golive.can_publish(Actor("p", Role.moderator, event_id=talk.event_id), talk)
    assert not golive.can_publish(Actor("p"), talk)


@pytest.mark.parametrize("who", ["participant", "moderator", "speaker_of_another_talk"])
def test_going_live_without_the_role_is_refused(app, session, talk, demo_event, who):
    grant = None
    if who == "moderator":
        grant = grant_role(session, role=Role.moderator, name="Moa", now=utcnow(), event=demo_event)
    elif who == "speaker_of_another_talk":
        grant = grant_role(session, role=Role.speaker, name="Helen", now=utcnow(), talk=demo_event.talks[1])
    session.commit()
    studio = Studio(app, talk, grant=grant)

    ack = studio.start()

    assert ack["ok"] is False and ack["error"] == "forbidden"
    assert "speaker" in ack["message"] or "talare" in ack["message"]
    assert session.query(LiveStream).count() == 0


def test_studio_page_is_refused_without_the_role(client, talk):
    client.get(f"/events/{talk.event.slug}/{talk.slug}")

    response = client.get(f"/events/{talk.event.slug}/{talk.slug}/studio")

    assert response.status_code == 403


def test_studio_page_lets_the_speaker_use_camera_and_microphone(app, talk, speaker_grant):
    browser = app.test_client()
    browser.get(f"/staff/sign-in/{sign_in_token(app.config['SECRET_KEY'], speaker_grant)}")

    response = browser.get(f"/events/{talk.event.slug}/{talk.slug}/studio")

    assert response.status_code == 200
    assert "camera=(self)" in response.headers["Permissions-Policy"]
    assert "microphone=(self)" in response.headers["Permissions-Policy"]
    assert f'data-talk-id="{talk.id}"' in response.get_data(as_text=True)


def test_other_pages_still_forbid_the_camera(client, talk):
    response = client.get(f"/events/{talk.event.slug}/{talk.slug}")

    assert "camera=()" in response.headers["Permissions-Policy"]


# -- one publisher ------------------------------------------------------------------------

def test_second_publisher_is_refused_with_a_message(app, session, talk, speaker_grant, h264_input):
    first = Studio(app, talk, grant=speaker_grant)
    second = Studio(app, talk, grant=speaker_grant)  # the same speaker in a second tab
    assert first.start()["ok"]

    ack = second.start()

    assert ack["ok"] is False and ack["error"] == p.E_ALREADY_LIVE
    assert ack["message"]
    first.send(h264_input)
    first.end()
    wait_until(lambda: ended_state(first, []), timeout=60)


def test_a_second_stream_starts_once_the_first_has_ended(app, talk, speaker_grant, h264_input):
    studio = Studio(app, talk, grant=speaker_grant)
    studio.start()
    studio.send(h264_input)
    studio.end()
    collected: list = []
    wait_until(lambda: ended_state(studio, collected), timeout=60)

    again = studio.start()

    assert again["ok"] is True and again["stream_id"] != collected[-1]["stream_id"]
    studio.end()


# -- going live, ending, the recording ----------------------------------------------------

def test_going_live_writes_hls_and_end_keeps_the_recording(app, session, talk, speaker_grant, h264_input,
                                                           recordings):
    studio = Studio(app, talk, grant=speaker_grant)
    viewer = socketio.test_client(app, namespace=p.LIVE_NAMESPACE)
    assert viewer.emit(p.JOIN, {"talk_id": talk.id}, namespace=p.LIVE_NAMESPACE, callback=True)["ok"]

    started = studio.start()
    acks = studio.send(h264_input)
    collected: list = []
    wait_until(lambda: collected.extend(studio.states()) or any(s["state"] == "live" for s in collected),
               timeout=60, message=lambda: f"the stream never went live: {collected}")
    ended = studio.end()
    final = wait_until(lambda: ended_state(studio, collected), timeout=60)

    assert started["ok"] and all(ack["ok"] for ack in acks) and ended["ok"]
    assert [s["state"] for s in collected] == ["live", "ended"]
    assert final["recording"] is True and final["reason"] == "ended"
    stream = db.session.get(LiveStream, started["stream_id"])
    playlist = hls.source_playlist(recordings / stream.directory, stream.playlist_name == hls.MASTER).read_text()
    assert "#EXT-X-ENDLIST" in playlist and ".ts" in playlist
    assert stream.state is StreamState.ended and stream.active_talk_id is None
    assert db.session.get(Talk, talk.id).live_state is LiveState.ended
    recording = probe(recordings / stream.archive_path)
    assert recording["format"]["duration"] and abs(float(recording["format"]["duration"]) - 4) < 0.5
    assert {s["codec_name"] for s in recording["streams"]} == {"h264", "aac"}
    pushed = [item["args"][0] for item in viewer.get_received(p.LIVE_NAMESPACE) if item["name"] == p.LIVE_STATE]
    assert [v["state"] for v in pushed] == ["live", "ended"]
    assert pushed[0]["playlist_url"] == f"/recordings/{stream.playlist_path}"


def test_finished_recording_is_offered_to_the_admin(app, session, talk, speaker_grant, h264_input):
    studio = Studio(app, talk, grant=speaker_grant)
    studio.start()
    studio.send(h264_input)
    studio.end()
    wait_until(lambda: ended_state(studio, []), timeout=60)

    found = golive.finished_live_recordings(db.session, db.session.get(Talk, talk.id))

    assert len(found) == 1
    assert found[0].archive_path.endswith("recording.mp4") and "/archive/" in found[0].archive_path
    assert found[0].duration_seconds == pytest.approx(4, abs=0.5)


def test_vp8_from_firefox_is_transcoded_to_h264_for_hls(app, talk, speaker_grant, vp8_input, recordings):
    studio = Studio(app, talk, grant=speaker_grant)

    studio.start(VP8)
    studio.send(vp8_input)
    studio.end()
    final = wait_until(lambda: ended_state(studio, []), timeout=60)

    stream = db.session.get(LiveStream, final["stream_id"])
    segments = sorted((recordings / stream.directory).glob("*.ts"))
    assert segments and probe(segments[0])["streams"][0]["codec_name"] == "h264"
    assert probe(recordings / stream.archive_path)["streams"][0]["codec_name"] == "vp8"


def test_late_joiner_of_the_live_room_learns_the_stream(app, talk, speaker_grant, h264_input):
    studio = Studio(app, talk, grant=speaker_grant)
    studio.start()
    studio.send(h264_input)

    joined = socketio.test_client(app, namespace=p.LIVE_NAMESPACE).emit(
        p.JOIN, {"talk_id": talk.id}, namespace=p.LIVE_NAMESPACE, callback=True)

    assert joined["stream"]["state"] == "live"
    assert joined["stream"]["playlist_url"].endswith(f"/{hls.MASTER}")
    studio.end()
    wait_until(lambda: ended_state(studio, []), timeout=60)


# -- what the server refuses --------------------------------------------------------------

def test_pieces_larger_than_the_cap_are_refused(app, talk, speaker_grant, h264_input):
    studio = Studio(app, talk, grant=speaker_grant)
    studio.start()

    ack = studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 0, "data": h264_input[:200_000]})

    assert ack["ok"] is False and ack["error"] == p.E_CHUNK_TOO_LARGE
    studio.end()


def test_input_that_is_not_webm_is_refused_by_its_content(app, talk, speaker_grant):
    studio = Studio(app, talk, grant=speaker_grant)
    studio.start()

    ack = studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 0, "data": b"GIF89a" + b"\0" * 100})

    assert ack["ok"] is False and ack["error"] == p.E_UNSUPPORTED_FORMAT
    studio.end()


def test_a_format_the_server_cannot_take_is_refused_before_going_live(app, session, talk, speaker_grant):
    studio = Studio(app, talk, grant=speaker_grant)

    ack = studio.start("video/mp4;codecs=hvc1")

    assert ack["ok"] is False and ack["error"] == p.E_UNSUPPORTED_FORMAT
    assert session.query(LiveStream).count() == 0


@pytest.mark.parametrize("payload", [
    None, "chunk", {"stream_id": 1, "seq": 0}, {"stream_id": 1, "seq": 0, "data": "text, not bytes"},
    {"stream_id": 1, "seq": 0, "data": b"\x1a\x45\xdf\xa3", "extra": 1},
])
def test_malformed_pieces_are_refused(app, talk, speaker_grant, payload):
    studio = Studio(app, talk, grant=speaker_grant)

    ack = studio.call(p.CHUNK, payload)

    assert ack["ok"] is False and ack["error"] == p.E_INVALID_PAYLOAD


def test_pieces_for_someone_elses_stream_are_refused(app, session, talk, speaker_grant, h264_input):
    speaker = Studio(app, talk, grant=speaker_grant)
    speaker.start()
    organiser_grant = grant_role(session, role=Role.organiser, name="Olga", now=utcnow())
    session.commit()
    intruder = Studio(app, talk, grant=organiser_grant)

    ack = intruder.call(p.CHUNK, {"stream_id": speaker.stream_id, "seq": 0, "data": h264_input[:1000]})
    ended = intruder.call(p.END, {"stream_id": speaker.stream_id})

    assert ack["error"] == p.E_NOT_PUBLISHING and ended["error"] == p.E_NOT_PUBLISHING
    speaker.end()


def test_pieces_out_of_order_are_refused_and_duplicates_ignored(app, talk, speaker_grant, h264_input):
    studio = Studio(app, talk, grant=speaker_grant)
    studio.start()
    first, second = pieces(h264_input)[:2]
    studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 0, "data": first})

    duplicate = studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 0, "data": first})
    gap = studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 5, "data": second})

    assert duplicate == {"ok": True, "seq": 0, "next_seq": 1, "duplicate": True}
    assert gap["ok"] is False and gap["error"] == p.E_OUT_OF_ORDER
    studio.end()


def test_upload_faster_than_the_cap_is_refused(demo_event_factory, h264_input):
    app, talk, grant = demo_event_factory(golive={"max_bytes_per_second": 5_000})
    studio = Studio(app, talk, grant=grant)
    studio.start()

    acks = studio.send(h264_input[:80_000], size=20_000)  # 50 kB allowed in 10 s

    assert [ack["ok"] for ack in acks] == [True, True, False, False]
    assert acks[-1]["error"] == p.E_FLOODING
    studio.end()


def test_going_live_is_refused_when_the_disk_is_nearly_full(demo_event_factory):
    app, talk, grant = demo_event_factory(golive={"min_free_megabytes": 1024 ** 3})  # a petabyte
    studio = Studio(app, talk, grant=grant)

    ack = studio.start()

    assert ack["ok"] is False and ack["error"] == "disk_full"
    assert db.session.query(LiveStream).count() == 0


@pytest.fixture
def demo_event_factory(make_settings, database_url):
    """An app with other golive settings, the demo day, and a speaker grant on its first talk."""
    from server import create_app
    from server.services.demo import load_demo
    from tests.conftest import DAY

    apps = []

    def _make(**sections):
        app = create_app(make_settings(database={"url": database_url}, **sections))
        app.config["TESTING"] = True
        context = app.app_context()
        context.push()
        apps.append((app, context))
        event = load_demo(db.session, day=DAY)
        db.session.commit()
        talk = event.talks[0]
        grant = grant_role(db.session, role=Role.speaker, name="Mattias Jansson", now=utcnow(), talk=talk)
        db.session.commit()
        return app, talk, grant

    yield _make
    for app, context in apps:
        db.session.remove()
        app.extensions["arena.live"].stop()
        app.extensions["arena.studio"].stop()
        context.pop()


# -- the service --------------------------------------------------------------------------

@pytest.mark.parametrize("mime_type, codec", [
    ("video/webm;codecs=h264,opus", "h264"), ("video/x-matroska;codecs=avc1,opus", "h264"),
    ("video/webm;codecs=avc1.42E01E", "h264"), ("video/webm;codecs=vp8,opus", "vp8"),
    ("video/webm;codecs=vp9,opus", "vp9"), ("video/webm; codecs=\"vp8, opus\"", "vp8"),
])
def test_codec_is_read_from_what_the_recorder_says(mime_type, codec):
    assert golive.codec_of(mime_type) == codec


@pytest.mark.parametrize("mime_type", ["video/mp4", "video/mp4;codecs=avc1", "audio/webm;codecs=opus", "", None, 42])
def test_codec_outside_webm_and_matroska_is_refused(mime_type):
    with pytest.raises(ValidationError):
        golive.codec_of(mime_type)


@pytest.mark.both_databases
def test_stream_directories_are_made_by_the_server(session, make_event, make_talk, tmp_path):
    talk = make_talk(make_event(slug="dag-1"), title="Pass ett")
    stream = golive.start_stream(session, talk, Actor("p", Role.organiser, staff_name="Olga"), codec="h264",
                                 now=utcnow(), process_id="test", recordings_path=tmp_path, min_free_bytes=0)

    again = golive.stream_directory(talk, stream.id)

    # Not guessable by counting ids: 128 random bits in the live folder, 96 others in the archive's.
    assert re.fullmatch(rf"dag-1/{talk.slug}/live/{stream.id}-[0-9a-f]{{32}}", stream.directory)
    assert re.fullmatch(rf"dag-1/{talk.slug}/archive/{stream.id}-[0-9a-f]{{24}}", stream.archive_directory)
    assert again != stream.directory and stream.archive_directory.rsplit("-", 1)[1] not in stream.directory


@pytest.mark.both_databases
def test_the_talk_is_live_only_once_its_first_segment_exists(session, make_event, make_talk, tmp_path):
    talk = make_talk(make_event())
    stream = golive.start_stream(session, talk, Actor("p", Role.organiser), codec="h264", now=utcnow(),
                                 process_id="t", recordings_path=tmp_path, min_free_bytes=0)
    before = talk.live_state

    golive.mark_on_air(stream)

    assert before is LiveState.scheduled and talk.live_state is LiveState.live


@pytest.mark.both_databases
def test_only_finished_streams_with_a_file_are_offered(session, make_event, make_talk, tmp_path):
    talk = make_talk(make_event())
    organiser = Actor("p", Role.organiser, staff_name="Olga")
    kept = golive.start_stream(session, talk, organiser, codec="h264", now=utcnow(), process_id="t",
                               recordings_path=tmp_path, min_free_bytes=0)
    golive.finish_stream(session, kept, reason="ended", now=utcnow(), archive_path="a/b/recording.mp4",
                         duration_seconds=61.5)
    empty = golive.start_stream(session, talk, organiser, codec="h264", now=utcnow(), process_id="t",
                                recordings_path=tmp_path, min_free_bytes=0)
    golive.finish_stream(session, empty, reason="ffmpeg_failed", now=utcnow(), archive_path=None,
                         duration_seconds=None)
    golive.start_stream(session, talk, organiser, codec="h264", now=utcnow(), process_id="t",
                        recordings_path=tmp_path, min_free_bytes=0)  # live now

    assert golive.finished_live_recordings(session, talk) == [kept]


@pytest.mark.both_databases
def test_the_database_refuses_two_active_streams_of_one_talk(session, make_event, make_talk, tmp_path):
    talk = make_talk(make_event())
    golive.start_stream(session, talk, Actor("p", Role.organiser), codec="h264", now=utcnow(), process_id="t",
                        recordings_path=tmp_path, min_free_bytes=0)

    with pytest.raises(golive.AlreadyLive):
        golive.start_stream(session, talk, Actor("q", Role.organiser), codec="h264", now=utcnow(), process_id="t",
                            recordings_path=tmp_path, min_free_bytes=0)


# -- serving HLS --------------------------------------------------------------------------

def test_hls_is_served_with_its_types_and_cache_headers(client, session, talk, recordings):
    stream = golive.start_stream(session, talk, Actor("p", Role.organiser), codec="h264", now=utcnow(),
                                 process_id="t", recordings_path=recordings, min_free_bytes=0)
    session.commit()  # live on a published event: public (tests/test_security_media.py has the rest)
    folder = recordings / stream.directory
    folder.mkdir(parents=True)
    (folder / "index.m3u8").write_text("#EXTM3U\n")
    (folder / "segment-000001.ts").write_bytes(b"\x47" * 188)

    playlist = client.get(f"/recordings/{stream.directory}/index.m3u8")
    segment = client.get(f"/recordings/{stream.directory}/segment-000001.ts")

    assert playlist.mimetype == "application/vnd.apple.mpegurl"
    assert playlist.headers["Cache-Control"] == "no-cache"
    assert segment.mimetype == "video/mp2t"
    assert "immutable" in segment.headers["Cache-Control"]


def test_recordings_folder_does_not_serve_outside_itself(client, recordings):
    recordings.mkdir(parents=True, exist_ok=True)

    response = client.get("/recordings/../instance/secret_key")

    assert response.status_code == 404


def test_a_streams_working_files_are_never_served(organiser_client, recordings):
    folder = recordings / "dag" / "pass" / "archive" / "1-0123456789abcdef"
    folder.mkdir(parents=True)
    names = ("source.mkv", "source.webm", "source-1.mkv", "parts.txt", "ffmpeg.log", "push.log", "recording.mp4")
    for name in names:
        (folder / name).write_bytes(b"\0" * 16)

    # Not even to an organiser, who may fetch the unpublished recording beside them.
    status = {name: organiser_client.get(f"/recordings/dag/pass/archive/1-0123456789abcdef/{name}").status_code
              for name in names}

    assert status == {"source.mkv": 404, "source.webm": 404, "source-1.mkv": 404, "parts.txt": 404,
                      "ffmpeg.log": 404, "push.log": 404, "recording.mp4": 200}


def test_signing_out_ends_the_stream_and_keeps_the_recording(app, talk, speaker_grant, h264_input):
    import re

    studio = Studio(app, talk, grant=speaker_grant)
    studio.start()
    studio.send(h264_input)
    page = studio.http.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

    studio.http.post("/sign-out", data={"csrf_token": token})
    stream = wait_until(lambda: archived(studio.stream_id), timeout=60)

    assert not studio.socket.is_connected(p.STUDIO_NAMESPACE)
    assert stream.end_reason == "role_withdrawn" and stream.state is StreamState.ended


def test_the_magic_number_may_arrive_split_across_pieces(app, talk, speaker_grant, vp8_input):
    studio = Studio(app, talk, grant=speaker_grant)
    studio.start(VP8)

    first = studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 0, "data": vp8_input[:1]})
    rest = studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 1, "data": vp8_input[1:30_000]})

    assert first["ok"] and rest["ok"]  # as Chromium's VP8 recorder sends it: one byte first
    studio.end()


def test_a_split_start_that_is_not_webm_is_refused(app, talk, speaker_grant):
    studio = Studio(app, talk, grant=speaker_grant)
    studio.start()
    studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 0, "data": b"\x1a"})

    ack = studio.call(p.CHUNK, {"stream_id": studio.stream_id, "seq": 1, "data": b"GIF89a"})

    assert ack["ok"] is False and ack["error"] == p.E_UNSUPPORTED_FORMAT
    studio.end()


def test_a_speakers_link_opens_the_studio_when_the_talk_has_no_stream_of_its_own(app, session, demo_event):
    without_stream = next(t for t in demo_event.talks if not t.stream_url)
    grant = grant_role(session, role=Role.speaker, name="Anna Karlsson", now=utcnow(), talk=without_stream)
    session.commit()

    response = app.test_client().get(f"/staff/sign-in/{sign_in_token(app.config['SECRET_KEY'], grant)}")

    assert response.headers["Location"] == f"/events/{demo_event.slug}/{without_stream.slug}/studio"


def test_a_speaker_whose_talk_is_filmed_lands_on_the_talk_page_with_a_studio_link(app, talk, speaker_grant):
    assert talk.stream_url  # the venue's stream
    browser = app.test_client()

    response = browser.get(f"/staff/sign-in/{sign_in_token(app.config['SECRET_KEY'], speaker_grant)}")
    page = browser.get(response.headers["Location"]).get_data(as_text=True)

    assert response.headers["Location"] == f"/events/{talk.event.slug}/{talk.slug}"
    assert f'href="/events/{talk.event.slug}/{talk.slug}/studio"' in page


def test_visitors_see_no_studio_link(client, talk):
    page = client.get(f"/events/{talk.event.slug}/{talk.slug}").get_data(as_text=True)

    assert f'{talk.slug}/studio"' not in page


# -- a stopped process's streams (orphans) ------------------------------------------------------

def test_a_recording_once_named_is_not_unnamed_by_a_later_finish_of_the_same_stream(session, talk):
    organiser = Actor("p", Role.organiser, staff_name="Karin")
    stream = golive.start_stream(session, talk, organiser, codec="h264", now=utcnow(), process_id="a",
                                 recordings_path=Path("/tmp"), min_free_bytes=0)
    golive.finish_stream(session, stream, reason="server_stopped", now=utcnow(),
                         archive_path="dag/pass/archive/1-x/recording.mp4", duration_seconds=61.0)

    # A second archiving of the same orphan that found no parts left.
    golive.finish_stream(session, stream, reason="server_stopped", now=utcnow(), archive_path=None,
                         duration_seconds=None)

    assert stream.archive_path == "dag/pass/archive/1-x/recording.mp4" and stream.duration_seconds == 61.0


def test_an_orphan_being_archived_keeps_its_heartbeat_and_byte_count_and_is_not_claimed_again(session, talk):
    organiser = Actor("p", Role.organiser, staff_name="Karin")
    stream = golive.start_stream(session, talk, organiser, codec="h264", now=utcnow(), process_id="crashed",
                                 recordings_path=Path("/tmp"), min_free_bytes=0)
    stream.bytes_received = 123_456
    stream.heartbeat_at = utcnow() - timedelta(minutes=5)
    session.commit()
    claimed = golive.claim_orphans(session, "b", utcnow(), utcnow() - timedelta(seconds=20))
    session.commit()

    # Process b archives it for minutes, saying so with a heartbeat that carries no byte count.
    golive.heartbeat(session, [stream.id], {}, utcnow())
    session.commit()
    again = golive.claim_orphans(session, "c", utcnow(), utcnow() - timedelta(seconds=20))
    session.refresh(stream)

    assert [s.id for s in claimed] == [stream.id] and again == []
    assert stream.bytes_received == 123_456 and stream.process_id == "b"
