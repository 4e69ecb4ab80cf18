"""Published files point at contents stored once (``blobs``), not a copy per version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Existing rows are moved: each distinct content becomes one blob.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_blobs"),
    )
    with op.batch_alter_table("published_files") as batch:
        batch.add_column(sa.Column("blob", sa.Text(), nullable=True))
    bind = op.get_bind()
    files = sa.table(
        "published_files",
        sa.column("version", sa.Integer()),
        sa.column("node", sa.Text()),
        sa.column("filename", sa.Text()),
        sa.column("data", sa.LargeBinary()),
        sa.column("blob", sa.Text()),
    )
    blobs = sa.table(
        "blobs",
        sa.column("sha256", sa.Text()),
        sa.column("size", sa.Integer()),
        sa.column("data", sa.LargeBinary()),
    )
    seen: set[str] = set()
    for row in bind.execute(
        sa.select(files.c.version, files.c.node, files.c.filename, files.c.data)
    ).all():
        data = bytes(row.data)
        digest = hashlib.sha256(data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            bind.execute(sa.insert(blobs).values(sha256=digest, size=len(data), data=data))
        bind.execute(
            sa.update(files)
            .where(
                files.c.version == row.version,
                files.c.node == row.node,
                files.c.filename == row.filename,
            )
            .values(blob=digest)
        )
    with op.batch_alter_table("published_files") as batch:
        batch.alter_column("blob", existing_type=sa.Text(), nullable=False)
        batch.drop_column("data")


def downgrade() -> None:
    with op.batch_alter_table("published_files") as batch:
        batch.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE published_files SET data = "
            "(SELECT data FROM blobs WHERE sha256 = published_files.blob)"
        )
    )
    with op.batch_alter_table("published_files") as batch:
        batch.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("blob")
    op.drop_table("blobs")
