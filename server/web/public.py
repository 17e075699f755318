"""Public pages: home, an event's programme, a talk; and the language switch."""

from __future__ import annotations

import posixpath

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.exceptions import NotFound

from server.db import db, utcnow
from server.i18n import LANGUAGE_COOKIE
from server.media.ingest import is_private, media_headers
from server.models import Event, EventStatus, Role, Talk
from server.services import addresses, golive
from server.services import events as event_service
from server.services.recordings import files as recording_files
from server.services.text import plain_summary
from server.web.context import (
    absolute_url,
    ensure_participant_id,
    own_host,
    request_actor,
    safe_redirect_target,
    sees_drafts,
    settings,
    signed_in,
)

bp = Blueprint("public", __name__)


def moved_address() -> Response | None:
    """The same page at the current address, when the one asked for names an event or a talk
    by an address it had before (server/services/addresses.py): a permanent redirect, so
    links in calendars, mails and posts keep working. Only for reading (GET); a draft's new
    address only to those who may see drafts."""
    args = dict(request.view_args or {})
    if request.method not in ("GET", "HEAD") or not isinstance(args.get("slug"), str) or request.endpoint is None:
        return None
    found = addresses.moved(db.session, args["slug"], args.get("talk_slug"))
    if found is None:
        return None
    event, talk = found
    if event.status is not EventStatus.published and not sees_drafts():
        return None
    args["slug"] = event.slug
    if talk is not None:
        args["talk_slug"] = talk.slug
    url = url_for(request.endpoint, **args)
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    response = redirect(url, code=301)
    # Not cached for good: an event may take its old address back, and a remembered
    # redirect would then loop.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def home():
    listing = event_service.home_listing(db.session, utcnow())
    return render_template("home.html", listing=listing)


@bp.get("/events/<slug>/")
def event_page(slug: str):
    event = event_service.get_event(db.session, slug, include_drafts=sees_drafts())
    now = utcnow()
    page_url = absolute_url("public.event_page", slug=event.slug)
    return render_template(
        "event.html",
        event=event,
        now=now,
        page_url=page_url,
        description=plain_summary(event.invitation_text),
        live_talks={talk.id for talk in event.talks if talk.is_live(now)},
        days=event_service.programme_days(event.talks, event.time_zone),
    )


@bp.get("/events/<slug>/<talk_slug>")
def talk_page(slug: str, talk_slug: str):
    talk: Talk = event_service.get_talk(db.session, slug, talk_slug, include_drafts=sees_drafts())
    event: Event = talk.event
    ensure_participant_id()
    now = utcnow()
    return render_template(
        "talk.html",
        event=event,
        talk=talk,
        is_live=talk.is_live(now),
        embed=event_service.stream_embed(talk, own_host()),
        # While the talk is live the live stream wins; the recording appears once it has ended.
        recording_embed=event_service.recording_embed(talk, own_host()) if talk.shows_recording(now) else None,
        recording_waits=talk.recording is not None and talk.recording.is_published and not talk.shows_recording(now),
        live_view=golive.stage_view(db.session, talk),
        can_go_live=_can_go_live(talk),
        page_url=absolute_url("public.talk_page", slug=event.slug, talk_slug=talk.slug),
        description=plain_summary(talk.invitation_text),
        chat_settings=settings().chat,
    )


def _can_go_live(talk: Talk) -> bool:
    """The talk's speaker or an organiser: the page links to the studio (docs/golive.md)."""
    return signed_in() and golive.can_publish(request_actor(), talk)


@bp.get("/recordings/<path:name>")
def recording_file(name: str) -> Response:
    """Our own media files, to whoever may see them (recording_files.file_access): the
    public gets what a published event shows, organisers and the talk's speaker everything.
    A web server that sends the folder itself must ask media_access first."""
    name = _media_name_if_allowed(name)
    # HLS needs its own types, and a live playlist must never be cached (segments may be).
    mimetype, cache_control = media_headers(name)
    response = send_from_directory(settings().recordings_path, name, max_age=3600, mimetype=mimetype)
    response.headers["Cache-Control"] = cache_control if g.media_public else "private, no-cache"
    return response


@bp.get("/media-access/recordings/<path:name>")
def media_access(name: str) -> Response:
    """The same question for a web server in front that sends the files itself (nginx's
    auth_request, which allows on 2xx and refuses on 401/403): 204, or 403."""
    try:
        _media_name_if_allowed(name)
    except NotFound:
        status = 403
    else:
        status = 204
    response = Response(status=status)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _media_name_if_allowed(name: str) -> str:
    """The file's name as it will be served, or a 404 (a file the visitor may not have
    does not exist for them). Sets g.media_public: may shared caches keep it?"""
    # As send_from_directory will read it ("a/./b" is "a/b"): the check sees what is sent.
    name = posixpath.normpath(name)
    # Work in progress (an import's or an upload's) lives under names that start with a dot
    # and is renamed into place when complete: never serve half a file. A live stream's raw
    # input and ffmpeg's log are never served either.
    if name.startswith("/") or any(part.startswith(".") for part in name.split("/")) or is_private(name):
        abort(404)
    access = recording_files.file_access(db.session, name, utcnow())
    g.media_public = access.public
    if not access.public and not _may_see_unpublished(access.talk):
        abort(404)
    return name


def _may_see_unpublished(talk: Talk | None) -> bool:
    """Organisers see every file; a talk's speaker (who may go live on it) sees its own."""
    if not signed_in():
        return False  # most visitors: no query
    actor = request_actor()
    return actor.role is Role.organiser or (talk is not None and golive.can_publish(actor, talk))


@bp.get("/language/<code>")
def choose_language(code: str) -> Response:
    """Switch language and come back to the same page; remembered for a year."""
    if code not in settings().languages.available:
        abort(404)
    # Only a path on this site: never an open redirect.
    response = redirect(safe_redirect_target(request.args.get("next"), url_for("public.home")), code=303)
    response.set_cookie(
        LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
        secure=settings().public_base_url.startswith("https://"),
    )
    return response


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers and feed readers ask for /favicon.ico whatever the page links to: answer it."""
    return send_from_directory(current_app.static_folder, "favicon.ico", max_age=7 * 24 * 3600,
                               mimetype="image/vnd.microsoft.icon")


@bp.get("/events/<slug>/<talk_slug>/presenter")
def presenter_view(slug: str, talk_slug: str):
    """Read-only, large view for the stage: the question being answered and the top five,
    kept up to date over the same socket as the talk page (static/js/presenter.js)."""
    talk: Talk = event_service.get_talk(db.session, slug, talk_slug)
    return render_template("presenter.html", event=talk.event, talk=talk)
