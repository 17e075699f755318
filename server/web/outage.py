"""When the database is away for a moment (PostgreSQL restarted, the network), pages answer
503 with a translated "try again" instead of a 500, and recover by themselves: the engine's
pre-ping replaces dead connections on the next request."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, DisconnectionError

from server.db import database_locked, database_unreachable, db
from server.i18n import _

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"


def init_app(app: Flask) -> None:
    @app.errorhandler(DBAPIError)
    @app.errorhandler(DisconnectionError)
    def _database_away(error: Exception):
        try:
            db.session.rollback()
        except Exception:
            log.debug("rollback failed", exc_info=True)
        if not (database_unreachable(error) or database_locked(error)):
            log.exception("database error on %s %s", request.method, request.path)
            return _answer(500, _("Something went wrong on our side. Please try again in a moment."))
        log.warning("database unreachable on %s %s: %s", request.method, request.path, error)
        return _answer(503, _("The service is unavailable for a moment. Please try again shortly."))


def _answer(status: int, message: str):
    if request.path.startswith("/api/") or request.path == "/healthz":
        response = jsonify({"ok": False, "error": "unavailable" if status == 503 else "internal", "message": message})
    else:
        try:
            response = make_response(render_template("error.html", status=status, message=message))
        except Exception:  # noqa: BLE001 - the page itself may need the database: a bare page then
            response = make_response(f"<!doctype html><title>{status}</title><h1>{escape(message)}</h1>")
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response

