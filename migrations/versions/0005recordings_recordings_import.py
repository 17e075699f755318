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
    pass


def downgrade() -> None:
    pass
