"""The live player's quality menu and one player per talk, in Debian's chromium on
the shared live server. A speaker goes live through the studio socket (the server's own ffmpeg
writes the ladder); the talk also has a YouTube stream address. The viewer's player plays;
choosing audio only by keyboard plays the audio rendition and is remembered after a reload;
axe-core finds nothing with the menu in use; the YouTube address is a link, not a second
player, and the page flips to the stream and back without a reload.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.models import Talk
from server.sockets import protocol as p
from tests.browser.conftest import DEMO_SLUG, describe_violations, run_axe, translate
from tests.golive_media import pieces, recorder_output
from tests.live.conftest import Arena
from tests.test_golive_server import Speaker, speaker_of

pytestmark = pytest.mark.browser

YOUTUBE = "https://www.youtube.com/watch?v=M7lc1UVf-VE"
WAIT_MS = 60_000  # what waits on ffmpeg: reached only when a test fails


class Broadcast:
    """A speaker sending a generated recording through the studio socket at about its own
    pace, in the background, until stopped (then End)."""

    def __init__(self, arena: Arena, slug: str, media: bytes, seconds: float) -> None:
        self.speaker: Speaker = speaker_of(arena, slug)
        self.parts = pieces(media)
        self.pace = seconds / len(self.parts)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def start(self) -> Broadcast:
        return self.connect().send()

    def connect(self) -> Broadcast:
        """Go live without a piece yet: the stream connects (no segment, not on air)."""
        assert self.speaker.start()["ok"]
        return self

    def send(self) -> Broadcast:
        self.thread.start()
        self.speaker.wait_for_state("live")
        return self

    def _send(self) -> None:
        for piece in self.parts:
            if self.stop.wait(self.pace):
                return
            ack = self.speaker.call(p.CHUNK, {"stream_id": self.speaker.stream_id, "seq": self.speaker.next_seq,
                                              "data": piece})
            if not ack["ok"]:
                return
            self.speaker.next_seq = ack["next_seq"]

    def end(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.speaker.call(p.END, {"stream_id": self.speaker.stream_id})
        self.speaker.wait_for_state("ended")
        self.speaker.close()


def talk_with_youtube(arena: Arena) -> str:
    talk_id, slug = arena.new_talk()
    with Session(arena.engine) as session:
        session.get(Talk, talk_id).stream_url = YOUTUBE
        session.commit()
    return slug


@pytest.fixture(scope="module")
def arena(live_server) -> Iterator[Arena]:
    arena = Arena(live_server)
    yield arena
    arena.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("quality-media")
    # 10 frames a second: quick to make; the ladder needs a picture larger than 360p.
    return {"long": recorder_output(folder / "long.mkv", seconds=120, size="640x480", rate=10).read_bytes(),
            "short": recorder_output(folder / "short.mkv", seconds=30, size="640x480", rate=10).read_bytes()}


@pytest.fixture(scope="module")
def live_talk(arena, media) -> Iterator[str]:
    """A talk live from the studio for the whole module, with a YouTube address too."""
    slug = talk_with_youtube(arena)
    broadcast = Broadcast(arena, slug, media["long"], seconds=120).start()
    yield slug
    broadcast.end()


def talk_path(slug: str) -> str:
    return f"/events/{DEMO_SLUG}/{slug}"


PLAYS = """([since, wantPicture]) => {
  const video = document.querySelector('[data-golive] video');
  return !!video && video.currentTime > since && !video.paused && (video.videoWidth > 0) === wantPicture;
}"""


def current_time(page) -> float:
    return page.evaluate("document.querySelector('[data-golive] video').currentTime")


def play_muted(page) -> None:
    # Muted: a page may start a muted video by itself (no gesture needed in a test).
    page.evaluate("() => { const v = document.querySelector('[data-golive] video'); v.muted = true; v.play(); }")


def test_quality_menu_plays_then_audio_only_by_keyboard_and_remembers_it(open_context, live_talk):
    page = open_context(bypass_csp=True).new_page()  # axe is injected
    page.goto(talk_path(live_talk))
    menu = page.get_by_label(translate("sv", "Quality"), exact=True)
    expect(menu).to_be_visible()
    labels = menu.locator("option").all_text_contents()
    assert labels == [translate("sv", "Automatic"), "480p", "360p", translate("sv", "Audio only (saves data)")]
    assert translate("sv", "Audio only (saves data)") == "Ljud enbart (sparar data)"
    expect(menu).to_have_value("auto")

    play_muted(page)
    page.wait_for_function(PLAYS, arg=[0.5, True], timeout=WAIT_MS)  # the picture plays
    # Automatic: hls.js switches by bandwidth between the two pictures only (it leaves the
    # master's audio-only variant out of its levels, so a slow connection never loses the picture).
    heights, automatic = page.evaluate("""() => { const hls = document.querySelector('[data-golive] video')._hls;
        return [hls.levels.map(level => level.height).sort((a, b) => a - b), hls.autoLevelEnabled]; }""")
    assert heights == [360, 480] and automatic is True

    # Keyboard only: Tab from the player reaches the menu; arrows choose; said once.
    page.locator("[data-golive] video").focus()
    for _ in range(10):
        if page.evaluate("document.activeElement && document.activeElement.matches('[data-player-quality]')"):
            break
        page.keyboard.press("Tab")
    expect(menu).to_be_focused()
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    expect(menu).to_have_value("audio")
    status = page.locator("[data-golive-status]")
    expect(status).to_have_text(translate("sv", "Quality: %(quality)s.") % {"quality": "Ljud enbart (sparar data)"})
    expect(page.locator("[data-player-audio-note]")).to_be_visible()
    page.wait_for_function("() => (document.querySelector('[data-golive] video')._playing || '')"
                           ".endsWith('/audio.m3u8')", timeout=WAIT_MS)
    since = current_time(page)
    page.wait_for_function(PLAYS, arg=[since + 1, False], timeout=WAIT_MS)  # sound plays, no picture

    violations = run_axe(page)
    assert violations == [], describe_violations(violations)

    page.reload()
    expect(menu).to_have_value("audio")
    play_muted(page)
    page.wait_for_function("() => (document.querySelector('[data-golive] video')._playing || '')"
                           ".endsWith('/audio.m3u8')", timeout=WAIT_MS)
    page.wait_for_function(PLAYS, arg=[0.5, False], timeout=WAIT_MS)

    menu.select_option("auto")  # and back to the picture
    page.wait_for_function(PLAYS, arg=[current_time(page) + 0.5, True], timeout=WAIT_MS)
    expect(page.locator("[data-player-audio-note]")).to_be_hidden()


def test_quality_menu_with_the_stream_on_the_youtube_address_is_a_link_not_a_player(open_context, live_talk):
    page = open_context().new_page()
    page.goto(talk_path(live_talk))

    expect(page.locator("[data-golive] video")).to_have_count(1)
    also = page.get_by_role("link", name=translate("sv", "Also on %(provider)s") % {"provider": "YouTube"})
    expect(also).to_be_visible()
    expect(also).to_have_attribute("href", YOUTUBE)
    assert page.locator(".stage .player-facade:visible, .stage iframe").count() == 0
    assert page.locator(".stage video:visible").count() == 1
    assert page.context.outside_requests.urls == []


def test_quality_menu_the_stage_flips_to_the_stream_and_back_without_a_reload(open_context, arena, media):
    slug = talk_with_youtube(arena)
    page = open_context().new_page()
    page.goto(talk_path(slug))
    facade = page.locator(".stage .player-facade")
    also = page.locator("[data-stage-also]")
    expect(facade).to_be_visible()
    expect(also).to_be_hidden()
    expect(page.locator("[data-live-viewers]")).to_be_visible()  # joined the live room

    broadcast = Broadcast(arena, slug, media["short"], seconds=30).start()
    try:
        expect(page.locator("[data-golive] video")).to_have_count(1, timeout=WAIT_MS)
        expect(facade).to_be_hidden()
        expect(also).to_be_visible()
        expect(page.locator("[data-player-quality]")).to_be_visible()
        assert page.locator(".stage video:visible, .stage iframe:visible").count() == 1
    finally:
        broadcast.end()

    expect(page.locator("[data-golive] video")).to_have_count(0, timeout=WAIT_MS)
    expect(facade).to_be_visible()
    expect(also).to_be_hidden()
    expect(page.locator("[data-player-quality]")).to_have_count(0)
    expect(page.locator("[data-golive-status]")).to_have_text(
        translate("sv", "The live stream has ended. The recording is coming."))


def test_quality_menu_no_player_while_the_stream_connects_in_a_live_slot_then_the_push_brings_it(
        open_context, arena, media):
    # A talk with a YouTube address, inside its slot (live by the clock), its studio stream
    # connecting: no playlist exists yet, so the YouTube player stays and ours is not made.
    slug = talk_with_youtube(arena)
    with Session(arena.engine) as session:
        talk = session.scalars(select(Talk).where(Talk.slug == slug)).one()
        talk.starts_at, talk.ends_at = utcnow() - timedelta(minutes=5), utcnow() + timedelta(minutes=25)
        session.commit()
    broadcast = Broadcast(arena, slug, media["short"], seconds=30).connect()
    try:
        page = open_context().new_page()
        page.goto(talk_path(slug))
        expect(page.locator(".stage .player-facade")).to_be_visible()
        expect(page.locator("[data-golive]")).to_have_attribute("data-state", "connecting")
        assert page.locator("[data-golive] video").count() == 0
        expect(page.locator("[data-live-viewers]")).to_be_visible()  # joined the live room

        broadcast.send()  # the first segment: on air, and the live room's push says so

        expect(page.locator("[data-golive] video")).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator(".stage .player-facade")).to_be_hidden()
        expect(page.locator("[data-player-quality]")).to_be_visible()
        play_muted(page)
        page.wait_for_function(PLAYS, arg=[0.5, True], timeout=WAIT_MS)
    finally:
        broadcast.end()


def test_quality_menu_in_a_browser_playing_hls_natively_opens_the_chosen_playlist(open_context, live_talk):
    # Safari's way (Chromium plays HLS natively too): without Media Source Extensions the
    # page hands the playlist to the <video> itself, and the menu hands it another one.
    context = open_context()
    context.add_init_script("delete window.MediaSource; delete window.ManagedMediaSource;")
    page = context.new_page()
    page.goto(talk_path(live_talk))
    menu = page.get_by_label(translate("sv", "Quality"), exact=True)
    expect(menu).to_have_value("auto")
    assert page.evaluate("document.querySelector('[data-golive] video').src").endswith("/master.m3u8")

    menu.select_option("360p")
    page.wait_for_function("() => document.querySelector('[data-golive] video').src.endsWith('/360p.m3u8')")
    play_muted(page)
    page.wait_for_function(PLAYS, arg=[0.5, True], timeout=WAIT_MS)
    assert page.evaluate("document.querySelector('[data-golive] video').videoHeight") == 360

    menu.select_option("audio")
    page.wait_for_function("() => document.querySelector('[data-golive] video').src.endsWith('/audio.m3u8')")
    page.wait_for_function(PLAYS, arg=[0.5, False], timeout=WAIT_MS)
    assert page.evaluate("!document.querySelector('[data-golive] video')._hls")
