"""Questions to the speaker: asked, voted up, answered. One vote per participant and question
is enforced by the database (the vote's primary key), not by the client."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import utcnow
from server.i18n import _l
from server.models import Question, QuestionState, QuestionVote, Talk
from server.services import audit, room_log
from server.services.chat import check_client_id, clean_text
from server.services.errors import NotFound, ValidationError
from server.services.roles import Actor, require_host, require_moderator

OPEN_STATES = (QuestionState.visible, QuestionState.answering)


def ask(session: Session, talk: Talk, actor: Actor, *, display_name: str, body: Any, client_id: Any,
        anonymous: Any, max_length: int) -> tuple[Question, bool]:
    """Store a question; returns (question, created). A retry is stored once."""
    text = clean_text(body, max_length=max_length, field="body")
    client_id = check_client_id(client_id)
    if not isinstance(anonymous, bool):
        raise ValidationError(_l("The question could not be sent. Reload the page and try again."),
                              code="invalid", field="anonymous")
    # As for chat messages (chat.post_message): the number first, which makes retries take turns.
    seq = room_log.next_seq(session, talk.id)
    existing = _by_client_id(session, talk.id, actor.participant_id, client_id)
    if existing is not None:
        room_log.give_back(session, talk.id)
        return existing, False
    waits = talk.questions_premoderated and not actor.can_moderate(talk)
    question = Question(talk_id=talk.id, participant_id=actor.participant_id, display_name=display_name,
                        anonymous=anonymous, body=text, client_id=client_id,
                        state=QuestionState.awaiting_approval if waits else QuestionState.visible)
    session.add(question)
    room_log.append(session, talk.id, room_log.QUESTION, question=question, seq=seq)
    return question, True


def _by_client_id(session: Session, talk_id: int, participant_id: str, client_id: str) -> Question | None:
    return session.scalars(select(Question).where(
        Question.talk_id == talk_id, Question.participant_id == participant_id,
        Question.client_id == client_id)).first()


def get_question(session: Session, talk_id: int, question_id: Any) -> Question:
    question = session.get(Question, question_id) if isinstance(question_id, int) and not isinstance(
        question_id, bool) else None
    if question is None or question.talk_id != talk_id:
        raise NotFound(_l("That question does not exist."), code="question_not_found")
    return question


def vote(session: Session, question: Question, participant_id: str, up: Any) -> int:
    """Add (up=True) or withdraw (up=False) this participant's vote; returns the new count.
    Voting twice, or withdrawing a vote never given, changes nothing. While the talk's questions
    are closed, votes are refused (code `voting_closed`)."""
    if not isinstance(up, bool):
        raise ValidationError(_l("The vote could not be counted. Reload the page and try again."),
                              code="invalid", field="up")
    if question.state not in OPEN_STATES:
        raise ValidationError(_l("Voting on this question has closed."), code="voting_closed")
    talk = session.get(Talk, question.talk_id)
    if talk is not None and not talk.questions_open:
        # Closing questions ends the voting too: the order the speaker sees stays as it was.
        raise ValidationError(_l("The questions are closed, so voting has stopped."), code="voting_closed")
    if up:
        try:
            with session.begin_nested():
                session.add(QuestionVote(question_id=question.id, participant_id=participant_id))
        except IntegrityError:
            pass  # already voted: the primary key said no
    else:
        session.query(QuestionVote).filter_by(question_id=question.id, participant_id=participant_id).delete()
    # Recount instead of +1/-1, so concurrent voters on other processes cannot drift the count.
    count = select(func.count()).select_from(QuestionVote).where(QuestionVote.question_id == question.id)
    session.execute(update(Question).where(Question.id == question.id).values(vote_count=count.scalar_subquery()))
    session.refresh(question, ["vote_count"])
    return question.vote_count


def has_voted(session: Session, question_ids: list[int], participant_id: str) -> set[int]:
    if not question_ids:
        return set()
    return set(session.scalars(select(QuestionVote.question_id).where(
        QuestionVote.participant_id == participant_id, QuestionVote.question_id.in_(question_ids))))


def waiting_questions(session: Session, talk_id: int, participant_id: str | None = None) -> list[Question]:
    """Questions that wait for approval: all of them, or one participant's own."""
    query = select(Question).where(Question.talk_id == talk_id, Question.state == QuestionState.awaiting_approval)
    if participant_id is not None:
        query = query.where(Question.participant_id == participant_id)
    return list(session.scalars(query.order_by(Question.id)))


def public_questions(session: Session, talk_id: int, limit: int = 500) -> list[Question]:
    """Questions every participant sees."""
    return list(session.scalars(select(Question).where(Question.talk_id == talk_id, Question.state.in_(
        [QuestionState.visible, QuestionState.answering, QuestionState.answered])).order_by(Question.id).limit(limit)))


def questions_for(session: Session, talk: Talk, actor: Actor, limit: int = 500) -> list[Question]:
    """Questions as this actor may see them: moderators also see hidden and waiting ones;
    a participant (the speaker too) also sees their own question while it waits."""
    query = select(Question).where(Question.talk_id == talk.id)
    if not actor.can_moderate(talk):
        query = query.where(
            (Question.state.in_([QuestionState.visible, QuestionState.answering, QuestionState.answered]))
            | ((Question.state == QuestionState.awaiting_approval) & (Question.participant_id == actor.participant_id))
        )
    return list(session.scalars(query.order_by(Question.id).limit(limit)))


def set_state(session: Session, question: Question, talk: Talk, actor: Actor, state: Any) -> list[Question]:
    """Move a question; returns every question that changed (marking one "answering now"
    moves the previous one to "answered")."""
    try:
        state = QuestionState(state)
    except ValueError:
        raise ValidationError(_l("Unknown question state."), code="invalid_state", field="state") from None
    if state is QuestionState.hidden:
        raise ValidationError(_l("Use hide to hide a question."), code="invalid_state", field="state")
    if question.state is QuestionState.hidden:
        # Only a moderator brings back what was hidden, and the hide stays on record.
        require_moderator(actor, talk)
    if state is QuestionState.visible and question.state is QuestionState.awaiting_approval:
        require_moderator(actor, talk)  # approving is moderation
    else:
        require_host(actor, talk)
    if state is question.state:
        return []  # pressed twice: nothing changed, so nothing to announce or log
    changed = []
    if state is QuestionState.answering:
        for other in session.scalars(select(Question).where(Question.talk_id == talk.id,
                                                            Question.state == QuestionState.answering,
                                                            Question.id != question.id)):
            other.state, other.answered_at = QuestionState.answered, utcnow()
            changed.append(other)
    before = question.state.value
    question.state = state
    if state is QuestionState.answered:
        question.answered_at = utcnow()
    changed.append(question)
    for item in changed:
        room_log.append(session, talk.id, room_log.QUESTION, question=item)
    audit.record(session, actor, "question.state", question, talk=talk,
                 before={"state": before}, after={"state": state.value})
    return changed
