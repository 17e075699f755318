"""The live panel of a talk page, and the presenter view, in Debian's chromium: chat between
two browsers, votes that re-sort the questions, XSS payloads shown as text, axe-core (WCAG 2.1
A/AA), keyboard use, and the polite live region that summarises instead of flooding.

Every test opens its own browser contexts (each a participant with its own cookie) on the
session's live server, and writes text with a unique token, so tests that share a talk do
not see each other's messages as their own.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, describe_violations, run_axe, talk_path
from tests.conftest import run_cli

pytestmark = pytest.mark.browser

CHAT_TALK = talk_path("skapa-arenor")
QUESTION_TALK = talk_path("berika-undervisningen-med-sociala-medier")
MODERATED_TALK = talk_path("twitter-dygnet-runt")
XSS_PAYLOADS = [
    "<img src=x onerror=window.__xss=1>",
    "<script>window.__xss=1</script>",
    "javascript:window.__xss=1",
    '"><svg onload=window.__xss=1>',
    "[x](javascript:window.__xss=1)",
    'https://example.com/"onmouseover="window.__xss=1',
]


ONE_VOTE = re.compile(r"^1\b")
NO_VOTES = re.compile(r"^0\b")


def token() -> str:
    return uuid.uuid4().hex[:8]


# -- helpers ----------------------------------------------------------------------------------

def open_talk(context: Any, path: str = CHAT_TALK, name: str | None = None) -> Any:
    """A page on a talk, joined to its live room, with a chat name when one is given."""
    page = context.new_page()
    page.goto(path)
    # Joined: the viewer count arrives with the join ack.
    expect(page.locator("[data-live-viewers]")).to_be_visible()
    if name is not None:
        set_name(page, name)
    return page


def set_name(page: Any, name: str) -> None:
    expect(page.locator("[data-name-form]")).to_be_visible()
    page.fill("#live-name-input", name)
    page.press("#live-name-input", "Enter")
    expect(page.locator("[data-message-form]")).to_be_visible()
    expect(page.locator("[data-name-form]")).to_be_hidden()


def say(page: Any, body: str) -> None:
    page.fill("#live-message-input", body)
    page.press("#live-message-input", "Enter")
    expect(message(page, body)).to_have_count(1)


def ask(page: Any, body: str, anonymous: bool = False) -> None:
    show_tab(page, "questions")
    page.fill("#live-question-input", body)
    if anonymous:
        page.check("#live-question-anonymous")
    page.press("#live-question-input", "Enter")
    expect(question(page, body)).to_have_count(1)


def show_tab(page: Any, name: str) -> None:
    page.click(f"#live-tab-{name}")
    expect(page.locator(f"#live-tab-{name}")).to_have_attribute("aria-selected", "true")


def message(page: Any, text: str) -> Any:
    return page.locator("[data-messages] > li", has_text=text)


def question(page: Any, text: str) -> Any:
    return page.locator("[data-questions] > li", has_text=text)


def question_order(page: Any) -> list[str]:
    return page.locator("[data-questions] > li [data-body]").all_text_contents()


def wait_for_order(page: Any, tag: str, expected: list[str]) -> None:
    """Wait until the questions carrying tag are listed in this order."""
    page.wait_for_function(
        """([tag, expected]) => {
            const order = Array.from(document.querySelectorAll('[data-questions] > li [data-body]'))
                .map((body) => body.textContent).filter((text) => text.includes(tag));
            return JSON.stringify(order) === JSON.stringify(expected);
        }""",
        arg=[tag, expected],
    )


def visible_texts(page: Any, selector: str) -> list[str]:
    """Text of each element as written, without the visually hidden notes the page adds
    (e.g. a link's "(opens in a new tab)")."""
    return page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector)).map((el) => {
               const copy = el.cloneNode(true);
               copy.querySelectorAll('.visually-hidden').forEach((hidden) => hidden.remove());
               return copy.textContent;
           })""",
        selector,
    )


def moderator_link(live_server: Any, name: str = "Moa") -> str:
    result = run_cli(live_server.env, "grant-role", "moderator", name, "--event", DEMO_SLUG)
    assert result.returncode == 0, result.stderr
    match = re.search(r"Sign-in link: (\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def open_as_moderator(open_context: Callable[..., Any], live_server: Any, path: str, **options: Any) -> Any:
    context = open_context(**options)
    page = context.new_page()
    page.goto(moderator_link(live_server))
    page.goto(path)
    expect(page.locator("[data-moderator-tools]")).to_be_visible()
    return page


def tab_to(page: Any, selector: str, *, backwards: bool = False, limit: int = 80) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches selector."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never reached {selector}")


def focused(page: Any, selector: str) -> bool:
    return page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector)


def assert_no_axe_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"


# -- (a) chat between two browsers ---------------------------------------------------------------

def test_a_message_typed_in_one_browser_shows_in_another(open_context):
    # How fast is bench/chat_load.py's to measure; here, that it arrives, once, from whom.
    anna = open_talk(open_context(), name="Anna")
    helen = open_talk(open_context(), name="Helen")
    body = f"Hej från Luleå {token()}"
    anna.fill("#live-message-input", body)
    arrived = message(helen, body)

    anna.press("#live-message-input", "Enter")
    expect(arrived).to_have_count(1)
    expect(arrived.locator("[data-author]")).to_have_text("Anna")
    expect(message(anna, body)).to_have_count(1)  # the ack and the broadcast: shown once
    expect(anna.locator("#live-message-input")).to_have_value("")
    # A newcomer gets it from the history.
    latecomer = open_talk(open_context())
    expect(message(latecomer, body)).to_have_count(1)


def test_the_name_is_remembered_and_sent_again_after_a_reload(open_context):
    context = open_context()
    page = open_talk(context, name="Ulla")
    page.reload()

    expect(page.locator("[data-writing-as]")).to_contain_text("Ulla")
    expect(page.locator("[data-name-form]")).to_be_hidden()
    body = f"Efter omladdning {token()}"
    say(page, body)
    expect(message(page, body).locator("[data-author]")).to_have_text("Ulla")


# -- (b) votes re-sort the questions ---------------------------------------------------------------

def test_an_upvoted_question_moves_up_under_most_votes(open_context):
    tag = token()
    first, second = f"Första frågan {tag}?", f"Andra frågan {tag}?"
    anna = open_talk(open_context(), QUESTION_TALK, name="Anna")
    ask(anna, first)
    ask(anna, second)
    helen = open_talk(open_context(), QUESTION_TALK)
    show_tab(helen, "questions")
    mine = [text for text in question_order(anna) if tag in text]
    assert mine == [first, second]  # equal votes: the older first

    vote = question(helen, second).locator("[data-vote]")
    vote.click()

    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(question(anna, second).locator("[data-vote-count]")).to_have_text(ONE_VOTE)
    expect(question(helen, second).locator("[data-vote-count]")).to_have_text(ONE_VOTE)
    for page in (anna, helen):
        wait_for_order(page, tag, [second, first])
    expect(question(anna, second).locator("[data-vote]")).to_have_attribute("aria-pressed", "false")

    # "Newest" puts the latest first whatever the votes; a second press withdraws the vote.
    helen.click('[data-sort="newest"]')
    expect(helen.locator('[data-sort="newest"]')).to_have_attribute("aria-pressed", "true")
    expect(helen.locator('[data-sort="votes"]')).to_have_attribute("aria-pressed", "false")
    vote.click()
    expect(vote).to_have_attribute("aria-pressed", "false")
    expect(question(anna, second).locator("[data-vote-count]")).to_have_text(NO_VOTES)


# -- (c) what people write is shown as text ----------------------------------------------------------

def test_xss_payloads_are_shown_as_literal_text_in_names_messages_and_questions(open_context):
    tag = token()
    reader = open_talk(open_context(), QUESTION_TALK, name="Läsare")
    writers = []
    for payload in XSS_PAYLOADS:
        # One participant per payload: the flood limit counts messages and questions together.
        writer = open_talk(open_context(), QUESTION_TALK, name=payload[:40])
        say(writer, payload)
        ask(writer, f"{payload} {tag}")
        writers.append(writer)

    for page in [reader, *writers]:
        show_tab(page, "chat")
        for payload in XSS_PAYLOADS:
            expect(message(page, payload).first).to_be_visible()
        show_tab(page, "questions")
        expect(page.locator("[data-questions] > li", has_text=tag)).to_have_count(len(XSS_PAYLOADS))
        bodies = visible_texts(page, "[data-messages] [data-body]")
        names = visible_texts(page, "[data-messages] [data-author]")
        questions = visible_texts(page, "[data-questions] [data-body]")
        for payload in XSS_PAYLOADS:
            assert payload in bodies
            assert payload[:40] in names
            assert f"{payload} {tag}" in questions
        # Nothing the payloads spelled became an element or a handler.
        assert page.locator(".live-panel .live-list :is(img, script, svg, iframe, object)").count() == 0
        assert page.locator(".live-panel [onerror], .live-panel [onload], .live-panel [onmouseover]").count() == 0
        hrefs = page.eval_on_selector_all(".live-panel .live-list a", "links => links.map(a => a.getAttribute('href'))")
        assert hrefs and all(href.startswith(("https://", "http://")) for href in hrefs)
        show_tab(page, "chat")
        link = message(page, XSS_PAYLOADS[-1]).first.locator("a")
        expect(link).to_have_count(1)
        expect(link).to_have_attribute("href", "https://example.com/")
        expect(link).to_have_attribute("rel", "nofollow noopener")
        expect(link).to_have_attribute("target", "_blank")
        link.hover()
        assert page.evaluate("() => typeof window.__xss") == "undefined"


# -- (d) axe-core: WCAG 2.1 A and AA -------------------------------------------------------------------

def test_axe_finds_no_violations_on_the_chat_and_questions_panels(open_context):
    tag = token()
    other = open_talk(open_context(), CHAT_TALK, name="Helen Andersson")
    say(other, f"Välkomna allihop! Bilderna finns på https://example.com/bilder {tag}")
    ask(other, f"Hur kommer vi igång i en liten kommun? {tag}")
    page = open_talk(open_context(bypass_csp=True), CHAT_TALK, name="Anna")
    say(page, f"Tack, det här var intressant {tag}")
    expect(message(page, "Välkomna allihop").first).to_be_visible()

    assert_no_axe_violations(page, "talk page, chat")
    show_tab(page, "questions")
    ask(page, f"Vilka verktyg använder ni? {tag}", anonymous=True)
    question(page, f"Hur kommer vi igång i en liten kommun? {tag}").locator("[data-vote]").click()
    assert_no_axe_violations(page, "talk page, questions")

    # An error shown in the form's alert, and the name form open again.
    page.click("[data-change-name]")
    page.fill("#live-name-input", " ")
    page.press("#live-name-input", "Enter")
    expect(page.locator("[data-name-form] [data-form-error]")).not_to_be_empty()
    assert_no_axe_violations(page, "talk page, name form with an error")


def test_axe_finds_no_violations_with_the_moderator_controls(open_context, live_server):
    tag = token()
    participant = open_talk(open_context(), MODERATED_TALK, name="Anna")
    say(participant, f"En fråga om upphandling {tag}")
    ask(participant, f"Får vi använda TikTok? {tag}")
    page = open_as_moderator(open_context, live_server, MODERATED_TALK, bypass_csp=True)
    item = message(page, tag)
    expect(item.locator('[data-action="hide"]')).to_be_visible()
    expect(item.locator('[data-action="ban"]')).to_be_visible()
    assert_no_axe_violations(page, "talk page, moderator, chat")
    page.click("[data-moderator-tools] summary")
    expect(page.locator('[data-rule-toggle="chat_open"]')).to_be_visible()
    assert_no_axe_violations(page, "talk page, moderator, room settings open")

    item.locator('[data-action="hide"]').click()
    expect(item.locator("form input[name=reason]")).to_be_focused()
    assert_no_axe_violations(page, "talk page, moderator, hide form")
    item.locator("form input[name=reason]").press("Escape")
    item.locator('[data-action="ban"]').click()
    assert_no_axe_violations(page, "talk page, moderator, ban form")
    item.locator("[data-cancel]").click()
    expect(item.locator('[data-action="ban"]')).to_be_focused()

    show_tab(page, "questions")
    moderated = question(page, tag)
    expect(moderated.locator('[data-action="answering"]')).to_be_visible()
    assert_no_axe_violations(page, "talk page, moderator, questions")


def test_axe_finds_no_violations_on_the_presenter_view_and_it_follows_the_room(open_context, live_server):
    tag = token()
    participant = open_talk(open_context(), MODERATED_TALK, name="Anna")
    ask(participant, f"Hur mäter ni effekten? {tag}")
    ask(participant, f"Vem svarar på kommentarerna? {tag}", anonymous=True)
    moderator = open_as_moderator(open_context, live_server, MODERATED_TALK)
    presenter = open_context(bypass_csp=True, viewport={"width": 375, "height": 740}).new_page()
    presenter.goto(MODERATED_TALK + "/presenter")
    top = presenter.locator("[data-presenter-top] > li", has_text=tag)
    expect(top).to_have_count(2)
    assert_no_axe_violations(presenter, "presenter view")

    show_tab(moderator, "questions")
    question(moderator, f"Vem svarar på kommentarerna? {tag}").locator('[data-action="answering"]').click()

    current = presenter.locator("[data-presenter-current]")
    expect(current).to_contain_text(f"Vem svarar på kommentarerna? {tag}")
    # Asked anonymously: the moderator's socket knows the name, the big screen must not show it.
    expect(current.locator("[data-author]")).not_to_have_text("Anna")
    expect(top).to_have_count(1)
    expect(question(participant, f"Vem svarar på kommentarerna? {tag}").locator("[data-state]")).to_be_visible()
    assert_no_axe_violations(presenter, "presenter view with a question being answered")
    presenter.screenshot(path="/tmp/presenter-375.png", full_page=True)


# -- (e) the keyboard alone ---------------------------------------------------------------------------------

def test_name_form_message_form_tabs_and_votes_work_with_the_keyboard_alone(open_context):
    tag = token()
    page = open_talk(open_context(), QUESTION_TALK)
    page.locator("body").focus()

    tab_to(page, "#live-name-input")
    page.keyboard.type("Tangent")
    page.keyboard.press("Enter")
    expect(page.locator("[data-writing-as]")).to_contain_text("Tangent")
    assert focused(page, "#live-message-input")  # straight on to writing

    page.keyboard.type(f"rad ett {tag}")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("rad två")
    page.keyboard.press("Enter")
    expect(message(page, tag).locator("[data-body]")).to_have_text(f"rad ett {tag}\nrad två")

    tab_to(page, "#live-tab-questions", backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator("#live-questions")).to_be_visible()
    expect(page.locator("#live-chat")).to_be_hidden()
    page.keyboard.press("ArrowLeft")  # arrows move between the tabs too
    expect(page.locator("#live-tab-chat")).to_have_attribute("aria-selected", "true")
    assert focused(page, "#live-tab-chat")
    page.keyboard.press("Tab")
    assert focused(page, "#live-tab-questions")
    page.keyboard.press("Space")
    expect(page.locator("#live-tab-questions")).to_have_attribute("aria-selected", "true")

    for body in (f"Första {tag}?", f"Andra {tag}?"):
        tab_to(page, "#live-question-input")
        page.keyboard.type(body)
        page.keyboard.press("Enter")
        expect(question(page, body)).to_have_count(1)

    # Vote for the second by keyboard: it moves above the first and keeps the focus.
    second_id = question(page, f"Andra {tag}?").get_attribute("data-id")
    second_vote = f'[data-questions] > li[data-id="{second_id}"] [data-vote]'
    tab_to(page, second_vote, backwards=True)
    page.keyboard.press("Space")
    expect(page.locator(second_vote)).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f'[data-questions] > li[data-id="{second_id}"] [data-vote-count]')).to_have_text(ONE_VOTE)
    wait_for_order(page, tag, [f"Andra {tag}?", f"Första {tag}?"])
    assert focused(page, second_vote)
    page.keyboard.press("Enter")
    expect(page.locator(second_vote)).to_have_attribute("aria-pressed", "false")
    assert focused(page, second_vote)

    tab_to(page, '[data-sort="newest"]', backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator('[data-sort="newest"]')).to_have_attribute("aria-pressed", "true")


# -- (f) the polite live region ---------------------------------------------------------------------------------

WATCH_ANNOUNCER = """() => {
    const region = document.querySelector('[data-live-announcer]');
    window.__announcements = [];
    new MutationObserver(() => {
        if (region.textContent) {
            window.__announcements.push({at: performance.now(), text: region.textContent});
        }
    }).observe(region, {childList: true, characterData: true, subtree: true});
}"""


ANNOUNCED_COUNT = """(tag) => {
    // How many messages the announcements since the reset speak of: "Helen: ..." is one,
    // "5 nya meddelanden" five.
    return window.__announcements.reduce((sum, a) => {
        const summary = a.text.trim().match(/^(\\d+) nya meddelanden$/);
        return sum + (summary ? parseInt(summary[1], 10) : (a.text.includes(tag) ? 1 : 0));
    }, 0);
}"""


def test_the_polite_live_region_announces_others_without_flooding(open_context):
    tag = token()
    reader = open_talk(open_context(), CHAT_TALK, name="Läsare")
    region = reader.locator("[data-live-announcer]")
    assert region.get_attribute("aria-live") == "polite"
    reader.evaluate(WATCH_ANNOUNCER)
    first = open_talk(open_context(), CHAT_TALK, name="Anna")
    burst = open_talk(open_context(), CHAT_TALK, name="Helen")

    say(first, f"Hej {tag}")
    expect(region).to_have_text(f"Anna: Hej {tag}")
    say(reader, f"Mitt eget {tag}")  # one's own message is not announced back

    reader.evaluate("() => { window.__announcements = []; }")
    burst.evaluate(
        """(tag) => {
            const form = document.querySelector('[data-message-form]');
            const input = form.querySelector('textarea');
            for (let n = 1; n <= 5; n += 1) { input.value = `Snabbt ${n} ${tag}`; form.requestSubmit(); }
        }""",
        tag,
    )
    expect(reader.locator("[data-messages] > li", has_text=tag).filter(has_text="Snabbt")).to_have_count(5)
    # Wait until the announcements have spoken of all five, however the burst was spread.
    reader.wait_for_function(f"(tag) => ({ANNOUNCED_COUNT})(tag) >= 5", arg=tag)
    announcements = reader.evaluate("() => window.__announcements")

    assert reader.evaluate(ANNOUNCED_COUNT, tag) == 5, announcements
    assert len(announcements) < 5, announcements  # summarised, not one line each
    # At most one announcement every 3 s, by the page's own clock (timers may fire a little early).
    gaps = [b["at"] - a["at"] for a, b in zip(announcements, announcements[1:], strict=False)]
    assert all(gap >= 2_900 for gap in gaps), announcements
    assert "Mitt eget" not in " ".join(a["text"] for a in announcements)


# -- moderation in the browser --------------------------------------------------------------------------------

def test_moderator_hides_a_message_and_closes_the_chat(open_context, live_server):
    tag = token()
    participant = open_talk(open_context(), MODERATED_TALK, name="Anna")
    say(participant, f"Olämpligt {tag}")
    moderator = open_as_moderator(open_context, live_server, MODERATED_TALK)
    item = message(moderator, tag)

    item.locator('[data-action="hide"]').click()
    item.locator("form input[name=reason]").fill("Personangrepp")
    item.locator("form input[name=reason]").press("Enter")

    expect(message(participant, tag)).to_have_count(0)
    expect(item.locator("[data-hidden-note]")).to_contain_text("Personangrepp")
    expect(item.locator('[data-action="restore"]')).to_be_focused()

    moderator.click("[data-moderator-tools] summary")
    moderator.click('[data-rule-toggle="chat_open"]')
    try:
        expect(participant.locator("[data-chat-notice]")).to_be_visible()
        expect(participant.locator("#live-message-input")).to_be_disabled()
        expect(moderator.locator("#live-message-input")).to_be_enabled()  # moderators may still write
    finally:
        moderator.click('[data-rule-toggle="chat_open"]')
    expect(participant.locator("#live-message-input")).to_be_enabled()
    expect(participant.locator("[data-chat-notice]")).to_be_hidden()


# -- lost acks and lost connections ------------------------------------------------------------------------------

SOCKET_URL = re.compile(r"/socket\.io/")
CLIENT_ID = re.compile(r'"client_id":"([A-Za-z0-9_-]+)"')


def test_a_message_whose_ack_is_lost_is_sent_again_with_the_same_client_id(open_context):
    tag = token()
    frames: list[str] = []

    def lose_the_first_send(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(frame: str | bytes) -> None:
            if isinstance(frame, str) and '"send_message"' in frame and tag in frame:
                frames.append(frame)
                if len(frames) == 1:
                    return  # lost on the way: no ack comes back
            server.send(frame)

        ws.on_message(from_page)

    context = open_context()
    context.route_web_socket(SOCKET_URL, lose_the_first_send)
    anna = open_talk(context, name="Anna")
    helen = open_talk(open_context())
    body = f"Kommer fram ändå {tag}"

    anna.fill("#live-message-input", body)
    anna.press("#live-message-input", "Enter")

    expect(message(helen, body)).to_have_count(1)
    expect(message(anna, body)).to_have_count(1)
    ids = [CLIENT_ID.search(frame).group(1) for frame in frames]
    assert len(ids) == 2 and ids[0] == ids[1] and len(ids[0]) >= 16, frames
    expect(anna.locator("[data-message-form] [data-form-error]")).to_be_empty()


def test_after_a_lost_connection_the_missed_messages_come_once(open_context):
    tag = token()
    connections: list[dict[str, Any]] = []

    def deafen_on_demand(ws: Any) -> None:
        server = ws.connect_to_server()
        connection = {"ws": ws, "deaf": False}
        connections.append(connection)

        def to_page(frame: str | bytes) -> None:
            if not connection["deaf"]:
                ws.send(frame)

        server.on_message(to_page)

    reader_context = open_context()
    reader_context.route_web_socket(SOCKET_URL, deafen_on_demand)
    reader = open_talk(reader_context, name="Läsare")
    writer = open_talk(open_context(), name="Anna")
    say(writer, f"Före {tag}")
    expect(message(reader, f"Före {tag}")).to_have_count(1)

    connections[-1]["deaf"] = True  # the reader stops hearing the room...
    say(writer, f"Medan du var borta {tag}")  # stored: the writer has it from the ack
    expect(message(reader, f"Medan du var borta {tag}")).to_have_count(0)
    connections[-1]["ws"].close()  # ...and then loses the connection; the client reconnects

    expect(message(reader, f"Medan du var borta {tag}")).to_have_count(1)
    expect(message(reader, f"Före {tag}")).to_have_count(1)
    # The name is sent again on the new connection: writing still works.
    say(reader, f"Tillbaka {tag}")
    expect(message(writer, f"Tillbaka {tag}")).to_have_count(1)
    expect(message(writer, f"Tillbaka {tag}").locator("[data-author]")).to_have_text("Läsare")


def test_moderator_bans_a_participant_whose_forms_then_close(open_context, live_server):
    tag = token()
    participant = open_talk(open_context(), MODERATED_TALK, name="Troll")
    say(participant, f"Spam spam {tag}")
    moderator = open_as_moderator(open_context, live_server, MODERATED_TALK)
    item = message(moderator, tag)

    item.locator('[data-action="ban"]').click()
    item.locator("form button[type=submit]").click()

    expect(participant.locator("[data-live-banned]")).not_to_be_empty()
    expect(participant.locator("#live-message-input")).to_be_disabled()
    expect(participant.locator("#live-question-input")).to_be_disabled()
    expect(moderator.locator("[data-live-status]")).to_contain_text("Troll")
    # The other participants are not affected.
    bystander = open_talk(open_context(), MODERATED_TALK, name="Helen")
    say(bystander, f"Jag får skriva {tag}")
