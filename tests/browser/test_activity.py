"""The activity report in Debian's chromium, as an organiser sees it: the chart and its
numbers in Swedish and in English, axe-core finding no WCAG 2.1 A/AA violation, and the
chart's table and the month picker reachable from the keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import make_engine
from server.models import Event, Participation, Talk, ViewerSample
from tests.browser.conftest import DEMO_SLUG, LOCALES, describe_violations, run_axe, translate
from tests.conftest import STOCKHOLM, run_cli

pytestmark = pytest.mark.browser

REPORT_PATH = f"/admin/events/{DEMO_SLUG}/activity"


@pytest.fixture(scope="module")
def watched_demo(live_server) -> str:
    """Viewers and participants on the demo day's first talk, early in the morning (no live
    test runs then), written straight into the server's database. Returns the month."""
    engine = make_engine(live_server.env["ARENA_DATABASE__URL"])
    with Session(engine) as session:
        event = session.scalars(select(Event).where(Event.slug == DEMO_SLUG)).one()
        talk = session.scalars(select(Talk).where(Talk.event_id == event.id).order_by(Talk.starts_at)).first()
        morning = datetime.combine(event.starts_on, datetime.min.time(), STOCKHOLM).replace(hour=6)
        for minute, viewers in enumerate([4, 9, 15, 12, 7]):
            session.merge(ViewerSample(talk_id=talk.id, minute=morning + timedelta(minutes=minute),
                                       event_id=event.id, viewers=viewers))
        for name in ("browser-anna", "browser-bo"):
            session.merge(Participation(talk_id=talk.id, participant_id=name, event_id=event.id,
                                        first_seen_at=morning))
        session.commit()
        month = event.starts_on.strftime("%Y-%m")
    engine.dispose()
    return month


def open_as_organiser(open_context: Callable[..., Any], live_server: Any, locale: str) -> Any:
    result = run_cli(live_server.env, "grant-role", "organiser", "Karin Kommunikatör")
    assert result.returncode == 0, result.stderr
    link = re.search(r"Sign-in link: (\S+)", result.stdout).group(1)
    page = open_context(locale=locale, bypass_csp=True).new_page()  # bypass: axe is injected inline
    page.goto(link)
    return page


@pytest.mark.parametrize("language", ["sv", "en"])
def test_event_activity_report_renders_with_its_chart_and_no_axe_violations(open_context, live_server,
                                                                          watched_demo, language):
    page = open_as_organiser(open_context, live_server, LOCALES[language])

    page.goto(REPORT_PATH)

    chart = page.get_by_role("img", name=re.compile(re.escape(translate(language, "Activity: %(event)s")
                                                                % {"event": ""})))
    expect(chart).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", language)
    figures = page.get_by_role("table", name=translate(language, "Figures per talk"))
    expect(figures.locator("tfoot td").first).to_have_text(re.compile(r"\d"))
    violations = run_axe(page)
    assert violations == [], describe_violations(violations)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_month_activity_report_renders_and_its_chart_table_opens_from_the_keyboard(open_context, live_server,
                                                                                 watched_demo, language):
    page = open_as_organiser(open_context, live_server, LOCALES[language])
    page.goto(f"/admin/activity?month={watched_demo}")

    summary = page.get_by_text(translate(language, "Show the chart's numbers as a table"))
    summary.focus()
    page.keyboard.press("Enter")

    expect(page.locator(".activity-series table")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Sociala medier i offentlig sektor"))).to_be_visible()
    violations = run_axe(page)
    assert violations == [], describe_violations(violations)


def test_a_bad_month_is_explained_beside_the_field_in_swedish(open_context, live_server):
    page = open_as_organiser(open_context, live_server, LOCALES["sv"])

    page.goto("/admin/activity?month=2026-13")  # typed by hand into a browser without a month picker

    message = page.locator("#activity-month-error")
    expect(message).to_have_text(translate("sv", "Choose a month as year and month, for example 2026-11."))
    expect(page.locator("#activity-month")).to_have_attribute("aria-invalid", "true")
    violations = run_axe(page)
    assert violations == [], describe_violations(violations)
