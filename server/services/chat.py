"""Live chat: what a participant says in a talk, stored before anyone else sees it.

The database is the truth. Each message is an entry of the room log (room_log.py): a client
that reconnects asks for the entries after the last number it holds and gets exactly those.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.i18n import _l
from server.models import Talk
from server.models.live import ChatMessage
from server.services import room_log
from server.services.errors import NotFound, ValidationError

DISPLAY_NAME_MAX = 40
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Control characters other than newline and tab would let one message break the layout of others.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_display_name(value: Any) -> str:
    """1-40 characters after trimming; no control characters."""
    if not isinstance(value, str):
        raise ValidationError(_l("Choose a name to show in the chat."), code="invalid_name", field="name")
    name = CONTROL_CHARACTERS.sub("", unicodedata.normalize("NFC", value)).strip()
    name = re.sub(r"\s+", " ", name)
    if not name:
        raise ValidationError(_l("Choose a name to show in the chat."), code="invalid_name", field="name")
    if len(name) > DISPLAY_NAME_MAX:
        raise ValidationError(_l("A name can be at most %(count)d characters.", count=DISPLAY_NAME_MAX),
                              code="name_too_long", field="name")
    return name


def clean_text(value: Any, *, max_length: int, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(_l("Write something first."), code="empty", field=field)
    text = CONTROL_CHARACTERS.sub("", unicodedata.normalize("NFC", value)).strip()
    if not text:
        raise ValidationError(_l("Write something first."), code="empty", field=field)
    if len(text) > max_length:
        raise ValidationError(_l("At most %(count)d characters.", count=max_length), code="too_long", field=field)
    return text


def check_client_id(value: Any) -> str:
    if not isinstance(value, str) or not CLIENT_ID_PATTERN.match(value):
        raise ValidationError(_l("The message could not be sent. Reload the page and try again."),
                              code="invalid_client_id", field="client_id")
    return value


def post_message(
    session: Session,
    talk: Talk,
    *,
    participant_id: str,
    display_name: str,
    body: Any,
    client_id: Any,
    max_length: int,
    author_role: str = "",
) -> tuple[ChatMessage, bool]:
    """Store a message; returns (message, created). A retry with the same client id returns
    the stored message and created=False, so it is neither stored nor broadcast twice."""
    text = clean_text(body, max_length=max_length, field="body")
    client_id = check_client_id(client_id)
    # The talk's number first: it locks the talk's row, so writers of the talk take turns and
    # the check for a retry below cannot race another copy of the same message. (No savepoint:
    # on SQLite, releasing one that opened the transaction would commit it.)
    seq = room_log.next_seq(session, talk.id)
    existing = _by_client_id(session, talk.id, participant_id, client_id)
    if existing is not None:
        room_log.give_back(session, talk.id)
        return existing, False
    message = ChatMessage(talk_id=talk.id, participant_id=participant_id, display_name=display_name,
                          author_role=author_role, body=text, client_id=client_id, seq=seq)
    session.add(message)
    room_log.append(session, talk.id, room_log.MESSAGE, message=message, seq=seq)
    return message, True


def _by_client_id(session: Session, talk_id: int, participant_id: str, client_id: str) -> ChatMessage | None:
    return session.scalars(
        select(ChatMessage).where(ChatMessage.talk_id == talk_id, ChatMessage.participant_id == participant_id,
                                  ChatMessage.client_id == client_id)
    ).first()


def latest_messages(session: Session, talk_id: int, limit: int, *, up_to_seq: int | None = None,
                    include_hidden: bool = False) -> list[ChatMessage]:
    """The newest `limit` messages said up to the room log's number `up_to_seq`, oldest first,
    for a viewer who just arrived (the join's snapshot is exactly the log up to that number)."""
    query = select(ChatMessage).where(ChatMessage.talk_id == talk_id)
    if up_to_seq is not None:
        query = query.where(ChatMessage.seq <= up_to_seq)
    if not include_hidden:
        query = query.where(ChatMessage.hidden_at.is_(None))
    rows = list(session.scalars(query.order_by(ChatMessage.seq.desc()).limit(limit)))
    rows.reverse()
    return rows


def get_message(session: Session, talk_id: int, message_id: Any) -> ChatMessage:
    message = session.get(ChatMessage, message_id) if isinstance(message_id, int) else None
    if message is None or message.talk_id != talk_id:
        raise NotFound(_l("That message does not exist."), code="message_not_found")
    return message
