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
    pass


def downgrade() -> None:
    pass
