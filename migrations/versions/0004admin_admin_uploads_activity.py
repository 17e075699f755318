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
    pass


def downgrade() -> None:
    pass
