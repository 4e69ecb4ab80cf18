"""Views named and shaped as CUCM's tables, for ``run sql``; certificate facts for them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

CUCM administrators check a cluster with ``run sql`` queries the reference
documents print (``processconfig`` for ClusterSecurityMode; ``certificate``
joined through ``certificatetrustrolemap`` to ``typetrustrole``). These
views give those queries real rows, with CUCM's column names, on SQLite and
PostgreSQL alike (portable SQL only: ``||``, ``CAST``, ``CASE``, ``UNION
ALL``, ``NOT EXISTS``). No view reaches ``private_keys``, ``key_vault`` or a
device's CAPF authentication hash.

A certificate's subject, issuer and serial number live in DER, which SQL
cannot read: ``certificate_facts`` holds them by content, and
``store.cucmviews`` fills it before each query (an upgraded database starts
with it empty; nothing is lost).

``typetrustrole``: enums 0-21 are the trust-list FUNCTION codes of
``spec/formats.md`` (what a role means to a phone); "Authentication and
Authorization" (reference 002: the role of each node's CallManager
certificate) has no FUNCTION code and gets 100.

Later migrations that rebuild one of the tables read here on SQLite (batch
mode copies and renames the table) must drop these views first and create
them again after.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CURRENT = """NOT EXISTS (
        SELECT 1 FROM own_certificates AS newer
        WHERE newer.node = o.node AND newer.name = o.name
          AND (newer.created_at > o.created_at
               OR (newer.created_at = o.created_at AND newer.id > o.id)))"""
"""Only a node's current certificate of each name (the newest; ``own_certificates`` keeps
every one it ever had)."""

_OWN_ROLES = """
        SELECT 'CallManager' AS certname, 2 AS tktrustrole
        UNION ALL SELECT 'CallManager', 100
        UNION ALL SELECT 'TVS', 21
        UNION ALL SELECT 'CAPF', 4
        UNION ALL SELECT 'ITLRecovery', 0"""
"""Which role each own certificate plays: its FUNCTION in the trust lists, and reference
002's "Authentication and Authorization" for CallManager."""

VIEWS: dict[str, str] = {
    "processconfig": """
        SELECT CAST('ClusterSecurityMode' AS TEXT) AS paramname,
               CAST(security_mode AS TEXT) AS paramvalue
        FROM cluster
        UNION ALL
        SELECT name, value FROM params WHERE name <> 'ClusterSecurityMode'""",
    "processnode": """
        SELECT uid AS pkid, host AS name, domain AS description,
               CASE WHEN publisher THEN 0 ELSE 1 END AS tknodeusage
        FROM nodes""",
    "typetrustrole": """
        SELECT 0 AS enum, CAST('SAST' AS TEXT) AS name,
               CAST('TRUST_ROLE_SAST' AS TEXT) AS moniker
        UNION ALL SELECT 1, 'CCM', 'TRUST_ROLE_CCM'
        UNION ALL SELECT 2, 'CCM+TFTP', 'TRUST_ROLE_CCM_TFTP'
        UNION ALL SELECT 3, 'TFTP', 'TRUST_ROLE_TFTP'
        UNION ALL SELECT 4, 'CAPF', 'TRUST_ROLE_CAPF'
        UNION ALL SELECT 7, 'APP-SERVER', 'TRUST_ROLE_APP_SERVER'
        UNION ALL SELECT 21, 'TVS', 'TRUST_ROLE_TVS'
        UNION ALL SELECT 100, 'Authentication and Authorization', 'TRUST_ROLE_AUTH_AUTH'""",
    "certificate": f"""
        SELECT CAST('own-' || CAST(o.id AS TEXT) AS TEXT) AS pkid,
               o.node AS servername,
               n.ip AS ipv4address,
               CAST(o.name AS TEXT) AS certname,
               f.subjectname, f.issuername, f.serialnumber
        FROM own_certificates AS o
        JOIN nodes AS n ON n.host = o.node
        LEFT JOIN certificate_facts AS f ON f.der = o.der
        WHERE {_CURRENT}
        UNION ALL
        SELECT 'trust-' || CAST(t.id AS TEXT), NULL, NULL, t.store,
               f.subjectname, f.issuername, f.serialnumber
        FROM trusted_certificates AS t
        LEFT JOIN certificate_facts AS f ON f.sha256 = t.sha256""",  # noqa: S608 - constants only
    "certificatetrustrolemap": f"""
        SELECT CAST('own-' || CAST(o.id AS TEXT) || '-' || CAST(m.tktrustrole AS TEXT) AS TEXT)
                   AS pkid,
               CAST('own-' || CAST(o.id AS TEXT) AS TEXT) AS fkcertificate,
               m.tktrustrole
        FROM own_certificates AS o
        JOIN ({_OWN_ROLES}) AS m ON m.certname = o.name
        WHERE {_CURRENT}
        UNION ALL
        SELECT 'trust-' || CAST(t.id AS TEXT) || '-0', 'trust-' || CAST(t.id AS TEXT), 0
        FROM trusted_certificates AS t
        WHERE t.store = 'Phone-SAST-trust'""",  # noqa: S608 - constants only
    "device": """
        SELECT name, description FROM devices""",
}
"""Each view's query. ``store.cucmviews.VIEWS`` lists the same names: the only names
``run sql`` may read."""


def upgrade() -> None:
    op.create_table(
        "certificate_facts",
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("subjectname", sa.Text(), nullable=False),
        sa.Column("issuername", sa.Text(), nullable=False),
        sa.Column("serialnumber", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_certificate_facts"),
    )
    for name, query in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {query}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW {name}")
    op.drop_table("certificate_facts")
