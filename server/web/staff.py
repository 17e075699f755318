"""Signing in with a role link (moderator, speaker, organiser) and signing out.

An organiser makes the link in the admin (or `python -m server grant-role` prints it).
A revoked link ends the holder's open live connections; signing out is in server/web/auth.py.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, session, url_for
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.models import Event, Role, Talk
from server.services.roles import grant_from_token
from server.web.context import ensure_participant_id

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/sign-in/<token>")
def sign_in(token: str) -> Response:
    grant = grant_from_token(db.session, current_app.config["SECRET_KEY"], token, utcnow())
    ensure_participant_id()
    session["grant_id"] = grant.id
    session["display_name"] = grant.name
    if grant.talk_id:
        talk = db.session.get(Talk, grant.talk_id)
        # A speaker whose talk has no stream of its own goes live from the browser: straight
        # to the studio (docs/golive.md). With a stream (the venue films), the talk page.
        if grant.role is Role.speaker and not talk.stream_url:
            return redirect(url_for("studio.studio_page", slug=talk.event.slug, talk_slug=talk.slug), code=303)
        return redirect(url_for("public.talk_page", slug=talk.event.slug, talk_slug=talk.slug), code=303)
    if grant.event_id:
        event = db.session.get(Event, grant.event_id)
        return redirect(url_for("public.event_page", slug=event.slug), code=303)
    return redirect(url_for("public.home"), code=303)
