"""Every admin and public page on a phone, in Debian's chromium: at 390 and at 320 CSS pixels
wide (WCAG 1.4.10 Reflow), signed in as an organiser, with the long content a real day brings
(a talk title of 120 characters, long addresses in the texts, a long e-mail address, a two-day
programme with speakers, links and a recording), the page never scrolls sideways and axe-core
finds no WCAG 2.1 A/AA violation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from server.db import make_engine
from server.models import EventStatus, Participation, Recording, Role, ViewerSample
from server.services.accounts import create_organiser, set_disabled
from server.services.chat import post_message
from server.services.events import create_event, create_speaker, create_talk
from server.services.moderation import ban, hide
from server.services.programme import record_event_created, record_speaker_created, record_talk_created
from server.services.qa import ask
from server.services.roles import Actor, grant_role
from tests.browser.conftest import describe_violations, run_axe, translate
from tests.conftest import STOCKHOLM

pytestmark = pytest.mark.browser
PASSWORD = "kluriga-lösenordet-2026"
WIDTHS = (390, 320)

# A title of exactly 120 characters, with the long compound words Swedish is made of.
LONG_TITLE = ("Kommunikationsavdelningarnas arbetsmiljöutmaningar: hur kommunförbundets "
              "digitaliseringsstrategi förändrar vardagen")[:120]
LONG_URL = ("https://www.kommunforbundet-norrbotten.example.se/dokument/sociala-medier/"
            "riktlinjer-for-kommunikation-i-offentlig-sektor-2026-version-3-slutgiltig.pdf")
LONG_TEXT = (f"Läs riktlinjerna före dagen: {LONG_URL}\n\n"
             f"Eller som länk: [{LONG_URL}]({LONG_URL}). Informationssäkerhetssamordnarutbildningen "
             "tar upp hur **offentlighetsprincipen** gäller för kommentarer.\n\n"
             "| Tid | Moment | Underlag |\n|---|---|---|\n"
             f"| 09:00 | Kommunikationsavdelningarnas arbetsmiljöutmaningar | {LONG_URL} |\n"
             "| 09:30 | Frågor och diskussion om informationssäkerhetsklassningen | – |\n")


@dataclass
class LongDay:
    slug: str
    long_talk: str
    recorded_talk: str
    speaker_id: int
    month: str
    email: str
    colleague_email: str  # unique: other tests on the shared server add an "Olle Organisatör" too


@pytest.fixture(scope="module")
def long_day(live_server) -> LongDay:
    """A published two-day event full of long words, written into the live server's database,
    and an organiser whose e-mail address is long."""
    tag = uuid.uuid4().hex[:6]
    email = f"karin.kommunikatorsson-lindqvist.{tag}@kommunforbundet-norrbotten.example.se"
    first_day = date(2026, 10, 14)
    at = lambda day, hour, minute=0: datetime.combine(first_day + timedelta(days=day), datetime.min.time(),  # noqa: E731
                                                      STOCKHOLM).replace(hour=hour, minute=minute)
    engine = make_engine(live_server.env["ARENA_DATABASE__URL"])
    with Session(engine) as session:
        me = create_organiser(session, email=email, name="Karin Kommunikatörsson-Lindqvist", password=PASSWORD)
        colleague_email = f"olle.organisator-{tag}@kommunforbundet-norrbotten.example.se"
        create_organiser(session, email=colleague_email, name="Olle Organisatör", password=PASSWORD)
        closed = create_organiser(session, email=f"informationssakerhetssamordnare-{tag}@lulea.example.se",
                                  name="Informationssäkerhetssamordnaren", password=PASSWORD)
        session.flush()
        set_disabled(session, closed, disabled=True, by=me, now=datetime.now(UTC))
        actor = Actor(participant_id="phone-width", role=Role.organiser, staff_name="Karin Kommunikatörsson-Lindqvist")
        event = create_event(
            session, title="Sociala medier i offentlig sektor – effektiv kommunikation för den kluriga "
                           "informationsförvaltningsorganisationen",
            slug=f"lang-dag-{tag}", starts_on=first_day, ends_on=first_day + timedelta(days=1),
            organiser="Kommunförbundet Norrbotten och Länsstyrelsens kommunikationsenhet",
            venue="Kulturens hus, Luleå – Konferensvåningen, sal Sunderbyn–Gammelstadsviken",
            invitation_text=LONG_TEXT, status=EventStatus.published)
        record_event_created(session, actor, event)
        speakers = [
            create_speaker(session, event, name=name, role=role, bio=LONG_TEXT,
                           links=[{"label": "Presentationsmaterialsamling", "url": LONG_URL}])
            for name, role in (
                ("Mattias Jansson-Wikströmer", "kommunchef, Katrineholms kommuns förvaltningsledning"),
                ("Helen Alfvegren", "webbredaktör, telekommunikationsföretagets kundtjänstavdelning"),
                ("Anna Karlsson", "lärare i matematik och naturvetenskap, Viktor Rydbergs samskola, Djursholm"),
            )
        ]
        session.flush()
        for speaker in speakers:
            record_speaker_created(session, actor, speaker)
        long_talk = create_talk(session, event, title=LONG_TITLE, starts_at=at(0, 9), ends_at=at(0, 9, 45),
                                speakers=speakers, invitation_text=LONG_TEXT, slides_url=LONG_URL,
                                stream_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ", own_host="127.0.0.1")
        recorded = create_talk(session, event, title="Twitter dygnet runt: omvärldsbevakningsrutiner",
                               starts_at=at(0, 10), ends_at=at(0, 10, 45), speakers=speakers[1:2],
                               invitation_text=LONG_TEXT, own_host="127.0.0.1")
        for day, hour, title in ((0, 13, "Berika undervisningen med sociala medier"),
                                 (1, 9, "Medborgardialogsplattformarnas tillgänglighetskrav"),
                                 (1, 11, "Avslutning och sammanfattning")):
            create_talk(session, event, title=title, starts_at=at(day, hour), ends_at=at(day, hour, 45),
                        speakers=speakers[2:], invitation_text=LONG_TEXT, own_host="127.0.0.1")
        session.flush()
        for talk in event.talks:
            record_talk_created(session, actor, talk)
        session.add(Recording(
            talk_id=recorded.id, source_url=LONG_URL.replace(".pdf", ".mp4"), origin="url",
            source_title="Inspelning: " + LONG_TITLE, published_at=datetime.now(UTC), duration_seconds=2712,
            chapters=[{"start": 0, "title": "Inledning och välkomsthälsning"},
                      {"start": 754, "title": "Omvärldsbevakningsrutinernas förändringsarbete"}]))
        now = datetime.now(UTC)
        grant_role(session, role=Role.moderator, name="Maja Moderatorsdottir-Björklund", now=now, event=event)
        grant_role(session, role=Role.moderator, name="Olle Chattövervakare", now=now, event=event, valid_days=30)
        grant_role(session, role=Role.speaker, name="Mattias Jansson-Wikströmer", now=now, talk=long_talk)
        # The talk's room: a message and a question with an address in them, from long names.
        for n, body in enumerate((f"Här är riktlinjerna: {LONG_URL}", "Tack! Informationssäkerhetsklassningen "
                                  "gäller även kommentarsfälten?")):
            post_message(session, long_talk, participant_id=f"phone-{tag}-{n}",
                         display_name="Mattias Jansson-Wikströmer från Katrineholms kommun", body=body,
                         client_id=f"phone-message-{tag}-{n}", max_length=500)
        for n, body in enumerate((f"Gäller arkivlagen för det som skrivs här? Se {LONG_URL}",
                                  "Hur hanterar ni personuppgiftsbiträdesavtalen?")):
            ask(session, long_talk, Actor(participant_id=f"phone-{tag}-{n}"),
                display_name="Helen Alfvegren-Kommunikationsstrateg", body=body, client_id=f"phone-question-{tag}-{n}",
                anonymous=False, max_length=300)
        # Someone stopped from writing in the whole event, after a message that was hidden.
        spam, _created = post_message(session, long_talk, participant_id=f"phone-{tag}-spam",
                                      display_name="Reklamkontoadministratörsassistenten", body=f"Köp nu! {LONG_URL}",
                                      client_id=f"phone-message-{tag}-spam", max_length=500)
        session.flush()
        reason = "Reklam för kommersiella tjänster, i strid med evenemangets chattregler och ordningsregler"
        hide(session, spam, long_talk, actor, reason)
        ban(session, long_talk, actor, f"phone-{tag}-spam", whole_event=True, reason=reason)
        morning = at(0, 9)
        for minute, viewers in enumerate([4, 19, 35, 28, 7]):
            session.add(ViewerSample(talk_id=long_talk.id, minute=morning + timedelta(minutes=minute),
                                     event_id=event.id, viewers=viewers))
        for name in ("phone-anna", "phone-bo", "phone-cecilia"):
            session.add(Participation(talk_id=long_talk.id, participant_id=f"{name}-{tag}", event_id=event.id,
                                      first_seen_at=morning))
        session.commit()
        day = LongDay(slug=event.slug, long_talk=long_talk.slug, recorded_talk=recorded.slug,
                      speaker_id=speakers[0].id, month=first_day.strftime("%Y-%m"), email=email,
                      colleague_email=colleague_email)
    engine.dispose()
    return day


@pytest.fixture(scope="module")
def signed_in_state(browser, live_server, long_day) -> dict[str, Any]:
    """The cookies of the organiser with the long e-mail address, signed in through the form."""
    t = lambda msgid: translate("sv", msgid)  # noqa: E731
    context = browser.new_context(base_url=live_server.url, locale="sv-SE")
    page = context.new_page()
    page.goto("/sign-in?next=/admin/")
    page.get_by_label(t("E-mail address")).fill(long_day.email)
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    expect(page.get_by_role("heading", level=1, name=t("Events"))).to_be_visible()
    state = context.storage_state()
    context.close()
    return state


PAGES: dict[str, Callable[[LongDay], str]] = {
    # the admin
    "dashboard": lambda d: "/admin/",
    "new event": lambda d: "/admin/events/new",
    "event form": lambda d: f"/admin/events/{d.slug}",
    "new talk": lambda d: f"/admin/events/{d.slug}/talks/new",
    "talk form": lambda d: f"/admin/events/{d.slug}/talks/{d.long_talk}",
    "new speaker": lambda d: f"/admin/events/{d.slug}/speakers/new",
    "speaker form": lambda d: f"/admin/events/{d.slug}/speakers/{d.speaker_id}",
    "people": lambda d: f"/admin/events/{d.slug}/people",
    "organisers": lambda d: "/admin/organisers",
    "audit": lambda d: f"/admin/events/{d.slug}/audit",
    "activity of the event": lambda d: f"/admin/events/{d.slug}/activity",
    "activity of the month": lambda d: f"/admin/activity?month={d.month}",
    "recording page": lambda d: f"/admin/events/{d.slug}/talks/{d.recorded_talk}/recording",
    "recording page, none yet": lambda d: f"/admin/events/{d.slug}/talks/{d.long_talk}/recording",
    # the public pages
    "home": lambda d: "/",
    "event": lambda d: f"/events/{d.slug}/",
    "talk": lambda d: f"/events/{d.slug}/{d.long_talk}",
    "talk with a recording": lambda d: f"/events/{d.slug}/{d.recorded_talk}",
    "recordings": lambda d: f"/events/{d.slug}/recordings",
    "sign-in": lambda d: "/sign-in",
    "studio": lambda d: f"/events/{d.slug}/{d.long_talk}/studio",
    "presenter": lambda d: f"/events/{d.slug}/{d.long_talk}/presenter",
    "not found": lambda d: f"/events/{d.slug}/finns-inte",
}

def open_details(page: Any, selector: str) -> None:
    page.locator(selector).first.evaluate("details => { details.open = true; }")


def live_panel_ready(page: Any) -> None:
    """The room has joined as a moderator (an organiser is one): its tools, opened."""
    expect(page.locator("[data-moderator-tools]")).to_be_visible()
    open_details(page, "[data-moderator-tools]")


# What a page needs before it is measured: parts the socket fills in, and parts that open.
PREPARE: dict[str, Callable[[Any], None]] = {
    "talk": live_panel_ready,
    "talk with a recording": live_panel_ready,
    "presenter": lambda page: expect(page.locator(".presenter-item").first).to_be_visible(),
    "activity of the event": lambda page: open_details(page, "details.activity-series"),
    "activity of the month": lambda page: open_details(page, "details.activity-series"),
}


# What sticks out to the right of the viewport, widest first, so that a failure names what to
# fix: elements, and runs of text (an unbreakable word overflows its box without widening it).
# Anything inside a box that scrolls or clips on its own is left out: it moves no page.
WIDEST_ELEMENTS = """() => {
    const limit = document.documentElement.clientWidth;
    const clipped = (element) => {
        for (let node = element.parentElement; node && node !== document.body; node = node.parentElement) {
            if (getComputedStyle(node).overflowX !== 'visible') return true;
        }
        return false;
    };
    const name = (element) => element.tagName.toLowerCase() + (element.id ? '#' + element.id : '')
        + Array.from(element.classList).map((c) => '.' + c).join('');
    const path = (element) => {
        const names = [];
        for (let node = element; node && node !== document.body; node = node.parentElement) names.unshift(name(node));
        return names.slice(-4).join(' > ');
    };
    const found = [];
    for (const element of document.body.querySelectorAll('*')) {
        const box = element.getBoundingClientRect();
        if (box.width > 0 && box.right > limit + 0.5 && !clipped(element)) {
            const words = (element.innerText || element.value || '').trim().slice(0, 40);
            found.push({right: box.right, text: `${path(element)}: right ${Math.round(box.right)} px, `
                + `width ${Math.round(box.width)} px (${words})`});
        }
    }
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent.trim() || !node.parentElement) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        const box = range.getBoundingClientRect();
        const parent = node.parentElement;
        if (box.width > 0 && box.right > limit + 0.5 && !clipped(parent.firstElementChild || parent)
            && !(getComputedStyle(parent).overflowX !== 'visible')) {
            found.push({right: box.right, text: `text in ${path(parent)}: right ${Math.round(box.right)} px `
                + `("${node.textContent.trim().slice(0, 40)}")`});
        }
    }
    return found.sort((a, b) => b.right - a.right).slice(0, 8).map((item) => item.text);
}"""


def assert_no_sideways_scrolling(page: Any, where: str) -> None:
    size = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    if size["scroll"] > size["inner"]:
        widest = "\n    ".join(page.evaluate(WIDEST_ELEMENTS))
        pytest.fail(f"{where}: the page is {size['scroll']} px wide in a {size['inner']} px window; "
                    f"what sticks out:\n    {widest}")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(PAGES))
def test_page_fits_a_phone_without_sideways_scrolling(open_context, long_day, signed_in_state, name, width):
    context = open_context(viewport={"width": width, "height": 800}, storage_state=signed_in_state,
                           bypass_csp=True)  # bypass: axe is injected inline
    page = context.new_page()
    page.goto(PAGES[name](long_day))
    page.wait_for_load_state("load")
    PREPARE.get(name, lambda page: None)(page)

    assert_no_sideways_scrolling(page, f"{name} at {width} px")
    violations = run_axe(page)
    assert violations == [], f"{name} at {width} px:\n{describe_violations(violations)}"


def test_forms_with_errors_previews_and_new_links_fit_a_phone(open_context, long_day, signed_in_state):
    t = lambda msgid: translate("sv", msgid)  # noqa: E731
    page = open_context(viewport={"width": 320, "height": 800}, storage_state=signed_in_state,
                        bypass_csp=True).new_page()  # bypass: axe is injected inline

    page.goto("/admin/events/new")
    page.get_by_label(t("Title")).fill(LONG_TITLE)
    page.get_by_role("button", name=t("Create the event")).click()  # no first day: refused with messages
    expect(page.get_by_role("alert").first).to_be_visible()
    page.wait_for_load_state("load")  # its stylesheet too
    assert_no_sideways_scrolling(page, "new event, with errors")

    page.goto(f"/admin/events/{long_day.slug}/talks/{long_day.long_talk}")
    page.get_by_role("button", name=t("Preview the text")).click()
    expect(page.locator(".markdown-preview")).to_contain_text("offentlighetsprincipen")
    page.wait_for_load_state("load")  # its stylesheet too
    assert_no_sideways_scrolling(page, "talk form, with a preview")

    page.goto("/admin/organisers")
    page.locator("tr", has_text=long_day.colleague_email).get_by_role("button", name=t("Make a password link")).click()
    expect(page.locator("#new-password-link")).to_be_visible()
    page.wait_for_load_state("load")  # its stylesheet too
    assert_no_sideways_scrolling(page, "organisers, with a new password link")
    password_link = page.locator("#new-password-link").input_value()
    # The actions column is whole on a phone, each button inside the window.
    for button in page.locator("table button").all():
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320, button.inner_text()

    violations = run_axe(page)
    assert violations == [], describe_violations(violations)

    colleague = open_context(viewport={"width": 320, "height": 800}).new_page()
    colleague.goto(password_link)
    assert_no_sideways_scrolling(colleague, "choose your password")
