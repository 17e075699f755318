"""The talk's stream key in Debian's chromium: an organiser opens the talk's Live
video page from the talk form, makes a key by keyboard, copies the whole publish address
(the status line says it is copied), and after a reload sees it only masked; a speaker makes
one in the studio. Both pages pass axe-core, with and without the key shown.

Runs on the shared live server: every test makes its own talk (unique names)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, LOCALES, describe_violations, run_axe, translate
from tests.browser.test_admin import sign_in
from tests.browser.test_phone_width import assert_no_sideways_scrolling
from tests.live.conftest import Arena

pytestmark = pytest.mark.browser
KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")


@pytest.fixture(scope="module")
def arena(live_server) -> Iterator[Arena]:
    arena = Arena(live_server)
    yield arena
    arena.close()


def assert_no_axe_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"


@pytest.mark.parametrize("language", ["sv", "en"])
def test_organiser_makes_copies_and_rotates_a_stream_key_by_keyboard(open_context, live_server, arena, language):
    def t(msgid: str) -> str:
        return translate(language, msgid)

    _talk_id, slug = arena.new_talk()
    page = sign_in(open_context, live_server, language)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/admin/events/{DEMO_SLUG}/talks/{slug}")
    page.get_by_role("link", name=t("Live video from an encoder (stream key)")).click()
    expect(page.get_by_role("heading", level=2, name=t("Server and stream key"))).to_be_visible()
    expect(page.get_by_text(t("No key yet."))).to_be_visible()
    assert_no_axe_violations(page, "Live video page without a key")

    page.get_by_role("button", name=t("Make a key")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=t("The new stream key: copy it now"))).to_be_visible()
    key = page.locator("#admin-new-key-value").input_value()
    publish_url = page.locator("#admin-new-publish-url").input_value()
    copy = page.locator("[data-copy-target=admin-new-publish-url]")
    expect(copy).to_be_visible()  # shown by the script once the browser can copy
    copy.focus()
    page.keyboard.press("Enter")
    status = copy.locator("xpath=..").get_by_role("status")
    expect(status).to_have_text(t("Copied."))
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert_no_axe_violations(page, "Live video page with the new key")
    page.set_viewport_size({"width": 320, "height": 800})
    assert_no_sideways_scrolling(page, "Live video page with the new key at 320 px")

    page.reload()  # the POST's answer again: the browser sends the form again, the server sees a repeat
    masked = page.goto(f"/admin/events/{DEMO_SLUG}/talks/{slug}/live-video")
    text = page.locator("main").inner_text()

    assert KEY.match(key)
    assert publish_url == f"rtmp://127.0.0.1:{live_server.env['ARENA_INGEST__RTMP_PORT']}/live/{key}"
    assert copied == publish_url
    assert masked.headers["cache-control"] == "no-store"
    assert key not in page.content() and key[:-4] not in page.content()
    assert key[-4:] in text and t("Make a new key") in text


def test_speaker_makes_a_key_in_the_studio(open_context, arena):
    _talk_id, slug = arena.new_talk()
    grant = arena.grant("speaker", "Mattias Jansson", event=DEMO_SLUG, talk=slug)
    page = open_context(locale=LOCALES["sv"], bypass_csp=True).new_page()  # bypass: axe is injected
    page.goto(grant.link.replace(arena.url, ""))
    page.goto(f"/events/{DEMO_SLUG}/{slug}/studio")
    section = page.locator("#stream-key")
    expect(section.get_by_role("heading", name=translate("sv", "Live video from an encoder"))).to_be_visible()
    assert_no_axe_violations(page, "studio with the key section")

    section.get_by_role("button", name=translate("sv", "Make a key")).click()
    expect(section.get_by_role("heading", name=translate("sv", "The new stream key: copy it now"))).to_be_visible()
    key = page.locator("#studio-new-key-value").input_value()
    assert_no_axe_violations(page, "studio with the new key")
    page.set_viewport_size({"width": 320, "height": 800})
    assert_no_sideways_scrolling(page, "studio with the new key at 320 px")
    page.goto(f"/events/{DEMO_SLUG}/{slug}/studio")

    assert KEY.match(key)
    assert key not in page.content()
    expect(section).to_contain_text(key[-4:])
