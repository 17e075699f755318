"""Details of the public pages beyond tests/browser/test_public_pages.py: the calendar file,
every demo talk page, the 404 page, and pages that load without console errors (a CSP
violation is a console error), in both languages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_SLUG, EVENT_PATH, LOCALES, talk_path, translate

pytestmark = pytest.mark.browser

EVENT_TITLE = "Sociala medier i offentlig sektor – effektiv kommunikation för den kluriga"
TALKS = {
    "skapa-arenor": ("Skapa arenor!", "Mattias Jansson"),
    "twitter-dygnet-runt": ("Twitter dygnet runt", "Helen Alfvegren"),
    "berika-undervisningen-med-sociala-medier": ("Berika undervisningen med sociala medier", "Anna Karlsson"),
}


def test_ics_link_downloads_the_programme_as_icalendar(page):
    # Arrange
    page.goto(EVENT_PATH)
    link = page.get_by_role("link", name=translate("sv", "Add the programme to your calendar (.ics)"))

    # Act
    response = page.request.get(link.get_attribute("href"))

    # Assert
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/calendar")
    body = response.text()
    assert body.startswith("BEGIN:VCALENDAR")
    # One event per talk of the programme: the shared server's other tests add talks of their own.
    programme = page.request.get(f"/api/events/{DEMO_SLUG}").json()["talks"]
    assert body.count("BEGIN:VEVENT") == len(programme) >= len(TALKS)
    for title, _speaker in TALKS.values():
        assert title in body


@pytest.mark.parametrize("talk_slug", TALKS)
def test_talk_page_shows_title_speaker_and_way_back(page, talk_slug):
    # Arrange
    title, speaker = TALKS[talk_slug]

    # Act
    response = page.goto(talk_path(talk_slug))

    # Assert
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.get_by_role("heading", level=3, name=speaker)).to_be_visible()
    breadcrumbs = page.get_by_role("navigation", name=translate("sv", "You are here"))
    expect(breadcrumbs.get_by_role("link", name=EVENT_TITLE)).to_have_attribute("href", EVENT_PATH)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_unknown_address_shows_404_page_with_a_way_home(open_context, language):
    # Arrange
    page = open_context(locale=LOCALES[language]).new_page()

    # Act
    response = page.goto("/finns-inte")

    # Assert
    assert response.status == 404
    assert page.locator("html").get_attribute("lang") == language
    expect(page.get_by_role("heading", level=1)).to_have_text(translate(language, "There is nothing at this address."))
    home = page.get_by_role("main").get_by_role("link", name=translate(language, "Go to the start page"))
    expect(home).to_have_attribute("href", "/")


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("path", ["/", EVENT_PATH, talk_path(), talk_path("twitter-dygnet-runt")],
                         ids=["home", "event", "talk-with-stream", "talk-without-stream"])
def test_page_loads_without_console_errors_or_csp_violations(open_context, path, language):
    # Arrange
    page = open_context(locale=LOCALES[language]).new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))

    # Act
    page.goto(path, wait_until="networkidle")

    # Assert
    assert problems == []
