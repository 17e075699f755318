"""The organiser's and moderator's day without surprises. Bans listed and lifted
in the admin (the row stays as a record), and a published recording that waits while its
talk is still live (the live stream wins on the talk page and in the API)."""

from __future__ import annotations

from sqlalchemy import select

from server.models import AuditEntry, Ban, LiveState, Recording, Role
from server.services import moderation
from server.services.recordings import edits as recording_edits
from server.services.roles import Actor
from tests.conftest import form_token

MODERATOR = Actor(participant_id="p-moa", role=Role.organiser, staff_name="Moa Moderator")
EN = {"Accept-Language": "en"}


def _ban(session, talk, participant_id: str, *, whole_event: bool) -> Ban:
    entry = moderation.ban(session, talk, MODERATOR, participant_id, whole_event=whole_event, reason="Hot")
    session.commit()
    return entry


def test_admin_lists_the_active_bans_and_lifts_one_which_stays_on_record(organiser_client, demo_event, session):
    talk = demo_event.talks[0]
    troll = _ban(session, talk, "troll-1", whole_event=True)
    other = _ban(session, talk, "troll-2", whole_event=False)
    path = f"/admin/events/{demo_event.slug}/people"
    listed = organiser_client.get(path, headers=EN).get_data(as_text=True)
    assert f'id="ban-{troll.id}"' in listed and f'id="ban-{other.id}"' in listed
    assert "in the whole event" in listed and f"in the talk {talk.title}" in listed

    response = organiser_client.post(f"{path}/bans/{troll.id}/lift", headers=EN,
                                     data={"csrf_token": form_token(organiser_client, path)})

    assert response.status_code == 303
    page = organiser_client.get(path, headers=EN).get_data(as_text=True)
    assert f'id="ban-{troll.id}"' not in page and f'id="ban-{other.id}"' in page
    row = session.get(Ban, troll.id)
    session.refresh(row)
    assert row.lifted_by == "Karin Kommunikatör" and row.lifted_at is not None
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "participant.unban")).one()
    assert (audit.actor, audit.event_id, audit.target_id) == ("Karin Kommunikatör", demo_event.id, "troll-1")
    assert moderation.active_ban(session, talk, "troll-1") is None


def test_admin_lift_without_the_form_token_is_refused(organiser_client, demo_event, session):
    troll = _ban(session, demo_event.talks[0], "troll-1", whole_event=True)

    response = organiser_client.post(f"/admin/events/{demo_event.slug}/people/bans/{troll.id}/lift")

    assert response.status_code == 400
    assert session.get(Ban, troll.id).lifted_at is None


def test_a_recording_published_while_the_talk_is_live_waits_until_it_has_ended(client, demo_event, session):
    talk = demo_event.talks[0]
    talk.stream_url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    talk.live_state = LiveState.live
    session.add(Recording(talk=talk, source_url="https://vimeo.com/76979871"))
    session.flush()
    recording_edits.set_published(session, talk, True, actor=MODERATOR)
    session.commit()
    page_path = f"/events/{demo_event.slug}/{talk.slug}"
    api_path = f"/api/events/{demo_event.slug}"

    live_page = client.get(page_path, headers=EN).get_data(as_text=True)
    live_api = client.get(api_path).json["talks"][0]

    assert 'id="stream-player"' in live_page and 'id="recording"' not in live_page
    assert "Reload the page to watch the recording." in live_page
    assert live_api["live"] is True and live_api["recording"] is None

    talk.live_state = LiveState.ended
    session.commit()
    ended_page = client.get(page_path, headers=EN).get_data(as_text=True)
    assert 'id="recording"' in ended_page
    assert client.get(api_path).json["talks"][0]["recording"] is not None
