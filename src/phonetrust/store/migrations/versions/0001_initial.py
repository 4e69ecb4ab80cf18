"""The initial schema: every table of ``phonetrust.store.schema``.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand. Types are the plain SQLAlchemy ones, not the application's
(``UtcDateTime`` is ``DateTime(timezone=True)`` underneath), so this file
keeps working whatever ``schema.py`` becomes later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cluster",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        _text("name"),
        sa.Column("security_mode", sa.Integer(), nullable=False),
        _text("signer"),
        _when("created_at"),
        sa.Column("itl_reset_active", sa.Boolean(), nullable=False),
        _when("password_changed_at", nullable=True),
        _when("p12_exported_at", nullable=True),
        sa.Column("ctl_deleted", sa.Boolean(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_cluster_singleton"),
        sa.PrimaryKeyConstraint("id", name="pk_cluster"),
    )
    op.create_table(
        "nodes",
        _text("host"),
        _text("ip"),
        _text("domain"),
        sa.Column("publisher", sa.Boolean(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("host", name="pk_nodes"),
    )
    op.create_table(
        "own_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _text("node"),
        _text("name"),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["node"],
            ["nodes.host"],
            name="fk_own_certificates_node_nodes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_own_certificates"),
    )
    op.create_index("ix_own_certificates_node_name", "own_certificates", ["node", "name"])
    op.create_table(
        "trusted_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _text("store"),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        _text("sha256"),
        _when("added_at"),
        _text("description"),
        sa.PrimaryKeyConstraint("id", name="pk_trusted_certificates"),
        sa.UniqueConstraint("store", "sha256", name="uq_trusted_certificates_store_sha256"),
    )
    op.create_table(
        "cm_groups",
        _text("name"),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_cm_groups"),
    )
    op.create_table(
        "profiles",
        _text("name"),
        sa.Column("mode", sa.Integer(), nullable=False),
        sa.Column("tftp_encrypted", sa.Boolean(), nullable=False),
        _text("protocol", nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_profiles"),
    )
    op.create_table(
        "devices",
        _text("name"),
        _text("model"),
        _text("protocol"),
        _text("cm_group"),
        _text("profile"),
        _text("capf_operation"),
        sa.Column("capf_auth_mode", sa.Integer(), nullable=False),
        _text("capf_auth_string"),
        _text("capf_key"),
        _when("capf_expires", nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        _text("description"),
        sa.Column("lsc", sa.LargeBinary(), nullable=True),
        sa.Column("mic", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_devices"),
    )
    op.create_table(
        "params",
        _text("name"),
        _text("value"),
        sa.PrimaryKeyConstraint("name", name="pk_params"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _when("at"),
        _text("who"),
        _text("action"),
        _text("detail"),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _text("kind"),
        _text("message"),
        _when("raised_at"),
        _when("cleared_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_kind", "alerts", ["kind"])
    op.create_table(
        "plan_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("version", name="pk_plan_versions"),
    )
    op.create_table(
        "published_files",
        sa.Column("version", sa.Integer(), nullable=False),
        _text("node"),
        _text("filename"),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["plan_versions.version"],
            name="fk_published_files_version_plan_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version", "node", "filename", name="pk_published_files"),
    )
    op.create_table(
        "token_counters",
        _text("serial"),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("serial", name="pk_token_counters"),
    )


def downgrade() -> None:
    for table in (
        "token_counters",
        "published_files",
        "plan_versions",
        "alerts",
        "audit",
        "params",
        "devices",
        "profiles",
        "cm_groups",
        "trusted_certificates",
        "own_certificates",
        "nodes",
        "cluster",
    ):
        op.drop_table(table)
