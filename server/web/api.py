"""The JSON API (docs/api.md). The health check is in server/web/ops.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import select

from server.db import db, utcnow
from server.models import Event, LiveState, LiveStream, StreamState, Talk
from server.services import events as event_service
from server.services.text import render_markdown
from server.web.context import absolute_url

bp = Blueprint("api", __name__)


def _utc(value: datetime) -> str:
    """Times in the API are always UTC, ISO 8601."""
    return value.astimezone(UTC).isoformat()


def _event_summary(event: Event) -> dict[str, Any]:
    return {
        "slug": event.slug,
        "title": event.title,
        "organiser": event.organiser,
        "starts_on": event.starts_on.isoformat(),
        "ends_on": event.ends_on.isoformat(),
        "time_zone": event.time_zone,
        "venue": event.venue,
        "url": absolute_url("public.event_page", slug=event.slug),
        "api_url": absolute_url("api.event_detail", slug=event.slug),
        "ics_url": absolute_url("feeds.event_ics", slug=event.slug),
    }


def _own_playlists(talks: list[Talk]) -> dict[int, str]:
    """The HLS playlist (the ladder's master, or the single one) of each talk streaming now
    from Arena's own ingest (the studio or RTMP), in one query."""
    if not talks:
        return {}
    streams = db.session.scalars(select(LiveStream).where(
        LiveStream.active_talk_id.in_([talk.id for talk in talks]),
        LiveStream.state.in_([StreamState.live, StreamState.reconnecting])))
    return {stream.talk_id: stream.playlist_path for stream in streams}


def _talk(event: Event, talk: Talk, now, playlists: dict[int, str]) -> dict[str, Any]:
    # While the talk is live the live stream wins (stream_url); the recording comes once it has ended.
    recording = talk.recording if talk.shows_recording(now) else None
    # Only once the stream is on air (golive.mark_on_air set the talk LIVE at its first segment):
    # before that there is no playlist. Not Talk.is_live, which the clock also makes true for a
    # talk with a stream address inside its slot.
    playlist = playlists.get(talk.id) if talk.live_state is LiveState.live else None
    return {
        "slug": talk.slug,
        "title": talk.title,
        "starts_at": _utc(talk.starts_at),
        "ends_at": _utc(talk.ends_at),
        "live": talk.is_live(now),
        "speakers": [
            {"name": s.name, "role": s.role, "bio": s.bio, "links": s.links} for s in talk.speakers
        ],
        "invitation_text": talk.invitation_text,
        "invitation_html": str(render_markdown(talk.invitation_text)),
        "slides_url": (absolute_url("public.recording_file", name=talk.slides_file) if talk.slides_file
                       else talk.slides_url or None),
        "stream_url": talk.stream_url or None,
        "playlist_url": absolute_url("public.recording_file", name=playlist) if playlist else None,
        "recording": None if recording is None else _recording(event, talk, recording),
        "url": absolute_url("public.talk_page", slug=event.slug, talk_slug=talk.slug),
    }


def _recording(event: Event, talk: Talk, recording) -> dict[str, Any]:
    def own(name: str | None) -> str | None:
        return absolute_url("public.recording_file", name=name) if name else None

    return {
        "url": absolute_url("public.talk_page", slug=event.slug, talk_slug=talk.slug) + "#recording",
        "source_url": recording.source_url or None,
        "file_url": own(recording.file_path),
        "file_type": recording.file_type or None if recording.file_path else None,
        "captions_url": own(recording.captions_path),
        "captions_language": recording.captions_language if recording.captions_path else None,
        "thumbnail_url": own(recording.thumbnail_path),
        "duration_seconds": recording.duration_seconds,
        "chapters": [{"start_seconds": c["start"], "title": c["title"]} for c in recording.chapters or []],
        "published_at": _utc(recording.published_at) if recording.published_at else None,
    }


@bp.get("/api/events")
def event_list():
    events = event_service.published_events(db.session)
    return jsonify({"events": [_event_summary(event) for event in events]})


@bp.get("/api/events/<slug>")
def event_detail(slug: str):
    event = event_service.get_event(db.session, slug)
    now = utcnow()
    body = _event_summary(event)
    body["invitation_text"] = event.invitation_text
    playlists = _own_playlists(event.talks)
    body["talks"] = [_talk(event, talk, now, playlists) for talk in event.talks]
    return jsonify(body)
