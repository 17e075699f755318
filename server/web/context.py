"""The request's context, read in one place: who is asking (`request_actor`, their
participant id), from which address, where a redirect may go, our own public address, and the
settings.

`safe_redirect_target` is the only check of a redirect target that comes from the request
(`next=` on sign-in and on the language switch). `client_address` is the address the
sign-in throttle counts by; behind a proxy it is right only when `server.trusted_proxies`
says how many proxies are in front (server/app.py's _wrap_wsgi applies werkzeug's ProxyFix).
Socket handlers read none of this: their session is a copy taken at connect
(server/sockets/base.py).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import current_app, g, request, session, url_for

from server.config import Settings
from server.db import db, utcnow
from server.models import Role
from server.services.accounts import SESSION_FINGERPRINT, SESSION_ORGANISER, session_organiser_id
from server.services.roles import Actor, actor_for


def settings() -> Settings:
    """The app's settings (server/config.py), as create_app stored them."""
    return current_app.extensions["arena.settings"]


def absolute_url(endpoint: str, **values: object) -> str:
    """A full URL on the configured public address (for sharing, Open Graph, feeds, links sent)."""
    return settings().public_base_url + url_for(endpoint, **values)


def own_host() -> str:
    """Our public host name: media on it is ours (no facade); Twitch's player needs it as parent."""
    return urlsplit(settings().public_base_url).hostname or "localhost"


def ensure_participant_id() -> str:
    """Each browser's participant id, in the signed session cookie, kept across reloads and
    reconnects; the live room (server/sockets/live/) reads it at connect."""
    participant_id = session.get("participant_id")
    if not isinstance(participant_id, str):
        participant_id = session["participant_id"] = secrets.token_urlsafe(16)
        session.permanent = True
    return participant_id


def request_actor() -> Actor:
    """Who is asking, read from the database once per request (the role check before every
    request, the admin's guard, the studio and the draft preview all share it)."""
    actor = g.get("request_actor")
    if actor is None:
        organiser_id = session_organiser_id(db.session, session) if session.get(SESSION_ORGANISER) else None
        if organiser_id is None and session.get(SESSION_ORGANISER) is not None:
            # The password changed since this browser signed in (or the session predates
            # fingerprints): it is signed out, as after a reset every other browser must be.
            for key in (SESSION_ORGANISER, SESSION_FINGERPRINT, "display_name"):
                session.pop(key, None)
        actor = g.request_actor = actor_for(db.session, ensure_participant_id(), session.get("grant_id"), utcnow(),
                                            organiser_id=organiser_id)
    return actor


def signed_in() -> bool:
    """Whether the session names an account or a role link at all: most visitors do not, and
    then no query is needed to know they have no role."""
    return bool(session.get("organiser_id") or session.get("grant_id"))


def sees_drafts() -> bool:
    """Organisers preview an event before publishing it; everyone else gets a 404."""
    return signed_in() and request_actor().role is Role.organiser

# Browsers drop tab, CR and LF anywhere in a URL (WHATWG URL, "remove all ASCII tab or
# newline"), so "/\t/evil.example" is followed as "//evil.example": remove them before
# checking, and never put them in a header.
_DROPPED_BY_BROWSERS = str.maketrans("", "", "\t\r\n")


def safe_redirect_target(target: object, default: str) -> str:
    """`target` if it is a path on this site, else `default`.

    Accepted: "/", "/events/dag/?x=1#t=1m". Refused: anything with a scheme or a host
    ("http://x", "javascript:...", "//x"), also once tab, CR and LF are removed and
    backslashes read as slashes as browsers do ("/\\x", "\\\\x", "/%09/x" decoded), and anything
    with another control character or that does not start with "/"."""
    if not isinstance(target, str):
        return default
    cleaned = target.translate(_DROPPED_BY_BROWSERS)
    if not cleaned or any(ord(c) < 0x20 or ord(c) == 0x7F for c in cleaned):
        return default
    as_browsers_read_it = cleaned.replace("\\", "/")
    if not as_browsers_read_it.startswith("/") or as_browsers_read_it.startswith("//"):
        return default
    parts = urlsplit(as_browsers_read_it)
    if parts.scheme or parts.netloc:
        return default
    return as_browsers_read_it


def client_address() -> str:
    """The visitor's address: the socket's peer, or, behind `server.trusted_proxies`
    proxies, the one they name (ProxyFix has already put it in remote_addr)."""
    return (request.remote_addr or "")[:64]
