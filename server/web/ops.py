"""What operators and their machines ask a process: /healthz, /readyz and /metrics
(docs/operations.md). JSON or Prometheus text, never a secret, no sign-in and no CSRF (GET only).

- /healthz: is each part this process needs up? The database and Redis, separately.
- /readyz: should this process get traffic now? Database reachable, schema at the migration
  head this code expects, Redis reachable when configured, not shutting down.
- /metrics: from loopback, straight (no proxy's forwarding header), or from anywhere with
  `Authorization: Bearer <metrics.token>`; anything else gets the same 404 as an unknown
  address, so nobody outside learns that it exists.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from sqlalchemy import text

from server.db import db
from server.metrics import CONTENT_TYPE, scrape
from server.migrations import alembic_config
from server.web.context import settings

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)

# A request with one of these came through a proxy (nginx on this machine connects from
# loopback too): it is not "from loopback" for /metrics, whatever its connection says.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_HOST",
                      "HTTP_X_FORWARDED_PROTO")


def mark_shutting_down(app: Flask) -> None:
    """From now on /readyz answers 503 (the process got SIGTERM)."""
    app.extensions["arena.shutting_down"] = True


def _no_store(response: Response, status: int) -> tuple[Response, int]:
    response.headers["Cache-Control"] = "no-store"
    return response, status


# -- health and readiness -----------------------------------------------------------------

def _database_ok() -> bool:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception as error:  # noqa: BLE001 - any failure means: not reachable now
        log.warning("health check: the database is unreachable: %s", error)
        return False


def _redis_ok() -> bool | None:
    """None: no Redis is configured (one process)."""
    if not settings().chat.message_queue:
        return None
    reachable = getattr(current_app.extensions["socketio"].server.manager, "reachable", None)
    try:
        return bool(reachable()) if reachable is not None else False
    except Exception:
        log.warning("health check: Redis could not be asked", exc_info=True)
        return False


@bp.get("/healthz")
def health():
    database_ok, redis_ok = _database_ok(), _redis_ok()
    ok = database_ok and redis_ok is not False
    body = {"ok": ok,
            "database": {"ok": database_ok, "dialect": db.engine.dialect.name},
            "redis": {"ok": redis_ok},
            "async_mode": settings().server.async_mode}
    return _no_store(jsonify(body), 200 if ok else 503)


def _migration_heads(app: Flask) -> tuple[frozenset[str], frozenset[str]]:
    """(the heads this code expects, every revision it knows), read once per app."""
    cached = app.extensions.get("arena.migration_heads")
    if cached is None:
        scripts = ScriptDirectory.from_config(alembic_config(app.extensions["arena.settings"].database_url))
        cached = (frozenset(scripts.get_heads()), frozenset(r.revision for r in scripts.walk_revisions()))
        app.extensions["arena.migration_heads"] = cached
    return cached


def _schema_behind() -> bool:
    """True when the database's schema is older than this code (migrations have not run).
    A revision this code does not know is newer (a rolling upgrade migrated first): ready."""
    heads, known = _migration_heads(current_app._get_current_object())
    try:
        with db.engine.connect() as connection:
            current = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except Exception:  # noqa: BLE001 - no alembic_version table: never migrated
        return True
    return not (current & heads or current - known)


@bp.get("/readyz")
def ready():
    reasons: list[str] = []
    if current_app.extensions.get("arena.shutting_down"):
        reasons.append("shutting_down")
    if not _database_ok():
        reasons.append("database_unreachable")
    elif _schema_behind():
        reasons.append("migrations_pending")
    if _redis_ok() is False:
        reasons.append("redis_unreachable")
    if reasons:
        return _no_store(jsonify({"ready": False, "reasons": reasons}), 503)
    return _no_store(jsonify({"ready": True}), 200)


# -- metrics ------------------------------------------------------------------------------

def _bearer_token_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def _straight_from_loopback(environ: dict[str, Any]) -> bool:
    """The connection itself (before ProxyFix) is from this machine, and no proxy forwarded it."""
    if any(environ.get(header) for header in FORWARDING_HEADERS):
        return False
    original = environ.get("werkzeug.proxy_fix.orig") or {}
    peer = original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR") or ""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@bp.get("/metrics")
def metrics():
    token = settings().metrics.token
    allowed = (token and _bearer_token_matches(token)) or _straight_from_loopback(request.environ)
    if not allowed:
        abort(404)
    response = Response(scrape(current_app._get_current_object()), mimetype=None, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response
