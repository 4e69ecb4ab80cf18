"""CAPF authentication strings stored hashed; wrong strings counted and locking.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Each device's ``capf_auth_string`` (in clear) becomes ``capf_auth_hash``: a
salted scrypt hash (``policy.capfauth``), or "" when there was no string or
it was used. ``capf_auth_failures`` counts wrong strings and
``capf_locked_at`` says since when too many locked the operation (shared by
every node, and kept across restarts).

Downgrade cannot give the strings back: every pending string is lost
(the operations stay scheduled; an administrator sets the strings again).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from phonetrust.policy.capfauth import AuthStringError, hash_auth_string

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _hashed(text: str) -> str:
    """The stored form of an old clear string; one CAPF could not accept stays unusable."""
    try:
        return hash_auth_string(text)
    except AuthStringError:
        return ""


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("capf_auth_hash", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("capf_auth_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("capf_locked_at", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    devices = sa.table(
        "devices",
        sa.column("name", sa.Text()),
        sa.column("capf_auth_string", sa.Text()),
        sa.column("capf_auth_hash", sa.Text()),
    )
    clear = bind.execute(
        sa.select(devices.c.name, devices.c.capf_auth_string).where(
            devices.c.capf_auth_string != ""
        )
    ).all()
    for name, text in clear:
        bind.execute(
            sa.update(devices).where(devices.c.name == name).values(capf_auth_hash=_hashed(text))
        )
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("capf_auth_string")


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column("capf_auth_string", sa.Text(), nullable=False, server_default="")
        )
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("capf_locked_at")
        batch.drop_column("capf_auth_failures")
        batch.drop_column("capf_auth_hash")
