"""recordings: import jobs, captions, chapters

Revision ID: 0005recordings
Revises: 0004admin
Create Date: 2026-11-21 08:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import server.db


revision: str = '0005recordings'
down_revision: Union[str, None] = '0004admin'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Mirrors server/models/media.py: Recording's new columns and ImportJob. Written by hand;
    # server defaults only so that rows already there get a value.
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=20), nullable=False, server_default='url'))
        batch_op.add_column(sa.Column('source_title', sa.String(length=300), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('thumbnail_path', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('captions_language', sa.String(length=20), nullable=False, server_default='sv'))
        batch_op.add_column(sa.Column('chapters', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('uploaded_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('file_size', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('file_type', sa.String(length=40), nullable=False, server_default=''))

    op.create_table(
        'import_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('talk_id', sa.Integer(), nullable=False),
        sa.Column('source_url', sa.String(length=2000), nullable=False),
        sa.Column('archive', sa.Boolean(), nullable=False),
        sa.Column('state', sa.Enum('queued', 'running', 'succeeded', 'failed', 'cancelled', name='import_job_state',
                                   native_enum=False, length=20), nullable=False),
        sa.Column('cancel_requested', sa.Boolean(), nullable=False),
        sa.Column('percent', sa.Integer(), nullable=False),
        sa.Column('downloaded_bytes', sa.BigInteger(), nullable=False),
        sa.Column('total_bytes', sa.BigInteger(), nullable=True),
        sa.Column('error_code', sa.String(length=40), nullable=True),
        sa.Column('error_detail', sa.String(length=500), nullable=False),
        sa.Column('requested_by', sa.String(length=120), nullable=False),
        sa.Column('process_id', sa.String(length=100), nullable=False),
        sa.Column('created_at', server.db.UTCDateTime(), nullable=False),
        sa.Column('started_at', server.db.UTCDateTime(), nullable=True),
        sa.Column('finished_at', server.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['talk_id'], ['talks.id'], name=op.f('fk_import_jobs_talk_id_talks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs')),
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_jobs_talk_id'), ['talk_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_jobs_talk_id'))
    op.drop_table('import_jobs')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        for column in ('file_type', 'file_size', 'uploaded_on', 'chapters', 'captions_language', 'thumbnail_path',
                       'source_title', 'origin'):
            batch_op.drop_column(column)
