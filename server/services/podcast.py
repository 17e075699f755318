"""An event's published recordings as a podcast feed: RSS 2.0 with Apple's iTunes tags.

Built with ElementTree, so every text is escaped by the XML writer, never by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import format_datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from server.models import Event
from server.services.recordings.files import file_size, published_recordings
from server.services.text import plain_text

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("itunes", ITUNES)
ET.register_namespace("atom", ATOM)


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def event_podcast(event: Event, *, page_url: str, feed_url: str, talk_url: Callable[[str], str],
                  file_url: Callable[[str], str], recordings_path: Path, host: str) -> bytes:
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    _text(channel, "title", event.title)
    _text(channel, "link", page_url)
    ET.SubElement(channel, f"{{{ATOM}}}link", {"href": feed_url, "rel": "self", "type": "application/rss+xml"})
    summary = plain_text(event.invitation_text, limit=4000) or event.title
    _text(channel, "description", summary)
    _text(channel, "language", "sv-se")
    _text(channel, "generator", "Arena")
    _text(channel, f"{{{ITUNES}}}author", event.organiser or event.title)
    _text(channel, f"{{{ITUNES}}}summary", summary)
    _text(channel, f"{{{ITUNES}}}explicit", "false")
    _text(channel, f"{{{ITUNES}}}type", "episodic")
    ET.SubElement(channel, f"{{{ITUNES}}}category", {"text": "Government"})
    talks = published_recordings(event)
    image = next((t.recording.thumbnail_path for t in talks if t.recording.thumbnail_path), None)
    if image:
        ET.SubElement(channel, f"{{{ITUNES}}}image", {"href": file_url(image)})
    for talk in talks:
        recording = talk.recording
        item = ET.SubElement(channel, "item")
        _text(item, "title", talk.title)
        _text(item, "link", talk_url(talk.slug) + "#recording")
        # Stable, so podcast apps never show an episode twice.
        _text(item, "guid", f"recording-{talk.id}@{host}", isPermaLink="false")
        _text(item, "pubDate", format_datetime(recording.published_at))
        speakers = ", ".join(speaker.name for speaker in talk.speakers)
        description = "\n\n".join(part for part in (speakers, plain_text(talk.invitation_text, limit=4000)) if part)
        _text(item, "description", description or talk.title)
        _text(item, f"{{{ITUNES}}}summary", description or talk.title)
        if speakers:
            _text(item, f"{{{ITUNES}}}author", speakers)
        _text(item, f"{{{ITUNES}}}episodeType", "full")
        _text(item, f"{{{ITUNES}}}explicit", "false")
        if recording.duration_seconds:
            _text(item, f"{{{ITUNES}}}duration", str(recording.duration_seconds))
        if recording.thumbnail_path:
            ET.SubElement(item, f"{{{ITUNES}}}image", {"href": file_url(recording.thumbnail_path)})
        if recording.file_path:
            ET.SubElement(item, "enclosure", {
                "url": file_url(recording.file_path),
                "length": str(file_size(recordings_path, recording) or 0),
                "type": recording.file_type or "video/mp4",
            })
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)
