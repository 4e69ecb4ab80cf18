"""Keys in the database, nodes with a stable identity, TFTP extra files for every node.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Key files of an existing data directory are moved into ``private_keys`` by
the data directory when it is first opened (the migration cannot see them).
Existing nodes get a fresh ``uid`` each.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_vault",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("p12_password", sa.LargeBinary(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_key_vault_singleton"),
        sa.PrimaryKeyConstraint("id", name="pk_key_vault"),
    )
    op.create_table(
        "private_keys",
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_private_keys"),
    )
    op.create_table(
        "tftp_extra_files",
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("filename", name="pk_tftp_extra_files"),
    )
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("uid", sa.Text(), nullable=True))
    bind = op.get_bind()
    nodes = sa.table("nodes", sa.column("host", sa.Text()), sa.column("uid", sa.Text()))
    for host in bind.execute(sa.select(nodes.c.host)).scalars().all():
        bind.execute(sa.update(nodes).where(nodes.c.host == host).values(uid=uuid.uuid4().hex))
    with op.batch_alter_table("nodes") as batch:
        batch.alter_column("uid", existing_type=sa.Text(), nullable=False)
        batch.create_unique_constraint("uq_nodes_uid", ["uid"])


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_constraint("uq_nodes_uid", type_="unique")
        batch.drop_column("uid")
    op.drop_table("tftp_extra_files")
    op.drop_table("private_keys")
    op.drop_table("key_vault")
