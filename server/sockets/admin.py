"""The organisers' admin over Socket.IO (namespace /admin): an import's live progress.

Small on purpose: the admin's actions are HTTP forms (server/web/admin/recordings.py); this
namespace only lets an organiser's page watch a talk's import. The role is checked at
connect AND in every handler (the socket's session is a copy taken at connect; an account
closed meanwhile must stop receiving). The handshake's Origin is checked by Socket.IO itself
(cors_allowed_origins = server.base_url, server/app.py), as for the live room.

`AdminNamespace.launch_import` starts a queued import job as a background task of this process
(a green thread under eventlet): the worker process does the fetching, the task relays its
progress to the talk's admin room after writing it to the job row. The admin's views reach it
through app.extensions["arena.admin"], so they import nothing from here.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, request, session
from flask_socketio import join_room

from server.db import db, utcnow
from server.i18n import _
from server.models import Role, Talk
from server.services.accounts import session_organiser_id
from server.services.recordings import imports as recording_imports
from server.services.roles import Actor, actor_for
from server.sockets import protocol as p
from server.sockets.base import ArenaNamespace, HandlerError, acked
from server.sockets.base import fields as _fields

log = logging.getLogger(__name__)


class AdminNamespace(ArenaNamespace):
    def __init__(self, namespace: str = p.ADMIN_NAMESPACE) -> None:
        super().__init__(namespace)
        # sid -> (organiser id, participant id) of this process's connections, so that
        # signing out closes them (server/web/auth.py: sign_out).
        self.connections: dict[str, tuple[int | None, str | None]] = {}

    def _actor(self) -> Actor:
        participant_id = session.get("participant_id")
        return actor_for(db.session, participant_id if isinstance(participant_id, str) else "", session.get("grant_id"),
                         utcnow(), organiser_id=session_organiser_id(db.session, session))

    def _require_organiser(self) -> Actor:
        actor = self._actor()
        if actor.role is not Role.organiser:
            raise HandlerError(p.E_FORBIDDEN, _("Only an organiser can do that."))
        return actor

    def on_connect(self, auth: Any = None) -> bool:
        try:
            if self._actor().role is not Role.organiser:
                return False
            organiser_id, participant_id = session_organiser_id(db.session, session), session.get("participant_id")
            self.connections[request.sid] = (organiser_id if isinstance(organiser_id, int) else None,
                                             participant_id if isinstance(participant_id, str) else None)
            return True
        except Exception:
            log.exception("admin connect failed")
            return False
        finally:
            db.session.remove()

    def on_disconnect(self, reason: Any = None) -> None:
        self.connections.pop(request.sid, None)

    def holders(self) -> list[tuple[str, tuple[int | None, int | None, str | None]]]:
        return [(sid, (None, organiser, participant))
                for sid, (organiser, participant) in list(self.connections.items())]

    def forget(self, sid: str) -> None:
        self.connections.pop(sid, None)

    @acked
    def on_watch_import(self, data: Any) -> dict[str, Any]:
        self._require_organiser()
        talk_id = _fields(data, {"talk_id": int})["talk_id"]
        talk = db.session.get(Talk, talk_id)
        if talk is None:
            raise HandlerError(p.E_INVALID_PAYLOAD, _("There is no talk at this address."))
        join_room(p.admin_talk_room(talk.id), namespace=p.ADMIN_NAMESPACE)
        job = recording_imports.latest_job(db.session, talk)
        # The state now: whatever was sent before this page joined is caught up here.
        return {"job": recording_imports.job_view(job) if job else None}

    def launch_import(self, app: Flask, job_id: int) -> None:
        """Run a committed, queued import job in the background of this process."""
        limits = recording_imports.ImportLimits.from_settings(app.extensions["arena.settings"])
        socketio = self.socketio

        def notify(view: dict[str, Any]) -> None:
            socketio.emit(p.IMPORT_PROGRESS, view, namespace=p.ADMIN_NAMESPACE, to=p.admin_talk_room(view["talk_id"]))

        def run() -> None:
            with app.app_context():
                try:
                    recording_imports.execute_import(db.session, job_id, limits, notify=notify)
                except Exception:
                    log.exception("import job %s could not run", job_id)
                finally:
                    db.session.remove()

        socketio.start_background_task(run)
