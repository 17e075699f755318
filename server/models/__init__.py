"""Typed SQLAlchemy models, one module per part of the domain.

Importing this package registers every table on Base.metadata (Alembic relies on it).
Import order across the code base: models -> services -> faces (web, sockets, cli).
"""

from server.models.accounts import LoginAttempt, Organiser, PasswordResetRequest, Role, RoleGrant
from server.models.activity import Participation, ViewerSample
from server.models.addresses import EventOldSlug, TalkOldSlug
from server.models.audit import AuditEntry
from server.models.events import Event, EventStatus, LiveState, Speaker, Talk, TalkSpeaker
from server.models.forms import FormToken
from server.models.golive import LiveStream, SimulcastDestination, StreamKey, StreamState
from server.models.live import Ban, ChatMessage, Presence, Question, QuestionState, QuestionVote, Report, RoomEvent
from server.models.media import ImportJob, JobState, Recording

__all__ = [
    "AuditEntry", "Ban", "ChatMessage", "Event", "EventOldSlug", "EventStatus", "FormToken", "ImportJob",
    "JobState", "LiveState", "LiveStream", "LoginAttempt", "Organiser", "Participation",
    "PasswordResetRequest", "Presence", "Question", "QuestionState", "QuestionVote", "Recording", "Report",
    "Role", "RoleGrant", "RoomEvent", "SimulcastDestination", "Speaker", "StreamKey", "StreamState", "Talk",
    "TalkOldSlug", "TalkSpeaker", "ViewerSample",
]
