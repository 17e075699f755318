"""The studio page: where a talk's speaker (or an organiser) goes live from the browser.

The stream itself travels over Socket.IO (server/sockets/studio.py); this page only needs
the role, checked here as in every route, and a Permissions-Policy that lets this one page
use the camera, the microphone and screen sharing (every other page forbids them).

It also shows the talk's RTMP stream key for the venue's encoder: masked, or,
in the answer to the POST that made it, once in full.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.i18n import _, _l
from server.models import EventStatus, StreamKey, Talk
from server.services import events as event_service
from server.services import golive, stream_keys
from server.services.errors import Forbidden, NotFound, ServiceError
from server.services.roles import Actor
from server.web.admin.repeats import Once
from server.web.context import request_actor
from server.web.context import settings as arena_settings

bp = Blueprint("studio", __name__)

STUDIO_PERMISSIONS = "camera=(self), microphone=(self), display-capture=(self), geolocation=()"


@bp.before_app_request
def _start_studio_ticker() -> None:
    # Archives streams a crashed process left behind, even before any speaker connects.
    studio = current_app.extensions.get("arena.studio")
    if studio is not None and not studio.tickers_started:
        studio.start_ticker(current_app._get_current_object())


def _publisher(slug: str, talk_slug: str) -> tuple[Talk, Actor]:
    """The talk and its speaker or an organiser; anyone else is refused (or, before the event
    is published, not told the talk exists)."""
    # A speaker may rehearse before the event is published; others must not learn it exists.
    talk: Talk = event_service.get_talk(db.session, slug, talk_slug, include_drafts=True)
    actor = request_actor()
    if not golive.can_publish(actor, talk):
        if talk.event.status is not EventStatus.published:
            raise NotFound(_l("There is no event at this address."), code="event_not_found")
        raise Forbidden(_l("Only the talk's speaker or an organiser can go live. "
                           "Open the studio with the sign-in link you were sent."))
    return talk, actor


def _studio(talk: Talk, *, status: int = 200, new_key: str | None = None, key_error: str = "") -> Response:
    settings = arena_settings()
    stream = golive.active_stream(db.session, talk.id)
    response = current_app.make_response((render_template(
        "studio.html", event=talk.event, talk=talk, stream=stream,
        chat_settings=settings.chat,
        max_chunk_bytes=settings.golive.max_chunk_bytes,
        reconnect_seconds=settings.golive.reconnect_seconds,
        # The stream key section (templates/partials/studio_stream_key.html).
        ingest=settings.ingest, rtmp_server_url=stream_keys.server_url(settings),
        stream_key=stream_keys.active(db.session, talk.id), new_stream_key=new_key,
        new_publish_url=stream_keys.publish_url(settings, new_key) if new_key else None,
        stream_key_error=key_error,
    ), status))
    response.headers["Permissions-Policy"] = STUDIO_PERMISSIONS
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/events/<slug>/<talk_slug>/studio")
def studio_page(slug: str, talk_slug: str) -> Response:
    talk, _actor = _publisher(slug, talk_slug)
    return _studio(talk)


@bp.post("/events/<slug>/<talk_slug>/studio/stream-key")
def studio_stream_key(slug: str, talk_slug: str) -> Response:
    """Make the talk's stream key (or a new one): shown once, in this answer only."""
    talk, actor = _publisher(slug, talk_slug)
    once = Once(target=StreamKey)
    if (answer := once.claim()) is not None:
        return answer  # sent twice: one key, already shown to the first send
    if stream_keys.active(db.session, talk.id) is not None and request.form.get("confirm") != "yes":
        db.session.rollback()
        return _studio(talk, status=400, key_error=_(
            "Tick the box to confirm: the encoder using the current key stops."))
    try:
        key = stream_keys.make(db.session, talk, actor, utcnow())
        made = stream_keys.active(db.session, talk.id)
        once.record(url_for_studio(talk), _("The stream key was made when the form was sent the first time, and "
                                            "was shown only then. If you did not copy it, make a new key."),
                    made.id if made else None)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        return _studio(talk, status=error.http_status, key_error=str(error.message))
    return _studio(talk, new_key=key)


@bp.get("/events/<slug>/<talk_slug>/studio/stream-key")
def studio_after_stream_key(slug: str, talk_slug: str) -> Response:
    """The address of the key's answer, opened again (the language switch, a bookmark): the
    studio, the key masked."""
    talk, _actor = _publisher(slug, talk_slug)
    return redirect(url_for_studio(talk), code=303)


def url_for_studio(talk: Talk) -> str:
    return url_for("studio.studio_page", slug=talk.event.slug, talk_slug=talk.slug, _anchor="stream-key")
