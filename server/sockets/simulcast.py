"""Simulcast at run time: while a talk is live, its stream is also pushed to each of its enabled
destinations (server/services/simulcast.py), and their states reach the studio.

`Simulcast` is a stream listener (server/media/stream_events.py), registered at start-up. The
studio calls `on_air` in the process that runs the stream, so the pushes run there too, one
`Pusher` (server/media/simulcast.py) per destination. Each few seconds it compares what runs
with the database, so a destination added, switched off, changed or removed in the admin (in
any process) starts, stops or restarts its push; a stream that ended without telling (a
crashed studio) stops its pushes too. Every state a push reports is written to its
SimulcastDestination and sent to the talk's studio room (event `simulcast_state`).

A studio page joins that room with `watch_simulcast` (the talk's speaker or an organiser).
The handler is registered on the studio's namespace beside StudioNamespace's own handlers,
which python-socketio consults after the functions registered for an event.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, request, session
from flask_babel import refresh
from flask_socketio import SocketIO, join_room

from server.db import db, utcnow
from server.i18n import _
from server.media.ingest import ffmpeg_binary
from server.media.simulcast import FAILED, IDLE, KeyBox, KeyUnreadable, Pusher, Target
from server.models import LiveStream, StreamState, Talk
from server.services import golive
from server.services import simulcast as service
from server.services.accounts import session_organiser_id
from server.services.errors import ServiceError
from server.services.roles import actor_for
from server.sockets import protocol as p
from server.sockets.base import HandlerError
from server.sockets.base import fields as _fields

log = logging.getLogger(__name__)
RECONCILE_SECONDS = 2.0


@dataclass
class Running:
    fingerprint: tuple
    pusher: Pusher


@dataclass
class StreamPushes:
    stream_id: int
    talk_id: int
    source: str
    pushes: dict[int, Running] = field(default_factory=dict)  # destination id -> its push


class Simulcast:
    """The pushes of this process's live streams."""

    def __init__(self, app: Flask, socketio: SocketIO) -> None:
        self.app, self.socketio = app, socketio
        settings = app.extensions["arena.settings"]
        self.keys = KeyBox(settings.instance_dir)
        self.streams: dict[int, StreamPushes] = {}
        self._lock = threading.RLock()
        self._ticker_started = False
        self._stopped = False

    # -- the stream listener ------------------------------------------------------------------
    def on_air(self, stream_id: int, talk_id: int, source_url: str) -> None:
        with self._lock:
            stream = self.streams.get(stream_id)
            if stream is None:
                self.streams[stream_id] = StreamPushes(stream_id, talk_id, source_url)
            elif stream.source != source_url:
                stream.source = source_url  # resumed under another source: the next attempts read it
                for running in stream.pushes.values():
                    running.pusher.set_source(source_url)
        self._start_ticker()
        # In a task of its own: the caller's database session is never touched here.
        self.socketio.start_background_task(self.reconcile, stream_id)

    def ended(self, stream_id: int) -> None:
        with self._lock:
            stream = self.streams.pop(stream_id, None)
        if stream is not None:
            for running in stream.pushes.values():
                running.pusher.stop()
        # Also a stream this process never pushed: one a stopped process left behind, whose
        # destinations still say what that process last saw.
        self.socketio.start_background_task(self._all_idle, stream_id)

    def _all_idle(self, stream_id: int) -> None:
        """Idle at once, also a push that had failed (its thread is gone)."""
        with self.app.app_context():
            try:
                live = db.session.get(LiveStream, stream_id)
                if live is None:
                    return
                newer = golive.active_stream(db.session, live.talk_id)
                if newer is not None and newer.id != stream_id:
                    return  # the talk is live again meanwhile: its pushes report for themselves
                changed = [d for d in service.destinations(db.session, live.talk_id)
                           if d.state != IDLE and not self._current(d.id)]
                for destination in changed:
                    service.record_state(db.session, destination.id, IDLE, "", 0, utcnow())
                db.session.commit()
                for destination in changed:
                    self._emit(service.view(destination))
            except Exception:
                db.session.rollback()
                log.exception("simulcast: setting the destinations of stream %s idle failed", stream_id)
            finally:
                db.session.remove()

    # -- matching the database ------------------------------------------------------------------
    def reconcile_talk(self, talk_id: int) -> None:
        """After an organiser's change in this process: act on it now, not at the next tick
        (in a task of its own, away from the request's database session)."""
        for stream_id in [s.stream_id for s in list(self.streams.values()) if s.talk_id == talk_id]:
            self.socketio.start_background_task(self.reconcile, stream_id)

    def reconcile(self, stream_id: int) -> None:
        """Start, stop and restart pushes to match the database. Runs in the ticker or a task
        of its own (it ends with its own database session removed)."""
        with self._lock, self.app.app_context():
            try:
                self._reconcile(stream_id)
            except Exception:
                db.session.rollback()
                log.exception("simulcast: matching the pushes of stream %s failed", stream_id)
            finally:
                db.session.remove()

    def _reconcile(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        live = db.session.get(LiveStream, stream_id)
        if live is None or live.state is StreamState.ended:
            self.ended(stream_id)  # a stream that ended without telling us
            return
        settings = self.app.extensions["arena.settings"]
        wanted = {d.id: d for d in service.destinations(db.session, stream.talk_id) if d.enabled}
        for destination_id, running in list(stream.pushes.items()):
            destination = wanted.get(destination_id)
            if destination is None or _fingerprint(destination) != running.fingerprint:
                running.pusher.stop()  # removed, switched off or changed (a changed one starts again below)
                del stream.pushes[destination_id]
        ffmpeg = ffmpeg_binary(settings.golive.ffmpeg)
        for destination_id, destination in wanted.items():
            if destination_id in stream.pushes:
                continue
            fingerprint = _fingerprint(destination)
            try:
                stream_key = self.keys.decrypt(destination.key_ciphertext)
            except KeyUnreadable:
                if destination.state != FAILED or destination.state_message != "key_unreadable":
                    self._write(destination_id, FAILED, "key_unreadable", 0, utcnow())
                continue
            if ffmpeg is None:
                self._write(destination_id, FAILED, "no_ffmpeg", 0, utcnow())
                continue
            pusher = Pusher(ffmpeg, stream.source, Target(destination.url, stream_key),
                            allowed_hosts=settings.media.import_allowed_hosts,
                            retry_max_seconds=settings.ingest.simulcast_retry_max_seconds,
                            name=f"{destination.label} (talk {stream.talk_id})", on_state=None)  # type: ignore[arg-type]
            pusher.on_state = self._reporter(destination_id, pusher)
            stream.pushes[destination_id] = Running(fingerprint, pusher)
            pusher.start()

    def _current(self, destination_id: int, pusher: Pusher | None = None) -> bool:
        """Whether a push runs for the destination (this pusher, if one is given)."""
        for stream in list(self.streams.values()):
            running = stream.pushes.get(destination_id)
            if running is not None and (pusher is None or running.pusher is pusher):
                return True
        return False

    def _reporter(self, destination_id: int, pusher: Pusher):
        def report(state: str, reason: str, attempts: int, next_at: datetime | None) -> None:
            # A push that was replaced or stopped may only say it is idle, and only when no
            # other push runs for its destination: never over a newer push's state.
            if not self._current(destination_id, pusher) and (state != IDLE or self._current(destination_id)):
                return
            self._write(destination_id, state, reason, attempts, next_at or utcnow())

        return report

    def _write(self, destination_id: int, state: str, reason: str, attempts: int, at: datetime) -> None:
        with self.app.app_context():
            try:
                destination = service.record_state(db.session, destination_id, state, reason, attempts, at)
                db.session.commit()
                if destination is not None:
                    self._emit(service.view(destination))
            except Exception:
                db.session.rollback()
                log.exception("simulcast: writing the state of destination %s failed", destination_id)
            finally:
                db.session.remove()

    def _emit(self, view: dict[str, Any]) -> None:
        try:
            self.socketio.emit(p.SIMULCAST_STATE, view, to=p.studio_room(view["talk_id"]),
                               namespace=p.STUDIO_NAMESPACE)
        except Exception:
            log.exception("simulcast: sending a state to the studio failed")

    # -- the ticker -------------------------------------------------------------------------
    def _start_ticker(self) -> None:
        with self._lock:
            if self._ticker_started:
                return
            self._ticker_started = True
        self.socketio.start_background_task(self._tick)

    def _tick(self) -> None:
        while not self._stopped:
            self.socketio.sleep(RECONCILE_SECONDS)
            for stream_id in list(self.streams):
                self.reconcile(stream_id)

    def stop(self) -> None:
        """Stop every push of this process (tests, shutdown); the states are left as they are."""
        self._stopped = True
        with self._lock:
            streams, self.streams = list(self.streams.values()), {}
        for stream in streams:
            for running in stream.pushes.values():
                running.pusher.stop()


def _fingerprint(destination) -> tuple:
    return (destination.url, destination.key_ciphertext, destination.enabled)


# -- the studio's view ------------------------------------------------------------------------

def watch_simulcast(data: Any) -> dict[str, Any]:
    """{talk_id} -> {ok, destinations: [view]}; joins the talk's studio room, whose
    `simulcast_state` events then keep the list current."""
    refresh()
    try:
        talk_id = _fields(data, {"talk_id": int})["talk_id"]
        participant_id = session.get("participant_id")
        if not isinstance(participant_id, str):
            raise HandlerError(p.E_COOKIES_REQUIRED, _("To take part, allow this site's cookie and reload the page."))
        grant_id, organiser_id = session.get("grant_id"), session_organiser_id(db.session, session)
        actor = actor_for(db.session, participant_id, grant_id if isinstance(grant_id, int) else None, utcnow(),
                          organiser_id=organiser_id if isinstance(organiser_id, int) else None)
        talk = db.session.get(Talk, talk_id)
        if talk is None:
            raise HandlerError("talk_not_found", _("There is no talk at this address."))
        if not golive.can_publish(actor, talk):
            raise HandlerError(p.E_FORBIDDEN, _("Only the talk's speaker or an organiser can see this."))
        join_room(p.studio_room(talk.id), sid=request.sid, namespace=p.STUDIO_NAMESPACE)
        return {"ok": True, "destinations": [service.view(d) for d in service.destinations(db.session, talk.id)]}
    except HandlerError as error:
        return {"ok": False, "error": error.code, "message": error.message}
    except ServiceError as error:
        return error.as_dict()
    except Exception:
        log.exception("watch_simulcast failed")
        return {"ok": False, "error": p.E_INTERNAL,
                "message": _("Something went wrong on our side. Please try again in a moment.")}
    finally:
        db.session.remove()


def register_simulcast(socketio: SocketIO, app: Flask) -> Simulcast:
    """Called once per app at start-up (server/sockets/__init__.py)."""
    simulcast = Simulcast(app, socketio)
    app.extensions["arena.simulcast"] = simulcast
    app.extensions["arena.stream_listeners"].register(simulcast)
    socketio.on_event(p.WATCH_SIMULCAST, watch_simulcast, namespace=p.STUDIO_NAMESPACE)
    return simulcast
