"""stream keys, RTMP streams, simulcast destinations

Revision ID: 0010ingest
Revises: 0009journey
Create Date: 2026-11-28 15:34:05
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import server.db


revision: str = '0010ingest'
down_revision: Union[str, None] = '0009journey'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Mirrors server/models/golive.py (issue 12).
    op.create_table('simulcast_destinations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('talk_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('key_ciphertext', sa.Text(), nullable=False),
    sa.Column('key_hint', sa.String(length=8), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', server.db.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('state_message', sa.String(length=300), nullable=False),
    sa.Column('state_at', server.db.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['talk_id'], ['talks.id'], name=op.f('fk_simulcast_destinations_talk_id_talks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_simulcast_destinations'))
    )
    with op.batch_alter_table('simulcast_destinations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_simulcast_destinations_talk_id'), ['talk_id'], unique=False)

    op.create_table('stream_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('talk_id', sa.Integer(), nullable=False),
    sa.Column('active_talk_id', sa.Integer(), nullable=True),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=8), nullable=False),
    sa.Column('created_at', server.db.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('revoked_at', server.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=120), nullable=True),
    sa.Column('revoke_reason', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['talk_id'], ['talks.id'], name=op.f('fk_stream_keys_talk_id_talks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stream_keys')),
    sa.UniqueConstraint('active_talk_id', name=op.f('uq_stream_keys_active_talk_id')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_stream_keys_key_hash'))
    )
    with op.batch_alter_table('stream_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stream_keys_talk_id'), ['talk_id'], unique=False)

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action_created_at', ['action', 'created_at'], unique=False)

    with op.batch_alter_table('live_streams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=10), nullable=False, server_default='browser'))
        batch_op.add_column(sa.Column('playlist_name', sa.String(length=40), nullable=False, server_default='index.m3u8'))
        batch_op.add_column(sa.Column('stream_key_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rtmp_name', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('rtmp_client_id', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('client_address', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('video_width', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('video_height', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_live_streams_rtmp_name'), ['rtmp_name'])
        batch_op.create_foreign_key(batch_op.f('fk_live_streams_stream_key_id_stream_keys'), 'stream_keys', ['stream_key_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_action_created_at')

    with op.batch_alter_table('live_streams', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_live_streams_stream_key_id_stream_keys'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_live_streams_rtmp_name'), type_='unique')
        batch_op.drop_column('video_height')
        batch_op.drop_column('video_width')
        batch_op.drop_column('client_address')
        batch_op.drop_column('rtmp_client_id')
        batch_op.drop_column('rtmp_name')
        batch_op.drop_column('stream_key_id')
        batch_op.drop_column('playlist_name')
        batch_op.drop_column('source')

    with op.batch_alter_table('stream_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stream_keys_talk_id'))

    op.drop_table('stream_keys')
    with op.batch_alter_table('simulcast_destinations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_simulcast_destinations_talk_id'))

    op.drop_table('simulcast_destinations')
