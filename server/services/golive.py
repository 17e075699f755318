"""Going live from the browser: who may publish, one publisher per talk, the
stream's life from "Go live" to its archived recording.

Functions over a Session and plain values, as every service: they never commit and know
nothing of Socket.IO or ffmpeg (server/sockets/studio.py drives them; server/media/ingest.py
runs ffmpeg). The talk's live_state follows its streams, so the event page's LIVE badge,
the API and the feeds see a browser stream like any other.
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.i18n import _l
from server.models import LiveState, LiveStream, Role, StreamKey, StreamState, Talk
from server.services import audit
from server.services.errors import Conflict, Forbidden, ServiceError, ValidationError
from server.services.roles import Actor

CODECS = ("h264", "vp8", "vp9")
_CONTAINERS = ("video/webm", "video/x-matroska")
_SAFE_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")


class AlreadyLive(Conflict):
    code = "already_live"


class NotEnoughSpace(ServiceError):
    code = "disk_full"
    http_status = 507


class IngestUnavailable(ServiceError):
    """This server cannot take a stream now (no ffmpeg, the talk gone)."""
    code = "ingest_unavailable"
    http_status = 503


def can_publish(actor: Actor, talk: Talk) -> bool:
    """Only the talk's own speaker or an organiser: a moderator runs the chat, not the stage."""
    if actor.role is Role.organiser:
        return True
    return actor.role is Role.speaker and actor.talk_id == talk.id


def require_publisher(actor: Actor, talk: Talk) -> None:
    require_publisher_of(actor, talk.id)


def require_publisher_of(actor: Actor, talk_id: int) -> None:
    if not (actor.role is Role.organiser or (actor.role is Role.speaker and actor.talk_id == talk_id)):
        raise Forbidden(_l("Only the talk's speaker or an organiser can go live."))


def codec_of(mime_type: Any) -> str:
    """What MediaRecorder says it records -> "h264", "vp8" or "vp9"; anything else is refused.

    Chromium offers H.264 in WebM or Matroska (copied by ffmpeg); Firefox VP8 (transcoded)."""
    text = mime_type.strip().lower() if isinstance(mime_type, str) else ""
    container, _, params = text.partition(";")
    codecs = params.strip().removeprefix("codecs=").strip('"').split(",") if params else []
    video = codecs[0].strip() if codecs else ""
    if container.strip() in _CONTAINERS:
        if video == "h264" or video.startswith("avc1"):
            return "h264"
        if video == "vp8":
            return "vp8"
        if video == "vp9" or video.startswith("vp09"):
            return "vp9"
    raise ValidationError(_l("This browser records video in a format Arena cannot take. Try Chrome, Edge or Firefox."),
                          code="unsupported_format", field="mime_type")


def free_bytes(path: Path) -> int:
    path.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(path).free


def check_free_space(recordings_path: Path, min_free_bytes: int) -> None:
    if free_bytes(recordings_path) < min_free_bytes:
        raise NotEnoughSpace(_l("The server is running out of disk space, so the stream could not start. "
                                "Tell the organiser."))


def active_stream(session: Session, talk_id: int) -> LiveStream | None:
    return session.scalar(select(LiveStream).where(LiveStream.active_talk_id == talk_id))


def latest_stream(session: Session, talk: Talk) -> LiveStream | None:
    """The talk's stream to show viewers: the one live now, else the last one."""
    return session.scalar(select(LiveStream).where(LiveStream.talk_id == talk.id)
                          .order_by(LiveStream.active_talk_id.is_(None), LiveStream.id.desc()).limit(1))


def start_stream(session: Session, talk: Talk, actor: Actor, *, codec: str, now: datetime, process_id: str,
                 recordings_path: Path, min_free_bytes: int) -> LiveStream:
    """A new stream for the talk, or AlreadyLive when someone is already publishing it."""
    require_publisher(actor, talk)
    if codec not in CODECS:
        raise ValidationError(_l("This browser records video in a format Arena cannot take. "
                                 "Try Chrome, Edge or Firefox."), code="unsupported_format")
    check_free_space(recordings_path, min_free_bytes)
    return _take_talk(session, talk, LiveStream(
        talk_id=talk.id, active_talk_id=talk.id, state=StreamState.live,
        publisher_name=actor.staff_name[:120], publisher_participant_id=actor.participant_id[:64],
        video_codec=codec, process_id=process_id[:100], heartbeat_at=now, started_at=now))


def _take_talk(session: Session, talk: Talk, stream: LiveStream) -> LiveStream:
    """Store the new stream as the talk's one publisher (browser or encoder), or AlreadyLive."""
    if active_stream(session, talk.id) is not None:
        raise AlreadyLive(_l("Someone is already live on this talk. Only one person can send the stream at a time."))
    try:
        # The unique active_talk_id settles a race between two processes: the second insert fails.
        with session.begin_nested():
            session.add(stream)
            session.flush()
    except IntegrityError:
        raise AlreadyLive(_l("Someone is already live on this talk. Only one person can send the stream at a time.")
                          ) from None
    stream.directory = stream_directory(talk, stream.id)
    stream.archive_directory = archive_directory(talk, stream.id)
    return stream


# -- RTMP: a venue's encoder publishes through nginx-rtmp -------------------------

# Who the audit log names for what the ingest itself decides (a stream ended for a revoked
# key, too high a bitrate ...): no person pressed anything.
SYSTEM_ACTOR = "Arena"
SYSTEM_ROLE = "system"
# The reasons an RTMP stream ends besides the browser's: what the studio and the audit log say.
RTMP_END_REASONS = ("no_data", "too_large", "unsupported_codec", "bitrate_too_high", "key_revoked")


def start_rtmp_stream(session: Session, talk: Talk, *, stream_key_id: int, client_id: str, address: str,
                      now: datetime, process_id: str, recordings_path: Path, min_free_bytes: int,
                      playlist_name: str) -> LiveStream:
    """A new stream for an encoder that nginx-rtmp accepted with the talk's key (the key was
    checked by server/services/ingest.py), or AlreadyLive when someone already publishes
    the talk, from the browser or over RTMP."""
    check_free_space(recordings_path, min_free_bytes)
    stream = _take_talk(session, talk, LiveStream(
        talk_id=talk.id, active_talk_id=talk.id, state=StreamState.live, source="rtmp",
        publisher_name=f"RTMP ({address})"[:120], publisher_participant_id="",
        video_codec="", process_id=process_id[:100], heartbeat_at=now, started_at=now,
        stream_key_id=stream_key_id, rtmp_client_id=str(client_id)[:20],
        client_address=str(address)[:64], playlist_name=playlist_name))
    # The name nginx knows the stream by (on_publish renames it): the key itself never
    # reaches ffmpeg's command line, a log or nginx's statistics.
    stream.rtmp_name = f"s{int(stream.id)}-{secrets.token_hex(12)}"
    audit_stream(session, stream, "ingest.publish", after={"address": stream.client_address})
    return stream


def resumable_rtmp_stream(session: Session, talk_id: int, stream_key_id: int) -> LiveStream | None:
    """The talk's RTMP stream waiting for its encoder to come back with the same key, if any."""
    stream = active_stream(session, talk_id)
    if (stream is not None and stream.source == "rtmp" and stream.stream_key_id == stream_key_id
            and stream.state is StreamState.reconnecting):
        return stream
    return None


def resume_rtmp(session: Session, stream: LiveStream, *, client_id: str, address: str) -> None:
    """The encoder reconnected within the wait: the same stream continues, in a new part."""
    if stream.state is not StreamState.reconnecting:
        raise AlreadyLive(_l("Someone is already live on this talk. Only one person can send the stream at a time."))
    stream.state = StreamState.live
    stream.rtmp_client_id = str(client_id)[:20]
    stream.client_address = str(address)[:64]
    audit_stream(session, stream, "ingest.resume", after={"address": stream.client_address})


def rtmp_stream_of_client(session: Session, stream_key_id: int | None, client_id: str) -> LiveStream | None:
    """The active RTMP stream nginx knows by this client id (and key, when known)."""
    query = select(LiveStream).where(LiveStream.active_talk_id.is_not(None), LiveStream.source == "rtmp",
                                     LiveStream.rtmp_client_id == str(client_id)[:20])
    if stream_key_id is not None:
        query = query.where(LiveStream.stream_key_id == stream_key_id)
    return session.scalar(query.order_by(LiveStream.id.desc()).limit(1))


def key_still_valid(session: Session, stream_key_ids: list[int]) -> dict[int, bool]:
    """Whether each key may still publish: rotated or revoked (in any process, the CLI too) is not."""
    if not stream_key_ids:
        return {}
    valid = {key_id: False for key_id in stream_key_ids}
    for key in session.scalars(select(StreamKey).where(StreamKey.id.in_(stream_key_ids))):
        valid[key.id] = key.revoked_at is None and key.active_talk_id is not None
    return valid


def audit_stream(session: Session, stream: LiveStream, action: str, *, after: dict | None = None,
                 actor: str = SYSTEM_ACTOR, actor_role: str = SYSTEM_ROLE) -> None:
    """An RTMP stream's start, resume and end in the audit log (a public record of the talk)."""
    audit.record(session, None, action, stream, talk=stream.talk, target_type="live_stream", after=after or None,
                 actor_label=actor, actor_role=actor_role)


def mark_on_air(stream: LiveStream) -> None:
    """The first segment exists: now the talk is live for everyone (pages, badges, API, feeds)."""
    if stream.is_active:
        stream.talk.live_state = LiveState.live


def stream_directory(talk: Talk, stream_id: int) -> str:
    """recordings/<event>/<talk>/live/<stream id>-<random>: made here, from slugs the server
    checked when they were stored (and ids if one ever is not a plain slug). The random part
    (128 bits) keeps a stream's HLS from being found by counting ids: the folder is stored
    on the row (LiveStream.directory), and the pages link to it from there."""
    return f"{_talk_folder(talk)}/live/{int(stream_id)}-{secrets.token_hex(16)}"


def archive_directory(talk: Talk, stream_id: int) -> str:
    """recordings/<event>/<talk>/archive/<stream id>-<random>: drawn apart from the live
    folder, so the public playlist's name tells nothing about the recording's."""
    return f"{_talk_folder(talk)}/archive/{int(stream_id)}-{secrets.token_hex(12)}"


def _talk_folder(talk: Talk) -> str:
    event_part = talk.event.slug if _SAFE_SLUG.match(talk.event.slug or "") else f"event-{talk.event_id}"
    talk_part = talk.slug if _SAFE_SLUG.match(talk.slug or "") else f"talk-{talk.id}"
    return f"{event_part}/{talk_part}"


def set_reconnecting(stream: LiveStream) -> None:
    if stream.state is StreamState.live:
        stream.state = StreamState.reconnecting


def resume(stream: LiveStream, actor: Actor) -> None:
    """The same browser came back within the wait: the same stream continues."""
    require_publisher(actor, stream.talk)
    if not stream.is_active or stream.state is StreamState.ending:
        raise StreamOver(_l("This stream has ended. Press Go live to start a new one."))
    if stream.publisher_participant_id != actor.participant_id:
        raise AlreadyLive(_l("Someone is already live on this talk. Only one person can send the stream at a time."))
    stream.state = StreamState.live


class StreamOver(ServiceError):
    code = "stream_over"
    http_status = 409


def begin_ending(stream: LiveStream) -> None:
    """The stream is ending (End pressed, the encoder gone for good ...): the talk is no longer
    live for anyone from now on, though the recording may take minutes to make."""
    if stream.is_active:
        stream.state = StreamState.ending
        talk = stream.talk
        if stream.active_talk_id is not None and talk.live_state is LiveState.live:
            talk.live_state = LiveState.ended


def release_talk(stream: LiveStream) -> None:
    """The live part of an ending stream is over (its ffmpeg has stopped): the talk is free for
    a new publisher while the recording is made. The row stays `ending` (a stopped process's
    ending stream is still archived by another, see claim_orphans) until finish_stream."""
    if stream.state is StreamState.ending:
        stream.active_talk_id = None


def is_latest(session: Session, stream: LiveStream) -> bool:
    """Whether the stream is the one the talk's pages show (no newer stream started meanwhile)."""
    latest = latest_stream(session, stream.talk)
    return latest is None or latest.id == stream.id


def finish_stream(session: Session, stream: LiveStream, *, reason: str, now: datetime,
                  archive_path: str | None, duration_seconds: float | None) -> None:
    """The stream is over: free the talk for the next publisher, name the recording."""
    held_the_talk = stream.active_talk_id is not None  # else a newer stream may be live on it now
    stream.state = StreamState.ended
    stream.end_reason = stream.end_reason or reason
    stream.active_talk_id = None
    stream.ended_at = stream.ended_at or now
    if archive_path is not None or stream.archive_path is None:  # a recording once named stays named
        stream.archive_path = archive_path
        stream.duration_seconds = duration_seconds
    talk = stream.talk
    if held_the_talk and talk.live_state is LiveState.live:
        talk.live_state = LiveState.ended


MAX_COUNTED_BYTES = 2**31 - 1  # bytes_received is a 32-bit column: a long 10 Mbit/s stream passes it


def heartbeat(session: Session, stream_ids: list[int], bytes_by_stream: dict[int, int], now: datetime) -> None:
    for stream_id in stream_ids:
        values: dict[str, Any] = {"heartbeat_at": now}
        if stream_id in bytes_by_stream:  # else (an orphan being archived) its count stands
            # Capped: an overflow would fail the heartbeat, and another process would take the stream.
            values["bytes_received"] = min(bytes_by_stream[stream_id], MAX_COUNTED_BYTES)
        session.execute(update(LiveStream).where(LiveStream.id == stream_id).values(**values))


def claim_orphans(session: Session, process_id: str, now: datetime, quiet_since: datetime, *,
                  exclude: set[int] | frozenset[int] = frozenset()) -> list[LiveStream]:
    """Active streams whose process stopped saying it runs them (a crash, a restart): claim
    them for this process, one conditional update each, so only one process archives them.
    `exclude`: the streams the calling process runs itself (a late heartbeat of its own is
    no crash). A stream still ending (its recording being made, the talk already free) counts too."""
    claimed = []
    query = select(LiveStream).where(or_(LiveStream.active_talk_id.is_not(None),
                                         LiveStream.state == StreamState.ending),
                                     LiveStream.heartbeat_at < quiet_since)
    if exclude:
        query = query.where(LiveStream.id.not_in(list(exclude)))
    for stream in session.scalars(query):
        result = session.execute(update(LiveStream).where(LiveStream.id == stream.id,
                                                          LiveStream.heartbeat_at == stream.heartbeat_at)
                                 .values(process_id=process_id[:100], heartbeat_at=now, state=StreamState.ending,
                                         end_reason="server_stopped"))
        if result.rowcount == 1:
            claimed.append(stream)
    return claimed


def finished_live_recordings(session: Session, talk: Talk) -> list[LiveStream]:
    """The talk's finished live streams (from the browser studio or an RTMP encoder) that have
    a recording file, newest first: what the admin offers as a source for the talk's Recording.
    `archive_path` is relative to media.recordings_dir, like Recording.file_path;
    `duration_seconds` is measured."""
    return list(session.scalars(
        select(LiveStream).where(LiveStream.talk_id == talk.id, LiveStream.state == StreamState.ended,
                                 LiveStream.archive_path.is_not(None))
        .order_by(LiveStream.id.desc())))


@dataclass(frozen=True)
class StreamView:
    """What a viewer's page needs: pushed to the live room, rendered into the talk page."""

    talk_id: int
    state: str                 # "live", "reconnecting" or "ended" (ending shows as ended)
    stream_id: int
    playlist_url: str

    def as_dict(self) -> dict[str, Any]:
        return {"talk_id": self.talk_id, "state": self.state, "stream_id": self.stream_id,
                "playlist_url": self.playlist_url}


def view_of(stream: LiveStream) -> StreamView:
    state = {StreamState.live: "live", StreamState.reconnecting: "reconnecting"}.get(stream.state, "ended")
    return StreamView(talk_id=stream.talk_id, state=state, stream_id=stream.id,
                      playlist_url=f"/recordings/{stream.playlist_path}")


def stage_view(session: Session, talk: Talk) -> StreamView | None:
    """What the talk page's stage shows of the studio: the stream on now, or that the last one ended."""
    stream = latest_stream(session, talk)
    return view_of(stream) if stream is not None else None


def live_now(session: Session, talk_ids: list[int], now: datetime) -> dict[int, bool]:
    """Whether each talk is live now (Talk.is_live), read in one query: the live room's ticker
    tells open talk pages when an organiser's "Ended", the studio or the clock changed it."""
    if not talk_ids:
        return {}
    # Whole rows, so Talk.is_live stays the one rule (pages, API, feeds and this push agree).
    return {talk.id: talk.is_live(now) for talk in session.scalars(select(Talk).where(Talk.id.in_(talk_ids)))}
