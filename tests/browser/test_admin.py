"""The admin in Debian's chromium, as an organiser uses it: sign in, create an event with a
speaker (photo uploaded) and a talk, publish it, and find it on the public page; axe-core
finds no WCAG 2.1 A/AA violation on any admin page, in Swedish and English; the programme
order works from the keyboard alone."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, LOCALES, describe_violations, run_axe, translate
from tests.conftest import run_cli

pytestmark = pytest.mark.browser
PASSWORD = "kluriga-lösenordet-2026"


def new_organiser(live_server: Any) -> str:
    email = f"karin-{uuid.uuid4().hex[:8]}@norrbotten.se"
    result = run_cli(live_server.env, "create-organiser", email, "Karin Kommunikatör", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    return email


def sign_in(open_context: Callable[..., Any], live_server: Any, language: str = "sv") -> Any:
    email = new_organiser(live_server)
    page = open_context(locale=LOCALES[language], bypass_csp=True).new_page()  # bypass: axe is injected inline
    page.goto("/admin/")
    # Not signed in: the sign-in page, which brings the organiser back to the admin.
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/admin/"))
    page.get_by_label(translate(language, "E-mail address")).fill(email)
    page.get_by_label(translate(language, "Password")).fill(PASSWORD)
    page.get_by_role("button", name=translate(language, "Sign in")).click()
    expect(page.get_by_role("heading", level=1, name=translate(language, "Events"))).to_be_visible()
    return page


def assert_no_axe_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), (20, 90, 160)).save(out, "PNG")
    return out.getvalue()


def test_organiser_creates_publishes_and_finds_an_event_on_the_public_page(open_context, live_server):
    t = lambda msgid: translate("sv", msgid)  # noqa: E731
    tag = uuid.uuid4().hex[:6]
    page = sign_in(open_context, live_server)
    assert_no_axe_violations(page, "dashboard")

    page.get_by_role("link", name=t("Create an event")).click()
    page.get_by_role("button", name=t("Create the event")).click()  # empty: refused with messages
    expect(page.get_by_role("alert")).to_be_visible()
    assert_no_axe_violations(page, "new event, with errors")
    page.get_by_label(t("Title")).fill(f"Digital dag {tag}")
    page.get_by_label(t("First day")).fill("2026-12-03")
    page.get_by_label(t("Invitation text")).fill("Välkommen till en dag om **sociala medier**.")
    page.get_by_role("button", name=t("Create the event")).click()
    expect(page.get_by_role("status")).to_contain_text(t("The event was created as a draft. Add its talks and "
                                                         "speakers, then publish it."))
    assert_no_axe_violations(page, "event page (draft)")

    page.get_by_role("link", name=t("Add a speaker")).click()
    page.get_by_label(t("Name"), exact=True).fill("Erik Kommunchef")
    page.get_by_label(t("Title and organisation")).fill("kommunchef, Piteå kommun")
    page.get_by_label(t("Photo")).set_input_files({"name": "erik.png", "mimeType": "image/png", "buffer": png()})
    assert_no_axe_violations(page, "new speaker")
    page.get_by_role("button", name=t("Add the speaker")).click()
    expect(page.get_by_role("status")).to_contain_text(t("The speaker was added."))

    page.get_by_role("link", name=t("Add a talk")).click()
    page.get_by_label(t("Title"), exact=True).fill(f"Skapa arenor {tag}")
    page.get_by_label(t("Starts")).fill("10:00")
    page.get_by_label(t("Ends")).fill("10:45")
    page.get_by_label("Erik Kommunchef").check()
    page.get_by_label(t("Invitation text")).fill("Hur **kommuner** skapar arenor.")
    page.get_by_role("button", name=t("Preview the text")).click()
    expect(page.locator(".markdown-preview strong")).to_have_text("kommuner")
    assert_no_axe_violations(page, "new talk, with preview")
    page.get_by_role("button", name=t("Add the talk")).click()
    expect(page.get_by_role("status")).to_contain_text(t("The talk was added to the programme."))
    assert_no_axe_violations(page, "talk form")

    page.get_by_role("link", name=f"Digital dag {tag}").first.click()
    page.get_by_role("button", name=t("Publish")).click()
    expect(page.get_by_role("status")).to_contain_text(t("Published: the event is on the home page, in the feeds "
                                                         "and the API."))

    visitor = open_context(locale="sv-SE").new_page()
    visitor.goto("/")
    visitor.get_by_role("link", name=f"Digital dag {tag}").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text(f"Digital dag {tag}")
    visitor.get_by_role("link", name=f"Skapa arenor {tag}").first.click()
    expect(visitor.locator(".invitation-text strong")).to_have_text("kommuner")
    expect(visitor.get_by_text("Erik Kommunchef").first).to_be_visible()
    photo = visitor.locator("img.speaker-photo")
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.naturalWidth") == 200


@pytest.mark.parametrize("language", ["sv", "en"])
def test_axe_finds_no_violations_on_the_admin_pages(open_context, live_server, language):
    page = sign_in(open_context, live_server, language)
    talk = "skapa-arenor"
    paths = [f"/admin/events/{DEMO_SLUG}", f"/admin/events/{DEMO_SLUG}/talks/{talk}",
             f"/admin/events/{DEMO_SLUG}/talks/new", f"/admin/events/{DEMO_SLUG}/speakers/new",
             f"/admin/events/{DEMO_SLUG}/people", f"/admin/events/{DEMO_SLUG}/audit", "/admin/events/new",
             "/admin/organisers"]
    for path in paths:
        page.goto(path)
        assert_no_axe_violations(page, f"{path} ({language})")
    # A moderator link, shown on the people page, and its refusal messages.
    page.goto(f"/admin/events/{DEMO_SLUG}/people")
    page.get_by_label(translate(language, "The moderator's name")).fill("Maja Moderator")
    page.get_by_role("button", name=translate(language, "Make a moderator link")).click()
    expect(page.get_by_label(translate(language, "Sign-in link for %(name)s") % {"name": "Maja Moderator"})
           .first).to_have_value(re.compile(r"/staff/sign-in/"))
    assert_no_axe_violations(page, f"people with a link ({language})")


@pytest.fixture
def three_talk_event(live_server) -> str:
    """An event of its own (the demo day's times matter to other tests), in the server's database."""
    from sqlalchemy.orm import Session

    from server.db import make_engine
    from server.services.events import create_event, create_talk
    from tests.conftest import DAY, at

    engine = make_engine(live_server.env["ARENA_DATABASE__URL"])
    slug = f"ordning-{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        event = create_event(session, title="Ordningens dag", slug=slug, starts_on=DAY)
        for hour, title in ((9, "Först"), (10, "Sedan"), (11, "Sist")):
            create_talk(session, event, title=title, starts_at=at(hour), ends_at=at(hour, 45))
        session.commit()
    engine.dispose()
    return slug


def test_programme_order_works_with_the_keyboard_alone(open_context, live_server, three_talk_event):
    page = sign_in(open_context, live_server)
    page.goto(f"/admin/events/{three_talk_event}")
    titles = lambda: page.locator(".admin-programme li > a").all_inner_texts()  # noqa: E731
    first, second = titles()[:2]
    move_down = page.locator(".admin-programme li").first.locator("button[id$='-down']")
    button_id = move_down.get_attribute("id")

    for _ in range(60):  # Tab until the first talk's "move down" button has the focus
        if page.evaluate("(id) => document.activeElement && document.activeElement.id === id", button_id):
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    expect(page.locator(".admin-programme li > a").nth(1)).to_have_text(first)
    assert titles()[0] == second
    # The focus is back on the same talk's button: Enter again moves it further.
    expect(page.locator(f"#{button_id}")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # its "move up": back where it was
    expect(page.locator(".admin-programme li > a").first).to_have_text(first)


def test_organiser_adds_a_colleague_who_chooses_a_password_and_signs_in(open_context, live_server):
    t = lambda msgid: translate("sv", msgid)  # noqa: E731
    page = sign_in(open_context, live_server)
    email = f"olle-{uuid.uuid4().hex[:8]}@norrbotten.se"
    page.get_by_role("link", name=t("Organisers")).click()
    page.get_by_label(t("Name"), exact=True).fill("Olle Organisatör")
    page.get_by_label(t("E-mail address")).fill(email)
    page.get_by_role("button", name=t("Add the organiser")).click()
    link = page.locator("#new-password-link").input_value()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name=t("Copy link")).click()
    expect(page.locator(".copy-status")).to_have_text(t("The link is copied."))
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    assert_no_axe_violations(page, "organisers, with a new link")

    colleague = open_context(locale="sv-SE", bypass_csp=True).new_page()
    colleague.goto(link)
    assert_no_axe_violations(colleague, "choose your password")
    colleague.get_by_label(t("New password")).fill(PASSWORD)
    colleague.get_by_label(t("The same password again")).fill(PASSWORD)
    colleague.get_by_role("button", name=t("Save the password")).click()
    expect(colleague.get_by_role("status")).to_contain_text(t("Your password is set. Sign in with your e-mail "
                                                              "address and the new password."))
    colleague.get_by_label(t("E-mail address")).fill(email)
    colleague.get_by_label(t("Password")).fill(PASSWORD)
    colleague.get_by_role("button", name=t("Sign in")).click()
    colleague.goto("/admin/")
    expect(colleague.get_by_role("heading", level=1, name=t("Events"))).to_be_visible()
