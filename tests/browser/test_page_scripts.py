"""The pages' own scripts (ES modules in static/js, sharing static/js/lib) in a real browser:
each page loads every module it names without a script error, and what the event page's
script adds (LIVE badges that follow the talks) is what a visitor sees."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, EVENT_PATH, talk_path, translate
from tests.browser.test_admin import sign_in

pytestmark = pytest.mark.browser

# A demo talk without a stream: never live by the clock, only when an organiser says so.
TALK_WITHOUT_STREAM = "twitter-dygnet-runt"


def watch_for_script_failures(page: Any) -> list[str]:
    """Every uncaught error, console error and failed script load of the page, as text."""
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(f"error: {error}"))
    page.on("console", lambda message: failures.append(f"console: {message.text}") if message.type == "error" else None)

    def on_response(response: Any) -> None:
        if response.request.resource_type == "script" and response.status >= 400:
            failures.append(f"{response.status}: {response.url}")

    page.on("response", on_response)
    page.on("requestfailed", lambda request: failures.append(f"failed: {request.url}")
            if request.resource_type == "script" else None)
    return failures


def loaded_modules(page: Any) -> set[str]:
    """The paths of our own scripts the page loaded (its modules and what they import)."""
    urls = page.evaluate("performance.getEntriesByType('resource').map(entry => entry.name)")
    return {url.split("/static/", 1)[1] for url in urls if "/static/js/" in url}


@pytest.mark.parametrize("path, shows, modules", [
    # share.js shows the copy button; event-live.js runs beside it.
    (EVENT_PATH, "[data-copy-target]", {"js/share.js", "js/event-live.js", "js/lib/fetch.js"}),
    # The live panel's modules join the room: the viewer count arrives with the join ack.
    (talk_path(), "[data-live-viewers]",
     {"js/player.js", "js/stage.js", "js/live/main.js", "js/live/room.js", "js/lib/socket.js",
      "js/lib/announce.js", "js/lib/text.js"}),
    # presenter.js joins too: the "Connecting…" line is cleared by the join ack.
    (talk_path() + "/presenter", "[data-presenter-none]", {"js/presenter.js", "js/lib/socket.js"}),
    (f"/events/{DEMO_SLUG}/recordings", "[data-copy-target]", {"js/share.js"}),
])
def test_public_pages_run_their_modules_without_a_script_error(open_context, live_server, path, shows, modules):
    context = open_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    failures = watch_for_script_failures(page)

    page.goto(path)

    expect(page.locator(shows).first).to_be_visible()
    if path.endswith("/presenter"):
        expect(page.locator("[data-presenter-connection]")).to_be_empty()
    assert modules <= loaded_modules(page)
    assert failures == []


def test_admin_pages_run_their_modules_without_a_script_error(open_context, live_server):
    admin = sign_in(open_context, live_server)
    failures = watch_for_script_failures(admin)

    admin.goto(f"/admin/events/{DEMO_SLUG}/talks/{TALK_WITHOUT_STREAM}")

    expect(admin.get_by_label(translate("sv", "Live status"))).to_be_visible()
    assert {"js/admin.js", "js/share.js", "js/lib/dom.js"} <= loaded_modules(admin)
    assert failures == []


def _set_live_status(admin: Any, value: str) -> None:
    admin.goto(f"/admin/events/{DEMO_SLUG}/talks/{TALK_WITHOUT_STREAM}")
    admin.get_by_label(translate("sv", "Live status")).select_option(value)
    admin.get_by_role("button", name=translate("sv", "Save"), exact=True).click()
    expect(admin.get_by_label(translate("sv", "Live status"))).to_have_value(value)


def test_the_event_page_marks_a_talk_live_and_not_live_without_a_reload(open_context, live_server):
    admin = sign_in(open_context, live_server)
    visitor = open_context().new_page()
    failures = watch_for_script_failures(visitor)
    visitor.goto(EVENT_PATH)
    card = visitor.locator(f'.talk-card[data-talk-slug="{TALK_WITHOUT_STREAM}"]')
    badge = card.locator("[data-live-badge]")
    expect(badge).to_be_hidden()
    try:
        _set_live_status(admin, "live")

        # The page asks every 15 s: a generous deadline, it ends as soon as the badge shows.
        expect(badge).to_be_visible(timeout=60_000)
        expect(card).to_have_class("talk-card is-live")

        _set_live_status(admin, "ended")

        expect(badge).to_be_hidden(timeout=60_000)
        expect(card).to_have_class("talk-card")
    finally:
        _set_live_status(admin, "scheduled")
    assert failures == []
