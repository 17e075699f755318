"""An event's programme as iCalendar (RFC 5545): one VEVENT per talk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from icalendar import Calendar
from icalendar import Event as VEvent

from server.models import Event
from server.services.text import plain_text


def event_calendar(event: Event, *, talk_url: Callable[[str], str], host: str, stamp: datetime,
                   file_url: Callable[[str], str] | None = None) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Arena//Arena programme//SV")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", event.title)
    calendar.add("x-wr-timezone", event.time_zone)
    for talk in event.talks:
        url = talk_url(talk.slug)
        entry = VEvent()
        # Stable across downloads, so a calendar that subscribes updates the talk in place.
        entry.add("uid", f"talk-{talk.id}@{host}")
        entry.add("dtstamp", stamp)
        entry.add("dtstart", talk.starts_at)
        entry.add("dtend", talk.ends_at)
        entry.add("summary", talk.title)
        speakers = ", ".join(speaker.name for speaker in talk.speakers)
        text = plain_text(talk.invitation_text, limit=2000)
        description = "\n\n".join(part for part in (speakers, text, url) if part)
        if talk.recording is not None and talk.recording.is_published:
            description += "\n\n" + url + "#recording"
            # Our own copy as an attachment: calendars that keep the day can open the video.
            if talk.recording.file_path and file_url is not None:
                entry.add("attach", file_url(talk.recording.file_path),
                          parameters={"FMTTYPE": talk.recording.file_type or "video/mp4"})
        entry.add("description", description)
        entry.add("url", url)
        if event.venue:
            entry.add("location", event.venue)
        if event.organiser:
            entry.add("organizer", f"mailto:noreply@{host}", parameters={"cn": event.organiser})
        entry.add("last-modified", talk.updated_at)
        calendar.add_component(entry)
    return calendar.to_ical()
