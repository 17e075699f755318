"""go-live: browser streams

Revision ID: 0006golive
Revises: 0005recordings
Create Date: 2026-11-21 08:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import server.db


revision: str = '0006golive'
down_revision: Union[str, None] = '0005recordings'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Mirrors server/models/golive.py: LiveStream.
    op.create_table(
        'live_streams',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('talk_id', sa.Integer(), nullable=False),
        sa.Column('active_talk_id', sa.Integer(), nullable=True),
        sa.Column('state', sa.Enum('live', 'reconnecting', 'ending', 'ended', name='stream_state',
                                   native_enum=False, length=20), nullable=False),
        sa.Column('end_reason', sa.String(length=40), nullable=True),
        sa.Column('publisher_name', sa.String(length=120), nullable=False),
        sa.Column('publisher_participant_id', sa.String(length=64), nullable=False),
        sa.Column('video_codec', sa.String(length=20), nullable=False),
        sa.Column('directory', sa.String(length=500), nullable=False),
        sa.Column('archive_directory', sa.String(length=500), nullable=False),
        sa.Column('archive_path', sa.String(length=500), nullable=True),
        sa.Column('duration_seconds', sa.Float(), nullable=True),
        sa.Column('bytes_received', sa.Integer(), nullable=False),
        sa.Column('process_id', sa.String(length=100), nullable=False),
        sa.Column('heartbeat_at', server.db.UTCDateTime(), nullable=False),
        sa.Column('started_at', server.db.UTCDateTime(), nullable=False),
        sa.Column('ended_at', server.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['talk_id'], ['talks.id'], name=op.f('fk_live_streams_talk_id_talks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_live_streams')),
        sa.UniqueConstraint('active_talk_id', name=op.f('uq_live_streams_active_talk_id')),
    )
    with op.batch_alter_table('live_streams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_streams_talk_id'), ['talk_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('live_streams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_streams_talk_id'))
    op.drop_table('live_streams')
