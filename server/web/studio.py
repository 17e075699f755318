"""The studio page: where a talk's speaker (or an organiser) goes live from the browser.

The stream itself travels over Socket.IO (server/sockets/studio.py); this page only needs
the role, checked here as in every route, and a Permissions-Policy that lets this one page
use the camera, the microphone and screen sharing (every other page forbids them).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, session
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.models import EventStatus, Talk
from server.services import events as event_service
from server.services import golive
from server.i18n import _l
from server.services.errors import NotFound
from server.services.roles import Forbidden, actor_for
from server.web.public import ensure_participant_id

bp = Blueprint("studio", __name__)

STUDIO_PERMISSIONS = "camera=(self), microphone=(self), display-capture=(self), geolocation=()"


@bp.before_app_request
def _start_studio_ticker() -> None:
    # Archives streams a crashed process left behind, even before any speaker connects.
    studio = current_app.extensions.get("arena.studio")
    if studio is not None and not studio.tickers_started:
        studio.start_ticker(current_app._get_current_object())


@bp.get("/events/<slug>/<talk_slug>/studio")
def studio_page(slug: str, talk_slug: str) -> Response | tuple[str, int]:
    # A speaker may rehearse before the event is published; others must not learn it exists.
    talk: Talk = event_service.get_talk(db.session, slug, talk_slug, include_drafts=True)
    participant_id = ensure_participant_id()
    actor = actor_for(db.session, participant_id, session.get("grant_id"), utcnow(),
                      organiser_id=session.get("organiser_id"))
    if not golive.can_publish(actor, talk):
        if talk.event.status is not EventStatus.published:
            raise NotFound(_l("There is no event at this address."), code="event_not_found")
        raise Forbidden(_l("Only the talk's speaker or an organiser can go live. "
                           "Open the studio with the sign-in link you were sent."))
    stream = golive.active_stream(db.session, talk.id)
    response = current_app.make_response(render_template(
        "studio.html", event=talk.event, talk=talk, stream=stream,
        chat_settings=current_app.extensions["arena.settings"].chat,
        max_chunk_bytes=current_app.extensions["arena.settings"].golive.max_chunk_bytes,
        reconnect_seconds=current_app.extensions["arena.settings"].golive.reconnect_seconds,
    ))
    response.headers["Permissions-Policy"] = STUDIO_PERMISSIONS
    response.headers["Cache-Control"] = "no-store"
    return response
