"""Forgot my password in Debian's chromium, from the keyboard alone: the sign-in page's link,
the request, the message read from a real SMTP server (aiosmtpd, in this process), the reset
page with its errors, and signing in with the new password. axe-core finds no WCAG 2.1 A/AA
violation on any of these pages, in Swedish and English, nor on the page without e-mail. An
organiser sends a moderator's link by e-mail from the people page, by keyboard.

The shared live server has no [mail]; these tests start their own beside it, whose mail goes
to the test's relay."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, LOCALES, describe_violations, run_axe, translate
from tests.conftest import LiveServer, run_cli, start_live_server
from tests.mail_server import SmtpServer, smtp_server
from tests.waiting import wait_until

pytestmark = pytest.mark.browser
PASSWORD = "kluriga-lösenordet-2026"
NEW_PASSWORD = "tre-orelaterade-ord-2026"


@pytest.fixture(scope="module")
def relay(tmp_path_factory) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path_factory.mktemp("relay"), "none") as server:
        yield server


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory, relay) -> Iterator[LiveServer]:
    """Arena with [mail] pointing at the test's relay (a local relay: no TLS, no login)."""
    server = start_live_server(tmp_path_factory.mktemp("mail-live"), extra_env={
        "ARENA_MAIL__HOST": "127.0.0.1", "ARENA_MAIL__PORT": str(relay.port), "ARENA_MAIL__SECURITY": "none",
        "ARENA_MAIL__FROM_ADDRESS": "Arena <arena@norrbotten.se>"})
    yield server
    server.stop()


def new_organiser(server: LiveServer) -> str:
    email = f"karin-{uuid.uuid4().hex[:8]}@norrbotten.se"
    result = run_cli(server.env, "create-organiser", email, "Karin Kommunikatör", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    return email


def assert_no_axe_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"


def tab_to(page: Any, locator: Any, limit: int = 40) -> None:
    """Press Tab until `locator` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{locator} never got the focus by Tab")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_forgot_my_password_from_the_keyboard(open_context, mail_server, relay, language):
    def t(msgid):
        return translate(language, msgid)
    email = new_organiser(mail_server)
    page = open_context(base_url=mail_server.url, locale=LOCALES[language], bypass_csp=True).new_page()
    page.goto("/sign-in")

    forgot = page.get_by_role("link", name=t("Forgot your password?"))
    tab_to(page, forgot)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name=t("Forgot your password?"))).to_be_visible()
    assert_no_axe_violations(page, "forgot my password")

    field = page.get_by_label(t("E-mail address"))
    tab_to(page, field)
    page.keyboard.type("inte en adress")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_have_text(t("Give a valid e-mail address."))
    expect(field).to_have_attribute("aria-describedby", "email-error")
    assert_no_axe_violations(page, "forgot my password, refused")

    field.fill("")
    field.focus()
    page.keyboard.type(email)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(email)
    assert_no_axe_violations(page, "sign-in page after asking")

    received = None

    def arrived():
        nonlocal received
        received = next((r for r in relay.messages() if r.recipients == [email]), None)
        return received

    wait_until(arrived, message=f"no message to {email}")
    assert received.message["Content-Language"] == language
    link = re.search(r"http://127\.0\.0\.1:\d+(/reset-password/\S+)", received.text).group(1)

    page.goto(link)
    expect(page.get_by_role("heading", level=1, name=t("Choose a new password"))).to_be_visible()
    assert_no_axe_violations(page, "reset page")
    new = page.get_by_label(t("New password"))
    tab_to(page, new)
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(NEW_PASSWORD + "x")
    page.keyboard.press("Enter")
    repeat = page.get_by_label(t("The same password again"))
    expect(repeat).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#" + repeat.get_attribute("aria-describedby").split()[-1])).to_have_text(
        t("The two passwords are not the same."))
    assert_no_axe_violations(page, "reset page, refused")

    page.get_by_label(t("New password")).fill(NEW_PASSWORD)
    repeat.fill(NEW_PASSWORD)
    repeat.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(
        t("Your new password is saved. Sign in with your e-mail address and the new password."))

    page.get_by_label(t("E-mail address")).fill(email)
    page.get_by_label(t("Password")).fill(NEW_PASSWORD)
    page.get_by_label(t("Password")).press("Enter")
    expect(page).not_to_have_url(re.compile(r"/sign-in"))

    page.goto(link)  # once used, it says so
    expect(page.get_by_role("alert")).to_contain_text(
        t("This link has already been used, or the password has been changed since. Ask for a new one if you "
          "need it."))
    assert_no_axe_violations(page, "used reset link")


def test_without_mail_the_page_says_whom_to_ask(open_context):
    page = open_context(bypass_csp=True).new_page()  # the shared live server: no [mail]

    page.goto("/forgot-password")

    expect(page.get_by_role("heading", level=1, name=translate("sv", "Forgot your password?"))).to_be_visible()
    expect(page.get_by_text(translate("sv", "E-mail is not set up on this server, so no link can be sent from "
                                            "here."))).to_be_visible()
    expect(page.locator("main form")).to_have_count(0)
    assert_no_axe_violations(page, "forgot my password without mail")


def test_an_organiser_sends_a_moderator_link_by_mail_from_the_keyboard(open_context, mail_server, relay):
    def t(msgid):
        return translate("sv", msgid)
    email = new_organiser(mail_server)
    page = open_context(base_url=mail_server.url, bypass_csp=True).new_page()
    page.goto("/sign-in")
    page.get_by_label(t("E-mail address")).fill(email)
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_label(t("Password")).press("Enter")
    expect(page).not_to_have_url(re.compile(r"/sign-in"))
    name = f"Maja {uuid.uuid4().hex[:6]}"
    page.goto(f"/admin/events/{DEMO_SLUG}/people")
    page.get_by_label(t("The moderator's name")).fill(name)
    page.get_by_role("button", name=t("Make a moderator link")).click()
    grant = page.locator("li.grant", has_text=name)

    summary = grant.locator("summary")
    tab_to(page, summary)
    page.keyboard.press("Enter")
    address = grant.get_by_label(t("E-mail address"))
    expect(address).to_be_visible()
    assert_no_axe_violations(page, "people page, sending open")
    tab_to(page, address)
    page.keyboard.type("maja@kommun.se")
    grant.get_by_label(t("Language of the message")).select_option("en")
    address.press("Enter")

    expect(page.get_by_role("status").filter(has_text="maja@kommun.se")).to_contain_text(name)
    assert_no_axe_violations(page, "people page, sent")
    received = wait_until(lambda: next((r for r in relay.messages() if r.recipients == ["maja@kommun.se"]), None),
                          message="the moderator's link never arrived")
    assert received.message["Content-Language"] == "en"
    assert f"Hello {name}," in received.text
