"""Each device's download remembers the list it replaced.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

``downloads.previous_sha1``: when a device downloads a file whose SHA-1
differs from the one it last downloaded under that name, the old SHA-1
moves here. The server cannot see a phone refuse a trust list; with the
list it held before, the planner and the doctor can tell a phone that took
its last download from one that refused it and is locked on the older list.
NULL: no earlier different download is known (rows from before this
revision, or a phone that always fetched the same file).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("downloads", sa.Column("previous_sha1", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.drop_column("previous_sha1")
