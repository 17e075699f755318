"""Behind nginx: with `server.trusted_proxies = 1` the client's address and scheme are the ones
the proxy forwarded, for pages and Socket.IO connections alike; with 0 a forged
X-Forwarded-For changes nothing."""

from __future__ import annotations

import json
import re

import pytest
from flask import request
from sqlalchemy import select

from server.db import db
from server.extensions import socketio
from server.models import LoginAttempt
from server.services.accounts import throttle_key
from tests.conftest import form_token

CLIENT = "203.0.113.7"
FORGED = "198.51.100.66"


@pytest.fixture
def proxied_app(make_app):
    """The app as `python -m server serve` builds it, with `trusted_proxies` chosen by the test,
    and a page that shows what a view sees of the request."""
    def _make(proxies: int):
        app = make_app(server={"trusted_proxies": proxies})

        @app.get("/test-what-the-view-sees")
        def what_the_view_sees():
            return {"address": request.remote_addr, "scheme": request.scheme, "secure": request.is_secure}

        return app

    return _make


def failed_sign_in(app, headers: dict[str, str]) -> str:
    """A wrong password posted through the proxy; the address the throttle counted it by."""
    client = app.test_client()
    with app.app_context():
        token = form_token(client, "/sign-in")
        response = client.post("/sign-in", headers=headers,
                               data={"email": "karin@norrbotten.se", "password": "fel-lösenord", "csrf_token": token})
        assert response.status_code == 401, response.get_data(as_text=True)  # wrong password, not a refused form
        attempt = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id.desc())).first()
        return attempt.remote_addr


def polling_handshake_address(app, headers: dict[str, str]) -> str:
    """Open an Engine.IO session over HTTP, through the whole WSGI stack, and return the
    address Socket.IO's handlers see for it (their request context is this environ)."""
    response = app.test_client().get("/socket.io/?EIO=4&transport=polling", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    handshake = json.loads(re.search(r"\{.*\}", response.get_data(as_text=True)).group(0))
    return socketio.server.environ[handshake["sid"]]["REMOTE_ADDR"]


def test_behind_one_trusted_proxy_views_see_the_forwarded_address_and_https(proxied_app):
    app = proxied_app(1)

    seen = app.test_client().get("/test-what-the-view-sees",
                                 headers={"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}).get_json()

    assert seen == {"address": CLIENT, "scheme": "https", "secure": True}


def test_behind_one_trusted_proxy_the_sign_in_throttle_counts_the_forwarded_address(proxied_app):
    app = proxied_app(1)

    # Over https Flask-WTF also checks the Referer, as a browser sends it.
    counted = failed_sign_in(app, {"X-Forwarded-For": f"{FORGED}, {CLIENT}", "X-Forwarded-Proto": "https",
                                   "Referer": "https://localhost/sign-in"})

    # nginx appends the address it saw to what the client sent: only the last one is trusted.
    assert counted == throttle_key(CLIENT)


def test_without_trusted_proxies_a_forged_forwarded_header_is_ignored(proxied_app):
    app = proxied_app(0)

    counted = failed_sign_in(app, {"X-Forwarded-For": FORGED})
    seen = app.test_client().get("/test-what-the-view-sees",
                                 headers={"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"}).get_json()

    assert counted == throttle_key("127.0.0.1")
    assert seen == {"address": "127.0.0.1", "scheme": "http", "secure": False}


def test_behind_one_trusted_proxy_socketio_connections_see_the_forwarded_address(proxied_app):
    app = proxied_app(1)

    address = polling_handshake_address(app, {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"})

    assert address == CLIENT


def test_without_trusted_proxies_socketio_connections_ignore_a_forged_header(proxied_app):
    app = proxied_app(0)

    address = polling_handshake_address(app, {"X-Forwarded-For": FORGED})

    assert address == "127.0.0.1"
