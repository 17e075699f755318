"""The public pages in Debian's chromium, as a participant who follows a shared link sees them:
the demo day renders, third-party players load nothing before a click, axe-core finds no
WCAG 2.1 A/AA violation, the language switch works and is remembered, keyboard and phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, EVENT_PATH, describe_violations, run_axe, talk_path

pytestmark = pytest.mark.browser
TALK_TITLES = ("Skapa arenor!", "Twitter dygnet runt", "Berika undervisningen med sociala medier")


def test_demo_event_renders_with_its_programme(page):
    page.goto(EVENT_PATH)

    assert page.get_by_role("heading", level=1).inner_text().startswith("Sociala medier i offentlig sektor")
    for title in TALK_TITLES:
        assert page.get_by_role("link", name=title, exact=True).is_visible()
    for name in ("Mattias Jansson", "Helen Alfvegren", "Anna Karlsson"):
        assert page.get_by_text(name, exact=True).first.is_visible()
    assert page.locator('a[href="https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor"]').count() >= 1
    assert page.locator(f'a[href="/events/{DEMO_SLUG}.ics"]').first.is_visible()


def test_talk_page_makes_no_third_party_request_before_the_click(open_context):
    context = open_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(talk_path(), wait_until="networkidle")

    assert requested, "the page made no request at all"
    assert all(re.match(r"^(http://127\.0\.0\.1:\d+/|ws://127\.0\.0\.1:\d+/|data:)", url) for url in requested), requested
    assert context.outside_requests.urls == []
    assert page.locator("iframe").count() == 0


def test_facade_button_loads_the_youtube_player_on_click(open_context):
    context = open_context(locale="en-GB")
    page = context.new_page()
    page.goto(talk_path(), wait_until="networkidle")

    page.get_by_role("button", name="Play the video from YouTube").click()

    frame = page.locator("iframe")
    frame.wait_for()
    assert frame.get_attribute("src").startswith("https://www.youtube-nocookie.com/embed/M7lc1UVf-VE")
    assert "M7lc1UVf-VE" in (frame.get_attribute("title") or "") or frame.get_attribute("title")
    page.wait_for_timeout(300)
    assert context.outside_requests.to_host("www.youtube-nocookie.com"), "the click made no request to YouTube"
    assert page.get_by_role("status").filter(has_text="The player is loaded.").count() == 1


def test_facade_button_works_from_the_keyboard(open_context):
    page = open_context(locale="en-GB").new_page()
    page.goto(talk_path(), wait_until="networkidle")

    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('player-load')"):
            break
    page.keyboard.press("Enter")

    page.locator("iframe").wait_for()


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
@pytest.mark.parametrize("path", ["/", EVENT_PATH, talk_path(), talk_path("twitter-dygnet-runt"), "/events/finns-inte/",
                                  "/sign-in"])
def test_axe_finds_no_wcag_violations(open_context, path, locale):
    page = open_context(locale=locale, bypass_csp=True).new_page()
    page.goto(path, wait_until="networkidle")

    violations = run_axe(page)

    assert violations == [], f"{path} ({locale}):\n{describe_violations(violations)}"


def test_swedish_browser_gets_swedish_and_english_browser_english(open_context):
    swedish = open_context(locale="sv-SE").new_page()
    english = open_context(locale="en-GB").new_page()

    swedish.goto(EVENT_PATH)
    english.goto(EVENT_PATH)

    assert swedish.locator("html").get_attribute("lang") == "sv"
    assert swedish.get_by_role("heading", name="Program").is_visible()
    assert english.locator("html").get_attribute("lang") == "en"
    assert english.get_by_role("heading", name="Programme").is_visible()


def test_language_switch_stays_on_the_page_and_is_remembered(open_context):
    context = open_context(locale="sv-SE")
    page = context.new_page()
    page.goto(talk_path())

    page.get_by_role("navigation", name="Språk").get_by_role("link", name="English").click()

    assert page.url.endswith(talk_path())
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="About the talk").is_visible()
    later = context.new_page()
    later.goto(EVENT_PATH)
    assert later.locator("html").get_attribute("lang") == "en"


def test_dates_are_localised(open_context):
    swedish = open_context(locale="sv-SE").new_page()
    english = open_context(locale="en-GB").new_page()

    swedish.goto(talk_path())
    english.goto(talk_path())

    assert re.search(r"(måndag|tisdag|onsdag|torsdag|fredag|lördag|söndag)", swedish.locator(".talk-time").first.inner_text())
    assert re.search(r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)", english.locator(".talk-time").first.inner_text())


def test_skip_link_is_the_first_tab_stop_and_moves_to_main(page):
    page.goto(EVENT_PATH)

    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")

    assert first == "#main"
    assert page.evaluate("document.activeElement.id") == "main"


def test_every_control_on_the_talk_page_is_reachable_and_shows_focus(open_context):
    page = open_context(locale="en-GB").new_page()
    page.goto(talk_path(), wait_until="networkidle")
    page.wait_for_timeout(500)  # the live panel has joined and drawn its history
    count = page.evaluate("""() => { document.querySelectorAll(CONTROLS).forEach(el => {
        if (el.offsetParent !== null) el.setAttribute('data-should-reach', ''); });
        return document.querySelectorAll('[data-should-reach]').length; }""".replace(
        "CONTROLS", repr("a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), "
                         "textarea:not([disabled]), select:not([disabled]), summary")))

    without_focus_style = []
    for _ in range(count + 20):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => { const el = document.activeElement; if (el === document.body) return null;
            el.setAttribute('data-reached', ''); const s = getComputedStyle(el);
            return {html: el.outerHTML.slice(0, 120),
                    visible: (s.outlineStyle !== 'none' && s.outlineWidth !== '0px') || s.boxShadow !== 'none'}; }""")
        if info and not info["visible"]:
            without_focus_style.append(info["html"])
    unreached = page.evaluate("""() => Array.from(document.querySelectorAll('[data-should-reach]:not([data-reached])'))
        .map(el => el.outerHTML.slice(0, 120))""")

    assert count > 10
    assert unreached == []
    assert without_focus_style == []


@pytest.mark.parametrize("path", ["/", EVENT_PATH, talk_path()])
def test_phone_width_has_no_horizontal_scroll(open_context, path):
    page = open_context(viewport={"width": 375, "height": 740}).new_page()

    page.goto(path, wait_until="networkidle")

    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_copy_link_copies_the_address_and_says_so(open_context, live_server):
    context = open_context(locale="en-GB")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.goto(talk_path())

    page.get_by_role("button", name="Copy link").click()

    expect(page.locator(".copy-status")).to_have_text("The link is copied.")
    assert page.evaluate("navigator.clipboard.readText()").endswith(talk_path())
