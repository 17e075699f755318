"""deploy/nginx.conf (docs/nginx.conf is the same file), run with Debian's nginx in front of
a real Arena, over TLS, with only its ADJUST lines changed (tests/deploy/topology.py): the
shipped config works. nginx serves recordings/ itself (HLS types and cache headers, private files
refused) to whoever Arena allows (auth_request: the public what a published event shows, an
organiser everything), and passes pages and Socket.IO websockets (the studio's included) to
Arena.

nginx comes from Debian (`make test` installs it with chromium and ffmpeg). A missing nginx
is a failed set-up, not a reason to skip, as with the browser.
"""

from __future__ import annotations

import http.client
import itertools
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import socketio
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from server.config import PROJECT_ROOT
from server.models import EventStatus, LiveStream, Recording, StreamState, Talk
from server.services import golive
from server.services.events import create_event, create_talk
from server.services.recordings.files import unguessable_name
from server.sockets import protocol as p
from tests.conftest import at, free_port, run_cli, start_live_server
from tests.deploy.topology import main_config, render_site, self_signed_certificate
from tests.waiting import wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLUG = "sociala-medier-i-offentlig-sektor"
EVENT_NUMBERS = itertools.count(1)
ORGANISER_EMAIL, PASSWORD = "karin@norrbotten.se", "ett långt och hemligt lösenord"


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=30)
    except requests.ConnectionError:
        return False
    return True


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory) -> Iterator[Front]:
    assert Path(NGINX).exists(), f"no nginx at {NGINX}: run `make test` (it installs Debian's nginx)"
    tmp = tmp_path_factory.mktemp("nginx")
    certificate, key = self_signed_certificate(tmp)
    https_port = free_port()
    front = f"https://127.0.0.1:{https_port}"
    # Arena's public address is nginx's: the Socket.IO origin check compares with it.
    arena = start_live_server(tmp, extra_env={"ARENA_SERVER__BASE_URL": front, "ARENA_SERVER__TRUSTED_PROXIES": "1"})
    site = render_site(http_port=free_port(), https_port=https_port, arena_ports=[int(arena.env["ARENA_SERVER__PORT"])],
                       root=tmp, static=PROJECT_ROOT / "static", certificate=certificate, key=key,
                       cache=tmp / "media-access", access_log=tmp / "access.log")
    config = main_config(tmp, site)
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp), "-c", str(config)], check=False, capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(config), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Every request of this module trusts the test's certificate (requests reads this variable
    # before any `verify=`).
    trusted = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(certificate)
    error_log = tmp / "error.log"
    wait_until(lambda: answers(f"{front}/healthz"), timeout=60, message=lambda: (
        f"nginx never answered (exit status {nginx.poll()}): {error_log.read_text() if error_log.exists() else ''}"))
    engine = create_engine(arena.env["ARENA_DATABASE__URL"])
    created = run_cli(arena.env, "create-organiser", ORGANISER_EMAIL, "Karin Kommunikatör", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    yield Front(front, tmp / "recordings", engine, certificate)
    if trusted is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = trusted
    nginx.terminate()
    nginx.wait(timeout=10)
    engine.dispose()
    arena.stop()


@dataclass
class Front:
    url: str              # nginx
    recordings: Path      # what nginx serves as /recordings/
    engine: Engine        # Arena's database, to set up what a test needs
    certificate: Path     # nginx's (self-signed) certificate

    def store(self, relative: str, data: bytes = b"\x00\x00\x00\x18ftypmp42") -> str:
        path = self.recordings / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return relative

    def talk(self, session: Session, *, published: bool) -> Talk:
        """A talk of a new event of its own, published or a draft."""
        n = next(EVENT_NUMBERS)
        event = create_event(session, title=f"Dag {n}", slug=f"nginx-dag-{n}", starts_on=at(9).date(),
                             status=EventStatus.published if published else EventStatus.draft)
        return create_talk(session, event, title="Skapa arenor", slug="skapa-arenor", starts_at=at(10),
                           ends_at=at(11))


@pytest.fixture(scope="module")
def organiser(behind_nginx) -> requests.Session:
    """Signed in through nginx, as a browser would."""
    browser = requests.Session()
    page = browser.get(f"{behind_nginx.url}/sign-in", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    # Over https, Flask-WTF also wants the Referer a browser sends with a form of the same site.
    signed_in = browser.post(f"{behind_nginx.url}/sign-in", timeout=30, allow_redirects=False,
                             headers={"Referer": f"{behind_nginx.url}/sign-in"},
                             data={"email": ORGANISER_EMAIL, "password": PASSWORD, "csrf_token": token})
    assert signed_in.status_code in (302, 303), signed_in.text
    assert browser.cookies.get("session")
    return browser


def add_recording(front: Front, *, event_published: bool, published: bool) -> str:
    """A recording in Arena's database and on the disk: its file's URL."""
    with Session(front.engine) as session:
        talk = front.talk(session, published=event_published)
        folder = f"{talk.event.slug}/{talk.slug}"
        recording = Recording(talk=talk, origin="upload", file_type="video/mp4",
                              file_path=front.store(f"{folder}/{unguessable_name('recording', '.mp4')}"),
                              published_at=datetime.now(UTC) if published else None)
        session.add(recording)
        session.commit()
        return f"{front.url}/recordings/{recording.file_path}"


def add_live_stream(front: Front, *, event_published: bool) -> LiveStream:
    """A stream that is on now, its folder named as Arena names it, with a playlist and a
    segment as ffmpeg writes them; and a finished recording in its archive folder."""
    with Session(front.engine, expire_on_commit=False) as session:
        talk = front.talk(session, published=event_published)
        session.flush()
        stream = LiveStream(talk=talk, active_talk_id=talk.id, state=StreamState.live, video_codec="h264")
        session.add(stream)
        session.flush()
        stream.directory = golive.stream_directory(talk, stream.id)
        stream.archive_directory = golive.archive_directory(talk, stream.id)
        front.store(f"{stream.directory}/index.m3u8", b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n")
        front.store(f"{stream.directory}/segment-000001.ts", b"\x47" * 188 * 10)
        for name in ("source.mkv", "source-1.mkv", "parts.txt", "ffmpeg.log", "recording.mp4"):
            front.store(f"{stream.archive_directory}/{name}", b"\0" * 64)
        session.commit()
        return stream


def test_nginx_serves_live_hls_of_a_published_event_itself_with_types_and_cache_headers(behind_nginx):
    stream = add_live_stream(behind_nginx, event_published=True)
    live = f"{behind_nginx.url}/recordings/{stream.directory}"

    playlist = requests.get(f"{live}/index.m3u8", timeout=30)
    segment = requests.get(f"{live}/segment-000001.ts", timeout=30)

    assert playlist.status_code == 200 and playlist.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist.headers["Cache-Control"] == "no-cache"
    assert segment.status_code == 200 and segment.headers["Content-Type"] == "video/mp2t"
    assert segment.headers["Cache-Control"] == "public, max-age=86400, immutable"
    assert segment.content == b"\x47" * 188 * 10
    assert "nginx" in playlist.headers.get("Server", "")  # not Arena: no Python sends the file


def test_the_same_answer_serves_every_viewer_of_a_segment(behind_nginx):
    stream = add_live_stream(behind_nginx, event_published=True)
    segment = f"{behind_nginx.url}/recordings/{stream.directory}/segment-000001.ts"
    cache = behind_nginx.recordings.parent / "media-access"
    before = set(cache.rglob("*"))

    viewers = [requests.get(segment, timeout=30, cookies={"session": f"viewer-{n}"}) for n in range(5)]

    assert [viewer.status_code for viewer in viewers] == [200] * 5
    # One answer kept for all five (asked without their cookies), not one per viewer.
    assert len([path for path in set(cache.rglob("*")) - before if path.is_file()]) == 1


def test_a_guessed_or_finished_streams_files_are_refused_to_the_public(behind_nginx, organiser):
    stream = add_live_stream(behind_nginx, event_published=True)
    talk_folder = stream.directory.rsplit("/live/", 1)[0]
    guessed = f"{behind_nginx.url}/recordings/{talk_folder}/live/{stream.id}/index.m3u8"
    archive = f"{behind_nginx.url}/recordings/{stream.archive_directory}"
    behind_nginx.store(guessed.split("/recordings/", 1)[1], b"#EXTM3U\n")  # an old-style folder

    assert requests.get(guessed, timeout=30).status_code == 403
    assert requests.get(f"{archive}/recording.mp4", timeout=30).status_code == 403
    assert organiser.get(f"{archive}/recording.mp4", timeout=30).status_code == 200


def test_live_hls_of_a_draft_event_is_for_organisers_only(behind_nginx, organiser):
    stream = add_live_stream(behind_nginx, event_published=False)
    playlist = f"{behind_nginx.url}/recordings/{stream.directory}/index.m3u8"

    assert requests.get(playlist, timeout=30).status_code == 403
    assert organiser.get(playlist, timeout=30).status_code == 200


def test_a_draft_events_recording_is_refused_to_the_public_and_private_to_an_organiser(behind_nginx, organiser):
    url = add_recording(behind_nginx, event_published=False, published=True)

    public = requests.get(url, timeout=30)
    stranger = requests.get(url, timeout=30, cookies={"session": "not-a-signed-session"})
    organisers = organiser.get(url, timeout=30)

    assert public.status_code == 403 and stranger.status_code == 403 and b"ftyp" not in public.content
    assert organisers.status_code == 200 and organisers.content.endswith(b"ftypmp42")
    assert organisers.headers["Content-Type"] == "video/mp4"
    # No shared cache between the organiser and nginx may keep it for the next visitor.
    assert organisers.headers["Cache-Control"] == "private, no-cache"
    assert "nginx" in organisers.headers.get("Server", "")


def test_an_unpublished_recording_of_a_published_event_is_refused_to_the_public(behind_nginx, organiser):
    url = add_recording(behind_nginx, event_published=True, published=False)

    assert requests.get(url, timeout=30).status_code == 403
    assert organiser.get(url, timeout=30).status_code == 200


def test_a_published_recording_of_a_published_event_is_everyones(behind_nginx, organiser):
    url = add_recording(behind_nginx, event_published=True, published=True)

    public = requests.get(url, timeout=30)

    assert public.status_code == 200 and public.headers["Content-Type"] == "video/mp4"
    assert public.headers["Cache-Control"] == "public, max-age=3600"
    assert organiser.get(url, timeout=30).status_code == 200


def test_unpublishing_reaches_nginx_once_its_kept_answer_runs_out(behind_nginx):
    url = add_recording(behind_nginx, event_published=True, published=True)
    assert requests.get(url, timeout=30).status_code == 200  # now kept by nginx for a few seconds

    with Session(behind_nginx.engine) as session:
        recording = session.query(Recording).filter_by(file_path=url.split("/recordings/", 1)[1]).one()
        recording.published_at = None
        session.commit()

    wait_until(lambda: requests.get(url, timeout=30).status_code == 403, timeout=60, interval=0.5,
               message="nginx kept serving an unpublished recording")


def test_a_dotted_address_cannot_reach_a_refused_file(behind_nginx, organiser):
    hidden = urlsplit(add_recording(behind_nginx, event_published=False, published=True)).path
    shown = urlsplit(add_recording(behind_nginx, event_published=True, published=True)).path
    folder, name = hidden.rsplit("/", 1)
    # Each of these is the hidden file to nginx (an organiser gets it), so Arena must be asked
    # about that file, not about the published one they pass through.
    tricks = [f"{folder}/./{name}", f"{folder}//{name}", f"{folder}/%2e/{name}",
              f"{shown}/../../../{hidden.split('/', 2)[2]}", f"{shown}/%2e%2e/%2e%2e/%2e%2e/{hidden.split('/', 2)[2]}"]

    def status(path: str, cookie: str = "") -> int:
        trusting = ssl.create_default_context(cafile=str(behind_nginx.certificate))
        connection = http.client.HTTPSConnection(urlsplit(behind_nginx.url).netloc, timeout=30, context=trusting)
        connection.request("GET", path, headers={"Cookie": f"session={cookie}"} if cookie else {})
        answer = connection.getresponse().status  # sent as written: requests would tidy the dots away
        connection.close()
        return answer

    public = {path: status(path) for path in tricks}
    organisers = {path: status(path, organiser.cookies["session"]) for path in tricks}

    assert set(public.values()) == {403}, public
    assert set(organisers.values()) == {200}, organisers


def test_nginx_refuses_a_streams_working_files_even_to_an_organiser(behind_nginx, organiser):
    stream = add_live_stream(behind_nginx, event_published=True)
    archive = f"{behind_nginx.url}/recordings/{stream.archive_directory}"

    answers = {name: organiser.get(f"{archive}/{name}", timeout=30)
               for name in ("source.mkv", "source-1.mkv", "parts.txt", "ffmpeg.log", "recording.mp4")}

    assert all(answers[name].status_code == 404 for name in ("source.mkv", "source-1.mkv", "parts.txt", "ffmpeg.log"))
    assert answers["recording.mp4"].status_code == 200
    assert answers["recording.mp4"].headers["Content-Type"] == "video/mp4"


def test_nginx_refuses_working_files_at_any_depth_of_an_archive_folder(behind_nginx, organiser):
    # As Arena's is_private: any such name anywhere under an archive folder.
    stream = add_live_stream(behind_nginx, event_published=True)
    talk_folder = stream.archive_directory.rsplit("/archive/", 1)[0]
    names = [f"{talk_folder}/archive/source.webm", f"{stream.archive_directory}/old/ffmpeg-2.log",
             f"{stream.archive_directory}/old/parts.txt"]
    for name in names:
        behind_nginx.store(name, b"\0" * 64)

    answers = [organiser.get(f"{behind_nginx.url}/recordings/{name}", timeout=30).status_code for name in names]

    assert answers == [404] * len(names)  # nginx's own refusal: Arena is not even asked


def test_nginx_passes_pages_and_socketio_websockets_to_arena(behind_nginx):
    front = behind_nginx.url
    page = requests.get(f"{front}/events/{SLUG}/skapa-arenor", timeout=30)
    trusting = requests.Session()
    trusting.verify = str(behind_nginx.certificate)
    client = socketio.Client(reconnection=False, http_session=trusting)

    client.connect(front, namespaces=[p.LIVE_NAMESPACE, p.STUDIO_NAMESPACE], transports=["websocket"],
                   wait_timeout=10)
    connected = client.transport(), sorted(client.namespaces)
    client.disconnect()

    assert page.status_code == 200 and re.search(r"Skapa arenor", page.text)
    assert connected == ("websocket", [p.LIVE_NAMESPACE, p.STUDIO_NAMESPACE])
