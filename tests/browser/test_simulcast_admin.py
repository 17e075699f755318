"""The talk's simulcast page ("Also send to") in Debian's chromium: an organiser
opens it from the talk form, adds a destination by keyboard, sees a refused server address
beside its field in Swedish, sees the stream key only masked, and sees a destination's state
change without a reload, announced once on the page's status line. The page passes axe-core
(WCAG 2.1 A/AA) empty, with a destination, and with an error; the studio's section too.

Runs on the shared live server (no private hosts allowed there): a destination on 127.0.0.1 is
stored through the service, as media.import_allowed_hosts would allow it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from server.db import utcnow
from server.media.simulcast import RETRYING, KeyBox
from server.models import Role, SimulcastDestination, Talk
from server.services import simulcast as service
from server.services.roles import Actor
from tests.browser.conftest import DEMO_SLUG, describe_violations, run_axe, translate
from tests.browser.test_admin import sign_in
from tests.live.conftest import Arena

pytestmark = pytest.mark.browser
KEY = "abcd-efgh-ijkl-mnop-q7Xz"
ORGANISER = Actor(participant_id="test-organiser", role=Role.organiser, staff_name="Karin Kommunikatör")


@pytest.fixture(scope="module")
def arena(live_server) -> Iterator[Arena]:
    arena = Arena(live_server)
    yield arena
    arena.close()


def assert_no_axe_violations(page: Any, where: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"


def stored_destination(arena: Arena, live_server, talk_id: int) -> int:
    with Session(arena.engine, expire_on_commit=False) as session:
        destination = service.add(session, ORGANISER, session.get(Talk, talk_id), label="YouTube",
                                  url="rtmp://127.0.0.1:1936/live2", stream_key=KEY, enabled=True,
                                  keys=KeyBox(Path(live_server.env["ARENA_SERVER__INSTANCE_PATH"])),
                                  allowed_hosts=["127.0.0.1"], now=utcnow())
        session.commit()
        return destination.id


def set_state(arena: Arena, destination_id: int, state: str, reason: str) -> None:
    with Session(arena.engine) as session:
        service.record_state(session, destination_id, state, reason, 1, utcnow())
        session.commit()


def test_organiser_keeps_simulcast_destinations_by_keyboard_and_follows_their_state(open_context, live_server,
                                                                                      arena):
    def t(msgid: str, **values: Any) -> str:
        return translate("sv", msgid) % values if values else translate("sv", msgid)

    talk_id, slug = arena.new_talk()
    page = sign_in(open_context, live_server, "sv")
    page.goto(f"/admin/events/{DEMO_SLUG}/talks/{slug}")
    page.get_by_role("link", name=t("Also send to (YouTube, Facebook)")).click()
    expect(page.get_by_role("heading", level=2, name=t("Add a destination"))).to_be_visible()
    expect(page.get_by_text(t("No destinations yet. Add one below."))).to_be_visible()
    assert_no_axe_violations(page, "the simulcast page without destinations")

    # A web address instead of an RTMP server: refused beside its field, the key not shown back.
    page.get_by_label(t("Name"), exact=True).fill("Facebook")
    page.get_by_label(t("Server address")).fill("https://www.facebook.com/live")
    page.get_by_label(t("Stream key")).fill(KEY)
    page.get_by_role("button", name=t("Add the destination")).focus()
    page.keyboard.press("Enter")
    error = page.locator(".field-error")
    expect(error).to_contain_text("rtmp://")
    expect(page.get_by_label(t("Server address"))).to_have_attribute("aria-invalid", "true")
    assert KEY not in page.content()
    assert_no_axe_violations(page, "the simulcast page with a refused address")

    destination_id = stored_destination(arena, live_server, talk_id)
    page.goto(f"/admin/events/{DEMO_SLUG}/talks/{slug}/simulcast")
    item = page.locator(f'[data-destination-id="{destination_id}"]')
    expect(item).to_contain_text(t("Waiting for the broadcast"))
    expect(page.locator("main")).to_contain_text("\u2022\u2022\u2022\u2022q7Xz")
    assert KEY not in page.content()
    assert_no_axe_violations(page, "the simulcast page with a destination")
    page.set_viewport_size({"width": 320, "height": 900})  # a phone: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The push retries (in the server's process): the list follows, the status line says it once.
    set_state(arena, destination_id, RETRYING, "connection_lost")
    expect(item).to_contain_text(t("Trying again"), timeout=20_000)
    expect(item).to_contain_text(t("The connection to the server was lost."))
    expect(page.get_by_role("status").filter(has_text="YouTube")).to_have_text(
        t("%(label)s: %(state)s", label="YouTube", state=t("Trying again")))

    # Switched off by keyboard: saved, still masked.
    form = page.locator(f"#destination-{destination_id}")
    form.get_by_label(t("Send to this destination while the talk is live")).focus()
    page.keyboard.press("Space")
    form.get_by_role("button", name=t("Save %(label)s", label="YouTube")).focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash-messages")).to_contain_text(t("%(label)s was saved.", label="YouTube"))
    with Session(arena.engine) as session:
        assert session.get(SimulcastDestination, destination_id).enabled is False
    assert KEY not in page.content()


def test_studio_lists_where_the_stream_is_also_sent(open_context, live_server, arena):
    talk_id, slug = arena.new_talk()
    stored_destination(arena, live_server, talk_id)
    grant = arena.grant("speaker", "Mattias Jansson", event=DEMO_SLUG, talk=slug)
    page = open_context(locale="sv-SE", bypass_csp=True).new_page()  # bypass: axe is injected
    page.goto(grant.link.replace(arena.url, ""))
    page.goto(f"/events/{DEMO_SLUG}/{slug}/studio")

    section = page.locator("section.studio-simulcast")
    expect(section.get_by_role("heading", name=translate("sv", "Also sent to"))).to_be_visible()
    expect(section.get_by_role("list")).to_contain_text("YouTube")
    expect(section).to_contain_text(translate("sv", "Waiting for the broadcast"))
    assert "127.0.0.1:1936/live2" not in page.content() and KEY not in page.content()
    assert_no_axe_violations(page, "the studio with where the stream is also sent")
