"""Going live from a laptop's browser, in Debian's chromium with its fake camera and
microphone: the speaker's studio goes live and a second browser's player advances; End
leaves a recording ffprobe reads; a dropped connection continues the same stream; a second
publisher and a browser without the role are refused; the studio passes axe-core.

The server is a subprocess of its own (eventlet, real ffmpeg), so the streams made here do
not change the talk pages other browser tests look at.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import LiveStream
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DEMO_SLUG, describe_violations, is_local, run_axe, translate
from tests.conftest import LiveServer, start_live_server
from tests.golive_media import probe
from tests.live.conftest import Arena

pytestmark = pytest.mark.browser

MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              "--auto-select-desktop-capture-source=Entire screen",
              "--autoplay-policy=no-user-gesture-required"]
TALK = "skapa-arenor"
WAIT_MS = 60_000  # for what waits on ffmpeg or a poll: generous, reached only when a test fails


@pytest.fixture(scope="module")
def golive_server(tmp_path_factory) -> Iterator[LiveServer]:
    server = start_live_server(tmp_path_factory.mktemp("golive"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def arena(golive_server) -> Iterator[Arena]:
    arena = Arena(golive_server)
    yield arena
    arena.close()


@pytest.fixture(scope="module")
def media_browser(browser) -> Iterator[Any]:
    """Debian's chromium again, with a fake camera and microphone, through the session's
    Playwright (a second sync Playwright in one process is refused)."""
    media = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + MEDIA_ARGS)
    yield media
    media.close()


@pytest.fixture
def open_context(media_browser, golive_server) -> Iterator[Any]:
    contexts: list[Any] = []

    def _open(**options: Any) -> Any:
        options.setdefault("base_url", golive_server.url)
        options.setdefault("locale", "sv-SE")
        options.setdefault("timezone_id", "Europe/Stockholm")
        context = media_browser.new_context(**options)
        context.set_default_timeout(30_000)
        context.route("**/*", lambda route: route.continue_() if is_local(route.request.url) else route.abort())
        contexts.append(context)
        return context

    yield _open
    for context in contexts:
        context.close()


def new_talk(arena: Arena) -> str:
    """A talk of its own per test: one publisher per talk must not leak between tests."""
    _talk_id, slug = arena.new_talk()
    return slug


def talk_url(slug: str) -> str:
    return f"/events/{DEMO_SLUG}/{slug}"


def open_studio(open_context, arena: Arena, slug: str, role: str = "speaker", **options: Any) -> Any:
    grant = arena.grant(role, "Mattias Jansson", event=DEMO_SLUG if role == "speaker" else None,
                        talk=slug if role == "speaker" else None)
    page = open_context(**options).new_page()
    page.goto(grant.link.replace(arena.url, ""))
    page.goto(talk_url(slug) + "/studio")
    expect(page.locator("[data-studio-go-live]")).to_be_enabled()
    return page


def go_live(page: Any) -> None:
    page.locator("[data-studio-go-live]").click()
    # "live" once ffmpeg has written the first segment: behind a transcode (VP8 to x264) on a
    # busy machine, that can take a while.
    expect(page.locator("[data-studio-badge]")).to_have_attribute("data-state", "live", timeout=WAIT_MS)


def end(page: Any) -> None:
    page.locator("[data-studio-end]").click()
    expect(page.locator("[data-studio-badge]")).to_have_attribute("data-state", "ended", timeout=WAIT_MS)


def streams(arena: Arena, slug: str) -> list[LiveStream]:
    with Session(arena.engine) as session:
        talk_id = arena.talk_id(slug)
        return list(session.scalars(select(LiveStream).where(LiveStream.talk_id == talk_id)
                                    .order_by(LiveStream.id)))


PLAYING = """([since]) => {
  const video = document.querySelector('[data-golive] video');
  return !!video && video.videoWidth > 0 && video.currentTime > since && !video.paused;
}"""


def test_speaker_goes_live_and_a_second_browser_plays_the_stream(open_context, arena):
    slug = new_talk(arena)
    viewer = open_context().new_page()
    viewer.goto(talk_url(slug))
    expect(viewer.locator("[data-live-viewers]")).to_be_visible()  # joined the live room
    expect(viewer.locator("[data-live-badge]")).to_be_hidden()
    studio = open_studio(open_context, arena, slug)

    go_live(studio)
    # The viewer's page flips without a reload, and its player advances.
    viewer.wait_for_function(PLAYING, arg=[1.0], timeout=WAIT_MS)
    first = viewer.evaluate("document.querySelector('[data-golive] video').currentTime")
    viewer.wait_for_function(PLAYING, arg=[first + 0.5], timeout=WAIT_MS)

    expect(viewer.locator("[data-live-badge]")).to_be_visible()
    expect(viewer.locator("[data-golive-status]")).to_have_text(translate("sv", "The speaker is live."))
    end(studio)
    expect(viewer.locator("[data-golive-status]")).to_have_text(
        translate("sv", "The live stream has ended. The recording is coming."))


def test_end_keeps_a_recording_as_long_as_the_time_live(open_context, arena, golive_server):
    slug = new_talk(arena)
    studio = open_studio(open_context, arena, slug)

    clicked = time.monotonic()
    go_live(studio)  # recording starts once the server says yes, before viewers see the first segment
    live = time.monotonic()
    studio.wait_for_timeout(6_000)
    recording_at_least = time.monotonic() - live  # the badge said live: the recorder was running
    studio.locator("[data-studio-end]").click()
    expect(studio.locator("[data-studio-badge]")).to_have_attribute("data-state", "ended", timeout=WAIT_MS)
    recording_at_most = time.monotonic() - clicked

    [stream] = streams(arena, slug)
    recording = probe(Path(golive_server.env["ARENA_MEDIA__RECORDINGS_DIR"]) / stream.archive_path)
    assert stream.end_reason == "ended"
    # As long as the time live: measured from outside, the time live lies between these two,
    # however slow the machine (1.5 s for a slice and a keyframe at either end).
    assert recording_at_least - 1.5 < float(recording["format"]["duration"]) < recording_at_most + 1.5
    assert {s["codec_name"] for s in recording["streams"]} == {"h264", "aac"}
    expect(studio.locator("[data-studio-status]")).to_have_text(
        translate("sv", "The stream has ended. The recording is saved."))


def test_a_dropped_connection_continues_the_same_stream(open_context, arena):
    slug = new_talk(arena)
    viewer = open_context().new_page()
    viewer.goto(talk_url(slug))
    studio = open_studio(open_context, arena, slug)
    go_live(studio)
    viewer.wait_for_function(PLAYING, arg=[0.5], timeout=WAIT_MS)

    studio.evaluate("window.arenaStudio.socket.io.engine.close()")  # the venue's wifi drops
    expect(studio.locator("[data-studio-badge]")).to_have_attribute("data-state", "reconnecting")
    expect(viewer.locator("[data-golive]")).to_have_attribute("data-state", "reconnecting")
    # socket.io reconnects by itself; the studio resumes the stream it had.
    expect(studio.locator("[data-studio-badge]")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    expect(viewer.locator("[data-golive]")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    played = viewer.evaluate("document.querySelector('[data-golive] video').currentTime")
    viewer.wait_for_function(PLAYING, arg=[played + 1.0], timeout=WAIT_MS)
    end(studio)

    [stream] = streams(arena, slug)
    assert stream.end_reason == "ended" and stream.archive_path is not None


def test_a_second_publisher_is_refused(open_context, arena):
    slug = new_talk(arena)
    first = open_studio(open_context, arena, slug)
    second = open_studio(open_context, arena, slug, role="organiser")
    go_live(first)

    second.locator("[data-studio-go-live]").click()

    expect(second.locator("[data-studio-error]")).to_have_text(translate(
        "sv", "Someone is already live on this talk. Only one person can send the stream at a time."))
    expect(second.locator("[data-studio-badge]")).to_have_attribute("data-state", "idle")
    end(first)
    assert len(streams(arena, slug)) == 1


def test_the_studio_is_refused_without_the_role(open_context, arena):
    slug = new_talk(arena)
    page = open_context().new_page()
    page.goto(talk_url(slug))

    response = page.goto(talk_url(slug) + "/studio")

    assert response.status == 403
    expect(page.locator("main")).to_contain_text(translate(
        "sv", "Only the talk's speaker or an organiser can go live. "
              "Open the studio with the sign-in link you were sent."))


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_studio_has_no_axe_violations(open_context, arena, language):
    slug = new_talk(arena)
    studio = open_studio(open_context, arena, slug, bypass_csp=True)  # axe is injected
    if language == "en":
        studio.goto(f"/language/en?next={talk_url(slug)}/studio")
        expect(studio.locator("[data-studio-go-live]")).to_be_enabled()

    idle = run_axe(studio)
    go_live(studio)
    live = run_axe(studio)
    end(studio)

    assert idle == [], describe_violations(idle)
    assert live == [], describe_violations(live)


def test_the_studio_works_with_the_keyboard(open_context, arena):
    slug = new_talk(arena)
    studio = open_studio(open_context, arena, slug)

    studio.locator("[data-studio-go-live]").focus()
    studio.keyboard.press("Enter")
    expect(studio.locator("[data-studio-badge]")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    studio.locator("[data-studio-end]").focus()
    studio.keyboard.press("Enter")

    expect(studio.locator("[data-studio-badge]")).to_have_attribute("data-state", "ended", timeout=WAIT_MS)
    assert re.search(r"\S", studio.locator("[data-studio-status]").text_content())


def test_the_event_pages_live_badge_follows_the_studio(open_context, arena):
    slug = new_talk(arena)
    event_page = open_context().new_page()
    event_page.goto(f"/events/{DEMO_SLUG}/")
    card = event_page.locator(f'.talk-card[data-talk-slug="{slug}"]')
    expect(card.locator("[data-live-badge]")).to_be_hidden()
    studio = open_studio(open_context, arena, slug)

    go_live(studio)

    # The event page asks every 15 s; no reload.
    expect(card.locator("[data-live-badge]")).to_be_visible(timeout=WAIT_MS)
    expect(card).to_have_class(re.compile(r"\bis-live\b"))
    end(studio)
    expect(card.locator("[data-live-badge]")).to_be_hidden(timeout=WAIT_MS)


VP8_ONLY = """(function () {
  var supported = MediaRecorder.isTypeSupported.bind(MediaRecorder);
  MediaRecorder.isTypeSupported = function (type) { return !/h264|avc1/.test(type) && supported(type); };
})();"""


def test_a_browser_that_records_vp8_goes_live_too(open_context, arena, golive_server):
    slug = new_talk(arena)
    grant = arena.grant("speaker", "Mattias Jansson", event=DEMO_SLUG, talk=slug)
    context = open_context()
    context.add_init_script(VP8_ONLY)  # as Firefox: no H.264 in MediaRecorder
    studio = context.new_page()
    studio.goto(grant.link.replace(arena.url, ""))
    studio.goto(talk_url(slug) + "/studio")
    expect(studio.locator("[data-studio-go-live]")).to_be_enabled()
    viewer = open_context().new_page()
    viewer.goto(talk_url(slug))
    expect(viewer.locator("[data-live-viewers]")).to_be_visible()

    go_live(studio)
    viewer.wait_for_function(PLAYING, arg=[1.0], timeout=WAIT_MS)
    end(studio)

    [stream] = streams(arena, slug)
    assert stream.video_codec == "vp8"
    recording = probe(Path(golive_server.env["ARENA_MEDIA__RECORDINGS_DIR"]) / stream.archive_path)
    assert recording["streams"][0]["codec_name"] == "vp8"


def test_the_speaker_shares_the_screen_and_sees_the_chat_beside_the_preview(open_context, arena):
    slug = new_talk(arena)
    studio = open_studio(open_context, arena, slug)

    studio.locator("[data-studio-screen]").click()

    expect(studio.locator("[data-studio-screen]")).to_have_attribute("aria-pressed", "true")
    expect(studio.locator("[data-studio-screen]")).to_have_text(translate("sv", "Stop sharing the screen"))
    expect(studio.locator("#live-panel [data-live-viewers]")).to_be_visible()  # joined the talk's live room
    studio.locator("[data-studio-screen]").click()
    expect(studio.locator("[data-studio-screen]")).to_have_attribute("aria-pressed", "false")


def test_the_studio_lists_the_devices_and_the_microphone_level_moves(open_context, arena):
    slug = new_talk(arena)
    studio = open_studio(open_context, arena, slug)

    cameras = studio.locator("[data-studio-camera] option").count()
    microphones = studio.locator("[data-studio-microphone] option").count()

    assert cameras >= 1 and microphones >= 1
    studio.wait_for_function("() => document.querySelector('[data-studio-level]').value > 0.01")  # the fake beep
