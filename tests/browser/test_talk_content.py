"""A talk's content in Debian's chromium, as an organiser makes it: a PDF chosen before
previewing the text is still there when the talk is saved, and a description with a "##"
heading and a table shows as a heading and a table on the talk's page; axe-core finds no
WCAG 2.1 A/AA violation on the way."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import translate
from tests.browser.test_admin import assert_no_axe_violations, sign_in
from tests.test_admin import pdf_bytes

pytestmark = pytest.mark.browser

DESCRIPTION = """Hur kommuner skapar **arenor** för samtal.

## Program

| Tid | Pass |
|---|---|
| 10:00 | Skapa arenor |
| 10:45 | Frågor från chatten |
"""


@pytest.fixture
def talk_page_paths(live_server) -> tuple[str, str]:
    """A published event of its own with one talk, in the server's database: (admin form, public page)."""
    from sqlalchemy.orm import Session

    from server.db import make_engine
    from server.models import EventStatus
    from server.services.events import create_event, create_talk
    from tests.conftest import DAY, at

    engine = make_engine(live_server.env["ARENA_DATABASE__URL"])
    slug = f"innehall-{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        event = create_event(session, title="Innehållets dag", slug=slug, starts_on=DAY)
        create_talk(session, event, title="Skapa arenor", slug="skapa-arenor", starts_at=at(10), ends_at=at(10, 45))
        event.status = EventStatus.published
        session.commit()
    engine.dispose()
    return f"/admin/events/{slug}/talks/skapa-arenor", f"/events/{slug}/skapa-arenor"


def test_chosen_pdf_survives_the_preview_and_the_table_shows_on_the_talk_page(open_context, live_server,
                                                                              talk_page_paths):
    t = lambda msgid: translate("sv", msgid)  # noqa: E731
    form_path, public_path = talk_page_paths
    page = sign_in(open_context, live_server)
    page.goto(form_path)

    page.get_by_label(t("Invitation text")).fill(DESCRIPTION)
    page.get_by_label(t("Or upload the slides as a PDF")).set_input_files(
        {"name": "deck.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes()})
    page.get_by_role("button", name=t("Preview the text")).click()

    preview = page.locator(".markdown-preview")
    expect(preview.get_by_role("heading", name="Program")).to_be_visible()
    expect(preview.get_by_role("columnheader", name="Tid")).to_be_visible()
    expect(page.get_by_text(t("Chosen file: %(name)s") % {"name": "deck.pdf"})).to_be_visible()
    expect(page.get_by_label(t("Do not use this file"))).not_to_be_checked()
    assert_no_axe_violations(page, "talk form with preview and a kept PDF")

    page.get_by_role("button", name=t("Save"), exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(t("Saved."))
    expect(page.get_by_role("link", name=t("open the PDF"))).to_be_visible()

    visitor = open_context(locale="sv-SE", bypass_csp=True).new_page()  # bypass: axe is injected inline
    visitor.goto(public_path)
    about = visitor.locator(".invitation-text")
    expect(about.get_by_role("heading", level=3, name="Program")).to_be_visible()
    expect(about.get_by_role("columnheader", name="Tid")).to_be_visible()
    expect(about.get_by_role("cell", name="Frågor från chatten")).to_be_visible()
    expect(about.get_by_role("region", name=t("Table: %(columns)s") % {"columns": "Tid, Pass"})).to_be_visible()
    expect(visitor.get_by_role("link", name=t("Download the slides (PDF)"))).to_be_visible()
    assert "|" not in about.inner_text()
    assert_no_axe_violations(visitor, "talk page with a table and slides")
