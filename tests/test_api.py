"""The JSON API (docs/api.md) and the health check, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import pytest

from server.models import EventStatus, Recording

pytestmark = pytest.mark.both_databases
SLUG = "sociala-medier-i-offentlig-sektor"


def test_api_lists_published_events(client, demo_event, make_event, session):
    make_event(title="Utkast", status=EventStatus.draft)
    session.commit()

    body = client.get("/api/events").get_json()

    assert [event["slug"] for event in body["events"]] == [SLUG]
    event = body["events"][0]
    assert event["title"].startswith("Sociala medier i offentlig sektor")
    assert event["starts_on"] == "2026-11-24"
    assert event["url"] == f"http://arena.test/events/{SLUG}/"


def test_api_event_has_its_talks_with_speakers_slides_and_stream(client, demo_event):
    body = client.get(f"/api/events/{SLUG}").get_json()

    talks = {talk["slug"]: talk for talk in body["talks"]}
    assert list(talks) == ["skapa-arenor", "twitter-dygnet-runt", "berika-undervisningen-med-sociala-medier"]
    first = talks["skapa-arenor"]
    assert first["title"] == "Skapa arenor!"
    assert first["starts_at"] == "2026-11-24T08:30:00+00:00"
    assert first["ends_at"] == "2026-11-24T09:15:00+00:00"
    assert first["speakers"][0]["name"] == "Mattias Jansson"
    assert first["slides_url"] == "https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor"
    assert first["stream_url"] == "https://www.youtube.com/watch?v=M7lc1UVf-VE"
    assert "kommunchef" in first["invitation_text"]
    assert first["url"] == f"http://arena.test/events/{SLUG}/skapa-arenor"
    assert first["recording"] is None


def test_api_talk_includes_its_published_recording(client, session, demo_event):
    demo_event.talks[0].recording = Recording(source_url="https://vimeo.com/76979871", duration_seconds=2700,
                                              published_at=datetime(2026, 11, 25, tzinfo=UTC))
    session.commit()

    talk = client.get(f"/api/events/{SLUG}").get_json()["talks"][0]

    assert talk["recording"]["source_url"] == "https://vimeo.com/76979871"
    assert talk["recording"]["duration_seconds"] == 2700


def test_api_unknown_event_is_a_json_404(client):
    response = client.get("/api/events/finns-inte", headers={"Accept-Language": "en"})

    assert response.status_code == 404
    assert response.get_json() == {"ok": False, "error": "event_not_found",
                                   "message": "There is no event at this address."}


def test_api_unknown_address_is_a_json_404(client):
    response = client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
