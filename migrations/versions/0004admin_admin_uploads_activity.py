"""admin: uploads, slides, activity samples

Revision ID: 0004admin
Revises: e8fd68f82912
Create Date: 2026-11-21 08:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import server.db


revision: str = '0004admin'
down_revision: Union[str, None] = 'e8fd68f82912'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('participations',
    sa.Column('talk_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', server.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_participations_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['talk_id'], ['talks.id'], name=op.f('fk_participations_talk_id_talks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('talk_id', 'participant_id', name=op.f('pk_participations'))
    )
    with op.batch_alter_table('participations', schema=None) as batch_op:
        batch_op.create_index('ix_participations_event_id_first_seen_at', ['event_id', 'first_seen_at'], unique=False)

    op.create_table('viewer_samples',
    sa.Column('talk_id', sa.Integer(), nullable=False),
    sa.Column('minute', server.db.UTCDateTime(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('viewers', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_viewer_samples_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['talk_id'], ['talks.id'], name=op.f('fk_viewer_samples_talk_id_talks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('talk_id', 'minute', name=op.f('pk_viewer_samples'))
    )
    with op.batch_alter_table('viewer_samples', schema=None) as batch_op:
        batch_op.create_index('ix_viewer_samples_event_id_minute', ['event_id', 'minute'], unique=False)

    with op.batch_alter_table('talks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slides_file', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('talks', schema=None) as batch_op:
        batch_op.drop_column('slides_file')
    with op.batch_alter_table('viewer_samples', schema=None) as batch_op:
        batch_op.drop_index('ix_viewer_samples_event_id_minute')
    op.drop_table('viewer_samples')
    with op.batch_alter_table('participations', schema=None) as batch_op:
        batch_op.drop_index('ix_participations_event_id_first_seen_at')
    op.drop_table('participations')
