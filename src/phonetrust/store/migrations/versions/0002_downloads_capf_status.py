"""Downloads per device (the fleet view of the TFTP service) and the devices' CAPF status.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "downloads",
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("sha1", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device", "filename", name="pk_downloads"),
    )
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("capf_status", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("capf_status")
    op.drop_table("downloads")
