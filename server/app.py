"""The app factory: settings, database, languages, the HTTP faces (server/web) and Socket.IO
(server/sockets). Nothing here monkey-patches; only `python -m server` does (server/__main__.py).
"""

from __future__ import annotations

import warnings

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from server import i18n
from server.config import PROJECT_ROOT, Settings, ensure_secret_key, load_settings
from server.db import db
from server.extensions import socketio
from server.logs import RequestLog, configure_logging
from server.media.stream_events import StreamListeners
from server.sockets import register_namespaces
from server.sockets.base import refuse_reserved_events
from server.web import init_app as init_web
from server.web.outage import init_app as init_outage
from server.web.sessions import VerifiedCookieSessionInterface


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings)
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(settings.instance_dir),
    )
    app.extensions["arena.settings"] = settings
    app.extensions["arena.stream_listeners"] = StreamListeners()  # simulcast registers here
    app.config.update(
        SECRET_KEY=ensure_secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        # Forms and uploads come later; until then nothing needs more than this.
        MAX_CONTENT_LENGTH=60 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.session_interface = VerifiedCookieSessionInterface()
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    db.init_app(app, settings.database_url, echo=settings.database.echo)

    i18n.init_app(app)
    init_web(app)

    # init_app builds a new Socket.IO server on every call: pass async_mode every time and
    # register namespaces only after it.
    client_manager = None
    if settings.chat.message_queue:
        # Only with a message queue: the Redis client loads when it is configured.
        from server.sockets.queue import RoomQueueManager, default_channel  # noqa: PLC0415

        client_manager = RoomQueueManager(
            settings.chat.message_queue,
            channel=settings.chat.message_queue_channel or default_channel(settings.database_url),
        )
    if settings.server.async_mode == "eventlet":
        # Known, and written down in docs/configuration.md: gevent is one key away.
        warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
    # The SocketIO object keeps options between init_app calls: pass every one, every time.
    socketio.init_app(
        app,
        async_mode=settings.server.async_mode,
        cors_allowed_origins=[settings.public_base_url],
        max_http_buffer_size=settings.chat.max_http_buffer_size,
        client_manager=client_manager,
        message_queue=None,
    )
    refuse_reserved_events(socketio.server)
    register_namespaces(socketio, app)
    init_outage(app)
    _wrap_wsgi(app, settings)
    if client_manager is not None:
        client_manager.say_if_unreachable()
    return app


def _wrap_wsgi(app: Flask, settings: Settings) -> None:
    """Around everything, Socket.IO included (its middleware reads the environ before Flask):
    ProxyFix outermost, then the request id and the request log (server/logs.py)."""
    proxies = settings.server.trusted_proxies
    app.wsgi_app = RequestLog(app.wsgi_app, log_requests=settings.logging.request_log,  # type: ignore[method-assign]
                              trust_request_id=proxies > 0)
    if proxies:
        # The client's address, scheme and host as the trusted proxies saw them, for pages and
        # Socket.IO connections alike (the sign-in throttle counts by the address:
        # server/web/context.py client_address). The connection's own address stays in
        # environ["werkzeug.proxy_fix.orig"] (the ingest callbacks and /metrics read it).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies)
