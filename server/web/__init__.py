"""The HTTP face: one Blueprint per audience, plus what every response shares
(error pages in the user's language, security headers, rollback on failure)."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, render_template, request, session
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from server.db import db
from server.extensions import csrf
from server.i18n import _
from server.services.errors import NotFound, ServiceError
from server.web import templating
from server.web.admin import bp as admin_bp
from server.web.api import bp as api_bp
from server.web.auth import bp as auth_bp
from server.web.context import request_actor
from server.web.feeds import bp as feeds_bp
from server.web.ingest import bp as ingest_bp
from server.web.ops import bp as ops_bp
from server.web.public import bp as public_bp
from server.web.public import moved_address
from server.web.recordings import bp as recordings_bp
from server.web.staff import bp as staff_bp
from server.web.studio import bp as studio_bp

log = logging.getLogger(__name__)

# Third-party players are only inserted after the visitor clicks their facade (GDPR); the
# CSP still names them so the click works, and nothing else from outside may load.
PLAYER_FRAME_SOURCES = (
    "https://www.youtube-nocookie.com https://player.vimeo.com https://vimeo.com "
    "https://player.twitch.tv https://www.facebook.com"
)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    f"frame-src 'self' {PLAYER_FRAME_SOURCES}; media-src 'self' https: blob:; connect-src 'self' https:; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    templating.init_app(app)
    app.register_blueprint(public_bp)
    app.register_blueprint(recordings_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(studio_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(feeds_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(admin_bp)
    csrf.exempt(ingest_bp)  # nginx-rtmp's callbacks: loopback and a shared secret instead
    app.register_blueprint(ingest_bp)

    @app.before_request
    def _fresh_csrf_token() -> None:
        # Flask-WTF caches the signed token on `g`, which outlives a request when an app
        # context was already pushed (tests, CLI): sign it again from this request's session.
        g.pop("csrf_token", None)

    @app.before_request
    def _forget_withdrawn_roles() -> None:
        # A withdrawn or expired link, or a closed account, stops showing as signed in (and
        # stops counting) on the holder's next page, not only in the live room.
        g.pop("request_actor", None)  # `g` can outlive a request (tests, CLI): ask again
        if session.get("grant_id") is None and session.get("organiser_id") is None:
            return
        if request_actor().role is None:
            for key in ("grant_id", "organiser_id", "display_name"):
                session.pop(key, None)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        # The page depends on the chosen language (cookie) and the browser's languages.
        if response.mimetype == "text/html":
            response.headers.add("Vary", "Cookie, Accept-Language")
        return response

    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError):
        db.session.rollback()
        if isinstance(error, NotFound):
            moved = moved_address()  # an event's or talk's old address: 301 to the current one
            if moved is not None:
                return moved
        if _wants_json():
            return jsonify(error.as_dict()), error.http_status
        return render_template("error.html", status=error.http_status, message=str(error.message)), error.http_status

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        db.session.rollback()
        message = _("The form had expired. Go back, reload the page and try again.")
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        db.session.rollback()
        message = _http_message(error.code or 500)
        if _wants_json():
            return jsonify({"ok": False, "error": _http_code_name(error.code or 500), "message": message}), error.code
        return render_template("error.html", status=error.code, message=message), error.code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Roll back first: nothing half-written may stay behind a failed request.
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = _http_message(500)
        if _wants_json():
            return jsonify({"ok": False, "error": "internal", "message": message}), 500
        return render_template("error.html", status=500, message=message), 500


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz")


def _http_code_name(code: int) -> str:
    return {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            413: "too_large", 429: "too_many_requests"}.get(code, "internal" if code >= 500 else "error")


def _http_message(code: int) -> str:
    messages = {
        400: _("The request could not be understood."),
        403: _("You do not have permission to do that."),
        404: _("There is nothing at this address."),
        405: _("That is not allowed at this address."),
        413: _("That was too large."),
        429: _("Too many requests. Please wait a moment and try again."),
    }
    return messages.get(code, _("Something went wrong on our side. Please try again in a moment."))
