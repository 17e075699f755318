"""The public pages in Debian's chromium, as a participant who follows a shared link sees them:
the demo day renders, third-party players load nothing before a click, axe-core finds no
WCAG 2.1 A/AA violation, the language switch works and is remembered, keyboard and phone."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, EVENT_PATH, LOCALES, describe_violations, run_axe, talk_path, translate

pytestmark = pytest.mark.browser
TALK_TITLES = ("Skapa arenor!", "Twitter dygnet runt", "Berika undervisningen med sociala medier")
PLAYER_HOST = "www.youtube-nocookie.com"
PLAYER_URL = re.compile(rf"^https://{re.escape(PLAYER_HOST)}/embed/M7lc1UVf-VE\b")
PLAY_BUTTON = re.compile("YouTube")


def to_player_host(request) -> bool:
    return urlsplit(request.url).hostname == PLAYER_HOST


def assert_player_loaded(page, context) -> None:
    """The facade is gone, a titled nocookie iframe stands in its place, the status region
    says so, and the only host ever asked for anything is the nocookie player (aborted)."""
    frame = page.locator("#stream-player iframe")
    expect(frame).to_have_count(1)
    expect(frame).to_have_attribute("src", PLAYER_URL)
    expect(frame).to_have_attribute("title", re.compile(r"\S.*Skapa arenor!"))
    expect(page.get_by_role("button", name=PLAY_BUTTON)).to_have_count(0)
    expect(page.locator("#stream-player").get_by_role("status")).not_to_have_text("")
    assert {urlsplit(url).hostname for url in context.outside_requests.urls} == {PLAYER_HOST}


def test_demo_event_renders(page):
    page.goto(EVENT_PATH)

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Sociala medier i offentlig sektor – effektiv kommunikation för den kluriga")
    programme = page.locator(".programme-list")
    for title in TALK_TITLES:
        # h2 the programme, h3 its day, h4 the talk
        expect(programme.get_by_role("heading", level=4).get_by_role("link", name=title, exact=True)).to_be_visible()
    for name in ("Mattias Jansson", "Helen Alfvegren", "Anna Karlsson"):
        expect(programme.locator(".speaker-name", has_text=name)).to_be_visible()
    slides = programme.locator('a[href="https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor"]')
    expect(slides).to_be_visible()
    # Chromium separates the visually hidden span with a space: "Bildspel : Skapa arenor!".
    expect(slides).to_have_accessible_name(re.compile(rf"^{re.escape(translate('sv', 'Slides'))}\s*: Skapa arenor!$"))
    calendar = page.get_by_role("link", name=translate("sv", "Add the programme to your calendar (.ics)"))
    expect(calendar).to_be_visible()
    expect(calendar).to_have_attribute("href", f"/events/{DEMO_SLUG}.ics")


def test_talk_page_makes_no_third_party_request_before_the_click(open_context):
    context = open_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(talk_path(), wait_until="networkidle")

    assert requested, "the page made no request at all"
    ours = r"^(http://127\.0\.0\.1:\d+/|ws://127\.0\.0\.1:\d+/|data:)"
    assert all(re.match(ours, url) for url in requested), requested
    assert context.outside_requests.urls == []
    assert page.locator("iframe").count() == 0


@pytest.mark.parametrize("language", ["sv", "en"])
def test_facade_button_loads_the_youtube_player_on_click(open_context, language):
    context = open_context(locale=LOCALES[language])
    page = context.new_page()
    page.goto(talk_path(), wait_until="networkidle")
    assert context.outside_requests.urls == []
    play = translate(language, "Play the video from %(provider)s") % {"provider": "YouTube"}

    with page.expect_request(to_player_host) as player_request:
        page.get_by_role("button", name=play).click()

    assert PLAYER_URL.match(player_request.value.url)
    assert_player_loaded(page, context)
    loaded = translate(language, "The player is loaded.")
    expect(page.locator("#stream-player").get_by_role("status")).to_have_text(loaded)


def test_facade_button_works_from_the_keyboard(open_context):
    context = open_context()
    page = context.new_page()
    page.goto(talk_path(), wait_until="networkidle")
    button = page.get_by_role("button", name=PLAY_BUTTON)
    for _ in range(40):
        page.keyboard.press("Tab")
        if button.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the play button")

    with page.expect_request(to_player_host):
        page.keyboard.press("Enter")

    assert_player_loaded(page, context)
    assert page.evaluate("document.activeElement.tagName") == "IFRAME", "focus should move to the player"


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
@pytest.mark.parametrize("path", ["/", EVENT_PATH, talk_path(), talk_path("twitter-dygnet-runt"), "/events/finns-inte/",
                                  "/sign-in"])
def test_axe_finds_no_wcag_violations(open_context, path, locale):
    page = open_context(locale=locale, bypass_csp=True).new_page()
    page.goto(path, wait_until="networkidle")

    violations = run_axe(page)

    assert violations == [], f"{path} ({locale}):\n{describe_violations(violations)}"


def test_axe_finds_no_wcag_violations_after_the_player_is_loaded(open_context):
    page = open_context(bypass_csp=True).new_page()
    page.goto(talk_path(), wait_until="networkidle")
    page.get_by_role("button", name=PLAY_BUTTON).click()
    page.locator("#stream-player iframe").wait_for()

    violations = run_axe(page)

    assert violations == [], describe_violations(violations)


def test_swedish_browser_gets_swedish_and_english_browser_english(open_context):
    swedish = open_context(locale="sv-SE").new_page()
    english = open_context(locale="en-GB").new_page()

    swedish.goto(EVENT_PATH)
    english.goto(EVENT_PATH)

    assert swedish.locator("html").get_attribute("lang") == "sv"
    assert swedish.get_by_role("heading", name="Program").is_visible()
    expect(swedish.get_by_role("link", name="Hoppa till innehållet")).to_have_attribute("href", "#main")
    assert english.locator("html").get_attribute("lang") == "en"
    assert english.get_by_role("heading", name="Programme").is_visible()
    expect(english.get_by_role("link", name="Skip to content")).to_have_attribute("href", "#main")


def test_english_browser_can_switch_to_swedish(open_context):
    context = open_context(locale="en-GB")
    page = context.new_page()
    page.goto(EVENT_PATH)

    page.get_by_role("navigation", name="Language").get_by_role("link", name="Svenska").click()

    assert page.url.endswith(EVENT_PATH)
    assert page.locator("html").get_attribute("lang") == "sv"
    assert page.get_by_role("heading", name="Program").is_visible()
    later = context.new_page()
    later.goto("/")
    assert later.locator("html").get_attribute("lang") == "sv"


def test_language_switch_stays_on_the_page_and_is_remembered(open_context):
    context = open_context(locale="sv-SE")
    page = context.new_page()
    page.goto(talk_path())

    page.get_by_role("navigation", name="Språk").get_by_role("link", name="English").click()

    assert page.url.endswith(talk_path())
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="About the talk").is_visible()
    expect(page.get_by_role("navigation", name="Language").locator("[aria-current]")).to_have_text("English")
    later = context.new_page()
    later.goto(EVENT_PATH)
    assert later.locator("html").get_attribute("lang") == "en"
    assert later.get_by_role("heading", name="Programme").is_visible()


def test_dates_are_localised(open_context):
    swedish = open_context(locale="sv-SE").new_page()
    english = open_context(locale="en-GB").new_page()

    swedish.goto(talk_path())
    english.goto(talk_path())

    assert re.search(r"(måndag|tisdag|onsdag|torsdag|fredag|lördag|söndag)",
                     swedish.locator(".talk-time").first.inner_text())
    assert re.search(r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)",
                     english.locator(".talk-time").first.inner_text())


def test_skip_link_is_the_first_tab_stop_and_moves_to_main(page):
    page.goto(EVENT_PATH)

    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.getAttribute('href')")
    skip_link = page.get_by_role("link", name=translate("sv", "Skip to content"))
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()
    page.keyboard.press("Enter")

    assert first == "#main"
    assert page.evaluate("document.activeElement.id") == "main"


CONTROLS = ("a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), "
            "textarea:not([disabled]), select:not([disabled]), summary, iframe, [tabindex]:not([tabindex='-1'])")
FOCUS_STYLE_JS = """el => { const s = getComputedStyle(el);
    return {outline: s.outlineStyle === 'none' || parseFloat(s.outlineWidth) === 0 ? 'none'
                     : `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
            shadow: s.boxShadow}; }"""


def test_every_control_on_the_talk_page_is_reachable_and_shows_focus(open_context):
    page = open_context(locale="en-GB").new_page()
    page.goto(talk_path(), wait_until="networkidle")
    # The live panel has joined and drawn its history (the viewer count comes in the same step).
    expect(page.locator("[data-live-viewers]")).to_be_visible()
    # Every visible control, and how it looks while nothing has focus.
    count = page.evaluate("""([controls, styleOf]) => { styleOf = eval(styleOf); let n = 0;
        document.querySelectorAll(controls).forEach(el => {
          if (el.offsetParent === null || el.closest('[hidden], [inert]')) return;
          el.setAttribute('data-should-reach', String(n++));
          el.setAttribute('data-unfocused-style', JSON.stringify(styleOf(el))); });
        return n; }""", [CONTROLS, FOCUS_STYLE_JS])

    without_focus_style = []
    for _ in range(count + 20):
        page.keyboard.press("Tab")
        info = page.evaluate("""styleOf => { styleOf = eval(styleOf); const el = document.activeElement;
            if (el === document.body || !el.hasAttribute('data-should-reach')) return null;
            el.setAttribute('data-reached', '');
            const before = JSON.parse(el.getAttribute('data-unfocused-style')), after = styleOf(el);
            return {html: el.outerHTML.slice(0, 120), before, after,
                    visible: (after.outline !== 'none' && after.outline !== before.outline)
                             || (after.shadow !== 'none' && after.shadow !== before.shadow)}; }""", FOCUS_STYLE_JS)
        if info and not info["visible"]:
            without_focus_style.append(info)
    unreached = page.evaluate("""() => Array.from(document.querySelectorAll('[data-should-reach]:not([data-reached])'))
        .map(el => el.outerHTML.slice(0, 120))""")
    reached = page.evaluate("""() => Array.from(document.querySelectorAll('[data-reached]'), el =>
        el.matches('.share a') ? 'share link' : el.matches('.player-load') ? 'play button' : 'other')""")

    assert count > 10
    assert unreached == []
    assert without_focus_style == []
    assert reached.count("share link") == 4 and reached.count("play button") == 1, reached


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
@pytest.mark.parametrize("width", [375, 320])
@pytest.mark.parametrize("path", ["/", EVENT_PATH, talk_path(), "/finns-inte"], ids=["home", "event", "talk", "404"])
def test_phone_width_has_no_horizontal_scroll(open_context, path, width, locale):
    page = open_context(viewport={"width": width, "height": 740}, locale=locale).new_page()

    page.goto(path, wait_until="networkidle")

    sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], f"scrollWidth {sizes[0]} > clientWidth {sizes[1]}"


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
@pytest.mark.parametrize("width", [375, 320])
def test_phone_width_shows_the_whole_video_facade(open_context, width, locale):
    page = open_context(viewport={"width": width, "height": 740}, locale=locale).new_page()

    page.goto(talk_path(), wait_until="networkidle")

    player = page.locator("#stream-player").bounding_box()
    for part in page.locator(".player-facade > *").all():
        box = part.bounding_box()
        assert player["y"] <= box["y"] and box["y"] + box["height"] <= player["y"] + player["height"], \
            f"{part.inner_text()!r} is cut off by the player box"
    assert page.evaluate("(el => el.scrollHeight <= el.clientHeight)(document.querySelector('.player-facade'))")


@pytest.mark.parametrize("width", [1280, 375])
def test_video_player_is_16_to_9_once_loaded(open_context, width):
    page = open_context(viewport={"width": width, "height": 800}).new_page()
    page.goto(talk_path(), wait_until="networkidle")
    facade = page.locator("#stream-player").bounding_box()

    page.get_by_role("button", name=PLAY_BUTTON).click()
    page.locator("#stream-player iframe").wait_for()

    player = page.locator("#stream-player").bounding_box()
    frame = page.locator("#stream-player iframe").bounding_box()
    assert player["width"] / player["height"] == pytest.approx(16 / 9, rel=0.02)
    assert (frame["width"], frame["height"]) == pytest.approx((player["width"], player["height"]), abs=1)
    if width >= 1024:  # room enough: the facade is 16:9 too, nothing jumps on the click
        assert facade["height"] == pytest.approx(player["height"], abs=1)


def test_copy_link_copies_the_address_and_says_so(open_context, live_server):
    context = open_context(locale="en-GB")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.goto(talk_path())
    share = page.get_by_role("region", name="Share")

    share.get_by_role("button", name="Copy link").click()

    expect(share.get_by_role("status")).to_have_text("The link is copied.")
    assert page.evaluate("navigator.clipboard.readText()") == page.url == f"{live_server.url}{talk_path()}"
