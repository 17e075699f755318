"""The studio: a speaker's browser sends its stream (namespace /studio, docs/golive.md).

The browser records with MediaRecorder and sends short pieces as binary `chunk` events; the
server queues each piece for ffmpeg (server/media/ingest.py) and acks it, so the browser
knows what arrived and can send the rest again after a dropped connection. Viewers' talk
pages hear of every change through the live room (/live, event `live_state`).

Each handler, as in the live room: validate, find who is acting (in the handler, from the
database: before_request does not run for socket events), call the service, commit, emit,
and answer with an ack; nothing reaches the client as an exception.

The ffmpeg process of a stream lives in the server process that started it: a speaker who
reconnects to another process (several processes without sticky sessions) is told to press
Go live again. Every process says each few seconds which streams it still runs; a stream
whose process went quiet (a crash, a restart) is closed and archived by another.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app, request, session
from flask_socketio import join_room

from server.db import db, utcnow
from server.i18n import _
from server.media import hls
from server.media.ingest import EBML_MAGIC, Ingest, IngestError, close_playlist, ffmpeg_binary, make_archive
from server.models import LiveStream, Talk
from server.services import golive
from server.services.roles import Actor, actor_for
from server.sockets import protocol as p
from server.sockets.base import ArenaNamespace, HandlerError, acked
from server.sockets.base import fields as _fields

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
DISK_CHECK_SECONDS = 5.0
ORPHAN_CHECK_SECONDS = 10.0
# A stream whose process has not said it runs it for this long is an orphan (heartbeats come
# every 5 s; a busy process can miss a few).
ORPHAN_AFTER = timedelta(seconds=20)
RATE_WINDOW_SECONDS = 10.0
MAX_PIECES_PER_SECOND = 50  # MediaRecorder slices every 250 ms, each split into a few pieces


@dataclass
class StudioConnection:
    participant_id: str | None
    grant_id: int | None
    organiser_id: int | None


@dataclass
class Publisher:
    """A stream this process runs: its ffmpeg, who sends it, how much has arrived."""

    stream_id: int
    talk_id: int
    participant_id: str
    ingest: Ingest
    sid: str | None
    grant_id: int | None = None
    organiser_id: int | None = None
    next_seq: int = 0
    disconnected_at: float | None = None
    ending: bool = False
    recent: deque = field(default_factory=deque)  # (monotonic time, bytes) over RATE_WINDOW_SECONDS
    head: bytes = b""  # the input's first bytes, until the WebM/Matroska magic number is seen
    last_piece_at: float = field(default_factory=time.monotonic)


class StudioNamespace(ArenaNamespace):
    def __init__(self, namespace: str = p.STUDIO_NAMESPACE) -> None:
        super().__init__(namespace)
        self.connections: dict[str, StudioConnection] = {}
        self.publishers: dict[int, Publisher] = {}

    # -- connection ---------------------------------------------------------------------
    def on_connect(self, auth: Any = None) -> bool:
        try:
            self.start_ticker(current_app._get_current_object())
            participant_id = session.get("participant_id")
            grant_id, organiser_id = session.get("grant_id"), session.get("organiser_id")
            self.connections[request.sid] = StudioConnection(
                participant_id if isinstance(participant_id, str) else None,
                grant_id if isinstance(grant_id, int) else None,
                organiser_id if isinstance(organiser_id, int) else None)
            return True
        except Exception:
            log.exception("studio connect failed")
            return False

    def on_disconnect(self, reason: Any = None) -> None:
        self.connections.pop(request.sid, None)
        for publisher in self.publishers.values():
            if publisher.sid == request.sid and not publisher.ending:
                # Not the end: the speaker's wifi may come back. Viewers see a stall.
                publisher.sid = None
                publisher.disconnected_at = time.monotonic()
                self._set_state(publisher, reconnecting=True)

    def close_grant_connections(self, grant_id: int | None, participant_id: str | None,
                                organiser_id: int | None = None) -> None:
        """A browser signed out of its role (server/web/auth.py): its studio connections close
        and a stream it was sending ends now, its recording kept (this process)."""
        for sid, connection in list(self.connections.items()):
            signed_out = (grant_id is not None and connection.grant_id == grant_id) or (
                organiser_id is not None and connection.organiser_id == organiser_id)
            if not signed_out or connection.participant_id != participant_id:
                continue
            for publisher in list(self.publishers.values()):
                if publisher.sid == sid:
                    self._end(publisher, "role_withdrawn")
            self.socketio.server.disconnect(sid, namespace=self.namespace)
            self.connections.pop(sid, None)

    # -- who is acting ------------------------------------------------------------------
    def _actor(self) -> Actor:
        connection = self.connections.get(request.sid)
        if connection is None:
            raise HandlerError(p.E_NOT_JOINED, _("Reload the page to continue."))
        if connection.participant_id is None:
            raise HandlerError(p.E_COOKIES_REQUIRED,
                               _("To take part, allow this site's cookie and reload the page."))
        return actor_for(db.session, connection.participant_id, connection.grant_id, utcnow(),
                         organiser_id=connection.organiser_id)

    def _talk(self, talk_id: int) -> Talk:
        talk = db.session.get(Talk, talk_id)
        if talk is None:
            raise HandlerError("talk_not_found", _("There is no talk at this address."))
        return talk

    def _publisher(self, stream_id: int, actor: Actor) -> Publisher:
        """This connection's stream, with the role checked again (a link can be withdrawn mid-stream)."""
        publisher = self.publishers.get(stream_id)
        if publisher is None or publisher.sid != request.sid:
            raise HandlerError(p.E_NOT_PUBLISHING, _("This stream is not running here. Press Go live again."))
        # The talk's id is all the check needs: no second query for every piece of video.
        golive.require_publisher_of(actor, publisher.talk_id)
        return publisher

    def _settings(self):
        return current_app.extensions["arena.settings"]

    # -- going live ---------------------------------------------------------------------
    @acked
    def on_start(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"talk_id": int, "mime_type": str})
        actor = self._actor()
        talk = self._talk(fields["talk_id"])
        golive.require_publisher(actor, talk)
        codec = golive.codec_of(fields["mime_type"])
        settings = self._settings()
        ffmpeg = ffmpeg_binary(settings.golive.ffmpeg)
        if ffmpeg is None:
            log.error("going live needs ffmpeg: install Debian's ffmpeg (make install) or set golive.ffmpeg")
            raise HandlerError(p.E_INTERNAL, _("Going live is not set up on this server yet. Tell the organiser."))
        stream = golive.start_stream(db.session, talk, actor, codec=codec, now=utcnow(), process_id=self.process_id,
                                     recordings_path=settings.recordings_path,
                                     min_free_bytes=settings.golive.min_free_megabytes * 1024 * 1024)
        # The quality ladder (server/media/hls.py): viewers open its master playlist.
        stream.playlist_name = hls.playlist_name(settings.ingest.ladder)
        db.session.commit()  # the talk is now taken: a second publisher is refused by the database
        stream_id, talk_id = stream.id, talk.id
        ingest = Ingest(ffmpeg, settings.recordings_path / stream.directory,
                        settings.recordings_path / stream.archive_directory, codec, settings.golive.segment_seconds,
                        on_ready=lambda: self._on_ready(stream_id),
                        on_failed=lambda reason: self._on_failed(stream_id, reason),
                        ladder=settings.ingest.ladder, preset=settings.ingest.ladder_preset)
        try:
            ingest.start()
        except IngestError:
            log.exception("ffmpeg did not start")
            golive.finish_stream(db.session, stream, reason="ffmpeg_failed", now=utcnow(), archive_path=None,
                                 duration_seconds=None)
            db.session.commit()
            raise HandlerError(p.E_INTERNAL, _("The stream could not start on the server. Try again in a moment.")
                               ) from None
        connection = self.connections[request.sid]
        self.publishers[stream_id] = Publisher(stream_id, talk_id, actor.participant_id, ingest, request.sid,
                                               connection.grant_id, connection.organiser_id)
        join_room(p.studio_room(talk_id))
        return {"stream_id": stream_id, "next_seq": 0, "state": "connecting"}

    @acked
    def on_chunk(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"stream_id": int, "seq": int, "data": bytes})
        actor = self._actor()
        publisher = self._publisher(fields["stream_id"], actor)
        piece, seq = fields["data"], fields["seq"]
        settings = self._settings().golive
        if not piece or len(piece) > settings.max_chunk_bytes:
            raise HandlerError(p.E_CHUNK_TOO_LARGE, _("The video arrived in pieces that are too large."))
        if seq < publisher.next_seq:
            return {"seq": seq, "next_seq": publisher.next_seq, "duplicate": True}  # sent again after a drop
        if seq > publisher.next_seq:
            raise HandlerError(p.E_OUT_OF_ORDER, _("A piece of the video went missing. Sending it again."))
        if len(publisher.head) < len(EBML_MAGIC):
            # Checked by content, not by what the browser says: only WebM/Matroska goes to
            # ffmpeg. (Chromium's first VP8 slice can be one byte long: check across pieces.)
            head = publisher.head + piece[:len(EBML_MAGIC) - len(publisher.head)]
            if head != EBML_MAGIC[:len(head)]:
                raise HandlerError(p.E_UNSUPPORTED_FORMAT, _("This browser records video in a format Arena cannot "
                                                           "take. Try Chrome, Edge or Firefox."))
            publisher.head = head
        self._check_rate(publisher, len(piece), settings.max_bytes_per_second)
        try:
            publisher.ingest.feed(piece)
        except IngestError:
            raise HandlerError(p.E_STREAM_FAILED, _("The stream stopped on the server. What was sent is kept.")
                               ) from None
        publisher.next_seq = seq + 1
        publisher.last_piece_at = time.monotonic()
        return {"seq": seq, "next_seq": publisher.next_seq}

    def _check_rate(self, publisher: Publisher, size: int, max_bytes_per_second: int) -> None:
        now = time.monotonic()
        recent = publisher.recent
        while recent and recent[0][0] <= now - RATE_WINDOW_SECONDS:
            recent.popleft()
        sent = sum(length for _, length in recent)
        if (sent + size > max_bytes_per_second * RATE_WINDOW_SECONDS
                or len(recent) >= MAX_PIECES_PER_SECOND * RATE_WINDOW_SECONDS):
            raise HandlerError(p.E_FLOODING, _("The video is arriving faster than allowed. Lower the quality."))
        recent.append((now, size))

    @acked
    def on_resume(self, data: Any) -> dict[str, Any]:
        """After a dropped connection: the same browser takes its stream back."""
        fields = _fields(data, {"stream_id": int})
        actor = self._actor()
        stream = db.session.get(LiveStream, fields["stream_id"])
        if stream is None:
            raise HandlerError(p.E_NOT_PUBLISHING, _("This stream is not running here. Press Go live again."))
        golive.require_publisher(actor, stream.talk)
        publisher = self.publishers.get(stream.id)
        if publisher is None or publisher.ending or publisher.ingest.failed:
            raise golive.StreamOver(_("This stream has ended. Press Go live to start a new one."))
        golive.resume(stream, actor)
        db.session.commit()
        publisher.sid = request.sid
        publisher.disconnected_at = None
        join_room(p.studio_room(publisher.talk_id))
        self._push(stream)
        return {"stream_id": stream.id, "next_seq": publisher.next_seq,
                "state": "live" if publisher.ingest.ready else "connecting"}

    @acked
    def on_end(self, data: Any) -> dict[str, Any]:
        fields = _fields(data, {"stream_id": int})
        actor = self._actor()
        publisher = self._publisher(fields["stream_id"], actor)
        self._end(publisher, "ended")
        return {"stream_id": publisher.stream_id, "state": "ending"}

    # -- the stream's life --------------------------------------------------------------
    def _end(self, publisher: Publisher, reason: str) -> None:
        """Stop taking pieces; ffmpeg closes the playlist; the recording is made in the background."""
        if publisher.ending:
            return
        publisher.ending = True
        stream = db.session.get(LiveStream, publisher.stream_id)
        if stream is not None:
            golive.begin_ending(stream)
            stream.end_reason = stream.end_reason or reason
            db.session.commit()
        publisher.ingest.finish()
        self.socketio.start_background_task(self._archive, publisher, reason)

    def _archive(self, publisher: Publisher, reason: str) -> None:
        """Wait for ffmpeg, make the recording, write it down, tell the speaker and the viewers."""
        assert self._app is not None
        with self._app.app_context():
            try:
                publisher.ingest.wait()
                archive = make_archive(publisher.ingest.ffmpeg, publisher.ingest.work_dir, publisher.ingest.codec)
                root = self._app.extensions["arena.settings"].recordings_path
                stream = db.session.get(LiveStream, publisher.stream_id)
                if stream is not None:
                    golive.finish_stream(db.session, stream, reason=reason, now=utcnow(),
                                         archive_path=str(archive.path.relative_to(root)) if archive.path else None,
                                         duration_seconds=archive.duration_seconds)
                    db.session.commit()
                    self._push(stream)
                    self._tell_studio(publisher.talk_id, stream, reason)
            except Exception:
                db.session.rollback()
                log.exception("archiving stream %s failed", publisher.stream_id)
            finally:
                self.publishers.pop(publisher.stream_id, None)
                db.session.remove()

    def _on_ready(self, stream_id: int) -> None:
        """The first segment exists: now viewers can start playing (called from the ingest worker)."""
        publisher = self.publishers.get(stream_id)
        if publisher is None or self._app is None:
            return
        with self._app.app_context():
            try:
                stream = db.session.get(LiveStream, stream_id)
                if stream is not None:
                    golive.mark_on_air(stream)
                    db.session.commit()
                    self._push(stream)
                    self._emit_studio(publisher.talk_id, {"stream_id": stream_id, "state": "live",
                                                          "message": _("You are live.")})
            finally:
                db.session.remove()

    def _on_failed(self, stream_id: int, reason: str) -> None:
        """ffmpeg died: keep what was recorded, close the playlist, tell the speaker."""
        publisher = self.publishers.get(stream_id)
        if publisher is None or self._app is None or publisher.ending:
            return
        publisher.ending = True
        self.socketio.start_background_task(self._archive_failed, publisher)

    def _archive_failed(self, publisher: Publisher) -> None:
        close_playlist(publisher.ingest.directory)
        with self._app.app_context():
            stream = db.session.get(LiveStream, publisher.stream_id)
            if stream is not None:
                golive.begin_ending(stream)
                stream.end_reason = "ffmpeg_failed"
                db.session.commit()
            db.session.remove()
        self._archive(publisher, "ffmpeg_failed")

    def _set_state(self, publisher: Publisher, *, reconnecting: bool) -> None:
        try:
            stream = db.session.get(LiveStream, publisher.stream_id)
            if stream is not None and reconnecting:
                golive.set_reconnecting(stream)
                db.session.commit()
                self._push(stream)
        except Exception:
            db.session.rollback()
            log.exception("marking stream %s reconnecting failed", publisher.stream_id)
        finally:
            db.session.remove()

    # -- emitting -----------------------------------------------------------------------
    def _push(self, stream: LiveStream) -> None:
        """Every open talk page flips (live, reconnecting, ended) without a reload."""
        view = golive.view_of(stream).as_dict()
        for room in (p.talk_room(stream.talk_id), p.staff_room(stream.talk_id)):
            self.socketio.emit(p.LIVE_STATE, view, to=room, namespace=p.LIVE_NAMESPACE)

    def _emit_studio(self, talk_id: int, payload: dict[str, Any]) -> None:
        self.socketio.emit(p.STREAM_STATE, payload, to=p.studio_room(talk_id), namespace=self.namespace)

    def _tell_studio(self, talk_id: int, stream: LiveStream, reason: str) -> None:
        messages = {
            "ended": _("The stream has ended. The recording is saved."),
            "connection_lost": _("The connection did not come back in time, so the stream ended. "
                                 "What was sent is saved."),
            "ffmpeg_failed": _("The stream stopped because of a fault on the server. What was sent is saved. "
                               "Press Go live to continue in a new stream."),
            "disk_full": _("The server ran out of disk space, so the stream ended. What was sent is saved. "
                           "Tell the organiser."),
            "server_stopped": _("The server restarted, so the stream ended. What was sent is saved."),
            "role_withdrawn": _("Your sign-in link was withdrawn, so the stream ended. What was sent is saved."),
        }
        payload = {"stream_id": stream.id, "state": "ended", "reason": reason,
                   "message": messages.get(reason, messages["ended"]),
                   "recording": stream.archive_path is not None,
                   "duration_seconds": stream.duration_seconds}
        self._emit_studio(talk_id, payload)

    # -- background ticker --------------------------------------------------------------
    def start_ticker(self, app: Flask) -> None:
        """Started by the first studio connection or the first page request (server/web/studio.py),
        so orphans from a crash are archived even if no speaker comes back."""
        self.start_tickers(app)

    def tickers(self) -> list:
        return [self._ticker]

    def _ticker(self) -> None:
        last_heartbeat = last_disk = 0.0
        last_orphans = -ORPHAN_CHECK_SECONDS + 2  # first look soon after start
        while not self._stopped:
            self.socketio.sleep(TICK_SECONDS)
            now = time.monotonic()
            try:
                with self._app.app_context():
                    settings = self._app.extensions["arena.settings"]
                    for publisher in list(self.publishers.values()):
                        self._check_publisher(publisher, now, settings)
                    if self.publishers:
                        self._check_roles()  # a withdrawn link ends its stream within a second
                    if now - last_heartbeat >= HEARTBEAT_SECONDS:
                        last_heartbeat = now
                        live = {s: pub.ingest.bytes_received for s, pub in self.publishers.items()}
                        golive.heartbeat(db.session, list(live), live, utcnow())
                        db.session.commit()
                    if now - last_disk >= DISK_CHECK_SECONDS and self.publishers:
                        last_disk = now
                        self._check_disk(settings)
                    if now - last_orphans >= ORPHAN_CHECK_SECONDS:
                        last_orphans = now
                        self._archive_orphans(settings)
                    db.session.remove()
            except Exception:
                log.exception("studio ticker failed")

    def _check_publisher(self, publisher: Publisher, now: float, settings) -> None:
        if publisher.ending:
            return
        if not publisher.ingest.check_alive():
            return  # _on_failed archives it
        publisher.ingest.check_ready()
        waited = now - publisher.disconnected_at if publisher.disconnected_at is not None else 0
        # Connected but silent (the browser's recorder stopped, a tab frozen) counts the same.
        silent = now - publisher.last_piece_at
        if max(waited, silent) > settings.golive.reconnect_seconds:
            self._end(publisher, "connection_lost")

    def _check_roles(self) -> None:
        """A withdrawn sign-in link (or a closed account) ends its stream, even one that
        sends nothing now; the recording is kept."""
        for publisher in list(self.publishers.values()):
            if publisher.ending:
                continue
            talk = db.session.get(Talk, publisher.talk_id)
            actor = actor_for(db.session, publisher.participant_id, publisher.grant_id, utcnow(),
                              organiser_id=publisher.organiser_id)
            if talk is None or not golive.can_publish(actor, talk):
                self._end(publisher, "role_withdrawn")

    def _check_disk(self, settings) -> None:
        if golive.free_bytes(settings.recordings_path) < settings.golive.min_free_megabytes * 1024 * 1024:
            for publisher in list(self.publishers.values()):
                if not publisher.ending:
                    log.error("disk space below golive.min_free_megabytes: ending stream %s", publisher.stream_id)
                    self._end(publisher, "disk_full")

    def _archive_orphans(self, settings) -> None:
        now = utcnow()
        orphans = golive.claim_orphans(db.session, self.process_id, now, now - ORPHAN_AFTER)
        db.session.commit()
        for stream in orphans:
            if stream.id in self.publishers:
                continue
            self.socketio.start_background_task(self._archive_orphan, stream.id, settings.recordings_path,
                                                settings.golive.ffmpeg)

    def _archive_orphan(self, stream_id: int, root: Path, configured_ffmpeg: str) -> None:
        with self._app.app_context():
            try:
                stream = db.session.get(LiveStream, stream_id)
                if stream is None:
                    return
                close_playlist(root / stream.directory)
                ffmpeg = ffmpeg_binary(configured_ffmpeg)
                archive = make_archive(ffmpeg, root / stream.archive_directory, stream.video_codec) if ffmpeg else None
                path = archive.path if archive else None
                golive.finish_stream(db.session, stream, reason="server_stopped", now=utcnow(),
                                     archive_path=str(path.relative_to(root)) if path else None,
                                     duration_seconds=archive.duration_seconds if archive else None)
                db.session.commit()
                self._push(stream)
                self._tell_studio(stream.talk_id, stream, "server_stopped")
                log.warning("archived stream %s left behind by a stopped process", stream_id)
            except Exception:
                db.session.rollback()
                log.exception("archiving orphaned stream %s failed", stream_id)
            finally:
                db.session.remove()
