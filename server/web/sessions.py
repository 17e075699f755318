"""The signed session cookie, read once per cookie value instead of once per request.

Verifying a cookie (HMAC, base64, JSON, the timestamp) costs about 0.2 ms, and Flask-SocketIO
reads the cookie again for every socket event, so in a join storm the live room spent more
time on it than on joining (docs/benchmarks.md). A verified cookie's contents are kept for a
minute, keyed by the exact signed value: a forged or altered cookie is another key and is
verified like any other; a changed session is a new value. Each request gets its own copy.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

KEPT_SECONDS = 60.0     # far below the cookie's own lifetime: an expired cookie is not revived
KEPT_COOKIES = 20_000   # a large room's participants, each a few hundred bytes


class VerifiedCookieSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._verified: OrderedDict[tuple[str, str], tuple[dict[str, Any], float]] = OrderedDict()

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return super().open_session(app, request)
        key = (str(app.secret_key), value)
        now = time.monotonic()
        kept = self._verified.get(key)
        if kept is not None and now - kept[1] < KEPT_SECONDS:
            return self.session_class(dict(kept[0]))
        session = super().open_session(app, request)
        if session is not None and session:  # an empty session: unsigned or refused, verify again
            self._verified[key] = (dict(session), now)
            self._verified.move_to_end(key)
            while len(self._verified) > KEPT_COOKIES:
                self._verified.popitem(last=False)
        return session
