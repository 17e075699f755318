"""A published recording in Debian's chromium: the talk page plays our own copy with its
captions, a chapter link (and a #t= deep link) seeks, and the pages pass axe; the organiser
imports a clip from an address and watches the progress bar fill over Socket.IO, on a live
server under eventlet. The recordings are given through the command line
(`python -m server import-recording`), from a file and from an address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, describe_violations, run_axe, translate
from tests.conftest import LiveServer, run_cli, start_live_server
from tests.recording_media import CAPTIONS_VTT, MediaSite, make_clip

pytestmark = pytest.mark.browser
PASSWORD = "kluriga-lösenordet-2026"
TALK = "skapa-arenor"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    captions = folder / "captions.vtt"
    captions.write_text(CAPTIONS_VTT, encoding="utf-8")
    return {"clip": make_clip(folder / "clip.mp4", seconds=4, size="320x240"), "captions": captions}


@pytest.fixture(scope="module")
def site(clips) -> Iterator[MediaSite]:
    server = MediaSite(clips["clip"], clips["clip"])
    yield server
    server.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, clips) -> Iterator[LiveServer]:
    """Arena under eventlet with the demo day, allowed to import from 127.0.0.1; the first
    talk's recording is the clip with Swedish captions, published from the command line."""
    server = start_live_server(tmp_path_factory.mktemp("recording-live"),
                               extra_env={"ARENA_MEDIA__IMPORT_ALLOWED_HOSTS": "127.0.0.1"})
    result = run_cli(server.env, "import-recording", DEMO_SLUG, TALK, "--file", str(clips["clip"]),
                     "--captions", str(clips["captions"]), "--publish")
    assert result.returncode == 0, result.stderr
    yield server
    server.stop()


def assert_no_axe_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"


def video_state(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => {
        const video = document.querySelector('#recording video');
        const track = video.textTracks[0];
        return {time: video.currentTime, paused: video.paused, trackMode: track && track.mode,
                cues: track && track.cues ? track.cues.length : 0,
                active: track && track.activeCues && track.activeCues.length ? track.activeCues[0].text : null};
    }""")


def test_talk_page_plays_the_local_clip_with_captions(open_context, server):
    page = open_context(base_url=server.url, bypass_csp=True).new_page()  # bypass: axe is injected inline
    page.goto(f"/events/{DEMO_SLUG}/{TALK}")
    video = page.locator("#recording video")

    page.evaluate("() => { const v = document.querySelector('#recording video'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('#recording video').currentTime > 0.5")
    state = video_state(page)

    expect(video).to_have_attribute("src", re.compile(r"^/recordings/.+/recording-[A-Za-z0-9_-]{16,}\.mp4$"))
    assert state["trackMode"] == "showing" and state["cues"] == 2
    assert state["active"] == "Hej och välkommen"
    assert_no_axe_violations(page, "talk page with a recording")


def test_chapter_link_seeks_from_the_keyboard_and_says_so(open_context, server):
    t = lambda msgid: translate("sv", msgid)  # noqa: E731
    page = open_context(base_url=server.url).new_page()
    page.goto(f"/events/{DEMO_SLUG}/{TALK}")
    chapter = page.get_by_role("link", name=re.compile("Frågor från publiken"))

    chapter.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#recording video').currentTime >= 2")

    assert page.evaluate("() => location.hash") == "#t=2s"
    expect(page.locator("[data-recording-status]")).to_have_text(t("Playing from %(time)s.") % {"time": "0:02"})


def test_deep_link_opens_the_recording_at_that_moment(open_context, server):
    page = open_context(base_url=server.url).new_page()

    page.goto(f"/events/{DEMO_SLUG}/{TALK}#t=3s")

    page.wait_for_function("() => document.querySelector('#recording video').currentTime >= 3")


def test_recordings_page_passes_axe(open_context, server):
    page = open_context(base_url=server.url, bypass_csp=True).new_page()

    page.goto(f"/events/{DEMO_SLUG}/recordings")

    expect(page.get_by_role("heading", level=3, name="Skapa arenor!")).to_be_visible()  # under its day (h2)
    assert_no_axe_violations(page, "recordings page")


def test_organiser_imports_from_an_address_and_watches_the_progress(open_context, server, site):
    t = lambda msgid: translate("sv", msgid)  # noqa: E731
    result = run_cli(server.env, "create-organiser", "karin@norrbotten.se", "Karin Kommunikatör", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    page = open_context(base_url=server.url, bypass_csp=True).new_page()
    page.goto("/sign-in")
    page.get_by_label(t("E-mail address")).fill("karin@norrbotten.se")
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.goto(f"/admin/events/{DEMO_SLUG}/talks/twitter-dygnet-runt/recording")
    assert_no_axe_violations(page, "admin recording page, empty")

    page.get_by_label(t("Address of the video")).fill(site.url("page.html"))
    page.get_by_label(t("Keep an archive copy on our server")).check()
    page.get_by_role("button", name=t("Import"), exact=True).click()

    progress = page.get_by_role("progressbar")
    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(page.locator("[data-import-status]")).to_have_text(t("Imported."))
    expect(page.get_by_role("link", name=t("Show the result"))).to_be_visible()
    assert_no_axe_violations(page, "admin recording page, import done")
    page.get_by_role("link", name=t("Show the result")).click()
    expect(page.get_by_text(t("Recorded video that stays online must have captions"), exact=False)).to_have_count(0)
