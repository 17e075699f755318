"""Who may use the admin: every admin route (read from the app's URL map, so a route added
later is covered without anyone remembering to), for every kind of person. Only organisers
get in; a refused request changes nothing. And every admin form refuses a post without its
CSRF token."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.db import utcnow
from server.models import AuditEntry, Event, Organiser, Role, RoleGrant, SimulcastDestination, Speaker, StreamKey, Talk
from server.services.roles import grant_role
from tests.conftest import EVERY_KIND_OF_PERSON, at, form_token

ROLES = EVERY_KIND_OF_PERSON


@pytest.fixture
def world(app, session, make_event, make_talk, make_speaker, every_kind_of_person):
    """An event with two talks and a speaker, a second event, and a browser of every kind."""
    event = make_event(slug="dagen")
    talk = make_talk(event, slug="skapa-arenor", starts_at=at(10), ends_at=at(11))
    other_talk = make_talk(event, slug="andra-passet", starts_at=at(11), ends_at=at(12))
    speaker = make_speaker(event)
    other_event = make_event(slug="annan-dag")
    make_talk(other_event, slug="annat-pass")
    session.commit()
    browsers = every_kind_of_person(talk, other_talk, other_event)
    # The organiser's cell of the "withdraw a link" route really withdraws one: not a browser's.
    grant = grant_role(session, role=Role.moderator, name="Till återkallelse", event=event, now=utcnow())
    # The simulcast routes' cells refer to a real destination of the talk.
    destination = SimulcastDestination(talk_id=talk.id, label="YouTube", url="rtmp://a.rtmp.youtube.com/live2")
    session.add(destination)
    session.commit()
    values = {"slug": event.slug, "talk_slug": talk.slug, "speaker_id": speaker.id, "grant_id": grant.id,
              "destination_id": destination.id}
    return browsers, values


def admin_routes(app) -> list[tuple[str, str, dict]]:
    """(endpoint, method, fixed URL values) for every admin route; a route with a choice in
    its path (`<any(close, reopen):change>`) once per choice."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        choices = [{}]
        for name, converter in rule._converters.items():
            if hasattr(converter, "items") and isinstance(converter.items, set):
                choices = [{**choice, name: item} for choice in choices for item in sorted(converter.items)]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.extend((rule.endpoint, method, choice) for choice in choices)
    return sorted(routes, key=lambda route: (route[0], route[1], sorted(route[2].items())))


def concrete(app, endpoint: str, values: dict) -> str:
    rule = next(rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)
    arguments = {name: values.get(name, 1 if rule._converters[name].__class__.__name__ == "IntegerConverter" else "x")
                 for name in rule.arguments}
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **arguments)


def rows(session) -> dict[str, int]:
    session.expire_all()
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Event, Talk, Speaker, RoleGrant, AuditEntry, Organiser, StreamKey, SimulcastDestination)}


def test_every_admin_route_is_for_organisers_only(app, session, world):
    browsers, values = world
    routes = admin_routes(app)
    assert len(routes) >= 15  # the admin is all there
    before = rows(session)
    failures = []

    for endpoint, method, fixed in routes:
        url = concrete(app, endpoint, {**values, **fixed})
        for role in ROLES:
            client = browsers[role]
            if method == "GET":
                response = client.get(url)
            else:
                # A valid CSRF token of the person's own session: only the role decides.
                response = client.post(url, data={"csrf_token": form_token(client, "/sign-in")})
            status, location = response.status_code, response.headers.get("Location", "")
            if role in ("anonymous", "participant"):
                allowed = status == 303 and location.startswith("/sign-in?next=")
            elif role == "organiser":
                allowed = status not in (401, 403) and not location.startswith("/sign-in")
            else:
                allowed = status == 403
            if not allowed:
                failures.append(f"{method} {url} as {role}: {status} {location}")

    assert failures == []
    after = rows(session)
    # Only the organiser's posts may have changed anything.
    assert after["Event"] == before["Event"] and after["Speaker"] >= before["Speaker"]


def test_refused_posts_change_nothing(app, session, world):
    browsers, values = world
    before = rows(session)

    for endpoint, method, fixed in admin_routes(app):
        if method != "POST":
            continue
        url = concrete(app, endpoint, {**values, **fixed})
        for role in ROLES[:-1]:
            client = browsers[role]
            client.post(url, data={"csrf_token": form_token(client, "/sign-in"), "status": "published",
                                   "direction": "up", "title": "Kapad", "name": "Kapad", "moderator-name": "Kapad",
                                   "moderator-valid_days": "7"})

    assert rows(session) == before


def test_every_admin_form_refuses_a_post_without_its_csrf_token(app, session, world):
    browsers, values = world
    organiser = browsers["organiser"]
    before = rows(session)
    failures = []

    for endpoint, method, fixed in admin_routes(app):
        if method != "POST":
            continue
        url = concrete(app, endpoint, {**values, **fixed})
        response = organiser.post(url, data={"status": "published", "direction": "up", "title": "Utan token",
                                             "starts_on": "2026-11-24", "time_zone": "Europe/Stockholm"},
                                  headers={"Accept-Language": "en"})
        if response.status_code != 400 or "The form had expired" not in response.get_data(as_text=True):
            failures.append(f"POST {url}: {response.status_code}")

    assert failures == []
    assert rows(session) == before


def test_a_token_from_another_browser_is_refused(app, session, world):
    browsers, values = world
    stolen = form_token(browsers["participant"], "/sign-in")

    response = browsers["organiser"].post("/admin/events/new", data={
        "csrf_token": stolen, "title": "Kapad", "starts_on": "2026-11-24", "time_zone": "Europe/Stockholm"})

    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(Event).where(Event.title == "Kapad")) == 0
