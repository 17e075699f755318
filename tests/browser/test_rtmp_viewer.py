"""Going live from a venue's encoder over RTMP, end to end: real ffmpeg publishes a
test pattern with a tone (testsrc2 + sine, H.264 with a keyframe every second, AAC) to the
nginx-rtmp that a real Arena server started, with a key made by the command line; a viewer in
Debian's chromium plays it on the talk page; the master playlist lists the source, 360p and
audio-only renditions; the viewer's choice of "audio only" plays audio; the player with its
quality menu open passes axe-core; stopping the encoder ends the stream (after a short
reconnect grace) with a recording ffprobe reads, as long as the time live.

One server and one stream for the module, in the order a day goes: the tests share them.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import LiveStream, StreamState
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DEMO_SLUG, describe_violations, is_local, run_axe, translate
from tests.conftest import LiveServer, run_cli, start_live_server
from tests.golive_media import FFMPEG, probe
from tests.live.conftest import Arena
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

WAIT_MS = 60_000  # for what waits on ffmpeg, nginx or a poll: reached only when a test fails
RECONNECT_SECONDS = 3  # the grace after the encoder stops, short so End comes quickly


@pytest.fixture(scope="module")
def rtmp_server(tmp_path_factory) -> Iterator[LiveServer]:
    # start_live_server gives the server an RTMP port of its own; the ladder is on by default.
    server = start_live_server(tmp_path_factory.mktemp("rtmp"),
                               extra_env={"ARENA_GOLIVE__RECONNECT_SECONDS": str(RECONNECT_SECONDS),
                                          "ARENA_GOLIVE__MIN_FREE_MEGABYTES": "100"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def arena(rtmp_server) -> Iterator[Arena]:
    arena = Arena(rtmp_server)
    yield arena
    arena.close()


@pytest.fixture(scope="module")
def viewer_browser(browser) -> Iterator[Any]:
    """Debian's chromium that may start sound without a click (the stage starts the player as
    the stream comes on air), through the session's Playwright."""
    launched = browser.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS + ["--autoplay-policy=no-user-gesture-required"])
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def viewer_context(viewer_browser, rtmp_server) -> Iterator[Any]:
    # bypass_csp: axe-core is injected as a script of the page's own.
    context = viewer_browser.new_context(base_url=rtmp_server.url, locale="sv-SE", timezone_id="Europe/Stockholm",
                                         bypass_csp=True)
    context.set_default_timeout(30_000)
    context.route("**/*", lambda route: route.continue_() if is_local(route.request.url) else route.abort())
    yield context
    context.close()


class Encoder:
    """ffmpeg as a venue's encoder: testsrc2 and a 440 Hz tone, in real time, H.264 with a
    keyframe every second (as docs/ingest.md tells OBS to send) and AAC, over RTMP."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.progress = self.log_path.with_suffix(".progress")  # what ffmpeg says it has sent
        command = [FFMPEG, "-hide_banner", "-nostats", "-loglevel", "error", "-progress", str(self.progress),
                   "-re", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=25",
                   "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                   "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "main", "-pix_fmt", "yuv420p",
                   "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-b:v", "1000k", "-maxrate", "1000k",
                   "-bufsize", "1000k", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-f", "flv", self.url]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=self.log_path.open("w"), start_new_session=True)

    def stop(self) -> None:
        """As a crew presses Stop streaming: the encoder closes its connection."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def sent_seconds(self) -> float:
        """How much of the stream the encoder sent, by its own count (ffmpeg's out_time_us): on
        a busy machine -re can fall behind the wall clock, so the clock is not the measure."""
        times = [int(line.split("=", 1)[1]) for line in self.progress.read_text().splitlines()
                 if line.startswith("out_time_us=") and line.split("=", 1)[1].strip().isdigit()]
        return max(times, default=0) / 1e6


def stream_key_url(arena: Arena, talk_slug: str) -> str:
    """`python -m server stream-key EVENT TALK`: its last line is the whole publish URL."""
    result = run_cli(arena.server.env, "stream-key", DEMO_SLUG, talk_slug)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"rtmp://[^/]+:\d+/live/[A-Za-z0-9_-]{43}", url), "the last line is not a publish URL"
    return url


def active_stream(arena: Arena, talk_id: int) -> LiveStream | None:
    with Session(arena.engine, expire_on_commit=False) as session:
        return session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)
                               .order_by(LiveStream.id.desc())).first()


@pytest.fixture(scope="module")
def talk(arena, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A talk of its own with a key from the command line, and the encoder that will publish it."""
    talk_id, slug = arena.new_talk("Direkt från scenen")
    encoder = Encoder(stream_key_url(arena, slug), tmp_path_factory.mktemp("encoder") / "ffmpeg.log")
    yield {"id": talk_id, "slug": slug, "path": f"/events/{DEMO_SLUG}/{slug}", "encoder": encoder}
    encoder.stop()


@pytest.fixture(scope="module")
def viewer(viewer_context, talk) -> Any:
    """The talk page, opened before the encoder starts (the stage flips by itself)."""
    page = viewer_context.new_page()
    page.goto(talk["path"])
    expect(page.locator("[data-live-viewers]")).to_be_visible()  # joined the live room
    return page


PLAYING = """([since]) => {
  const video = document.querySelector('[data-golive] video');
  return !!video && video.videoWidth > 0 && video.currentTime > since && !video.paused;
}"""

# Sound without a picture: the audio-only rendition is what plays.
AUDIO_PLAYING = """([since]) => {
  const video = document.querySelector('[data-golive] video');
  return !!video && video.videoWidth === 0 && video.currentTime > since && !video.paused;
}"""


def current_time(page: Any) -> float:
    return page.evaluate("document.querySelector('[data-golive] video').currentTime")


def test_rtmp_stream_plays_for_a_viewer_of_the_talk_page(arena, talk, viewer):
    encoder = talk["encoder"]

    encoder.start()

    wait_until(lambda: encoder.process.poll() is None and (active_stream(arena, talk["id"]) or None),
               timeout=60, message=lambda: f"no stream was started: {encoder.log()[-2000:]}")
    viewer.wait_for_function(PLAYING, arg=[1.0], timeout=WAIT_MS)
    first = current_time(viewer)
    viewer.wait_for_function(PLAYING, arg=[first + 1.0], timeout=WAIT_MS)
    expect(viewer.locator("[data-live-badge]")).to_be_visible()
    stream = active_stream(arena, talk["id"])
    assert (stream.source, stream.state) == ("rtmp", StreamState.live)


def test_master_playlist_lists_source_360p_and_audio_only(arena, talk, viewer):
    api = requests.get(f"{arena.url}/api/events/{DEMO_SLUG}", timeout=30).json()
    (talk_json,) = [item for item in api["talks"] if item["slug"] == talk["slug"]]
    master_url = talk_json["playlist_url"]
    assert master_url and master_url.endswith("/master.m3u8")

    master = requests.get(master_url if master_url.startswith("http") else arena.url + master_url, timeout=30)

    assert master.status_code == 200
    variants = re.findall(r"#EXT-X-STREAM-INF:([^\n]+)\n([^\n]+)", master.text)
    assert len(variants) == 3, master.text
    by_uri = {uri.strip(): attributes for attributes, uri in variants}
    source, small, audio = (by_uri[f"{name}.m3u8"] for name in ("source", "360p", "audio"))
    assert "RESOLUTION=854x480" in source
    assert "RESOLUTION=640x360" in small
    assert "RESOLUTION" not in audio and "avc1" not in audio and "mp4a" in audio
    bandwidths = [int(re.search(r"BANDWIDTH=(\d+)", attributes).group(1)) for attributes in (source, small, audio)]
    assert bandwidths == sorted(bandwidths, reverse=True), "the renditions are declared from large to small"
    base = master.url.rsplit("/", 1)[0]
    for name in ("source", "360p", "audio"):
        media = requests.get(f"{base}/{name}.m3u8", timeout=30)
        assert media.status_code == 200 and "#EXTINF" in media.text, name


QUALITY = "[data-golive] select[data-player-quality]"


def test_player_with_its_quality_menu_open_passes_axe(viewer):
    menu = viewer.locator(QUALITY)
    expect(menu).to_be_visible()
    # The menu is named for screen readers, and offers the three renditions besides Automatic.
    expect(viewer.get_by_label(translate("sv", "Quality"), exact=True)).to_have_count(1)
    assert menu.locator("option").evaluate_all("options => options.map(o => o.value)") == \
        ["auto", "source", "360p", "audio"]
    menu.focus()
    menu.click()  # open (headless chromium draws no popup, but the page is in that state)

    violations = run_axe(viewer)

    viewer.keyboard.press("Escape")
    assert violations == [], describe_violations(violations)


def test_viewer_choosing_audio_only_hears_the_audio_rendition(viewer):
    audio_segment = re.compile(r"/audio-\d+\.ts$")

    with viewer.expect_request(lambda request: bool(audio_segment.search(request.url)), timeout=WAIT_MS):
        viewer.locator(QUALITY).select_option("audio")

    viewer.wait_for_function(AUDIO_PLAYING, arg=[0], timeout=WAIT_MS)
    since = current_time(viewer)  # the new playlist may have moved the clock: count from here
    viewer.wait_for_function(AUDIO_PLAYING, arg=[since + 1.0], timeout=WAIT_MS)
    expect(viewer.locator("[data-golive-status]")).to_contain_text(translate("sv", "Audio only (saves data)"))
    # The choice is remembered for the next talk page.
    assert viewer.evaluate("localStorage.getItem('arena.quality')") == "audio"


def test_stopping_the_encoder_ends_the_stream_with_a_recording_as_long_as_the_time_live(arena, talk, viewer):
    encoder = talk["encoder"]
    stream = active_stream(arena, talk["id"])
    assert stream is not None and stream.state is StreamState.live

    encoder.stop()
    sent_seconds = encoder.sent_seconds()

    def ended() -> LiveStream | None:
        row = active_stream(arena, talk["id"])
        return row if row.state is StreamState.ended and row.archive_path else None

    row = wait_until(ended, timeout=90, message=lambda: f"the stream never ended: {arena.server.log()[-3000:]}")
    recording = Path(arena.server.env["ARENA_MEDIA__RECORDINGS_DIR"]) / row.archive_path
    info = probe(recording)
    kinds = {stream["codec_type"]: stream for stream in info["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and kinds["audio"]["codec_name"] == "aac"
    duration = float(info["format"]["duration"])
    # All the encoder sent, by its own count, but for the moment before Arena's ffmpeg reads
    # from nginx (nginx's metadata first; docs/golive.md).
    assert sent_seconds - 4 <= duration <= sent_seconds + 0.5, (duration, sent_seconds)
    expect(viewer.locator("[data-live-badge]")).to_be_hidden(timeout=WAIT_MS)
