"""old addresses of events and talks (redirected); one-time tokens of creating forms

Revision ID: 0009journey
Revises: 0008media
Create Date: 2026-11-28 12:40:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import server.db


revision: str = '0009journey'
down_revision: Union[str, None] = '0008media'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Mirrors server/models/addresses.py and server/models/forms.py.
    op.create_table('event_old_slugs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('retired_at', server.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_old_slugs_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_old_slugs')),
    sa.UniqueConstraint('slug', name=op.f('uq_event_old_slugs_slug'))
    )
    with op.batch_alter_table('event_old_slugs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_old_slugs_event_id'), ['event_id'], unique=False)

    op.create_table('talk_old_slugs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('talk_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('retired_at', server.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_talk_old_slugs_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['talk_id'], ['talks.id'], name=op.f('fk_talk_old_slugs_talk_id_talks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_talk_old_slugs')),
    sa.UniqueConstraint('event_id', 'slug', name='uq_talk_old_slugs_event_slug')
    )
    with op.batch_alter_table('talk_old_slugs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_talk_old_slugs_talk_id'), ['talk_id'], unique=False)

    op.create_table('form_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('created_at', server.db.UTCDateTime(), nullable=False),
    sa.Column('result_url', sa.String(length=2000), nullable=False),
    sa.Column('message', sa.String(length=1000), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_tokens')),
    sa.UniqueConstraint('key', name=op.f('uq_form_tokens_key'))
    )
    with op.batch_alter_table('form_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_tokens_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('form_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_tokens_created_at'))
    op.drop_table('form_tokens')
    with op.batch_alter_table('talk_old_slugs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_talk_old_slugs_talk_id'))
    op.drop_table('talk_old_slugs')
    with op.batch_alter_table('event_old_slugs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_old_slugs_event_id'))
    op.drop_table('event_old_slugs')
