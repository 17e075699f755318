"""The programme's data: events, talks, speakers, on SQLite and on PostgreSQL."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.models import Recording, Talk
from server.services import events as event_service
from server.services.errors import NotFound, ValidationError
from tests.conftest import DAY, at

pytestmark = pytest.mark.both_databases


def test_talk_that_ends_before_it_starts_is_refused(session, make_event):
    event = make_event()

    with pytest.raises(ValidationError) as error:
        event_service.create_talk(session, event, title="Baklänges", starts_at=at(10), ends_at=at(9, 30))

    assert error.value.code == "ends_before_start"
    assert session.scalars(select(Talk)).all() == []


def test_talk_that_ends_when_it_starts_is_refused(session, make_event):
    event = make_event()

    with pytest.raises(ValidationError):
        event_service.create_talk(session, event, title="Noll minuter", starts_at=at(10), ends_at=at(10))


def test_database_refuses_talk_ending_before_start_even_past_the_service(session, make_event):
    event = make_event()
    session.add(Talk(event=event, slug="fel", title="Fel", starts_at=at(10), ends_at=at(9)))

    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_talk_outside_its_event_day_is_refused(session, make_event):
    event = make_event(starts_on=DAY)
    next_day = DAY + timedelta(days=1)

    with pytest.raises(ValidationError) as error:
        event_service.create_talk(session, event, title="Dagen efter", starts_at=at(9, day=next_day),
                                  ends_at=at(10, day=next_day))

    assert error.value.code == "outside_event"


def test_talk_late_in_the_evening_counts_in_the_event_time_zone(session, make_event, make_talk):
    # 23:30 in Stockholm is 22:30 UTC the same day: still the event's day.
    event = make_event(starts_on=DAY)

    talk = make_talk(event, starts_at=at(23, 0), ends_at=at(23, 45))

    assert talk.starts_at.astimezone(UTC).date() == DAY


def test_talk_times_round_trip_as_aware_utc(session, make_event, make_talk):
    event = make_event()
    talk = make_talk(event, starts_at=at(9, 30), ends_at=at(10, 15))
    session.commit()
    session.expire_all()

    stored = session.get(Talk, talk.id)

    assert stored.starts_at == at(9, 30)
    assert stored.starts_at.tzinfo is not None
    assert stored.starts_at.utcoffset() == timedelta(0)


def test_talk_is_one_record_across_its_life(session, make_event, make_talk):
    event = make_event()
    talk = make_talk(event, stream_url="https://www.youtube.com/watch?v=M7lc1UVf-VE",
                     slides_url="https://www.slideshare.net/kommunchef/sociala-medier-skapa-arenor")
    talk.recording = Recording(source_url="https://vimeo.com/76979871",
                               published_at=datetime(2026, 11, 25, tzinfo=UTC))
    session.commit()
    session.expire_all()

    stored = event_service.get_talk(session, event.slug, talk.slug)

    assert stored.stream_url.endswith("M7lc1UVf-VE")
    assert stored.slides_url.startswith("https://www.slideshare.net/")
    assert stored.recording.is_published
    assert session.scalar(select(Recording.talk_id)) == talk.id


def test_a_talk_has_at_most_one_recording(session, make_event, make_talk):
    event = make_event()
    talk = make_talk(event)
    session.add_all([Recording(talk_id=talk.id), Recording(talk_id=talk.id)])

    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_speakers_keep_the_invitation_order(session, make_event, make_speaker, make_talk):
    event = make_event()
    first = make_speaker(event, name="Helen Alfvegren")
    second = make_speaker(event, name="Anna Karlsson")

    talk = make_talk(event, speakers=[first, second])
    session.commit()
    session.expire_all()

    assert [s.name for s in session.get(Talk, talk.id).speakers] == ["Helen Alfvegren", "Anna Karlsson"]


def test_programme_is_ordered_by_start_time(session, make_event, make_talk):
    event = make_event()
    make_talk(event, title="Eftermiddag", starts_at=at(13), ends_at=at(14))
    make_talk(event, title="Morgon", starts_at=at(9), ends_at=at(10))
    session.commit()
    session.expire_all()

    stored = event_service.get_event(session, event.slug)

    assert [t.title for t in stored.talks] == ["Morgon", "Eftermiddag"]


def test_deleting_an_event_removes_its_talks_and_speakers(session, make_event, make_talk, make_speaker):
    event = make_event()
    make_talk(event, speakers=[make_speaker(event)])
    session.commit()

    session.delete(event)
    session.commit()

    assert session.scalars(select(Talk)).all() == []


def test_event_slug_is_unique(session, make_event):
    make_event(slug="samma")

    with pytest.raises(ValidationError) as error:
        make_event(slug="samma")

    assert error.value.code == "slug_taken"


def test_talk_slug_is_unique_within_its_event(session, make_event, make_talk):
    event = make_event()
    make_talk(event, slug="samma")

    with pytest.raises(ValidationError):
        make_talk(event, slug="samma")


def test_talk_with_unsupported_stream_is_refused_with_the_accepted_list(session, make_event):
    event = make_event()

    with pytest.raises(ValidationError) as error:
        event_service.create_talk(session, event, title="X", starts_at=at(9), ends_at=at(10),
                                  stream_url="https://example.com/stream")

    assert error.value.code == "unsupported_stream"
    assert "YouTube" in str(error.value)


@pytest.mark.parametrize("slug", ["Stora Bokstäver", "mellan rum", "-kant", "a/b", "x" * 81])
def test_malformed_slug_is_refused(session, make_event, slug):
    with pytest.raises(ValidationError) as error:
        make_event(slug=slug)

    assert error.value.field == "slug"


def test_slug_is_made_from_a_swedish_title(session):
    assert event_service.slugify("Skapa arenor!") == "skapa-arenor"
    assert event_service.slugify("Räksmörgås på Öland") == "raksmorgas-pa-oland"


def test_draft_event_is_not_found_by_the_public(session, make_event):
    from server.models import EventStatus

    event = make_event(status=EventStatus.draft)

    with pytest.raises(NotFound):
        event_service.get_event(session, event.slug)
    assert event_service.get_event(session, event.slug, include_drafts=True) is event


def test_home_listing_splits_live_upcoming_and_past(session, make_event, make_talk):
    today, tomorrow, last_week = DAY, DAY + timedelta(days=1), DAY - timedelta(days=7)
    now = at(10, 15)
    current = make_event(title="I dag", starts_on=today)
    live = make_talk(current, starts_at=at(10), ends_at=at(11),
                     stream_url="https://www.youtube.com/watch?v=M7lc1UVf-VE")
    make_talk(current, starts_at=at(13), ends_at=at(14))
    upcoming = make_event(title="I morgon", starts_on=tomorrow)
    past = make_event(title="Förra veckan", starts_on=last_week)
    make_talk(past, starts_at=at(9, day=last_week), ends_at=at(10, day=last_week))
    session.commit()

    listing = event_service.home_listing(session, now)

    assert listing.live_now == [live]
    assert listing.upcoming == [current, upcoming]
    assert listing.past == [past]


def test_talk_without_a_stream_is_not_live_during_its_slot(session, make_event, make_talk):
    event = make_event()
    talk = make_talk(event, starts_at=at(10), ends_at=at(11))

    assert not talk.is_live(at(10, 30))


def test_talk_at_a_time_the_clocks_skip_is_refused_before_the_database(session, make_event):
    # 02:30 on 2027-03-28 does not exist in Stockholm; as +01:00 it would end before it starts.
    stockholm = ZoneInfo("Europe/Stockholm")
    event = make_event(starts_on=date(2027, 3, 28))

    with pytest.raises(ValidationError) as refused:
        event_service.create_talk(session, event, title="Natten",
                                  starts_at=datetime(2027, 3, 28, 2, 30, tzinfo=stockholm),
                                  ends_at=datetime(2027, 3, 28, 3, 15, tzinfo=stockholm))

    assert refused.value.code == "time_skipped"


def test_talk_times_are_compared_as_instants_not_clock_times(session, make_event):
    # 02:40 summer time (00:40 UTC) to 02:10 winter time (01:10 UTC): 30 minutes.
    stockholm = ZoneInfo("Europe/Stockholm")
    event = make_event(starts_on=date(2026, 10, 25))

    talk = event_service.create_talk(session, event, title="Natten",
                                     starts_at=datetime(2026, 10, 25, 2, 40, tzinfo=stockholm),
                                     ends_at=datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=stockholm))
    session.flush()

    assert talk.ends_at - talk.starts_at == timedelta(minutes=30)


def test_a_repeated_clock_time_needs_a_choice_and_a_skipped_one_is_refused(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        with pytest.raises(ValidationError) as repeated:
            event_service.local_instant(date(2026, 10, 25), time(2, 30), "Europe/Stockholm")
        with pytest.raises(ValidationError) as skipped:
            event_service.local_instant(date(2026, 3, 29), time(2, 30), "Europe/Stockholm")
        second = event_service.local_instant(date(2026, 10, 25), time(2, 30), "Europe/Stockholm",
                                             fold=event_service.LATER)

    assert repeated.value.code == "time_repeated" and "happens twice" in str(repeated.value.message)
    assert skipped.value.code == "time_skipped" and "from 02:00 to 03:00" in str(skipped.value.message)
    assert second == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
