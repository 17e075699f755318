"""An event's programme as iCalendar: what a calendar program reads."""

from icalendar import Calendar

SLUG = "sociala-medier-i-offentlig-sektor"


def test_ics_has_one_vevent_per_talk_with_times_and_links(client, demo_event):
    response = client.get(f"/events/{SLUG}.ics")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.data)
    events = calendar.walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == [t.title for t in demo_event.talks]
    first = events[0]
    assert first.decoded("DTSTART") == demo_event.talks[0].starts_at
    assert first.decoded("DTEND") == demo_event.talks[0].ends_at
    assert str(first["URL"]) == f"http://arena.test/events/{SLUG}/skapa-arenor"
    assert "Mattias Jansson" in str(first["DESCRIPTION"])
    assert str(first["LOCATION"]) == "Kulturens hus, Luleå"


def test_ics_lines_are_crlf_folded_with_one_uid_per_talk(client, demo_event):
    raw = client.get(f"/events/{SLUG}.ics").data

    lines = raw.split(b"\r\n")
    assert lines[0] == b"BEGIN:VCALENDAR"
    assert b"VERSION:2.0" in lines and b"PRODID:-//Arena//Arena programme//SV" in lines
    assert all(len(line) <= 75 for line in lines)  # folded at 75 octets
    uids = [line for line in lines if line.startswith(b"UID:")]
    assert len(uids) == len(set(uids)) == 3
    assert all(line.startswith(b"DTSTAMP:") for line in lines if line.startswith(b"DTSTAMP"))


def test_ics_uid_is_stable_across_downloads(client, demo_event):
    first = Calendar.from_ical(client.get(f"/events/{SLUG}.ics").data)
    second = Calendar.from_ical(client.get(f"/events/{SLUG}.ics").data)

    assert [str(e["UID"]) for e in first.walk("VEVENT")] == [str(e["UID"]) for e in second.walk("VEVENT")]


def test_ics_unknown_event_is_404(client):
    assert client.get("/events/finns-inte.ics").status_code == 404
