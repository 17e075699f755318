"""Feeds: an event's programme as an iCalendar file, and its recordings as a podcast."""

from __future__ import annotations

from flask import Blueprint, Response

from server.db import db, utcnow
from server.services import events as event_service
from server.services.calendar import event_calendar
from server.services.podcast import event_podcast as podcast_feed
from server.web.context import absolute_url, own_host, settings

bp = Blueprint("feeds", __name__)


@bp.get("/events/<slug>.ics")
def event_ics(slug: str) -> Response:
    event = event_service.get_event(db.session, slug)
    body = event_calendar(
        event,
        talk_url=lambda talk_slug: absolute_url("public.talk_page", slug=event.slug, talk_slug=talk_slug),
        host=own_host(),
        stamp=utcnow(),
        file_url=lambda name: absolute_url("public.recording_file", name=name),
    )
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'inline; filename="{event.slug}.ics"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/events/<slug>/podcast.xml")
def event_podcast(slug: str) -> Response:
    """The event's published recordings as a podcast (RSS 2.0 with Apple's iTunes tags):
    our own files as enclosures, the others as links to their talk page."""
    event = event_service.get_event(db.session, slug)
    body = podcast_feed(
        event,
        page_url=absolute_url("recordings.event_recordings", slug=event.slug),
        feed_url=absolute_url("feeds.event_podcast", slug=event.slug),
        talk_url=lambda talk_slug: absolute_url("public.talk_page", slug=event.slug, talk_slug=talk_slug),
        file_url=lambda name: absolute_url("public.recording_file", name=name),
        recordings_path=settings().recordings_path,
        host=own_host(),
    )
    response = Response(body, mimetype="application/rss+xml")
    response.headers["Content-Type"] = "application/rss+xml; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
