"""The Socket.IO face: one Namespace class per feature (chat and Q&A arrive with their issue).

Every handler validates its payload, checks the user's role itself (Flask's before_request
and login_required do not run for socket events), calls a service, commits, then emits.
"""

from __future__ import annotations

from flask_socketio import SocketIO


def register_namespaces(socketio: SocketIO) -> None:
    """Register every feature's namespace; called after socketio.init_app."""
    # The live chat and Q&A namespaces are added by the chat issue.
    return None
