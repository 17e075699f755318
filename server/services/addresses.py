"""Events' and talks' addresses (slugs): which are free, a free one to offer when the wanted
one is taken, and where an old address leads now.

An address that changes stays its event's (talk's) old address and redirects (301) to the
current one, so links in calendars, mails and on social media keep working. It is never
given to another event (talk) while it redirects: a shared link must not silently show
something else. We chose this over "a new event may claim it" because the people who follow
a public link cannot see that it changed hands; the organiser, who can, gets a free address
proposed instead (an event repeated every year gets its year: "digital-dag-2027").
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.i18n import _l
from server.models import Event, EventOldSlug, Talk, TalkOldSlug
from server.services.errors import AddressTaken

MAX_LENGTH = 80


# -- free addresses ---------------------------------------------------------------------------

def event_slug_holder(session: Session, slug: str, event: Event | None = None) -> str | None:
    """Why `slug` is not free for `event` (None: a new event): "current" (another event's
    address), "old" (another event's old address, still redirecting) or None (free)."""
    current = select(Event.id).where(Event.slug == slug)
    retired = select(EventOldSlug.id).where(EventOldSlug.slug == slug)
    if event is not None and event.id is not None:
        current, retired = current.where(Event.id != event.id), retired.where(EventOldSlug.event_id != event.id)
    if session.scalar(current) is not None:
        return "current"
    if session.scalar(retired) is not None:
        return "old"
    return None


def talk_slug_holder(session: Session, event: Event, slug: str, talk: Talk | None = None) -> str | None:
    """The same for a talk's address within its event."""
    if any(other.slug == slug and other is not talk for other in event.talks):
        return "current"
    if event.id is not None:
        query = select(TalkOldSlug.id).where(TalkOldSlug.event_id == event.id, TalkOldSlug.slug == slug)
        if talk is not None and talk.id is not None:
            query = query.where(TalkOldSlug.talk_id != talk.id)
        if session.scalar(query) is not None:
            return "old"
    return None


def _candidates(slug: str, year: int | None):
    def joined(suffix: str) -> str:
        return f"{slug[:MAX_LENGTH - len(suffix) - 1].rstrip('-')}-{suffix}"

    if year is not None and not slug.endswith(str(year)):
        yield joined(str(year))
    for number in range(2, 1000):
        yield joined(str(number))


def check_event_slug(session: Session, slug: str, *, year: int | None, event: Event | None = None) -> None:
    """Refuses an address another event has (or had, and still redirects), offering a free one."""
    holder = event_slug_holder(session, slug, event)
    if holder is None:
        return
    proposal = next(c for c in _candidates(slug, year) if event_slug_holder(session, c, event) is None)
    if holder == "current":
        message = _l("Another event already uses the address \u201c%(slug)s\u201d. \u201c%(proposal)s\u201d is "
                     "free and filled in below: save to use it, or write another.", slug=slug, proposal=proposal)
    else:
        message = _l("Another event had the address \u201c%(slug)s\u201d before, and its shared links still lead "
                     "there. \u201c%(proposal)s\u201d is free and filled in below: save to use it, or write "
                     "another.", slug=slug, proposal=proposal)
    raise AddressTaken(message, proposal=proposal)


def check_talk_slug(session: Session, event: Event, slug: str, talk: Talk | None = None) -> None:
    holder = talk_slug_holder(session, event, slug, talk)
    if holder is None:
        return
    proposal = next(c for c in _candidates(slug, None) if talk_slug_holder(session, event, c, talk) is None)
    if holder == "current":
        message = _l("Another talk of this event already uses the address \u201c%(slug)s\u201d. "
                     "\u201c%(proposal)s\u201d is free and filled in below: save to use it, or write another.",
                     slug=slug, proposal=proposal)
    else:
        message = _l("Another talk of this event had the address \u201c%(slug)s\u201d before, and its shared "
                     "links still lead there. \u201c%(proposal)s\u201d is free and filled in below: save to use "
                     "it, or write another.", slug=slug, proposal=proposal)
    raise AddressTaken(message, proposal=proposal)


# -- changing an address ------------------------------------------------------------------------

def retire_event_slug(session: Session, event: Event, old: str, new: str) -> None:
    """`old` becomes an address that redirects to the event; `new`, if it was one of the event's
    old addresses, is its own again and stops redirecting."""
    if old == new:
        return
    session.execute(delete(EventOldSlug).where(EventOldSlug.event_id == event.id, EventOldSlug.slug == new))
    session.add(EventOldSlug(event_id=event.id, slug=old))


def retire_talk_slug(session: Session, talk: Talk, old: str, new: str) -> None:
    if old == new:
        return
    session.execute(delete(TalkOldSlug).where(TalkOldSlug.talk_id == talk.id, TalkOldSlug.slug == new))
    session.add(TalkOldSlug(event_id=talk.event_id, talk_id=talk.id, slug=old))


# -- following an old address -------------------------------------------------------------------

def moved(session: Session, event_slug: str, talk_slug: str | None = None) -> tuple[Event, Talk | None] | None:
    """The event (and talk) an address names when any part of it is an old address, so the
    face can redirect; None when it names nothing, or only current addresses."""
    was_moved = False
    event = session.scalar(select(Event).where(Event.slug == event_slug))
    if event is None:
        event = session.scalar(select(Event).join(EventOldSlug, EventOldSlug.event_id == Event.id)
                               .where(EventOldSlug.slug == event_slug))
        if event is None:
            return None
        was_moved = True
    talk = None
    if talk_slug is not None:
        talk = session.scalar(select(Talk).where(Talk.event_id == event.id, Talk.slug == talk_slug))
        if talk is None:
            talk = session.scalar(select(Talk).join(TalkOldSlug, TalkOldSlug.talk_id == Talk.id)
                                  .where(TalkOldSlug.event_id == event.id, TalkOldSlug.slug == talk_slug))
            if talk is None:
                return None
            was_moved = True
    return (event, talk) if was_moved else None
