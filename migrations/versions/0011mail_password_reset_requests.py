"""password reset requests (for throttling "forgot my password")

Revision ID: 0011mail
Revises: 0010ingest
Create Date: 2026-11-28 19:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import server.db


revision: str = '0011mail'
down_revision: Union[str, None] = '0010ingest'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Mirrors server/models/accounts.py: PasswordResetRequest.
    op.create_table('password_reset_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=False),
    sa.Column('created_at', server.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset_requests'))
    )
    with op.batch_alter_table('password_reset_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_reset_requests_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_password_reset_requests_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_password_reset_requests_remote_addr_created_at', ['remote_addr', 'created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('password_reset_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_password_reset_requests_remote_addr_created_at')
        batch_op.drop_index(batch_op.f('ix_password_reset_requests_created_at'))
        batch_op.drop_index(batch_op.f('ix_password_reset_requests_email'))
    op.drop_table('password_reset_requests')
