"""The tables, as SQLAlchemy Core metadata: the single description of the schema.

Only portable types are used, so the same metadata works on SQLite and
PostgreSQL. Times are stored in UTC and always come back timezone-aware
(:class:`UtcDateTime`). The Alembic revisions in ``migrations/versions``
must build exactly these tables; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC.

    Naive datetimes are refused: a time without a zone is ambiguous, and
    the store would otherwise silently shift it. SQLite has no zone-aware
    type, so there the value is stored as naive UTC text (which sorts
    chronologically); PostgreSQL gets a ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given to the store; pass tz-aware"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

cluster = Table(
    "cluster",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("security_mode", Integer, nullable=False),
    Column("signer", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("itl_reset_active", Boolean, nullable=False),
    Column("password_changed_at", UtcDateTime, nullable=True),
    Column("p12_exported_at", UtcDateTime, nullable=True),
    Column("ctl_deleted", Boolean, nullable=False),
    CheckConstraint("id = 1", name="singleton"),
)
"""One row (id 1): the cluster-wide state."""

nodes = Table(
    "nodes",
    metadata,
    Column("host", Text, primary_key=True),
    Column("ip", Text, nullable=False),
    Column("domain", Text, nullable=False),
    Column("publisher", Boolean, nullable=False),
    Column("services", JSON, nullable=False),
    Column("uid", Text, nullable=False, unique=True),
)
"""``services`` is the sorted list of service names. ``uid`` never changes, not even when
the node is renamed, so a running ``serve`` can follow its node across a rename."""

own_certificates = Table(
    "own_certificates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "node",
        Text,
        ForeignKey("nodes.host", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", Text, nullable=False),
    Column("der", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "node", "name"),
)
"""Every certificate a node ever had; the newest (created_at, then id) per name is current."""

trusted_certificates = Table(
    "trusted_certificates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", Text, nullable=False),
    Column("der", LargeBinary, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Column("description", Text, nullable=False),
    UniqueConstraint("store", "sha256"),
)
"""A store holds a certificate at most once (by the SHA-256 hex of its DER)."""

cm_groups = Table(
    "cm_groups",
    metadata,
    Column("name", Text, primary_key=True),
    Column("members", JSON, nullable=False),
)
"""``members``: the ordered list of node host names."""

profiles = Table(
    "profiles",
    metadata,
    Column("name", Text, primary_key=True),
    Column("mode", Integer, nullable=False),
    Column("tftp_encrypted", Boolean, nullable=False),
    Column("protocol", Text, nullable=True),
)

devices = Table(
    "devices",
    metadata,
    Column("name", Text, primary_key=True),
    Column("model", Text, nullable=False),
    Column("protocol", Text, nullable=False),
    Column("cm_group", Text, nullable=False),
    Column("profile", Text, nullable=False),
    Column("capf_operation", Text, nullable=False),
    Column("capf_auth_mode", Integer, nullable=False),
    Column("capf_auth_hash", Text, nullable=False, server_default=""),
    Column("capf_key", Text, nullable=False),
    Column("capf_expires", UtcDateTime, nullable=True),
    Column("settings", JSON, nullable=False),
    Column("description", Text, nullable=False),
    Column("lsc", LargeBinary, nullable=True),
    Column("mic", LargeBinary, nullable=True),
    Column("capf_status", Text, nullable=False, server_default=""),
    Column("capf_auth_failures", Integer, nullable=False, server_default="0"),
    Column("capf_locked_at", UtcDateTime, nullable=True),
)
"""``settings``: a JSON object of strings; group and profile are names, not foreign keys.
``capf_auth_hash``: the authentication string's salted hash (``policy.capfauth``), never
the string; ``capf_auth_failures`` and ``capf_locked_at``: its wrong tries and lock."""

params = Table(
    "params",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
)
"""Enterprise parameters."""

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("who", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Index(None, "at"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("cleared_at", UtcDateTime, nullable=True),
    Index(None, "kind"),
)
"""Open alerts have no ``cleared_at``; cleared ones stay as history."""

plan_versions = Table(
    "plan_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UtcDateTime, nullable=False),
)

published_files = Table(
    "published_files",
    metadata,
    Column(
        "version",
        Integer,
        ForeignKey("plan_versions.version", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("node", Text, primary_key=True),
    Column("filename", Text, primary_key=True),
    Column("blob", Text, nullable=False),
    Column("inputs", Text, nullable=True),
)
"""Every file name of every published plan version, pointing at its content by
SHA-256. ``node`` is not a foreign key: old versions keep the files of nodes
deleted since. ``inputs`` is the digest of what the file was made from, which
the next plan build looks up to keep it unchanged (NULL: not known, made again)."""

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
"""File contents, stored once however many versions and nodes serve them: a
plan version costs a row per file name, not a copy of every file."""

downloads = Table(
    "downloads",
    metadata,
    Column("device", Text, primary_key=True),
    Column("filename", Text, primary_key=True),
    Column("node", Text, nullable=False),
    Column("sha1", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("previous_sha1", Text, nullable=True),
)
"""Each device's latest download of each file (trust lists and configurations), and the
SHA-1 it downloaded under that name before, when that differed (the list it may still hold)."""

token_counters = Table(
    "token_counters",
    metadata,
    Column("serial", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("locked", Boolean, nullable=False),
)
"""Per-eToken password failure counters of the CTL client."""

key_vault = Table(
    "key_vault",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("salt", LargeBinary, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("p12_password", LargeBinary, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    CheckConstraint("id = 1", name="singleton"),
)
"""One row (id 1): the cluster key, sealed under the key the security password derives
with ``salt``; and the ITLRecovery.p12 password, sealed under the cluster key. Changing
the password rewrites this one row."""

private_keys = Table(
    "private_keys",
    metadata,
    Column("fingerprint", Text, primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
"""Every private key, sealed under the cluster key, by the SHA-256 hex of its certificate:
in the database, so every node of the cluster has them and a change that makes a key
commits it with its certificate."""

tftp_extra_files = Table(
    "tftp_extra_files",
    metadata,
    Column("filename", Text, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
)
"""Files every TFTP node serves beside the plan (firmware, ring lists): uploaded once,
served by every node of the cluster."""

certificate_facts = Table(
    "certificate_facts",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("der", LargeBinary, nullable=False),
    Column("subjectname", Text, nullable=False),
    Column("issuername", Text, nullable=False),
    Column("serialnumber", Text, nullable=False),
)
"""What SQL cannot read out of a DER certificate, for the CUCM views of ``run sql``
(``store.cucmviews``): names and serial number, by the SHA-256 hex of the DER. A cache
of facts that never change for a given DER, filled before each ``run sql``."""

web_users = Table(
    "web_users",
    metadata,
    Column("name", Text, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("password_changed_at", UtcDateTime, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("locked_until", UtcDateTime, nullable=True),
    Column("session_epoch", Integer, nullable=False),
)
"""Application users of the web administration and the HTTP API: an argon2 hash, never
the password; wrong passwords in a row and the end of a lock-out, shared by every node;
``session_epoch`` grows when the password changes, which ends every session signed before."""

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("user_name", Text, nullable=False, index=True),
    Column("label", Text, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=True),
)
"""API tokens: the public id a token starts with, and the SHA-256 of its secret part (the
secret is 256 random bits: a fast hash is enough, and verifying it costs nothing)."""
