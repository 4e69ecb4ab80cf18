"""The repository contract the service layer programs against.

A :class:`Repository` opens units of work (:class:`UnitOfWork`); everything
done inside one commits together or not at all, which is how a published
file plan and the change that caused it become visible at the same moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from phonetrust.policy.domain import (
    CallManagerGroup,
    CapfOperation,
    CertName,
    Device,
    Node,
    OwnCertificate,
    SecurityMode,
    SecurityProfile,
    SignerOption,
    TrustedCertificate,
    TrustStore,
)


@dataclass(frozen=True, slots=True)
class ClusterState:
    """The cluster-wide record: one per database."""

    name: str
    security_mode: SecurityMode
    signer: SignerOption
    created_at: datetime
    itl_reset_active: bool = False
    """An ``utils itl reset`` ITL is being served until the next TFTP restart."""
    password_changed_at: datetime | None = None
    p12_exported_at: datetime | None = None
    ctl_deleted: bool = False
    """``file delete tftp CTLFile.tlv`` removed the CTL; ``utils ctl`` brings it back."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    who: str
    action: str
    detail: str


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    message: str
    raised_at: datetime
    cleared_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebUser:
    """An application user of the web administration and the HTTP API."""

    name: str
    password_hash: str
    """argon2id, in its own encoded form (parameters and salt inside)."""
    role: str
    created_at: datetime
    password_changed_at: datetime
    failures: int = 0
    """Wrong passwords since the last right one."""
    locked_until: datetime | None = None
    session_epoch: int = 0
    """Sessions carry the epoch they were signed in; a password change moves it on."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A revocable API token: its public id and the SHA-256 hex of its secret part."""

    token_id: str
    user: str
    label: str
    secret_hash: str
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenCounter:
    """The CTL client's per-eToken password failure counter (D3)."""

    serial: str
    failures: int = 0
    locked: bool = False


@dataclass(frozen=True, slots=True)
class Download:
    """A trust list or configuration a device fetched from a TFTP node (the fleet view)."""

    device: str
    filename: str
    node: str
    sha1: str
    size: int
    at: datetime
    previous_sha1: str | None = None
    """What the device downloaded under this name before, when it differed (read back
    only: :meth:`UnitOfWork.record_downloads` works it out from the stored row)."""


@dataclass(frozen=True, slots=True)
class CapfRecord:
    """What a CAPF session writes on its device; every other column stays as it is.

    ``status`` is always written; the other fields are written only when set
    (``operation``, ``auth_hash``, ``failures``, ``lsc``, ``mic`` not
    None), or cleared when their ``clear_*`` flag says so. CAPF writes one of
    these per session, so it is a targeted update, not a whole :class:`Device`.

    ``expect_failures`` makes the write conditional: it happens only if the
    device's count of wrong authentication strings is still that number (two
    nodes judging strings for one device at once cannot lose a count).
    """

    status: str
    operation: CapfOperation | None = None
    auth_hash: str | None = None
    """The authentication string's hash ("" once the string is used)."""
    failures: int | None = None
    """Wrong authentication strings so far."""
    locked_at: datetime | None = None
    """Lock the operation (set with ``failures``)."""
    expect_failures: int | None = None
    clear_expiry: bool = False
    """Set ``capf_expires`` to NULL (the operation is over)."""
    lsc: bytes | None = None
    clear_lsc: bool = False
    mic: bytes | None = None

    def columns(self) -> dict[str, object]:
        """The device columns to write, by name."""
        values: dict[str, object] = {"capf_status": self.status}
        if self.operation is not None:
            values["capf_operation"] = self.operation.value
        if self.auth_hash is not None:
            values["capf_auth_hash"] = self.auth_hash
        if self.failures is not None:
            values["capf_auth_failures"] = self.failures
            values["capf_locked_at"] = self.locked_at
        if self.clear_expiry:
            values["capf_expires"] = None
        if self.lsc is not None:
            values["lsc"] = self.lsc
        elif self.clear_lsc:
            values["lsc"] = None
        if self.mic is not None:
            values["mic"] = self.mic
        return values


@dataclass(frozen=True, slots=True)
class KeyVault:
    """The cluster key sealed under the security password, and the p12 password under it."""

    salt: bytes
    wrapped_key: bytes
    p12_password: bytes
    changed_at: datetime


class UnitOfWork(Protocol):
    # -- cluster ---------------------------------------------------------------
    def get_cluster(self) -> ClusterState | None: ...
    def put_cluster(self, state: ClusterState) -> None: ...

    # -- nodes -----------------------------------------------------------------
    def list_nodes(self) -> list[Node]: ...
    def get_node(self, host: str) -> Node | None: ...
    def put_node(self, node: Node) -> None: ...
    def rename_node(self, old_host: str, node: Node) -> None:
        """Replace ``old_host`` by ``node`` everywhere it is referred to (certificates, groups,
        published files, the downloads of its phones)."""
        ...

    def delete_node(self, host: str) -> None: ...
    def node_uid(self, host: str) -> str | None:
        """The node's identity, which a rename keeps."""
        ...

    def node_by_uid(self, uid: str) -> Node | None: ...

    # -- own certificates (history kept; the newest per node and name is current)
    def current_certificate(self, node: str, name: CertName) -> OwnCertificate | None: ...
    def list_own_certificates(self, node: str | None = None) -> list[OwnCertificate]: ...
    def certificate_history(self, node: str, name: CertName) -> list[OwnCertificate]: ...
    def add_own_certificate(self, cert: OwnCertificate) -> None: ...

    # -- trust stores -----------------------------------------------------------
    def list_trusted(self, store: TrustStore | None = None) -> list[TrustedCertificate]: ...
    def add_trusted(self, cert: TrustedCertificate) -> bool:
        """False (and no change) when that store already holds that certificate."""
        ...

    def delete_trusted(self, store: TrustStore, der: bytes) -> bool: ...

    # -- CallManager groups, profiles, devices ----------------------------------
    def list_groups(self) -> list[CallManagerGroup]: ...
    def get_group(self, name: str) -> CallManagerGroup | None: ...
    def put_group(self, group: CallManagerGroup) -> None: ...
    def delete_group(self, name: str) -> bool: ...
    def list_profiles(self) -> list[SecurityProfile]: ...
    def get_profile(self, name: str) -> SecurityProfile | None: ...
    def put_profile(self, profile: SecurityProfile) -> None: ...
    def delete_profile(self, name: str) -> bool: ...
    def list_devices(self) -> list[Device]: ...
    def get_device(self, name: str) -> Device | None: ...
    def put_device(self, device: Device) -> None: ...
    def delete_device(self, name: str) -> bool: ...
    def record_capf(self, name: str, record: CapfRecord) -> bool:
        """Write a CAPF session's result on a device; False (no change) when there is none."""
        ...

    # -- enterprise parameters -------------------------------------------------
    def get_params(self) -> dict[str, str]: ...
    def set_param(self, name: str, value: str) -> None: ...

    # -- audit and alerts ------------------------------------------------------
    def append_audit(self, entry: AuditEntry) -> None: ...
    def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        ...

    def raise_alert(self, kind: str, message: str, at: datetime) -> None:
        """Open an alert of ``kind`` (or refresh the message and time of the open one)."""
        ...

    def clear_alert(self, kind: str, at: datetime) -> bool: ...
    def list_alerts(self, *, open_only: bool = True) -> list[Alert]: ...

    # -- the published file plan -------------------------------------------------
    def publish(
        self,
        files: Mapping[tuple[str, str], bytes],
        inputs: Mapping[tuple[str, str], str] | None = None,
    ) -> int:
        """Store a complete new plan {(node, file name): bytes}; returns its version number.

        ``inputs`` gives some files the digest of what they were made from."""
        ...

    def current_version(self) -> int:
        """0 before anything was published."""
        ...

    def published_file(
        self, node: str, filename: str, version: int | None = None
    ) -> bytes | None: ...
    def published_with_inputs(
        self, node: str, names: Iterable[str] | None = None
    ) -> dict[str, tuple[bytes, str | None]]:
        """{file name: (bytes, digest of its inputs or None)} of a node's current files
        (only ``names``, when given)."""
        ...

    def published_names(self, node: str, version: int | None = None) -> dict[str, int]:
        """{file name: size} of a node's files in a version (the current one by default)."""
        ...

    def published_files(self, node: str, version: int | None = None) -> dict[str, bytes]:
        """{file name: bytes} of a node's files in a version (the current one by default)."""
        ...

    # -- what devices downloaded ------------------------------------------------------
    def record_downloads(self, downloads: Sequence[Download]) -> None:
        """Remember each device's latest download of each file name; a different SHA-1
        replaces the stored one, which becomes ``previous_sha1``."""
        ...

    def list_downloads(self, device: str | None = None) -> list[Download]:
        """By device then file name."""
        ...

    def count_downloads(self, filenames: Sequence[str]) -> dict[tuple[str, str], int]:
        """How many devices last downloaded each (file name, SHA-1): which lists the fleet
        holds, counted by the database (no row per phone is read)."""
        ...

    def downloads_mark(self) -> tuple[int, datetime | None]:
        """How many download records, and the newest one's time: moves whenever a phone
        downloads anything (what caches of the fleet's state are keyed on)."""
        ...

    # -- key material ---------------------------------------------------------------
    def get_key_vault(self) -> KeyVault | None: ...
    def put_key_vault(self, vault: KeyVault) -> None: ...
    def get_sealed_key(self, fingerprint: str) -> bytes | None: ...
    def put_sealed_key(self, fingerprint: str, sealed: bytes, at: datetime) -> None: ...
    def delete_sealed_key(self, fingerprint: str) -> bool: ...
    def list_sealed_keys(self) -> dict[str, bytes]:
        """Every sealed key, by fingerprint."""
        ...

    # -- files every TFTP node serves beside the plan ---------------------------------
    def list_tftp_extra(self) -> dict[str, bytes]: ...
    def put_tftp_extra(self, filename: str, data: bytes, at: datetime) -> None: ...
    def delete_tftp_extra(self, filename: str) -> bool: ...

    # -- eTokens -------------------------------------------------------------------
    def get_token_counter(self, serial: str) -> TokenCounter: ...
    def put_token_counter(self, counter: TokenCounter) -> None: ...

    # web administration users and API tokens
    def list_users(self) -> list[WebUser]: ...
    def get_user(self, name: str) -> WebUser | None: ...
    def put_user(self, user: WebUser) -> None: ...
    def delete_user(self, name: str) -> bool:
        """Remove the user and its API tokens."""
        ...

    def list_api_tokens(self, user: str | None = None) -> list[ApiToken]: ...
    def get_api_token(self, token_id: str) -> ApiToken | None: ...
    def put_api_token(self, token: ApiToken) -> None: ...
    def delete_api_token(self, token_id: str) -> bool: ...


class Repository(Protocol):
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction: commits when the block ends normally, rolls back on an exception."""
        ...

    def close(self) -> None: ...
