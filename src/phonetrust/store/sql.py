"""The SQL implementation of :mod:`phonetrust.store.repository` (SQLAlchemy Core).

One :class:`SqlRepository` per database URL: SQLite by default
(:func:`sqlite_url`), PostgreSQL with ``postgresql+psycopg://...``. Each unit
of work is one database transaction (``engine.begin()``).

Semantics the contract leaves open, decided here:

- ``put_*`` are upserts keyed by the natural name (host, group/profile/device
  name, token serial, parameter name): a second ``put`` with the same key
  replaces the whole row. ``put_cluster`` replaces the one cluster row.
- ``delete_node`` removes the node and its certificate history; groups that
  list it and published files are left alone (the service republishes).
- ``rename_node`` raises :class:`~phonetrust.errors.LocalError` when the old
  host does not exist or the new host is another existing node. Published
  files of every version move to the new name; files an earlier, deleted node
  of that name left behind are dropped first.
- ``list_own_certificates`` lists the *current* certificate of each (node,
  name), ordered by node then name; ``certificate_history`` lists them all,
  oldest first (the current one last).
- Lists are ordered: nodes publisher first then by host; groups, profiles
  and devices by name; trusted certificates by store, then when added; audit
  and alerts newest first.
- Concurrent units of work: on SQLite each one takes the write lock when it
  begins (``BEGIN IMMEDIATE``), so they run one after the other; on
  PostgreSQL they run at READ COMMITTED and ``publish`` locks the version
  table, so concurrent publishes get consecutive numbers.
- ``publish`` stamps its version with the wall-clock time (the contract
  passes none); plan versions are numbered 1, 2, ... and never reused.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Table,
    Update,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from phonetrust.errors import LocalError
from phonetrust.policy.domain import (
    CallManagerGroup,
    CertName,
    Device,
    Node,
    OwnCertificate,
    SecurityProfile,
    TrustedCertificate,
    TrustStore,
)
from phonetrust.store import migrations, rows
from phonetrust.store import schema as t
from phonetrust.store.engine import make_engine, sqlite_url
from phonetrust.store.repository import (
    Alert,
    ApiToken,
    AuditEntry,
    CapfRecord,
    ClusterState,
    Download,
    KeyVault,
    Repository,
    TokenCounter,
    UnitOfWork,
    WebUser,
)

_CHUNK = 500
"""Rows per statement: keeps bound parameters under every backend's limit."""
KEEP_VERSIONS = 50
"""Plan versions kept; older ones (and contents only they used) are pruned."""
PRUNE_EVERY = 10

_GET_DEVICE: Select[Any] = select(t.devices).where(t.devices.c.name == bindparam("key_name"))
"""Built once: a statement object keeps its cache key, so each use skips building and keying."""
_CAPF_UPDATES: dict[tuple[str, ...], Update] = {}
"""The UPDATE for each set of device columns a CAPF result writes (a handful of shapes)."""


def _capf_update(columns: tuple[str, ...]) -> Update:
    """``columns`` ending with ``?capf_auth_failures``: only if the count is still the old one."""
    stmt = _CAPF_UPDATES.get(columns)
    if stmt is None:
        c = t.devices.c
        guarded = bool(columns) and columns[-1] == "?capf_auth_failures"
        names = columns[:-1] if guarded else columns
        where = [c.name == bindparam("key_name")]
        if guarded:
            where.append(c.capf_auth_failures == bindparam("old_capf_auth_failures"))
        stmt = _CAPF_UPDATES[columns] = (
            update(t.devices)
            .where(*where)
            .values({name: bindparam(f"new_{name}") for name in names})
        )
    return stmt


__all__ = ["SqlRepository", "SqlUnitOfWork", "make_engine", "open_repository", "sqlite_url"]


class SqlRepository:
    """A :class:`~phonetrust.store.repository.Repository` over one SQLAlchemy engine.

    The schema must already be current: use :func:`open_repository`, which migrates first.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlUnitOfWork]:
        with self.engine.begin() as connection:
            yield SqlUnitOfWork(connection)

    def close(self) -> None:
        self.engine.dispose()


def open_repository(url: str) -> SqlRepository:
    """Open the database at ``url``, bringing its schema to the newest revision first."""
    repository = SqlRepository(url)
    try:
        migrations.upgrade(repository.engine)
    except BaseException:
        repository.close()
        raise
    return repository


class SqlUnitOfWork:
    """Every :class:`~phonetrust.store.repository.UnitOfWork` operation, on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # -- helpers ----------------------------------------------------------------
    def _insert(self, table: Table, values: Mapping[str, Any]) -> Any:
        """``INSERT ... ON CONFLICT`` capable insert of ``values``, or None on other dialects."""
        dialect = self._c.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table).values(dict(values))
        if dialect == "sqlite":
            return sqlite.insert(table).values(dict(values))
        return None

    def _upsert(self, table: Table, values: Mapping[str, Any], key: Sequence[str]) -> None:
        """Insert ``values``, or overwrite the row with the same ``key`` columns."""
        changes = {name: value for name, value in values.items() if name not in key}
        stmt: postgresql.Insert | sqlite.Insert | None = self._insert(table, values)
        if stmt is not None:
            if changes:
                self._c.execute(stmt.on_conflict_do_update(index_elements=key, set_=changes))
            else:
                self._c.execute(stmt.on_conflict_do_nothing(index_elements=key))
            return
        # Any other dialect: update, else insert (not safe against a concurrent insert).
        where = [table.c[name] == values[name] for name in key]
        if changes:
            if self._c.execute(update(table).where(*where).values(changes)).rowcount:
                return
        elif self._c.execute(select(*table.primary_key.columns).where(*where)).first():
            return
        self._c.execute(insert(table).values(dict(values)))

    def _delete_by_name(self, table: Table, name: str) -> bool:
        return self._c.execute(delete(table).where(table.c.name == name)).rowcount > 0

    # -- cluster ----------------------------------------------------------------
    def get_cluster(self) -> ClusterState | None:
        query = select(t.cluster).where(t.cluster.c.id == rows.CLUSTER_ID)
        row = self._c.execute(query).first()
        return None if row is None else rows.cluster_from(row)

    def put_cluster(self, state: ClusterState) -> None:
        self._upsert(t.cluster, rows.cluster_row(state), ["id"])

    # -- nodes ------------------------------------------------------------------
    def list_nodes(self) -> list[Node]:
        query = select(t.nodes).order_by(t.nodes.c.publisher.desc(), t.nodes.c.host)
        return [rows.node_from(row) for row in self._c.execute(query)]

    def get_node(self, host: str) -> Node | None:
        row = self._c.execute(select(t.nodes).where(t.nodes.c.host == host)).first()
        return None if row is None else rows.node_from(row)

    def put_node(self, node: Node) -> None:
        values = rows.node_row(node)
        n = t.nodes.c
        if self._c.execute(update(t.nodes).where(n.host == node.host).values(values)).rowcount:
            return
        self._c.execute(insert(t.nodes).values({**values, "uid": uuid.uuid4().hex}))

    def node_uid(self, host: str) -> str | None:
        uid = self._c.execute(select(t.nodes.c.uid).where(t.nodes.c.host == host)).scalar()
        return None if uid is None else str(uid)

    def node_by_uid(self, uid: str) -> Node | None:
        row = self._c.execute(select(t.nodes).where(t.nodes.c.uid == uid)).first()
        return None if row is None else rows.node_from(row)

    def rename_node(self, old_host: str, node: Node) -> None:
        if self.get_node(old_host) is None:
            raise LocalError(f"Cannot rename node {old_host!r}: there is no such node")
        if node.host == old_host:
            self.put_node(node)
            return
        if self.get_node(node.host) is not None:
            raise LocalError(f"Cannot rename node {old_host!r} to {node.host!r}: it already exists")
        new = node.host
        uid = self.node_uid(old_host)
        n = t.nodes.c
        # The new row takes the old one's identity: free it first (uid is unique).
        self._c.execute(update(t.nodes).where(n.host == old_host).values(uid=f"renamed-{uid}"))
        self._c.execute(insert(t.nodes).values({**rows.node_row(node), "uid": uid}))
        certs = t.own_certificates
        self._c.execute(update(certs).where(certs.c.node == old_host).values(node=new))
        files = t.published_files
        self._c.execute(delete(files).where(files.c.node == new))
        self._c.execute(update(files).where(files.c.node == old_host).values(node=new))
        # What its phones downloaded follows the node, as its published files do.
        fetched = t.downloads
        self._c.execute(update(fetched).where(fetched.c.node == old_host).values(node=new))
        for group in self.list_groups():
            if old_host in group.members:
                members = tuple(new if m == old_host else m for m in group.members)
                self.put_group(CallManagerGroup(group.name, members))
        self._c.execute(delete(t.nodes).where(t.nodes.c.host == old_host))

    def delete_node(self, host: str) -> None:
        self._c.execute(delete(t.nodes).where(t.nodes.c.host == host))

    # -- own certificates ---------------------------------------------------------
    def _own_query(self, node: str | None, name: CertName | None) -> list[OwnCertificate]:
        c = t.own_certificates.c
        query = select(t.own_certificates).order_by(c.node, c.name, c.created_at, c.id)
        if node is not None:
            query = query.where(c.node == node)
        if name is not None:
            query = query.where(c.name == name.value)
        return [rows.own_from(row) for row in self._c.execute(query)]

    def current_certificate(self, node: str, name: CertName) -> OwnCertificate | None:
        c = t.own_certificates.c
        query = (
            select(t.own_certificates)
            .where(c.node == node, c.name == name.value)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(1)
        )
        row = self._c.execute(query).first()
        return None if row is None else rows.own_from(row)

    def list_own_certificates(self, node: str | None = None) -> list[OwnCertificate]:
        current: dict[tuple[str, CertName], OwnCertificate] = {}
        for cert in self._own_query(node, None):  # oldest first: the last one seen wins
            current[cert.node, cert.name] = cert
        return list(current.values())

    def certificate_history(self, node: str, name: CertName) -> list[OwnCertificate]:
        return self._own_query(node, name)

    def add_own_certificate(self, cert: OwnCertificate) -> None:
        self._c.execute(insert(t.own_certificates).values(rows.own_row(cert)))

    # -- trust stores -------------------------------------------------------------
    def list_trusted(self, store: TrustStore | None = None) -> list[TrustedCertificate]:
        c = t.trusted_certificates.c
        query = select(t.trusted_certificates).order_by(c.store, c.added_at, c.id)
        if store is not None:
            query = query.where(c.store == store.value)
        return [rows.trusted_from(row) for row in self._c.execute(query)]

    def add_trusted(self, cert: TrustedCertificate) -> bool:
        values = rows.trusted_row(cert)
        c = t.trusted_certificates.c
        stmt: postgresql.Insert | sqlite.Insert | None = self._insert(
            t.trusted_certificates, values
        )
        if stmt is not None:
            ignoring = stmt.on_conflict_do_nothing(index_elements=["store", "sha256"])
            return self._c.execute(ignoring.returning(c.id)).first() is not None
        query = select(c.id).where(c.store == values["store"], c.sha256 == values["sha256"])
        if self._c.execute(query).first() is not None:
            return False
        self._c.execute(insert(t.trusted_certificates).values(values))
        return True

    def delete_trusted(self, store: TrustStore, der: bytes) -> bool:
        c = t.trusted_certificates.c
        stmt = delete(t.trusted_certificates).where(
            c.store == store.value, c.sha256 == rows.sha256_hex(der)
        )
        return self._c.execute(stmt).rowcount > 0

    # -- CallManager groups -------------------------------------------------------
    def list_groups(self) -> list[CallManagerGroup]:
        query = select(t.cm_groups).order_by(t.cm_groups.c.name)
        return [rows.group_from(row) for row in self._c.execute(query)]

    def get_group(self, name: str) -> CallManagerGroup | None:
        row = self._c.execute(select(t.cm_groups).where(t.cm_groups.c.name == name)).first()
        return None if row is None else rows.group_from(row)

    def put_group(self, group: CallManagerGroup) -> None:
        self._upsert(t.cm_groups, rows.group_row(group), ["name"])

    def delete_group(self, name: str) -> bool:
        return self._delete_by_name(t.cm_groups, name)

    # -- profiles -----------------------------------------------------------------
    def list_profiles(self) -> list[SecurityProfile]:
        query = select(t.profiles).order_by(t.profiles.c.name)
        return [rows.profile_from(row) for row in self._c.execute(query)]

    def get_profile(self, name: str) -> SecurityProfile | None:
        row = self._c.execute(select(t.profiles).where(t.profiles.c.name == name)).first()
        return None if row is None else rows.profile_from(row)

    def put_profile(self, profile: SecurityProfile) -> None:
        self._upsert(t.profiles, rows.profile_row(profile), ["name"])

    def delete_profile(self, name: str) -> bool:
        return self._delete_by_name(t.profiles, name)

    # -- devices --------------------------------------------------------------------
    def list_devices(self) -> list[Device]:
        query = select(t.devices).order_by(t.devices.c.name)
        return [rows.device_from(row) for row in self._c.execute(query)]

    def get_device(self, name: str) -> Device | None:
        row = self._c.execute(_GET_DEVICE, {"key_name": name}).first()
        return None if row is None else rows.device_from(row)

    def put_device(self, device: Device) -> None:
        self._upsert(t.devices, rows.device_row(device), ["name"])

    def delete_device(self, name: str) -> bool:
        return self._delete_by_name(t.devices, name)

    def record_capf(self, name: str, record: CapfRecord) -> bool:
        values = record.columns()
        params: dict[str, Any] = {f"new_{column}": value for column, value in values.items()}
        params["key_name"] = name
        shape = tuple(values)
        if record.expect_failures is not None:
            shape += ("?capf_auth_failures",)
            params["old_capf_auth_failures"] = record.expect_failures
        return self._c.execute(_capf_update(shape), params).rowcount > 0

    # -- downloads ----------------------------------------------------------------------
    def record_downloads(self, downloads: Sequence[Download]) -> None:
        c = t.downloads.c
        for d in downloads:
            values = {
                "device": d.device,
                "filename": d.filename,
                "node": d.node,
                "sha1": d.sha1,
                "size": d.size,
                "at": d.at,
            }
            stmt = self._insert(t.downloads, values)
            if stmt is None:  # any other dialect: read, then write
                self._record_download(values)
                continue
            # Every SET expression reads the row as it was: the old SHA-1, when it differs
            # from the new one, becomes the previous one.
            previous = case((c.sha1 != stmt.excluded.sha1, c.sha1), else_=c.previous_sha1)
            changes = {k: v for k, v in values.items() if k not in ("device", "filename")}
            self._c.execute(
                stmt.on_conflict_do_update(
                    index_elements=["device", "filename"],
                    set_={**changes, "previous_sha1": previous},
                )
            )

    def _record_download(self, values: dict[str, Any]) -> None:
        c = t.downloads.c
        where = (c.device == values["device"], c.filename == values["filename"])
        old = self._c.execute(select(c.sha1, c.previous_sha1).where(*where)).first()
        if old is None:
            self._c.execute(insert(t.downloads).values(values))
            return
        previous = old.sha1 if old.sha1 != values["sha1"] else old.previous_sha1
        self._c.execute(update(t.downloads).where(*where).values(values, previous_sha1=previous))

    def list_downloads(self, device: str | None = None) -> list[Download]:
        c = t.downloads.c
        query = select(t.downloads).order_by(c.device, c.filename)
        if device is not None:
            query = query.where(c.device == device)
        return [
            Download(
                row.device, row.filename, row.node, row.sha1, row.size, row.at, row.previous_sha1
            )
            for row in self._c.execute(query)
        ]

    def count_downloads(self, filenames: Sequence[str]) -> dict[tuple[str, str], int]:
        c = t.downloads.c
        query = (
            select(c.filename, c.sha1, func.count())
            .where(c.filename.in_(list(filenames)))
            .group_by(c.filename, c.sha1)
        )
        return {(row[0], row[1]): int(row[2]) for row in self._c.execute(query)}

    def downloads_mark(self) -> tuple[int, datetime | None]:
        c = t.downloads.c
        row = self._c.execute(select(func.count(), func.max(c.at))).one()
        return int(row[0]), row[1]

    # -- enterprise parameters ------------------------------------------------------
    def get_params(self) -> dict[str, str]:
        query = select(t.params.c.name, t.params.c.value).order_by(t.params.c.name)
        return {row.name: row.value for row in self._c.execute(query)}

    def set_param(self, name: str, value: str) -> None:
        self._upsert(t.params, {"name": name, "value": value}, ["name"])

    # -- audit and alerts -----------------------------------------------------------
    def append_audit(self, entry: AuditEntry) -> None:
        self._c.execute(insert(t.audit).values(rows.audit_row(entry)))

    def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        c = t.audit.c
        query = select(t.audit).order_by(c.at.desc(), c.id.desc()).limit(max(limit, 0))
        return [rows.audit_from(row) for row in self._c.execute(query)]

    def raise_alert(self, kind: str, message: str, at: datetime) -> None:
        c = t.alerts.c
        stmt = (
            update(t.alerts)
            .where(c.kind == kind, c.cleared_at.is_(None))
            .values(message=message, raised_at=at)
        )
        if self._c.execute(stmt).rowcount == 0:
            self._c.execute(insert(t.alerts).values(kind=kind, message=message, raised_at=at))

    def clear_alert(self, kind: str, at: datetime) -> bool:
        c = t.alerts.c
        stmt = update(t.alerts).where(c.kind == kind, c.cleared_at.is_(None)).values(cleared_at=at)
        return self._c.execute(stmt).rowcount > 0

    def list_alerts(self, *, open_only: bool = True) -> list[Alert]:
        c = t.alerts.c
        query = select(t.alerts).order_by(c.raised_at.desc(), c.id.desc())
        if open_only:
            query = query.where(c.cleared_at.is_(None))
        return [rows.alert_from(row) for row in self._c.execute(query)]

    # -- the published file plan ----------------------------------------------------
    def publish(
        self,
        files: Mapping[tuple[str, str], bytes],
        inputs: Mapping[tuple[str, str], str] | None = None,
    ) -> int:
        if self._c.dialect.name == "postgresql":
            # Concurrent publishers take turns (readers are not blocked), so each
            # gets the next number instead of colliding on it.
            self._c.exec_driver_sql("LOCK TABLE plan_versions IN SHARE ROW EXCLUSIVE MODE")
        version = self.current_version() + 1
        now = datetime.now(UTC)
        self._c.execute(insert(t.plan_versions).values(version=version, created_at=now))
        digests = {key: hashlib.sha256(data).hexdigest() for key, data in files.items()}
        self._store_blobs({digests[key]: bytes(data) for key, data in files.items()})
        names = [
            {
                "version": version,
                "node": node,
                "filename": filename,
                "blob": digests[node, filename],
                "inputs": None if inputs is None else inputs.get((node, filename)),
            }
            for (node, filename) in files
        ]
        for start in range(0, len(names), _CHUNK):
            self._c.execute(insert(t.published_files), names[start : start + _CHUNK])
        if version % PRUNE_EVERY == 0:
            self._prune(version - KEEP_VERSIONS)
        return version

    def _store_blobs(self, contents: dict[str, bytes]) -> None:
        """Insert the contents not stored yet."""
        wanted = list(contents)
        known: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = select(t.blobs.c.sha256).where(t.blobs.c.sha256.in_(chunk))
            known.update(self._c.execute(query).scalars())
        new = [
            {"sha256": digest, "size": len(data), "data": data}
            for digest, data in contents.items()
            if digest not in known
        ]
        for start in range(0, len(new), _CHUNK):
            self._c.execute(insert(t.blobs), new[start : start + _CHUNK])

    def _prune(self, oldest_kept: int) -> None:
        """Forget plan versions before ``oldest_kept`` and contents nothing refers to any more."""
        if oldest_kept <= 1:
            return
        v, f, b = t.plan_versions.c, t.published_files.c, t.blobs.c
        self._c.execute(delete(t.published_files).where(f.version < oldest_kept))
        self._c.execute(delete(t.plan_versions).where(v.version < oldest_kept))
        used = select(f.blob).where(f.blob == b.sha256).exists()
        self._c.execute(delete(t.blobs).where(~used))

    def current_version(self) -> int:
        latest = self._c.execute(select(func.max(t.plan_versions.c.version))).scalar()
        return int(latest) if latest is not None else 0

    def published_file(self, node: str, filename: str, version: int | None = None) -> bytes | None:
        f, b = t.published_files.c, t.blobs.c
        wanted = self.current_version() if version is None else version
        query = (
            select(b.data)
            .join_from(t.published_files, t.blobs, f.blob == b.sha256)
            .where(f.version == wanted, f.node == node, f.filename == filename)
        )
        data = self._c.execute(query).scalar()
        return None if data is None else bytes(data)

    def published_with_inputs(
        self, node: str, names: Iterable[str] | None = None
    ) -> dict[str, tuple[bytes, str | None]]:
        f, b = t.published_files.c, t.blobs.c
        query = (
            select(f.filename, b.data, f.inputs)
            .join_from(t.published_files, t.blobs, f.blob == b.sha256)
            .where(f.version == self.current_version(), f.node == node)
        )
        if names is not None:
            query = query.where(f.filename.in_(list(names)))
        return {row.filename: (bytes(row.data), row.inputs) for row in self._c.execute(query)}

    def published_files(self, node: str, version: int | None = None) -> dict[str, bytes]:
        f, b = t.published_files.c, t.blobs.c
        wanted = self.current_version() if version is None else version
        query = (
            select(f.filename, b.data)
            .join_from(t.published_files, t.blobs, f.blob == b.sha256)
            .where(f.version == wanted, f.node == node)
        )
        return {row.filename: bytes(row.data) for row in self._c.execute(query)}

    def published_names(self, node: str, version: int | None = None) -> dict[str, int]:
        f, b = t.published_files.c, t.blobs.c
        wanted = self.current_version() if version is None else version
        query = (
            select(f.filename, b.size)
            .join_from(t.published_files, t.blobs, f.blob == b.sha256)
            .where(f.version == wanted, f.node == node)
            .order_by(f.filename)
        )
        return {row.filename: int(row.size) for row in self._c.execute(query)}

    # -- key material -------------------------------------------------------------------
    def get_key_vault(self) -> KeyVault | None:
        row = self._c.execute(select(t.key_vault).where(t.key_vault.c.id == 1)).first()
        if row is None:
            return None
        return KeyVault(
            bytes(row.salt), bytes(row.wrapped_key), bytes(row.p12_password), row.changed_at
        )

    def put_key_vault(self, vault: KeyVault) -> None:
        values = {
            "id": 1,
            "salt": vault.salt,
            "wrapped_key": vault.wrapped_key,
            "p12_password": vault.p12_password,
            "changed_at": vault.changed_at,
        }
        self._upsert(t.key_vault, values, ["id"])

    def get_sealed_key(self, fingerprint: str) -> bytes | None:
        k = t.private_keys.c
        sealed = self._c.execute(select(k.sealed).where(k.fingerprint == fingerprint)).scalar()
        return None if sealed is None else bytes(sealed)

    def put_sealed_key(self, fingerprint: str, sealed: bytes, at: datetime) -> None:
        values = {"fingerprint": fingerprint, "sealed": sealed, "created_at": at}
        self._upsert(t.private_keys, values, ["fingerprint"])

    def delete_sealed_key(self, fingerprint: str) -> bool:
        k = t.private_keys.c
        return (
            self._c.execute(delete(t.private_keys).where(k.fingerprint == fingerprint)).rowcount > 0
        )

    def list_sealed_keys(self) -> dict[str, bytes]:
        k = t.private_keys.c
        query = select(k.fingerprint, k.sealed).order_by(k.fingerprint)
        return {row.fingerprint: bytes(row.sealed) for row in self._c.execute(query)}

    # -- files every TFTP node serves beside the plan -----------------------------------
    def list_tftp_extra(self) -> dict[str, bytes]:
        x = t.tftp_extra_files.c
        query = select(x.filename, x.data).order_by(x.filename)
        return {row.filename: bytes(row.data) for row in self._c.execute(query)}

    def put_tftp_extra(self, filename: str, data: bytes, at: datetime) -> None:
        values = {"filename": filename, "data": data, "uploaded_at": at}
        self._upsert(t.tftp_extra_files, values, ["filename"])

    def delete_tftp_extra(self, filename: str) -> bool:
        x = t.tftp_extra_files.c
        return (
            self._c.execute(delete(t.tftp_extra_files).where(x.filename == filename)).rowcount > 0
        )

    # -- eTokens --------------------------------------------------------------------
    def get_token_counter(self, serial: str) -> TokenCounter:
        c = t.token_counters.c
        row = self._c.execute(select(t.token_counters).where(c.serial == serial)).first()
        return TokenCounter(serial) if row is None else rows.token_from(row)

    def put_token_counter(self, counter: TokenCounter) -> None:
        self._upsert(t.token_counters, rows.token_row(counter), ["serial"])

    def list_users(self) -> list[WebUser]:
        query = select(t.web_users).order_by(t.web_users.c.name)
        return [rows.user_from(row) for row in self._c.execute(query)]

    def get_user(self, name: str) -> WebUser | None:
        row = self._c.execute(select(t.web_users).where(t.web_users.c.name == name)).first()
        return None if row is None else rows.user_from(row)

    def put_user(self, user: WebUser) -> None:
        self._upsert(t.web_users, rows.user_row(user), ["name"])

    def delete_user(self, name: str) -> bool:
        self._c.execute(delete(t.api_tokens).where(t.api_tokens.c.user_name == name))
        return self._c.execute(delete(t.web_users).where(t.web_users.c.name == name)).rowcount > 0

    def list_api_tokens(self, user: str | None = None) -> list[ApiToken]:
        c = t.api_tokens.c
        query = select(t.api_tokens).order_by(c.user_name, c.created_at, c.token_id)
        if user is not None:
            query = query.where(c.user_name == user)
        return [rows.api_token_from(row) for row in self._c.execute(query)]

    def get_api_token(self, token_id: str) -> ApiToken | None:
        c = t.api_tokens.c
        row = self._c.execute(select(t.api_tokens).where(c.token_id == token_id)).first()
        return None if row is None else rows.api_token_from(row)

    def put_api_token(self, token: ApiToken) -> None:
        self._upsert(t.api_tokens, rows.api_token_row(token), ["token_id"])

    def delete_api_token(self, token_id: str) -> bool:
        c = t.api_tokens.c
        return self._c.execute(delete(t.api_tokens).where(c.token_id == token_id)).rowcount > 0


def _conforms(repository: SqlRepository, unit: SqlUnitOfWork) -> tuple[Repository, UnitOfWork]:
    """Never called: lets mypy check that both classes satisfy the contract."""
    return repository, unit
