"""Typed SQLAlchemy models, one module per part of the domain.

Importing this package registers every table on Base.metadata (Alembic relies on it).
Import order across the code base: models -> services -> faces (web, sockets, cli).
"""

from server.models.events import Event, EventStatus, Speaker, Talk, TalkSpeaker, LiveState
from server.models.live import ChatMessage, Question, QuestionState, QuestionVote
from server.models.media import Recording

__all__ = ["ChatMessage", "Question", "QuestionState", "QuestionVote", "Event", "EventStatus", "LiveState", "Recording", "Speaker", "Talk", "TalkSpeaker"]
