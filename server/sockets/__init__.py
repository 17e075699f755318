"""The Socket.IO face: one Namespace class per feature (the live room, the studio, the admin).

Every handler validates its payload, checks the user's role itself (Flask's before_request
and login_required do not run for socket events), calls a service, commits, then emits.
"""

from __future__ import annotations

from flask import Flask
from flask_socketio import SocketIO

from server.sockets.admin import AdminNamespace
from server.sockets.live import LiveNamespace
from server.sockets.simulcast import register_simulcast
from server.sockets.studio import StudioNamespace


def register_namespaces(socketio: SocketIO, app: Flask) -> None:
    """Register every feature's namespace; called after socketio.init_app."""
    live = LiveNamespace()
    socketio.on_namespace(live)
    app.extensions["arena.live"] = live

    studio = StudioNamespace()
    socketio.on_namespace(studio)
    app.extensions["arena.studio"] = studio

    admin = AdminNamespace()
    socketio.on_namespace(admin)
    app.extensions["arena.admin"] = admin

    register_simulcast(socketio, app)  # a stream listener: pushes live streams to their destinations
