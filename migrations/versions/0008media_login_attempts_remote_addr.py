"""an index for the per-network sign-in throttle

Revision ID: 0008media
Revises: 0007roomlog
Create Date: 2026-11-28 12:00:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0008media'
down_revision: Union[str, None] = '0007roomlog'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Mirrors server/models/accounts.py: LoginAttempt's index on (remote_addr, created_at),
    # which services/accounts.authenticate counts a network's recent failures by. Live
    # streams' random folder names need no column: LiveStream.directory already holds them.
    with op.batch_alter_table('login_attempts') as batch:
        batch.create_index('ix_login_attempts_remote_addr_created_at', ['remote_addr', 'created_at'])


def downgrade() -> None:
    with op.batch_alter_table('login_attempts') as batch:
        batch.drop_index('ix_login_attempts_remote_addr_created_at')
