"""The public face of recordings: an event's recordings page (the page organisers share after
the day). The talk page's recording uses the template helpers in server/web/templating.py."""

from __future__ import annotations

from flask import Blueprint, render_template

from server.db import db
from server.services import events as event_service
from server.services.recordings.files import published_recordings
from server.services.text import plain_summary
from server.web.context import absolute_url, sees_drafts

bp = Blueprint("recordings", __name__)


@bp.get("/events/<slug>/recordings")
def event_recordings(slug: str):
    event = event_service.get_event(db.session, slug, include_drafts=sees_drafts())
    return render_template(
        "recordings.html",
        event=event,
        days=event_service.programme_days(published_recordings(event), event.time_zone),
        page_url=absolute_url("recordings.event_recordings", slug=event.slug),
        description=plain_summary(event.invitation_text),
    )
