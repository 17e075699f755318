"""The studio: a speaker's browser sends its stream (namespace /studio, docs/golive.md), and
the life of a stream a venue's encoder publishes over RTMP (docs/ingest.md).

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

An RTMP stream arrives through nginx-rtmp: its `on_publish` callback (server/web/ingest.py)
calls `rtmp_publish`, which takes the talk (the same unique active_talk_id as a browser's Go
live) and answers the name nginx renames the stream to. The ticker then waits for nginx's
metadata, checks the caps and the codec, runs one ffmpeg per publish session
(server/media/rtmp_ingest.py), checks the bitrate, the key and the disk every second, and
ends the stream when the encoder does not come back within golive.reconnect_seconds. What
other processes decide (End pressed there, on_publish_done answered there, a key revoked
from the command line) reaches the process running the stream through the database.
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
from sqlalchemy import select

from server.db import db, utcnow
from server.i18n import _
from server.media import hls
from server.media.ingest import EBML_MAGIC, Archive, Ingest, IngestError, close_playlist, ffmpeg_binary, make_archive
from server.media.rtmp import control_for, play_url
from server.media.rtmp_ingest import (
    SENT_SOMETHING_BYTES,
    RtmpIngestError,
    RtmpPart,
    make_recording,
    video_decision,
    wait_for_parts,
)
from server.media.rtmp_ingest import parts as rtmp_parts
from server.models import LiveStream, StreamState, Talk
from server.services import golive
from server.services.accounts import session_organiser_id
from server.services.roles import Actor, actor_for
from server.sockets import protocol as p
from server.sockets.base import ArenaNamespace, HandlerError, TickerFailures, acked
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
# RTMP: nginx's stat unreachable this long counts as nginx gone (its supervisor restarts it;
# the encoder may come back within the wait).
NGINX_GONE_SECONDS = 3.0
# A publisher missing from nginx's stat this long has left, even if on_publish_done was lost.
PUBLISHER_GONE_SECONDS = 3.0
# After nginx knows the video codec, how long to wait for it to learn the picture's size and
# the audio codec (H.264 has both at once; older codecs from the encoder's metadata).
METADATA_SETTLE_SECONDS = 2.0
# ffmpeg stopping while the encoder still sends: started again this many times, then the end.
MAX_PART_FAILURES = 3
NO_STATS: dict = {}  # no nginx stat to ask at all (compared by identity)
# The studio page follows an encoder's stream: {"talk_id"} -> {"stream": {...} | None}, and
# the studio room's stream_state from then on (docs/golive.md).
WATCH = "watch"


def rtmp_state_message(state: str, reconnect_seconds: int) -> str:
    """What the studio says of an encoder's stream while it runs."""
    if state == "live":
        return _("The encoder is live. Viewers see the stream.")
    if state == "reconnecting":
        return _("The encoder's connection dropped. The stream continues if it comes back within "
                 "%(seconds)s seconds.", seconds=reconnect_seconds)
    if state == "ending":
        return _("Ending the stream…")
    return _("An encoder is connecting over RTMP. Viewers see it in a few seconds.")


def recording_failed_message(reason: str) -> str:
    """Added to the end message when the parts could not be joined (server/media/rtmp_ingest.py)."""
    if reason == "ended":
        return _("The stream has ended, but the recording could not be made from what was sent. The parts are "
                 "kept on the server: tell the organiser.")
    return _("The recording could not be made from what was sent: the parts are kept on the server. "
             "Tell the organiser.")


def rtmp_end_message(reason: str, ingest) -> str:
    """What the studio says when an encoder's stream ends, in the speaker's language
    (`ingest`: settings.ingest, whose caps the encoder must keep to)."""
    messages = {
        "ended": _("The stream has ended. The recording is saved."),
        "connection_lost": _("The encoder did not come back in time, so the stream ended. What was sent is saved."),
        "no_data": _("The encoder connected but sent no picture, so the stream ended. Check the encoder's output "
                     "settings and start streaming again."),
        "too_large": _("The encoder sends a picture larger than this server takes, so the stream ended. Set the "
                       "output resolution to at most %(width)d×%(height)d and start again.", width=ingest.max_width,
                       height=ingest.max_height),
        "unsupported_codec": _("The encoder sends video in a format Arena cannot take, so the stream ended. Set the "
                               "encoder to H.264 video with AAC sound and start again."),
        "bitrate_too_high": _("The encoder sends more data than this server takes, so the stream ended. Set a "
                              "constant bitrate (CBR) below %(kbps)d kbit/s in all and start again. What was sent "
                              "is saved.", kbps=ingest.max_kbps),
        "key_revoked": _("The stream key was replaced or revoked, so the stream ended. What was sent is saved. "
                         "Put the new key in the encoder to go live again."),
        "ffmpeg_failed": _("The stream stopped because of a fault on the server. What was sent is saved. Start "
                           "streaming from the encoder again for a new stream."),
        "disk_full": _("The server ran out of disk space, so the stream ended. What was sent is saved. "
                       "Tell the organiser."),
        "server_stopped": _("The server restarted, so the stream ended. What was sent is saved."),
    }
    return messages.get(reason, messages["ended"])


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
    ending_pushed: bool = False  # viewers were told it ended when it began ending
    last_piece_at: float = field(default_factory=time.monotonic)


@dataclass
class RtmpPublisher:
    """An RTMP stream this process runs: the encoder's session in nginx and its ffmpeg."""

    stream_id: int
    talk_id: int
    stream_key_id: int | None
    rtmp_name: str
    client_id: str
    directory: Path      # the public HLS
    work_dir: Path       # the source parts, ffmpeg's log, the recording
    ladder: bool
    connected_at: float = field(default_factory=time.monotonic)  # this publish session's start
    part: RtmpPart | None = None
    stopping: RtmpPart | None = None  # the last session's ffmpeg, finishing after its encoder left
    parts_started: int = 0
    copy_video: bool = True
    codec_seen_at: float | None = None
    disconnected_at: float | None = None  # the encoder left (or nginx went away): the wait runs
    stalled: bool = False                 # dropped for sending nothing: ends as "no_data"
    ending: bool = False
    resuming: bool = False  # its encoder came back and the database does not say so yet: no checks
    on_air: bool = False
    failures: int = 0
    rates: deque = field(default_factory=deque)  # (monotonic time, nginx's bytes_in)
    last_bytes: int = 0
    last_growth_at: float = field(default_factory=time.monotonic)
    unreachable_since: float | None = None
    missing_since: float | None = None
    part_ended_at: float | None = None  # its ffmpeg ended while nginx's stat still showed the encoder
    ending_pushed: bool = False  # viewers were told it ended when it began ending


class StudioNamespace(ArenaNamespace):
    def __init__(self, namespace: str = p.STUDIO_NAMESPACE) -> None:
        super().__init__(namespace)
        self.connections: dict[str, StudioConnection] = {}
        self.publishers: dict[int, Publisher] = {}
        self.rtmp: dict[int, RtmpPublisher] = {}
        self.archiving: set[int] = set()  # orphans of a stopped process this one is archiving

    # -- connection ---------------------------------------------------------------------
    def on_connect(self, auth: Any = None) -> bool:
        try:
            self.start_ticker(current_app._get_current_object())
            participant_id = session.get("participant_id")
            grant_id, organiser_id = session.get("grant_id"), session_organiser_id(db.session, session)
            self.connections[request.sid] = StudioConnection(
                participant_id if isinstance(participant_id, str) else None,
                grant_id if isinstance(grant_id, int) else None,
                organiser_id if isinstance(organiser_id, int) else None)
            return True
        except Exception:
            log.exception("studio connect failed")
            return False
        finally:
            db.session.remove()  # the account was read: no transaction left open on this greenlet

    def on_disconnect(self, reason: Any = None) -> None:
        self.connections.pop(request.sid, None)
        for publisher in self.publishers.values():
            if publisher.sid == request.sid and not publisher.ending:
                # Not the end: the speaker's wifi may come back. Viewers see a stall.
                publisher.sid = None
                publisher.disconnected_at = time.monotonic()
                self._mark_reconnecting(publisher)

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
        if fields["stream_id"] not in self.publishers:
            stream = db.session.get(LiveStream, fields["stream_id"])
            if stream is not None and stream.source == "rtmp":
                return self._end_rtmp_from_studio(stream, actor)
        publisher = self._publisher(fields["stream_id"], actor)
        self._end(publisher, "ended")
        return {"stream_id": publisher.stream_id, "state": "ending"}

    # -- RTMP: a venue's encoder through nginx-rtmp ----------------------------
    def rtmp_publish(self, talk_id: int, stream_key_id: int, client_id: str, address: str) -> str:
        """nginx's on_publish for a key server/services/ingest.py accepted: the name nginx
        renames the stream to. A new stream, or the same one continued when its encoder
        comes back (same key) within golive.reconnect_seconds. Called inside the callback's
        request: it commits and returns at once; ffmpeg starts from the ticker once nginx
        knows what arrives. Raises golive.AlreadyLive (someone else publishes the talk, from
        a browser or an encoder), golive.NotEnoughSpace, or a ServiceError when this server
        cannot take streams (no ffmpeg)."""
        app = current_app._get_current_object()
        self.start_ticker(app)
        settings = app.extensions["arena.settings"]
        client_id, address = str(client_id)[:20], str(address)[:64]
        if ffmpeg_binary(settings.golive.ffmpeg) is None:
            log.error("RTMP ingest needs ffmpeg: install Debian's ffmpeg (make install) or set golive.ffmpeg")
            raise golive.IngestUnavailable(_("Going live is not set up on this server yet. Tell the organiser."))
        talk = db.session.get(Talk, talk_id)
        if talk is None:
            raise golive.IngestUnavailable(_("There is no talk at this address."))
        resumable = golive.resumable_rtmp_stream(db.session, talk.id, stream_key_id)
        publisher = self.rtmp.get(resumable.id) if resumable is not None else None
        if resumable is not None and publisher is not None and not publisher.ending:
            # Resuming from here on: a tick while the commit below yields must not end the
            # stream for the wait that just ran out and drop the encoder just accepted.
            previous = publisher.client_id, publisher.disconnected_at
            publisher.resuming = True
            self._rtmp_reconnected(publisher, client_id)
            try:
                golive.resume_rtmp(db.session, resumable, client_id=client_id, address=address)
                db.session.commit()
                # A tick that read the row before this commit sees a session newer than its read.
                publisher.connected_at = publisher.last_growth_at = time.monotonic()
            except Exception:
                publisher.client_id, publisher.disconnected_at = previous  # still waiting, as before
                raise
            finally:
                publisher.resuming = False
            self._push(resumable)
            self._emit_studio(talk.id, {"stream_id": resumable.id, "state": "live", "source": "rtmp",
                                        "message": _("The encoder is back. The stream continues.")})
            log.info("RTMP stream %s: the encoder came back (client %s)", resumable.id, client_id)
            return resumable.rtmp_name or ""
        # A stream waiting for its encoder in another process stays that process's: this
        # publisher is refused until it ends (one process runs a stream's ffmpeg).
        stream = golive.start_rtmp_stream(db.session, talk, stream_key_id=stream_key_id, client_id=client_id,
                                          address=address, now=utcnow(), process_id=self.process_id,
                                          recordings_path=settings.recordings_path,
                                          min_free_bytes=settings.golive.min_free_megabytes * 1024 * 1024,
                                          playlist_name=hls.playlist_name(settings.ingest.ladder))
        db.session.commit()  # the talk is now taken: a browser's Go live or another encoder is refused
        root = settings.recordings_path
        self.rtmp[stream.id] = RtmpPublisher(stream.id, talk.id, stream_key_id, stream.rtmp_name or "", client_id,
                                             root / stream.directory, root / stream.archive_directory,
                                             settings.ingest.ladder)
        self._emit_studio(talk.id, {"stream_id": stream.id, "state": "connecting", "source": "rtmp",
                                    "message": rtmp_state_message("connecting", settings.golive.reconnect_seconds)})
        log.info("RTMP stream %s started for talk %s (client %s)", stream.id, talk.id, client_id)
        return stream.rtmp_name or ""

    def rtmp_publish_done(self, stream_key_id: int | None, client_id: str) -> None:
        """nginx's on_publish_done: the encoder left (or was dropped). Its stream waits
        golive.reconnect_seconds for it (viewers see the stall), then ends. Matched by nginx's
        client id and the key (None when the name nginx sends is no key of ours)."""
        stream = golive.rtmp_stream_of_client(db.session, stream_key_id, str(client_id)[:20])
        if stream is None or stream.state in (StreamState.ending, StreamState.ended):
            return  # ended already (dropped by us), or never accepted
        publisher = self.rtmp.get(stream.id)
        if publisher is not None:
            if publisher.resuming or publisher.client_id != str(client_id)[:20]:
                return  # the old connection's goodbye, arriving after the encoder came back
            self._rtmp_disconnected(publisher, stream)
            return
        # Another process runs it: the database tells its ticker within a second.
        golive.set_reconnecting(stream)
        db.session.commit()
        self._push(stream)

    def _rtmp_reconnected(self, publisher: RtmpPublisher, client_id: str) -> None:
        now = time.monotonic()
        publisher.client_id = client_id
        publisher.connected_at = publisher.last_growth_at = now
        publisher.disconnected_at = publisher.codec_seen_at = None
        publisher.unreachable_since = publisher.missing_since = None
        publisher.stalled = False
        publisher.failures = 0
        publisher.rates.clear()
        publisher.last_bytes = 0

    def _rtmp_disconnected(self, publisher: RtmpPublisher, stream: LiveStream | None = None) -> None:
        """The encoder left or nginx went away: wait for it (a new ffmpeg continues), or end
        now if nothing usable ever arrived."""
        if publisher.ending or publisher.disconnected_at is not None:
            return
        if publisher.parts_started == 0:
            self._end_rtmp(publisher, "no_data")  # nothing to continue: the talk is free again
            return
        publisher.disconnected_at = time.monotonic()
        part, publisher.part, publisher.part_ended_at = publisher.part, None, None
        if part is not None and part.alive():
            publisher.stopping = part
            self.socketio.start_background_task(part.stop)  # its input ends with the publisher anyway
        try:
            stream = stream or db.session.get(LiveStream, publisher.stream_id)
            if stream is not None:
                golive.set_reconnecting(stream)
                db.session.commit()
                self._push(stream)
        except Exception:
            db.session.rollback()
            log.exception("marking RTMP stream %s reconnecting failed", publisher.stream_id)
        seconds = self._settings_of_app().golive.reconnect_seconds
        self._emit_studio(publisher.talk_id, {"stream_id": publisher.stream_id, "state": "reconnecting",
                                              "source": "rtmp", "message": rtmp_state_message("reconnecting", seconds)})

    def _end_rtmp_from_studio(self, stream: LiveStream, actor: Actor) -> dict[str, Any]:
        """End pressed on the studio page for a stream an encoder sends: the encoder is
        dropped and the stream ends now (in the process that runs it)."""
        golive.require_publisher(actor, stream.talk)
        if not stream.is_active or stream.state is StreamState.ending:
            raise golive.StreamOver(_("This stream has ended."))
        golive.audit_stream(db.session, stream, "ingest.stop", actor=actor.label,
                            actor_role=actor.role.value if actor.role else "participant")
        join_room(p.studio_room(stream.talk_id))  # this page hears the end
        publisher = self.rtmp.get(stream.id)
        if publisher is not None:
            db.session.commit()
            self._end_rtmp(publisher, "ended")
        else:
            golive.begin_ending(stream)
            stream.end_reason = stream.end_reason or "ended"
        return {"stream_id": stream.id, "state": "ending"}

    def _end_rtmp(self, publisher: RtmpPublisher, reason: str) -> None:
        """Drop the encoder, let ffmpeg finish, make the recording: in the background."""
        if publisher.ending:
            return
        publisher.ending = True
        log.log(logging.WARNING if reason in golive.RTMP_END_REASONS else logging.INFO,
                "RTMP stream %s ends: %s", publisher.stream_id, reason)
        try:
            stream = db.session.get(LiveStream, publisher.stream_id)
            if stream is not None:
                golive.begin_ending(stream)  # no longer LIVE anywhere, though the recording takes a while
                stream.end_reason = stream.end_reason or reason
                db.session.commit()
                self._push(stream)
                publisher.ending_pushed = True
                seconds = self._settings_of_app().golive.reconnect_seconds
                self._emit_studio(publisher.talk_id, {"stream_id": publisher.stream_id, "state": "ending",
                                                      "source": "rtmp",
                                                      "message": rtmp_state_message("ending", seconds)})
        except Exception:
            db.session.rollback()
            log.exception("marking RTMP stream %s ending failed", publisher.stream_id)
        self.socketio.start_background_task(self._archive_rtmp, publisher, reason)

    def _archive_rtmp(self, publisher: RtmpPublisher, reason: str) -> None:
        assert self._app is not None  # noqa: S101  set when the tickers start: for the type checker
        with self._app.app_context():
            archive = Archive(None, None)
            settings = self._app.extensions["arena.settings"]
            try:
                control = control_for(self._app)
                if control is not None:
                    try:
                        control.drop_publisher(publisher.rtmp_name)
                    except (OSError, ValueError) as error:
                        log.warning("dropping the encoder of stream %s failed: %s", publisher.stream_id, error)
                for part in (publisher.part, publisher.stopping):
                    if part is not None:
                        part.stop()
                hls.close_playlists(publisher.directory)
                self._release(publisher.stream_id)  # the live part is over: the talk is free
                ffmpeg = ffmpeg_binary(settings.golive.ffmpeg)
                if ffmpeg is not None:
                    archive = make_recording(ffmpeg, publisher.work_dir, copy_video=publisher.copy_video)
            except Exception:
                log.exception("making the recording of RTMP stream %s failed", publisher.stream_id)
            finally:
                self._finish(publisher.stream_id, reason, archive, settings.recordings_path,
                             recording_failed=archive.path is None and bool(rtmp_parts(publisher.work_dir)),
                             push=not publisher.ending_pushed)
                self.rtmp.pop(publisher.stream_id, None)
                db.session.remove()

    def _release(self, stream_id: int) -> None:
        """The stream's ffmpeg has stopped and its playlists are closed: free the talk for a new
        publisher (browser or encoder) while the recording is made, which can take minutes."""
        try:
            stream = db.session.get(LiveStream, stream_id)
            if stream is not None:
                golive.release_talk(stream)
                db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("freeing the talk of stream %s failed", stream_id)
        self._listeners_ended(stream_id)  # its pushes end with the live part

    def _forget_rtmp(self, publisher: RtmpPublisher) -> None:
        """A stream ended or deleted elsewhere: drop its encoder and stop its ffmpeg, nothing more."""
        try:
            self._drop(publisher.rtmp_name)
            for part in (publisher.part, publisher.stopping):
                if part is not None:
                    part.stop(timeout=1)
        finally:
            self.rtmp.pop(publisher.stream_id, None)

    def _finish(self, stream_id: int, reason: str, archive: Archive, root: Path, *,
                recording_failed: bool = False, push: bool = True) -> None:
        """Write the end down (never leaving the talk LIVE), tell viewers, the studio and the listeners.
        recording_failed: parts were sent but could not be joined (they are kept; see the log)."""
        try:
            stream = db.session.get(LiveStream, stream_id)
            if stream is None:
                return
            path = archive.path
            golive.finish_stream(db.session, stream, reason=reason, now=utcnow(),
                                 archive_path=str(path.relative_to(root)) if path else None,
                                 duration_seconds=archive.duration_seconds)
            if stream.source == "rtmp":
                golive.audit_stream(db.session, stream, "ingest.end",
                                    after={"reason": stream.end_reason, "recording": path is not None,
                                           "duration_seconds": round(archive.duration_seconds or 0, 1),
                                           **({"recording_failed": True} if recording_failed else {})})
            db.session.commit()
            # Viewers saw it end when it began ending; never pushed over a newer stream on the talk.
            if push and golive.is_latest(db.session, stream):
                self._push(stream)
            self._tell_studio(stream.talk_id, stream, stream.end_reason or reason, recording_failed=recording_failed)
        except Exception:
            db.session.rollback()
            log.exception("ending stream %s failed", stream_id)
        finally:
            self._listeners_ended(stream_id)

    # -- listeners (simulcast) -------------------------------------------------------------
    def _listeners(self):
        return self._app.extensions.get("arena.stream_listeners") if self._app is not None else None

    def _listeners_on_air(self, stream_id: int, talk_id: int, source_url: str) -> None:
        listeners = self._listeners()
        if listeners is not None:
            listeners.on_air(stream_id, talk_id, source_url)  # each listener's failure is its own

    def _listeners_ended(self, stream_id: int) -> None:
        listeners = self._listeners()
        if listeners is not None:
            listeners.ended(stream_id)

    def _settings_of_app(self):
        return self._app.extensions["arena.settings"]

    @acked
    def on_watch(self, data: Any) -> dict[str, Any]:
        """The studio page learns of the talk's stream now (an encoder may already send it)
        and hears of every change: it can show it and end it."""
        fields = _fields(data, {"talk_id": int})
        actor = self._actor()
        talk = self._talk(fields["talk_id"])
        golive.require_publisher(actor, talk)
        join_room(p.studio_room(talk.id))
        stream = golive.active_stream(db.session, talk.id)
        if stream is None or stream.source != "rtmp":
            return {"stream": None}
        publisher = self.rtmp.get(stream.id)
        live = publisher.on_air if publisher is not None else stream.talk.live_state.value == "live"
        state = {StreamState.reconnecting: "reconnecting", StreamState.ending: "ending"}.get(
            stream.state, "live" if live else "connecting")
        return {"stream": {"stream_id": stream.id, "source": "rtmp", "state": state,
                           "message": rtmp_state_message(state, self._settings().golive.reconnect_seconds)}}

    # -- the stream's life --------------------------------------------------------------
    def _end(self, publisher: Publisher, reason: str) -> None:
        """Stop taking pieces; ffmpeg closes the playlist; the recording is made in the background."""
        if publisher.ending:
            return
        publisher.ending = True
        stream = db.session.get(LiveStream, publisher.stream_id)
        if stream is not None:
            golive.begin_ending(stream)  # no longer LIVE anywhere, though the recording takes a while
            stream.end_reason = stream.end_reason or reason
            db.session.commit()
            self._push(stream)
            publisher.ending_pushed = True
        publisher.ingest.finish()
        self.socketio.start_background_task(self._archive, publisher, reason)

    def _archive(self, publisher: Publisher, reason: str) -> None:
        """Wait for ffmpeg, make the recording, write it down, tell the speaker and the viewers."""
        assert self._app is not None  # noqa: S101  set when the tickers start: for the type checker
        with self._app.app_context():
            try:
                publisher.ingest.wait()
                self._release(publisher.stream_id)  # the live part is over: the talk is free
                archive = make_archive(publisher.ingest.ffmpeg, publisher.ingest.work_dir, publisher.ingest.codec)
                root = self._app.extensions["arena.settings"].recordings_path
                stream = db.session.get(LiveStream, publisher.stream_id)
                if stream is not None:
                    golive.finish_stream(db.session, stream, reason=reason, now=utcnow(),
                                         archive_path=str(archive.path.relative_to(root)) if archive.path else None,
                                         duration_seconds=archive.duration_seconds)
                    db.session.commit()
                    # Viewers saw it end when it began ending; never pushed over a newer stream.
                    if not publisher.ending_pushed and golive.is_latest(db.session, stream):
                        self._push(stream)
                    self._tell_studio(publisher.talk_id, stream, reason)
            except Exception:
                db.session.rollback()
                log.exception("archiving stream %s failed", publisher.stream_id)
            finally:
                self.publishers.pop(publisher.stream_id, None)
                self._listeners_ended(publisher.stream_id)
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
                    # Simulcast copies the source rendition's HLS of a browser stream.
                    ladder = stream.playlist_name == hls.MASTER
                    self._listeners_on_air(stream_id, publisher.talk_id,
                                           str(hls.source_playlist(publisher.ingest.directory, ladder)))
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
                self._push(stream)
                publisher.ending_pushed = True
            db.session.remove()
        self._archive(publisher, "ffmpeg_failed")

    def _mark_reconnecting(self, publisher: Publisher) -> None:
        try:
            stream = db.session.get(LiveStream, publisher.stream_id)
            if stream is not None:
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

    def _tell_studio(self, talk_id: int, stream: LiveStream, reason: str, *, recording_failed: bool = False) -> None:
        if stream.source == "rtmp":
            settings = self._app.extensions["arena.settings"]
            message = rtmp_end_message(reason, settings.ingest)
            if recording_failed:  # never "the recording is saved" when it is not
                message = (recording_failed_message(reason) if reason == "ended" else
                           " ".join((message, recording_failed_message(reason))))
            self._emit_studio(talk_id, {"stream_id": stream.id, "state": "ended", "reason": reason, "source": "rtmp",
                                        "message": message, "recording_failed": recording_failed,
                                        "recording": stream.archive_path is not None,
                                        "duration_seconds": stream.duration_seconds})
            return
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
        heartbeat_failures, ticker_failures = TickerFailures("studio heartbeat"), TickerFailures("studio ticker")
        while not self._stopped:
            self.socketio.sleep(TICK_SECONDS)
            now = time.monotonic()
            if now - last_heartbeat >= HEARTBEAT_SECONDS:
                # On its own: a check that fails on every tick must never let another process
                # (or this one) take a stream this process still runs for an orphan.
                try:
                    with self._app.app_context():
                        live = {s: pub.ingest.bytes_received for s, pub in self.publishers.items()}
                        # RTMP streams of this process, from their first second: never orphans.
                        live.update({s: pub.last_bytes for s, pub in self.rtmp.items()})
                        # Orphans this process is archiving (their byte counts stand): joining can
                        # take minutes, and another claim would make the recording again over it.
                        golive.heartbeat(db.session, list(live.keys() | self.archiving), live, utcnow())
                        db.session.commit()
                        last_heartbeat = now
                    heartbeat_failures.succeeded()
                except Exception as error:
                    heartbeat_failures.failed(error)
                finally:
                    with self._app.app_context():
                        db.session.remove()
            try:
                with self._app.app_context():
                    settings = self._app.extensions["arena.settings"]
                    for publisher in list(self.publishers.values()):
                        self._check_publisher(publisher, now, settings)
                    if self.publishers:
                        self._check_roles()  # a withdrawn link ends its stream within a second
                    if self.rtmp:
                        self._check_rtmp(now, settings)
                    if now - last_disk >= DISK_CHECK_SECONDS and (self.publishers or self.rtmp):
                        last_disk = now
                        self._check_disk(settings)
                    if now - last_orphans >= ORPHAN_CHECK_SECONDS:
                        last_orphans = now
                        self._archive_orphans(settings)
                    db.session.remove()
                ticker_failures.succeeded()
            except Exception as error:
                ticker_failures.failed(error)

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
            for rtmp in list(self.rtmp.values()):
                if not rtmp.ending:
                    log.error("disk space below golive.min_free_megabytes: ending RTMP stream %s", rtmp.stream_id)
                    self._end_rtmp(rtmp, "disk_full")

    # -- RTMP streams, each second ----------------------------------------------------------
    def _check_rtmp(self, now: float, settings) -> None:
        running = [pub for pub in self.rtmp.values() if not pub.ending]
        if not running:
            return
        stats = self._rtmp_stats()
        read_at = time.monotonic()
        rows = {row.id: row for row in db.session.scalars(
            select(LiveStream).where(LiveStream.id.in_([pub.stream_id for pub in running])))}
        valid = golive.key_still_valid(db.session, [pub.stream_key_id for pub in running
                                                    if pub.stream_key_id is not None])
        for publisher in running:
            if publisher.ending or publisher.resuming:
                continue  # ended or resumed meanwhile (a callback ran while this loop waited)
            row = rows.get(publisher.stream_id)
            if row is None or row.state is StreamState.ended:
                # Deleted with its talk, or ended elsewhere: stop, and write nothing over it.
                publisher.ending = True
                self.socketio.start_background_task(self._forget_rtmp, publisher)
            elif row.state is StreamState.ending:
                self._end_rtmp(publisher, row.end_reason or "ended")  # End pressed in another process
            elif publisher.stream_key_id is None or not valid.get(publisher.stream_key_id, False):
                self._end_rtmp(publisher, "key_revoked")  # rotated or revoked, here or from the CLI
            elif (row.state is StreamState.reconnecting and publisher.disconnected_at is None
                  and publisher.connected_at < read_at):  # (not an encoder that came back just now)
                self._rtmp_disconnected(publisher, row)  # on_publish_done answered by another process
            else:
                self._check_rtmp_publisher(publisher, row, stats, now, settings)

    def _rtmp_stats(self) -> dict | None:
        """nginx-rtmp's stat by stream name; None when nginx does not answer; NO_STATS when
        this server has no stat to ask (a system nginx without ingest.control_url)."""
        control = control_for(self._app)
        if control is None:
            return NO_STATS
        try:
            return control.stats()
        except (OSError, ValueError) as error:
            log.debug("nginx-rtmp's stat: %s", error)
            return None

    def _check_rtmp_publisher(self, publisher: RtmpPublisher, row: LiveStream, stats: dict | None, now: float,
                              settings) -> None:
        if publisher.disconnected_at is not None:
            if now - publisher.disconnected_at > settings.golive.reconnect_seconds:
                self._end_rtmp(publisher, "no_data" if publisher.stalled else "connection_lost")
            return
        if stats is NO_STATS:
            self._check_rtmp_blind(publisher, row, settings)
            return
        if stats is None:
            # nginx gone (its supervisor starts it again): as if the encoder left; it may come back.
            publisher.unreachable_since = publisher.unreachable_since or now
            if now - publisher.unreachable_since >= NGINX_GONE_SECONDS:
                log.warning("RTMP stream %s: nginx-rtmp does not answer", publisher.stream_id)
                self._rtmp_disconnected(publisher, row)
            return
        publisher.unreachable_since = None
        stat = stats.get(publisher.rtmp_name)
        publishing = stat is not None and stat.publishing
        if publisher.part is not None and not publisher.part.alive():
            self._rtmp_part_ended(publisher, row, publishing, now)
            return
        if publisher.part is None:
            self._await_metadata(publisher, row, stat if publishing else None, now, settings)
            return
        if not publishing:
            publisher.missing_since = publisher.missing_since or now
            if now - publisher.missing_since >= PUBLISHER_GONE_SECONDS:
                self._rtmp_disconnected(publisher, row)  # gone, though on_publish_done never came
            return
        publisher.missing_since = None
        if publisher.part.ready() and not publisher.on_air:  # each tick: a new part rewrites the master
            self._rtmp_on_air(publisher, row, settings)
        if self._over_caps(publisher, stat, settings):
            self._end_rtmp(publisher, "too_large")
            return
        if self._bitrate_kbps(publisher, stat.bytes_in, now) > settings.ingest.max_kbps:
            self._end_rtmp(publisher, "bitrate_too_high")
            return
        if now - publisher.last_growth_at > max(1, settings.ingest.no_data_seconds):
            # Connected, sending nothing (a frozen encoder): dropped; it may reconnect within the wait.
            publisher.stalled = True
            self.socketio.start_background_task(self._drop, publisher.rtmp_name)
            self._rtmp_disconnected(publisher, row)

    def _check_rtmp_blind(self, publisher: RtmpPublisher, row: LiveStream, settings) -> None:
        """Without nginx's stat (docs/ingest.md: set ingest.control_url) there are no caps or
        codec checks: ffmpeg copies what comes, and the encoder leaving ends its part."""
        if publisher.part is None:
            if publisher.stopping is None or not publisher.stopping.alive():
                self._start_part(publisher, row, settings, copy_video=True, audio=True, codec="", width=None,
                                 height=None)
        elif not publisher.part.alive():
            publisher.part = None
            self._rtmp_disconnected(publisher, row)
        elif publisher.part.ready() and not publisher.on_air:
            self._rtmp_on_air(publisher, row, settings)

    def _await_metadata(self, publisher: RtmpPublisher, row: LiveStream, stat, now: float, settings) -> None:
        """Before ffmpeg: what does the encoder send? Refused clearly when it is not usable."""
        if publisher.stopping is not None and publisher.stopping.alive():
            return  # the last session's ffmpeg still closes its files: the next one appends after it
        waited = now - publisher.connected_at
        if stat is not None and stat.bytes_in > publisher.last_bytes:
            publisher.last_bytes = stat.bytes_in
        if stat is not None and stat.video_codec:
            publisher.codec_seen_at = publisher.codec_seen_at or now
            decision = video_decision(stat.video_codec)
            if decision == "refuse":
                row.video_codec = str(stat.video_codec)[:20]
                self._end_rtmp(publisher, "unsupported_codec")
                return
            if self._over_caps(publisher, stat, settings):
                row.video_width, row.video_height = stat.width, stat.height
                self._end_rtmp(publisher, "too_large")
                return
            settled = now - publisher.codec_seen_at >= METADATA_SETTLE_SECONDS
            if not settled and not (stat.width and stat.height and stat.audio_codec):
                return  # the size and the sound are usually known a moment later
            self._start_part(publisher, row, settings, copy_video=decision == "copy",
                             audio=bool(stat.audio_codec), codec=stat.video_codec, width=stat.width,
                             height=stat.height)
            return
        if waited > max(1, settings.ingest.no_data_seconds):
            # Sound only, or a video codec nginx does not know: something, but no picture we can use.
            sent = stat is not None and (bool(stat.audio_codec) or stat.bytes_in >= SENT_SOMETHING_BYTES)
            self._end_rtmp(publisher, "unsupported_codec" if sent else "no_data")

    def _over_caps(self, publisher: RtmpPublisher, stat, settings) -> bool:
        too_large = ((stat.width or 0) > settings.ingest.max_width or (stat.height or 0) > settings.ingest.max_height)
        if too_large:
            log.warning("RTMP stream %s sends %sx%s, above ingest.max_width/max_height", publisher.stream_id,
                        stat.width, stat.height)
        return too_large

    def _bitrate_kbps(self, publisher: RtmpPublisher, bytes_in: int, now: float) -> float:
        """The input's bitrate over the last RATE_WINDOW_SECONDS (0 until that long is seen)."""
        if bytes_in > publisher.last_bytes:
            publisher.last_growth_at = now
        elif bytes_in < publisher.last_bytes:
            publisher.rates.clear()  # a new session in nginx counts from 0
            publisher.last_growth_at = now
        publisher.last_bytes = bytes_in
        rates = publisher.rates
        rates.append((now, bytes_in))
        while len(rates) > 2 and now - rates[1][0] >= RATE_WINDOW_SECONDS:
            rates.popleft()
        first_at, first_bytes = rates[0]
        if now - first_at < RATE_WINDOW_SECONDS - 0.5:
            return 0.0
        return (bytes_in - first_bytes) * 8 / 1000 / (now - first_at)

    def _start_part(self, publisher: RtmpPublisher, row: LiveStream, settings, *, copy_video: bool, audio: bool,
                    codec: str, width: int | None, height: int | None) -> None:
        ffmpeg = ffmpeg_binary(settings.golive.ffmpeg)
        if ffmpeg is None:
            self._end_rtmp(publisher, "ffmpeg_failed")
            return
        number = publisher.parts_started + 1
        part = RtmpPart(ffmpeg, play_url(settings, publisher.rtmp_name), publisher.directory, publisher.work_dir,
                        number, copy_video=copy_video, ladder=publisher.ladder,
                        segment_seconds=settings.golive.segment_seconds, preset=settings.ingest.ladder_preset,
                        # Continue the playlists viewers already play, after a discontinuity.
                        append=hls.ready(publisher.directory, publisher.ladder), audio=audio)
        try:
            part.start()
        except RtmpIngestError:
            log.exception("ffmpeg did not start for RTMP stream %s", publisher.stream_id)
            self._end_rtmp(publisher, "ffmpeg_failed")
            return
        publisher.part, publisher.parts_started, publisher.part_ended_at = part, number, None
        publisher.copy_video = publisher.copy_video and copy_video  # the recording transcodes if any part must
        publisher.last_growth_at = time.monotonic()
        row.video_codec = "h264" if copy_video else str(codec)[:20]
        row.video_width, row.video_height = width, height
        db.session.commit()
        log.info("RTMP stream %s: part %s (%s %sx%s, video %s)", publisher.stream_id, number, codec, width, height,
                 "copied" if copy_video else "transcoded")

    def _rtmp_part_ended(self, publisher: RtmpPublisher, row: LiveStream, publishing: bool, now: float) -> None:
        part = publisher.part
        if not publishing:
            publisher.part, publisher.part_ended_at = None, None
            self._rtmp_disconnected(publisher, row)  # the encoder left; on_publish_done follows
            return
        # nginx's stat can be a tick behind ffmpeg seeing its input end, and on_publish_done
        # can be lost: an encoder gone from the stat within PUBLISHER_GONE_SECONDS left (the
        # wait runs); only one still publishing after that saw ffmpeg fail.
        publisher.part_ended_at = publisher.part_ended_at or now
        if now - publisher.part_ended_at < PUBLISHER_GONE_SECONDS:
            return
        publisher.part, publisher.part_ended_at = None, None
        # ffmpeg stopped while the encoder still sends.
        publisher.failures += 1
        log.warning("ffmpeg of RTMP stream %s stopped (exit code %s): %s", publisher.stream_id,
                    part.returncode if part else None, part.log_tail() if part else "")
        if not part.copy_video and not publisher.on_air:
            self._end_rtmp(publisher, "unsupported_codec")  # ffmpeg cannot decode what arrives
        elif publisher.failures >= MAX_PART_FAILURES:
            self._end_rtmp(publisher, "ffmpeg_failed")
        else:
            publisher.connected_at = time.monotonic()  # a new part once nginx has the metadata
            publisher.codec_seen_at = None

    def _rtmp_on_air(self, publisher: RtmpPublisher, row: LiveStream, settings) -> None:
        """The first segment exists: the talk flips to LIVE for everyone."""
        publisher.on_air = True
        golive.mark_on_air(row)
        db.session.commit()
        self._push(row)
        self._emit_studio(publisher.talk_id, {"stream_id": publisher.stream_id, "state": "live", "source": "rtmp",
                                              "message": rtmp_state_message("live", settings.golive.reconnect_seconds)})
        self._listeners_on_air(publisher.stream_id, publisher.talk_id, play_url(settings, publisher.rtmp_name))

    def _drop(self, rtmp_name: str) -> None:
        control = control_for(self._app)
        if control is not None:
            try:
                control.drop_publisher(rtmp_name)
            except (OSError, ValueError) as error:
                log.warning("dropping an RTMP publisher failed: %s", error)

    def _archive_orphans(self, settings) -> None:
        now = utcnow()
        # Never an orphan, even with a late heartbeat: what this process runs or is archiving.
        own = set(self.publishers) | set(self.rtmp) | self.archiving
        orphans = golive.claim_orphans(db.session, self.process_id, now, now - ORPHAN_AFTER, exclude=own)
        db.session.commit()
        for stream in orphans:
            if stream.id in own:
                continue
            self.archiving.add(stream.id)
            self.socketio.start_background_task(self._archive_orphan, stream.id, settings.recordings_path,
                                                settings.golive.ffmpeg)

    def _archive_orphan(self, stream_id: int, root: Path, configured_ffmpeg: str) -> None:
        with self._app.app_context():
            try:
                stream = db.session.get(LiveStream, stream_id)
                if stream is None:
                    return
                close_playlist(root / stream.directory)
                # As for a stream ending here: the talk is not live from now on, and free for a
                # new publisher while the recording is made (minutes for a long stream).
                golive.begin_ending(stream)
                golive.release_talk(stream)
                db.session.commit()
                if golive.is_latest(db.session, stream):
                    self._push(stream)
                ffmpeg = ffmpeg_binary(configured_ffmpeg)
                failed = False
                if ffmpeg is None:
                    archive = None
                elif stream.source == "rtmp":
                    if stream.rtmp_name:
                        self._drop(stream.rtmp_name)  # a system nginx outlives a crashed Arena
                    # Its ffmpeg ends with its input (and with its process): join only once the
                    # last part is written in full.
                    if not wait_for_parts(root / stream.archive_directory):
                        log.warning("a part of orphaned stream %s still grows: joining what there is", stream_id)
                    archive = make_recording(ffmpeg, root / stream.archive_directory,
                                             copy_video=stream.video_codec in ("", "h264"))
                    failed = archive.path is None and bool(rtmp_parts(root / stream.archive_directory))
                else:
                    archive = make_archive(ffmpeg, root / stream.archive_directory, stream.video_codec)
                path = archive.path if archive else None
                golive.finish_stream(db.session, stream, reason="server_stopped", now=utcnow(),
                                     archive_path=str(path.relative_to(root)) if path else None,
                                     duration_seconds=archive.duration_seconds if archive else None)
                if stream.source == "rtmp":
                    golive.audit_stream(db.session, stream, "ingest.end",
                                        after={"reason": stream.end_reason, "recording": path is not None,
                                               **({"recording_failed": True} if failed else {})})
                db.session.commit()
                if golive.is_latest(db.session, stream):
                    self._push(stream)
                self._tell_studio(stream.talk_id, stream, "server_stopped", recording_failed=failed)
                log.warning("archived stream %s left behind by a stopped process", stream_id)
            except Exception:
                db.session.rollback()
                log.exception("archiving orphaned stream %s failed", stream_id)
            finally:
                self.archiving.discard(stream_id)
                self._listeners_ended(stream_id)
                db.session.remove()
