"""Feeds: an event's programme as an iCalendar file."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app

from server.db import db, utcnow
from server.services import events as event_service
from server.services.calendar import event_calendar
from server.web.public import absolute_url

bp = Blueprint("feeds", __name__)


@bp.get("/events/<slug>.ics")
def event_ics(slug: str) -> Response:
    event = event_service.get_event(db.session, slug)
    host = urlsplit(current_app.extensions["arena.settings"].public_base_url).hostname or "localhost"
    body = event_calendar(
        event,
        talk_url=lambda talk_slug: absolute_url("public.talk_page", slug=event.slug, talk_slug=talk_slug),
        host=host,
        stamp=utcnow(),
    )
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'inline; filename="{event.slug}.ics"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
