"""Extension objects, created bare and bound to the app in create_app (server/app.py), as the
Flask docs' application factories do: modules import them from here, never from server.app."""

from __future__ import annotations

from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

socketio = SocketIO()
csrf = CSRFProtect()
