"""Addresses (slugs) of events and talks, as organisers and the people following shared links
meet them: a taken address comes with a free one filled in, and an address that changed keeps
working, redirecting (301) every public page to the current one."""

from __future__ import annotations

import re
from datetime import date

import pytest
from icalendar import Calendar
from sqlalchemy import select

from server.models import Event, EventStatus, Talk
from tests.conftest import at, form_token

pytestmark = pytest.mark.both_databases
EN = {"Accept-Language": "en"}
SV = {"Accept-Language": "sv"}


def post_form(client, path, data, headers=EN):
    return client.post(path, data={"csrf_token": form_token(client, path), **data}, headers=headers)


def field_value(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or \
        re.search(rf'<input[^>]*value="([^"]*)"[^>]*name="{name}"', html)
    return match.group(1) if match else ""


def event_form(title: str, starts_on: str, slug: str = "") -> dict:
    return {"title": title, "slug": slug, "starts_on": starts_on, "ends_on": "", "time_zone": "Europe/Stockholm",
            "organiser": "Kommunförbundet Norrbotten", "venue": "", "invitation_text": ""}


def rename_talk(client, talk, slug: str, title: str | None = None):
    path = f"/admin/events/{talk.event.slug}/talks/{talk.slug}"
    return post_form(client, path, {
        "title": title or talk.title, "slug": slug, "day": "2026-11-24", "starts": "10:00", "ends": "10:45",
        "invitation_text": "", "stream_url": "", "slides_url": "", "live_state": "scheduled"})


def rename_event(client, event, slug: str):
    return post_form(client, f"/admin/events/{event.slug}", event_form(event.title, event.starts_on.isoformat(), slug))


# -- a free address, proposed ---------------------------------------------------------------------

def test_yearly_event_with_the_same_title_is_offered_an_address_with_its_year(organiser_client, session, make_event):
    make_event(title="Digitaliseringsdagen", slug="digitaliseringsdagen", starts_on=date(2026, 11, 24))
    session.commit()

    refused = post_form(organiser_client, "/admin/events/new", event_form("Digitaliseringsdagen", "2027-11-23"),
                        headers=SV)

    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert field_value(html, "slug") == "digitaliseringsdagen-2027"
    assert "digitaliseringsdagen-2027" in html and "är ledig" in html  # said in Swedish, beside the field
    assert 'aria-invalid="true"' in html
    # One more click: the form as shown, sent again.
    saved = post_form(organiser_client, "/admin/events/new",
                      event_form("Digitaliseringsdagen", "2027-11-23", slug=field_value(html, "slug")))
    assert saved.status_code == 303
    assert session.scalar(select(Event.id).where(Event.slug == "digitaliseringsdagen-2027")) is not None


def test_event_address_taken_in_the_same_year_is_offered_a_numbered_one(organiser_client, session, make_event):
    make_event(title="Dag", slug="dag", starts_on=date(2026, 11, 24))
    make_event(title="Dag", slug="dag-2026", starts_on=date(2026, 11, 25))
    session.commit()

    refused = post_form(organiser_client, "/admin/events/new", event_form("Dag", "2026-11-26"))

    assert refused.status_code == 400
    assert field_value(refused.get_data(as_text=True), "slug") == "dag-2"


def test_talk_with_a_taken_address_is_offered_a_free_one_in_its_event(organiser_client, session, make_event,
                                                                       make_talk):
    event = make_event()
    make_talk(event, title="Frågestund", slug="fragestund")
    session.commit()
    path = f"/admin/events/{event.slug}/talks/new"

    refused = post_form(organiser_client, path, {
        "title": "Frågestund", "slug": "", "day": "2026-11-24", "starts": "15:00", "ends": "15:30",
        "invitation_text": "", "stream_url": "", "slides_url": ""})

    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert field_value(html, "slug") == "fragestund-2"
    assert "fragestund-2" in html


# -- old addresses redirect -----------------------------------------------------------------------

def test_old_talk_address_redirects_every_page_of_the_talk(organiser_client, app, session, make_event, make_talk):
    event = make_event(slug="dagen")
    talk = make_talk(event, title="Skapa arenor!", slug="skapa-arenor", starts_at=at(10), ends_at=at(10, 45))
    session.commit()
    assert rename_talk(organiser_client, talk, "skapa-arenor-tillsammans").status_code == 303
    visitor = app.test_client()

    for old, new in (("/events/dagen/skapa-arenor", "/events/dagen/skapa-arenor-tillsammans"),
                     ("/events/dagen/skapa-arenor?t=90", "/events/dagen/skapa-arenor-tillsammans?t=90"),
                     ("/events/dagen/skapa-arenor/presenter", "/events/dagen/skapa-arenor-tillsammans/presenter")):
        response = visitor.get(old)
        assert response.status_code == 301, old
        assert response.headers["Location"].endswith(new)
        assert visitor.get(old, follow_redirects=True).status_code == 200
    # The studio, and the organiser's own bookmarks too.
    for old, new in (("/events/dagen/skapa-arenor/studio", "/events/dagen/skapa-arenor-tillsammans/studio"),
                     ("/admin/events/dagen/talks/skapa-arenor", "/admin/events/dagen/talks/skapa-arenor-tillsammans")):
        response = organiser_client.get(old)
        assert response.status_code == 301, old
        assert response.headers["Location"].endswith(new)
    # A form sent to the old address is not redirected (a 301 would turn it into a GET).
    assert organiser_client.post("/admin/events/dagen/talks/skapa-arenor/move").status_code in (400, 404)


def test_old_event_address_redirects_every_public_page(organiser_client, app, session, make_event, make_talk):
    event = make_event(slug="sociala-medier", title="Sociala medier")
    make_talk(event, slug="skapa-arenor")
    session.commit()
    assert rename_event(organiser_client, event, "sociala-medier-2026").status_code == 303
    visitor = app.test_client()

    for suffix in ("/", "/skapa-arenor", "/skapa-arenor/presenter", "/recordings", "/podcast.xml"):
        response = visitor.get(f"/events/sociala-medier{suffix}")
        assert response.status_code == 301, suffix
        assert response.headers["Location"].endswith(f"/events/sociala-medier-2026{suffix}")
    assert visitor.get("/events/sociala-medier.ics").headers["Location"].endswith("/events/sociala-medier-2026.ics")
    api = visitor.get("/api/events/sociala-medier")
    assert api.status_code == 301 and api.headers["Location"].endswith("/api/events/sociala-medier-2026")
    assert visitor.get("/api/events/sociala-medier", follow_redirects=True).get_json()["slug"] == "sociala-medier-2026"


def test_both_addresses_changed_lead_to_the_talk(organiser_client, app, session, make_event, make_talk):
    event = make_event(slug="gamla-dagen")
    talk = make_talk(event, slug="gammalt-pass", starts_at=at(10), ends_at=at(10, 45))
    session.commit()
    assert rename_talk(organiser_client, talk, "nytt-pass").status_code == 303
    session.refresh(event)
    assert rename_event(organiser_client, event, "nya-dagen").status_code == 303

    response = app.test_client().get("/events/gamla-dagen/gammalt-pass", follow_redirects=True)

    assert response.status_code == 200
    assert response.request.path == "/events/nya-dagen/nytt-pass"


def test_old_address_of_a_draft_does_not_tell_the_public_the_new_one(organiser_client, app, session, make_event):
    event = make_event(slug="utkast", status=EventStatus.draft)
    session.commit()
    assert rename_event(organiser_client, event, "hemligt-utkast").status_code == 303

    assert app.test_client().get("/events/utkast/").status_code == 404
    assert organiser_client.get("/events/utkast/").status_code == 301


def test_old_event_address_is_not_given_to_another_event(organiser_client, app, session, make_event, make_talk):
    event = make_event(slug="digital-dag", title="Digital dag", starts_on=date(2026, 11, 24))
    make_talk(event, slug="pass")
    session.commit()
    assert rename_event(organiser_client, event, "digital-dag-norrbotten").status_code == 303

    refused = post_form(organiser_client, "/admin/events/new", event_form("Digital dag", "2027-11-23"))

    assert refused.status_code == 400
    assert field_value(refused.get_data(as_text=True), "slug") == "digital-dag-2027"
    # The shared link still leads to the first event.
    assert app.test_client().get("/events/digital-dag/").headers["Location"].endswith("/events/digital-dag-norrbotten/")


def test_old_talk_address_is_not_given_to_another_talk(organiser_client, session, make_event, make_talk):
    event = make_event()
    talk = make_talk(event, slug="forsta", starts_at=at(10), ends_at=at(10, 45))
    session.commit()
    assert rename_talk(organiser_client, talk, "forsta-passet").status_code == 303

    refused = post_form(organiser_client, f"/admin/events/{event.slug}/talks/new", {
        "title": "Första", "slug": "forsta", "day": "2026-11-24", "starts": "13:00", "ends": "13:30",
        "invitation_text": "", "stream_url": "", "slides_url": ""})

    assert refused.status_code == 400
    assert field_value(refused.get_data(as_text=True), "slug") == "forsta-2"


def test_event_takes_its_own_old_address_back(organiser_client, app, session, make_event):
    event = make_event(slug="var-dag")
    session.commit()
    assert rename_event(organiser_client, event, "var-dag-2026").status_code == 303
    session.refresh(event)

    assert rename_event(organiser_client, event, "var-dag").status_code == 303

    visitor = app.test_client()
    assert visitor.get("/events/var-dag/").status_code == 200
    assert visitor.get("/events/var-dag-2026/").headers["Location"].endswith("/events/var-dag/")


def test_ical_uid_stays_when_the_addresses_change(organiser_client, app, session, make_event, make_talk):
    event = make_event(slug="kalender")
    talk = make_talk(event, slug="pass", starts_at=at(10), ends_at=at(10, 45))
    session.commit()
    before = Calendar.from_ical(app.test_client().get("/events/kalender.ics").data)
    assert rename_talk(organiser_client, talk, "passet").status_code == 303
    session.refresh(event)
    assert rename_event(organiser_client, event, "kalendern").status_code == 303

    after = Calendar.from_ical(app.test_client().get("/events/kalender.ics", follow_redirects=True).data)

    uids = lambda calendar: [str(entry["uid"]) for entry in calendar.walk("VEVENT")]  # noqa: E731
    assert uids(after) == uids(before) and len(uids(after)) == 1
    assert "/events/kalendern/passet" in str(after.walk("VEVENT")[0]["url"])


def test_deleting_a_renamed_talk_ends_its_old_address(organiser_client, app, session, make_event, make_talk):
    event = make_event(slug="dag-med-pass")
    talk = make_talk(event, slug="tillfalligt", starts_at=at(10), ends_at=at(10, 45))
    session.commit()
    assert rename_talk(organiser_client, talk, "tillfalligt-pass").status_code == 303
    session.expire_all()
    assert session.scalars(select(Talk).where(Talk.slug == "tillfalligt-pass")).one()
    response = post_form(organiser_client, "/admin/events/dag-med-pass/talks/tillfalligt-pass/delete",
                         {"confirm": "yes"})
    assert response.status_code == 303

    assert app.test_client().get("/events/dag-med-pass/tillfalligt").status_code == 404
