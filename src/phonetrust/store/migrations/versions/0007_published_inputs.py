"""Each published file carries the digest of what it was made from.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

``published_files.inputs``: the digest of a file's inputs (for a signed
configuration: the device's values, what its group and profile put in it,
the signer's certificate, the digest algorithm), which the next plan build
compares with the new inputs to keep the file without rendering or signing
it (``service.fileplan``). It is NULL for a file with no inputs of its own
(a CTL carried from the last ``utils ctl``).

Rows published before this revision have none: the first change after the
upgrade makes those files again, once (the same content, signer and digest,
a new timestamp and signature). A plain ADD COLUMN rebuilds no table, so the
views of 0006 stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("published_files", sa.Column("inputs", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("published_files") as batch:
        batch.drop_column("inputs")
