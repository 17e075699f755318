"""the room log: per-talk sequence numbers

Revision ID: 0007roomlog
Revises: 0006golive
Create Date: 2026-11-28 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import server.db


revision: str = '0007roomlog'
down_revision: Union[str, None] = '0006golive'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Mirrors server/models/live.py: RoomEvent, ChatMessage.seq; server/models/events.py: Talk.room_seq.
    with op.batch_alter_table('talks') as batch:
        batch.add_column(sa.Column('room_seq', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('chat_messages') as batch:
        batch.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch.create_index('ix_chat_messages_talk_id_seq', ['talk_id', 'seq'])
    op.create_table(
        'room_events',
        sa.Column('talk_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('question_id', sa.Integer(), nullable=True),
        sa.Column('data', sa.JSON(), nullable=True),
        sa.Column('created_at', server.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['chat_messages.id'],
                                name=op.f('fk_room_events_message_id_chat_messages'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['question_id'], ['questions.id'],
                                name=op.f('fk_room_events_question_id_questions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['talk_id'], ['talks.id'], name=op.f('fk_room_events_talk_id_talks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('talk_id', 'seq', name=op.f('pk_room_events')),
    )
    _number_what_was_said()


def _number_what_was_said() -> None:
    """Messages and questions said before the log existed become its first entries, in the
    order they were stored, so scroll-back and catch-up reach them too."""
    bind = op.get_bind()
    talks = bind.execute(sa.text("SELECT id FROM talks ORDER BY id")).scalars().all()
    for talk_id in talks:
        said = bind.execute(sa.text(
            "SELECT 'message' AS kind, id, created_at FROM chat_messages WHERE talk_id = :t "
            "UNION ALL SELECT 'question' AS kind, id, created_at FROM questions WHERE talk_id = :t "
            "ORDER BY created_at, kind, id"), {"t": talk_id}).all()
        for seq, (kind, item_id, created_at) in enumerate(said, start=1):
            bind.execute(sa.text(
                "INSERT INTO room_events (talk_id, seq, kind, message_id, question_id, created_at) "
                "VALUES (:t, :s, :k, :m, :q, :c)"),
                {"t": talk_id, "s": seq, "k": kind, "m": item_id if kind == 'message' else None,
                 "q": item_id if kind == 'question' else None, "c": created_at})
            if kind == 'message':
                bind.execute(sa.text("UPDATE chat_messages SET seq = :s WHERE id = :i"), {"s": seq, "i": item_id})
        if said:
            bind.execute(sa.text("UPDATE talks SET room_seq = :s WHERE id = :t"), {"s": len(said), "t": talk_id})


def downgrade() -> None:
    op.drop_table('room_events')
    with op.batch_alter_table('chat_messages') as batch:
        batch.drop_index('ix_chat_messages_talk_id_seq')
        batch.drop_column('seq')
    with op.batch_alter_table('talks') as batch:
        batch.drop_column('room_seq')
