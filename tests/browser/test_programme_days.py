"""A programme over more than one day, and the nights the clocks change, in Debian's chromium:
an organiser builds a two-day event in the admin and finds its days as headings on the public
page; a time the clocks skip is refused in Swedish and a repeated one is asked about; the
audit log reads as Swedish. axe-core finds no WCAG 2.1 A/AA violation on any of these pages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import translate
from tests.browser.test_admin import assert_no_axe_violations, sign_in

pytestmark = pytest.mark.browser


def t(msgid: str) -> str:
    return translate("sv", msgid)


def create_event(page: Any, title: str, first_day: str, last_day: str = "") -> None:
    page.goto("/admin/events/new")
    page.get_by_label(t("Title")).fill(title)
    page.get_by_label(t("First day")).fill(first_day)
    if last_day:
        page.get_by_label(t("Last day")).fill(last_day)
    page.get_by_role("button", name=t("Create the event")).click()
    expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()


def fill_talk(page: Any, title: str, day: str, starts: str, ends: str) -> None:
    page.get_by_role("link", name=t("Add a talk")).click()
    page.get_by_label(t("Title"), exact=True).fill(title)
    page.get_by_label(t("Day"), exact=True).fill(day)
    page.get_by_label(t("Starts")).fill(starts)
    page.get_by_label(t("Ends")).fill(ends)
    page.get_by_role("button", name=t("Add the talk")).click()


def test_a_two_day_programme_shows_its_days_and_the_audit_log_reads_as_swedish(open_context, live_server):
    title = f"Två dagar {uuid.uuid4().hex[:6]}"
    page = sign_in(open_context, live_server)
    create_event(page, title, "2026-11-28", "2026-11-29")
    for talk, day, starts, ends in (("Lördagens första", "2026-11-28", "09:30", "10:15"),
                                    ("Lördagens andra", "2026-11-28", "13:00", "13:45"),
                                    ("Söndagens första", "2026-11-29", "09:00", "09:45")):
        fill_talk(page, talk, day, starts, ends)
        expect(page.get_by_role("status")).to_contain_text(t("The talk was added to the programme."))
        page.get_by_role("link", name=title).first.click()

    # The admin's own list, grouped the same way.
    programme = page.locator("section[aria-labelledby=programme]")
    expect(programme.get_by_role("heading", level=3)).to_have_text(["lördag 28 november 2026",
                                                                     "söndag 29 november 2026"])
    assert_no_axe_violations(page, "event in the admin, two days")

    page.get_by_role("link", name=t("Preview the public page")).click()
    saturday = page.get_by_role("region", name="lördag 28 november 2026")
    sunday = page.get_by_role("region", name="söndag 29 november 2026")
    expect(page.get_by_role("heading", level=3)).to_have_text(["lördag 28 november 2026", "söndag 29 november 2026"])
    expect(saturday.get_by_role("heading", level=4)).to_have_text(["Lördagens första", "Lördagens andra"])
    expect(sunday.get_by_role("heading", level=4)).to_have_text(["Söndagens första"])
    assert_no_axe_violations(page, "event page, two days")

    page.go_back()
    page.get_by_role("link", name=t("Audit log")).first.click()
    rows = page.locator(".audit-table tbody tr")
    expect(rows.first).to_contain_text(t("Added a talk") + ": Söndagens första")
    expect(rows.last).to_contain_text(t("Created the event") + ": " + title)
    expect(rows.first).to_contain_text("(" + t("organiser") + ")")
    expect(page.locator(".audit-table")).not_to_contain_text("talk.create")
    expect(rows.first.get_by_role("link", name="Söndagens första")).to_be_visible()
    assert_no_axe_violations(page, "audit log in Swedish")


def test_the_nights_the_clocks_change_are_refused_or_asked_about_in_swedish(open_context, live_server):
    page = sign_in(open_context, live_server)
    spring = f"Vårnatt {uuid.uuid4().hex[:6]}"
    create_event(page, spring, "2026-03-29")

    fill_talk(page, "Nattpasset", "2026-03-29", "02:15", "02:45")

    expect(page.get_by_role("alert")).to_be_visible()
    starts = page.get_by_label(t("Starts"))
    expect(starts).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#starts-error")).to_contain_text("ställs klockan fram från 02:00 till 03:00")
    expect(page.locator("#starts-error")).to_contain_text("02:15 finns inte")
    assert_no_axe_violations(page, "talk form, a time the clocks skip")

    autumn = f"Höstnatt {uuid.uuid4().hex[:6]}"
    create_event(page, autumn, "2026-10-25")
    fill_talk(page, "Dubbeltimmen", "2026-10-25", "02:30", "02:50")

    question = page.get_by_role("group", name=t("Which start time?"))
    expect(question).to_contain_text("klockan 02:30 inträffar två gånger")
    assert_no_axe_violations(page, "talk form, a repeated time")
    question.get_by_label("vintertid", exact=False).check()
    page.get_by_role("group", name=t("Which end time?")).get_by_label("vintertid", exact=False).check()
    page.get_by_role("button", name=t("Add the talk")).click()
    expect(page.get_by_role("status")).to_contain_text(t("The talk was added to the programme."))
    which = page.get_by_role("group", name=t("Which start time?"))
    expect(which.get_by_label("vintertid", exact=False)).to_be_checked()
