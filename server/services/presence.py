"""Viewer counts. Each server process writes how many viewers it holds per talk once a
second; a talk's count is the sum over processes heard from in the last few seconds, so it
adds up across processes and forgets a process that died."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.models import Presence

FRESH_FOR = timedelta(seconds=5)


def record(session: Session, process_id: str, counts: dict[int, int], now: datetime) -> None:
    """Replace this process's rows with its current counts (zero counts are dropped)."""
    session.execute(delete(Presence).where(Presence.process_id == process_id))
    session.add_all(Presence(process_id=process_id, talk_id=talk_id, viewers=viewers, updated_at=now)
                    for talk_id, viewers in counts.items() if viewers > 0)


def viewer_counts(session: Session, talk_ids: list[int], now: datetime) -> dict[int, int]:
    if not talk_ids:
        return {}
    rows = session.execute(
        select(Presence.talk_id, func.sum(Presence.viewers))
        .where(Presence.talk_id.in_(talk_ids), Presence.updated_at >= now - FRESH_FOR)
        .group_by(Presence.talk_id)
    )
    counts = {talk_id: 0 for talk_id in talk_ids}
    counts.update({talk_id: int(total) for talk_id, total in rows})
    return counts

