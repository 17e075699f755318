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
    (f"rtmp://127.0.0.1/live2/{KEY}", "verkar sluta med strömnyckeln"),
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


def test_destination_eleventh_is_refused(session, organiser_client, talk):
    for number in range(10):
        assert add(organiser_client, talk, label=f"Kanal {number}", token=f"t{number}").status_code == 303

    response = add(organiser_client, talk, label="En för mycket", token="t11")

    assert response.status_code == 400
    assert "högst 10 mottagare" in response.get_data(as_text=True)
    assert len(destinations(session)) == 10


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
    browsers["anonymous"] = app.test_client()  # not even the participant cookie
    outcomes = {}

    for role, client in browsers.items():
        socket = socketio.test_client(app, namespace=p.STUDIO_NAMESPACE, flask_test_client=client)
        ack = socket.emit(p.WATCH_SIMULCAST, {"talk_id": talk.id}, namespace=p.STUDIO_NAMESPACE, callback=True)
        outcomes[role] = [d["label"] for d in ack["destinations"]] if ack.get("ok") else ack["error"]
        socket.disconnect(namespace=p.STUDIO_NAMESPACE)

    assert outcomes == {"speaker_here": ["YouTube"], "speaker_elsewhere": p.E_FORBIDDEN, "moderator": p.E_FORBIDDEN,
                        "organiser": ["YouTube"], "participant": p.E_FORBIDDEN,
                        "anonymous": p.E_COOKIES_REQUIRED}


# -- the push, with real processes ------------------------------------------------------------------

class RtmpServer:
    """Debian's nginx with its RTMP module, on a free port in a folder of its own: a stand-in
    for YouTube, or for the nginx that carries Arena's source."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)
        # Run as root (a container), nginx's workers would be "nobody": keep them as this user.
        user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        (directory / "nginx.conf").write_text(f"""
load_module {RTMP_MODULE};
{user}
daemon off;
master_process on;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
rtmp {{
    access_log off;
    server {{
        listen 127.0.0.1:{self.port};
        application live2 {{ live on; }}
        application live {{ live on; }}
    }}
}}
""")

    def start(self) -> None:
        self.process = subprocess.Popen([NGINX, "-c", str(self.directory / "nginx.conf"), "-p", str(self.directory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(self._listening, timeout=30, message=lambda: f"nginx-rtmp did not start: {self.log()}")

    def kill(self) -> None:
        """SIGKILL to the whole process group, as a crash (or YouTube going away) would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        wait_until(lambda: not self._listening(), timeout=30, message="nginx-rtmp still listens after SIGKILL")

    def _listening(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def url(self, app: str = "live2") -> str:
        return f"rtmp://127.0.0.1:{self.port}/{app}"


def probe(url: str) -> dict | None:
    """What ffprobe reads at `url` (a stream a destination receives), or None."""
    try:
        result = subprocess.run(["ffprobe", "-hide_banner", "-v", "error", "-rw_timeout", "10000000",
                                 "-show_entries", "stream=codec_type,codec_name,width", "-of", "json", url],
                                capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None
    if result.returncode != 0:
        return None
    streams = json.loads(result.stdout or "{}").get("streams", [])
    return {s["codec_type"]: s for s in streams} or None


def encoder_pattern(output: list[str]) -> subprocess.Popen:
    """A venue's encoder: a test pattern with a tone, H.264 with a keyframe every second."""
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-re",
                             "-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25",
                             "-f", "lavfi", "-i", "sine=frequency=440",
                             "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
                             "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", *output],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    """Arena's side: an RTMP stream inside an nginx, as an RTMP go-live's source_url is."""
    with tempfile.TemporaryDirectory(prefix="simulcast-source-") as folder:
        server = RtmpServer(Path(folder))
        server.start()
        url = f"{server.url('live')}/arena-stream-1"
        encoder = encoder_pattern(["-f", "flv", url])
        try:
            wait_until(lambda: probe(url), timeout=60, message="the source stream never arrived in nginx")
            yield url
        finally:
            stop(encoder)
            server.kill()


@dataclass
class States:
    seen: list[tuple[str, str, int]] = field(default_factory=list)

    def __call__(self, state: str, reason: str, attempts: int, next_at) -> None:
        self.seen.append((state, reason, attempts))

    @property
    def last(self) -> str:
        return self.seen[-1][0] if self.seen else ""


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if text.encode() in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except OSError:
            continue
    return found


def test_push_reaches_the_destination_retries_while_it_is_down_and_resumes(tmp_path, source):
    youtube = RtmpServer(tmp_path / "youtube")
    youtube.start()
    states = States()
    pusher = Pusher("ffmpeg", source, Target(youtube.url(), KEY), on_state=states, allowed_hosts=["127.0.0.1"],
                    retry_max_seconds=4, name="YouTube")
    received = f"{youtube.url()}/{KEY}"
    try:
        pusher.start()
        wait_until(lambda: states.last == SENDING, timeout=60, message=lambda: f"never sending: {states.seen}")
        seen = wait_until(lambda: probe(received), timeout=60, message="the destination never received the stream")
        assert seen["video"]["codec_name"] == "h264" and seen["audio"]["codec_name"] == "aac"
        assert processes_mentioning(KEY) == []  # not on any command line (ps, /proc)

        youtube.kill()
        wait_until(lambda: states.last == RETRYING, timeout=60, message=lambda: f"never retrying: {states.seen}")
        retrying = [s for s in states.seen if s[0] == RETRYING]
        assert retrying[0][1] in ("connection_lost", "refused", "timeout")
        assert probe(source) is not None  # Arena's own stream goes on

        youtube.start()
        wait_until(lambda: states.last == SENDING and probe(received), timeout=90,
                   message=lambda: f"the push never resumed: {states.seen[-5:]}")
    finally:
        pusher.stop()
        pusher.join(30)
        youtube.kill()
    assert states.last == IDLE
    assert not pusher.running


def test_push_follows_a_browser_streams_live_hls_playlist(tmp_path):
    hls = tmp_path / "hls"
    hls.mkdir()
    youtube = RtmpServer(tmp_path / "youtube")
    youtube.start()
    # A browser go-live's source rendition: 1 s segments, old ones deleted, no end mark.
    encoder = encoder_pattern(["-f", "hls", "-hls_time", "1", "-hls_list_size", "10",
                            "-hls_flags", "delete_segments+independent_segments+temp_file",
                            "-hls_segment_filename", str(hls / "segment-%06d.ts"), str(hls / "index.m3u8")])
    states = States()
    pusher = Pusher("ffmpeg", str(hls / "index.m3u8"), Target(youtube.url(), KEY), on_state=states,
                    allowed_hosts=["127.0.0.1"], retry_max_seconds=4, name="Facebook")
    try:
        wait_until(lambda: len(list(hls.glob("segment-*.ts"))) >= 2, timeout=60, message="no HLS from the encoder")
        pusher.start()
        wait_until(lambda: states.last == SENDING, timeout=60, message=lambda: f"never sending: {states.seen}")
        seen = wait_until(lambda: probe(f"{youtube.url()}/{KEY}"), timeout=60,
                          message="the destination never received the stream")
        assert seen["video"]["codec_name"] == "h264"
    finally:
        pusher.stop()
        pusher.join(30)
        stop(encoder)
        youtube.kill()


def test_push_to_a_server_that_is_not_there_retries_with_growing_waits(tmp_path, source):
    nobody = free_port()
    states = States()
    pusher = Pusher("ffmpeg", source, Target(f"rtmp://127.0.0.1:{nobody}/live2", KEY), on_state=states,
                    allowed_hosts=["127.0.0.1"], retry_max_seconds=4, name="nowhere")
    try:
        pusher.start()
        wait_until(lambda: len([s for s in states.seen if s[0] == RETRYING]) >= 2, timeout=60,
                   message=lambda: f"not retrying: {states.seen}")
    finally:
        pusher.stop()
        pusher.join(30)
    retrying = [s for s in states.seen if s[0] == RETRYING]
    assert [s[1] for s in retrying[:2]] == ["refused"] * 2
    assert [s[2] for s in retrying[:2]] == [1, 2]  # failures in a row: waits of 2, then 4 s
    assert CONNECTING in [s[0] for s in states.seen]


def test_push_to_a_private_address_is_refused_and_not_tried(source):
    states = States()
    pusher = Pusher("ffmpeg", source, Target("rtmp://10.20.30.40/live2", KEY), on_state=states, allowed_hosts=[],
                    name="intranet")

    pusher.start()
    pusher.join(30)

    assert states.seen[-1][:2] == ("failed", "address_refused")


def test_destination_changed_while_live_restarts_its_push_and_removed_stops_it(app, session, organiser_client, talk,
                                                                             source, tmp_path):
    from server.models import LiveStream

    youtube = RtmpServer(tmp_path / "youtube")
    youtube.start()
    simulcast = app.extensions["arena.simulcast"]
    add(organiser_client, talk, url=youtube.url())
    [destination] = destinations(session)
    stream = LiveStream(talk_id=talk.id, active_talk_id=talk.id, source="rtmp", directory="d", archive_directory="a")
    session.add(stream)
    session.commit()

    def state() -> str:
        session.expire_all()
        found = session.get(SimulcastDestination, destination.id)
        return found.state if found is not None else "gone"

    def pusher():
        running = simulcast.streams[stream.id].pushes.get(destination.id)
        return running.pusher if running is not None else None

    try:
        simulcast.on_air(stream.id, talk.id, source)
        wait_until(lambda: state() == SENDING, timeout=60, message=lambda: f"never sending: {state()}")
        wait_until(lambda: probe(f"{youtube.url()}/{KEY}"), timeout=60, message="never received")
        first = pusher()

        prefix = f"d{destination.id}-"
        organiser_client.post(f"{page_url(talk)}/{destination.id}", data={
            "csrf_token": form_token(organiser_client, page_url(talk)), f"{prefix}label": "YouTube",
            f"{prefix}url": youtube.url(), f"{prefix}stream_key": OTHER_KEY, f"{prefix}enabled": "y"})
        wait_until(lambda: probe(f"{youtube.url()}/{OTHER_KEY}"), timeout=60,
                   message="the push never restarted with the new key")
        assert not first.running and pusher() is not first
        second = pusher()

        organiser_client.post(f"{page_url(talk)}/{destination.id}/remove", data={
            "csrf_token": form_token(organiser_client, page_url(talk)), "form_token": "bort", "confirm": "yes"})
        wait_until(lambda: not second.running, timeout=30, message="the push went on after its destination was removed")
        assert pusher() is None and state() == "gone"
    finally:
        simulcast.ended(stream.id)
        youtube.kill()


# -- through a real Arena server: an encoder publishes over RTMP, Arena pushes to "YouTube" ---------

def _destination_state(arena, destination_id: int) -> tuple[str, str]:
    from sqlalchemy.orm import Session

    with Session(arena.engine) as session:
        destination = session.get(SimulcastDestination, destination_id)
        return destination.state, destination.state_message


def _media_playlist_tail(directory: Path) -> str:
    """The newest segment of Arena's own HLS (what its viewers load next)."""
    names = []
    for playlist in directory.rglob("*.m3u8"):
        if playlist.name == "master.m3u8":
            continue
        lines = [line for line in playlist.read_text().splitlines() if line and not line.startswith("#")]
        names.extend(f"{playlist.parent.name}/{line}" for line in lines[-1:])
    return ",".join(sorted(names))


@pytest.fixture(scope="module")
def arena(tmp_path_factory):
    """One real Arena for the module: `python -m server serve` (eventlet, its own nginx-rtmp),
    127.0.0.1 allowed as a destination, short waits."""
    from tests.conftest import start_live_server
    from tests.live.conftest import Arena

    server = start_live_server(tmp_path_factory.mktemp("simulcast-arena"), extra_env={
        "ARENA_MEDIA__IMPORT_ALLOWED_HOSTS": "127.0.0.1",
        "ARENA_INGEST__SIMULCAST_RETRY_MAX_SECONDS": "4",
        # An encoder or a studio that stops ends the stream soon.
        "ARENA_GOLIVE__RECONNECT_SECONDS": "3"})
    arena = Arena(server)
    yield arena
    arena.close()
    server.stop()


ORGANISER_ACTOR_NAME = "Karin Kommunikatör"


def _add_destination(arena, talk_id: int, url: str) -> int:
    from sqlalchemy.orm import Session

    from server.models import Role, Talk
    from server.services import simulcast as service
    from server.services.roles import Actor

    organiser = Actor(participant_id="test-organiser", role=Role.organiser, staff_name=ORGANISER_ACTOR_NAME)
    keys = KeyBox(Path(arena.server.env["ARENA_SERVER__INSTANCE_PATH"]))
    with Session(arena.engine, expire_on_commit=False) as session:
        destination = service.add(session, organiser, session.get(Talk, talk_id), label="YouTube", url=url,
                                  stream_key=KEY, enabled=True, keys=keys, allowed_hosts=["127.0.0.1"], now=utcnow())
        session.commit()
        return destination.id


def test_arena_pushes_a_live_rtmp_stream_and_a_dead_destination_never_disturbs_its_viewers(arena, tmp_path):
    from sqlalchemy.orm import Session

    from server.models import LiveStream, Role, Talk
    from server.services import stream_keys
    from server.services.roles import Actor

    server = arena.server
    youtube = RtmpServer(tmp_path / "youtube")
    organiser = Actor(participant_id="test-organiser", role=Role.organiser, staff_name=ORGANISER_ACTOR_NAME)
    encoder = None
    try:
        youtube.start()
        talk_id, _slug = arena.new_talk("Simulcast till YouTube")
        destination_id = _add_destination(arena, talk_id, youtube.url())
        with Session(arena.engine, expire_on_commit=False) as session:
            publish_key = stream_keys.make(session, session.get(Talk, talk_id), organiser, utcnow())
            session.commit()
        rtmp_port = server.env["ARENA_INGEST__RTMP_PORT"]
        wait_until(lambda: _listening(int(rtmp_port)), timeout=60, message="Arena's nginx-rtmp never listened")
        encoder = encoder_pattern(["-f", "flv", f"rtmp://127.0.0.1:{rtmp_port}/live/{publish_key}"])

        wait_until(lambda: _destination_state(arena, destination_id)[0] == SENDING, timeout=90,
                   message=lambda: f"never sending: {_destination_state(arena, destination_id)} {server.log()[-3000:]}")
        received = f"{youtube.url()}/{KEY}"
        seen = wait_until(lambda: probe(received), timeout=60, message="YouTube never received the stream")
        assert seen["video"]["codec_name"] == "h264"
        with Session(arena.engine) as session:
            stream = session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)).one()
            hls = Path(server.env["ARENA_MEDIA__RECORDINGS_DIR"]) / stream.directory

        youtube.kill()
        wait_until(lambda: _destination_state(arena, destination_id)[0] == RETRYING, timeout=60,
                   message=lambda: f"never retrying: {_destination_state(arena, destination_id)}")
        before = _media_playlist_tail(hls)
        wait_until(lambda: _media_playlist_tail(hls) != before, timeout=30,
                   message="Arena's own playlist stopped growing while the destination was down")

        youtube.start()
        wait_until(lambda: _destination_state(arena, destination_id)[0] == SENDING and probe(received), timeout=90,
                   message=lambda: f"the push never resumed: {_destination_state(arena, destination_id)}")
        assert KEY not in server.log()

        stop(encoder)
        wait_until(lambda: _destination_state(arena, destination_id)[0] == IDLE, timeout=90,
                   message=lambda: f"not idle after the stream ended: {_destination_state(arena, destination_id)}")
    finally:
        if encoder is not None:
            stop(encoder)
        if youtube.process is not None:
            youtube.kill()


def test_arena_pushes_a_browser_go_live_and_the_studio_hears_the_state(arena, tmp_path):
    import threading

    from tests.golive_media import recorder_output
    from tests.test_golive_server import speaker_of

    youtube = RtmpServer(tmp_path / "youtube")
    youtube.start()
    talk_id, slug = arena.new_talk("Simulcast från studion")
    destination_id = _add_destination(arena, talk_id, youtube.url())
    media = recorder_output(tmp_path / "input.mkv", seconds=20, size="426x240").read_bytes()
    speaker = speaker_of(arena, slug)
    heard: list[dict] = []
    speaker.sio.on(p.SIMULCAST_STATE, heard.append, namespace=p.STUDIO_NAMESPACE)
    sender = None
    try:
        watched = speaker.call(p.WATCH_SIMULCAST, {"talk_id": talk_id})
        assert watched["ok"] and [d["label"] for d in watched["destinations"]] == ["YouTube"]
        assert "url" not in watched["destinations"][0] and KEY not in json.dumps(watched)
        assert speaker.start()["ok"]
        # As a browser sends: in real time, a piece at a time.
        sender = threading.Thread(target=speaker.send, args=(media,), kwargs={"pace": 20 / (len(media) / 30_000)},
                                  daemon=True)
        sender.start()

        wait_until(lambda: any(h["id"] == destination_id and h["state"] == SENDING for h in heard), timeout=60,
                   message=lambda: f"the studio never heard 'sending': {heard} {arena.server.log()[-2000:]}")
        seen = wait_until(lambda: probe(f"{youtube.url()}/{KEY}"), timeout=60,
                          message="YouTube never received the studio's stream")
        assert seen["video"]["codec_name"] == "h264"
    finally:
        if sender is not None:
            sender.join(60)
        if speaker.stream_id is not None:
            speaker.call(p.END, {"stream_id": speaker.stream_id})
        speaker.close()
        youtube.kill()
    wait_until(lambda: _destination_state(arena, destination_id)[0] == IDLE, timeout=90,
               message=lambda: f"not idle after the stream ended: {_destination_state(arena, destination_id)}")


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_push_to_an_rtmps_server_whose_certificate_does_not_verify_sends_nothing(tmp_path, source):
    """The key travels inside TLS only to the server the address names: a self-signed
    certificate (a man in the middle, say) is refused, and the page says why."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    port = free_port()
    impostor = subprocess.Popen(["openssl", "s_server", "-accept", str(port), "-cert", str(tmp_path / "cert.pem"),
                                 "-key", str(tmp_path / "key.pem"), "-quiet"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    states = States()
    pusher = Pusher("ffmpeg", source, Target(f"rtmps://127.0.0.1:{port}/rtmp", KEY), on_state=states,
                    allowed_hosts=["127.0.0.1"], retry_max_seconds=4, name="Facebook")
    try:
        pusher.start()
        wait_until(lambda: any(s[0] == RETRYING for s in states.seen), timeout=60,
                   message=lambda: f"never retrying: {states.seen}")
    finally:
        pusher.stop()
        pusher.join(30)
        stop(impostor)
    assert [s[1] for s in states.seen if s[0] == RETRYING][0] == "tls"
    assert SENDING not in [s[0] for s in states.seen]
