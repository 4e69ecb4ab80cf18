"""The file plan: which bytes each TFTP node serves, under which name.

For every node running TFTP: ``CTLFile.tlv`` (carried from the last
``utils ctl`` operation until deleted), the node's ``ITLFile.tlv``, and for
each device ``SEP<MAC>.cnf.xml`` plus its ``.sgn`` - or, when the device's
profile encrypts its configuration, ``.enc.sgn`` and the signed stub. The
plan is rebuilt inside every change and published as a new version in the
same transaction. A file whose inputs did not change keeps its old bytes
(and so its hash and timestamp): phones and ``show itl`` checksums only see
a new file when something in it really changed.

A cluster has thousands of devices and every change rebuilds the plan, so
the build avoids work that cannot change its output: the document's shared
fragments are memoized on their values (:func:`cnfxml.render`), a device's
group members are worked out once per group (:class:`Catalog`), a published
``.sgn`` whose tail is not the new document is re-signed without parsing it,
and one that is byte for byte what :func:`sign_file` writes for this signer
is kept without parsing it (:mod:`phonetrust.formats.sgnlayout`). Anything
else goes through the full parse, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from phonetrust.errors import BuildError, ParseError
from phonetrust.formats import cnfxml
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.encsgn import EncryptedFile, encrypt_file
from phonetrust.formats.names import serial_bytes
from phonetrust.formats.record import Record
from phonetrust.formats.sgn import SignedFile, sign_file
from phonetrust.formats.sgnlayout import SignedLayouts
from phonetrust.formats.signing import Signer
from phonetrust.formats.stub import build_stub
from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.policy.domain import (
    CallManagerGroup,
    CapfOperation,
    CertName,
    Device,
    DeviceSecurityMode,
    Node,
    OwnCertificate,
    Protocol,
    SecurityProfile,
    Service,
    SignerOption,
)
from phonetrust.policy.params import EnterpriseParams
from phonetrust.policy.trustlists import NodeCerts, itl_records
from phonetrust.service.context import Context, cluster, itl_recovery, publisher, signer_of, x509_of
from phonetrust.store.repository import UnitOfWork

CTL_NAME = "CTLFile.tlv"
ITL_NAME = "ITLFile.tlv"

Plan = dict[tuple[str, str], bytes]


@dataclass(frozen=True, slots=True)
class CtlUpdate:
    """A CTL operation's outcome: new CTL bytes (None deletes) for some nodes (None: all)."""

    data: bytes | None
    nodes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What a change asks of its plan beyond what the database holds."""

    ctl_update: CtlUpdate | None = None
    """Set by a CTL operation: the CTL the nodes serve from now on."""
    tftp_restart: bool = False
    """Set by a TFTP restart (or ITL reset): the ITLs take the current ITLRecovery
    certificate; otherwise they keep the one they carry (C4)."""


@dataclass(frozen=True, slots=True)
class BuiltPlan:
    """A plan ready to publish, and what its build had to say about it."""

    files: Plan
    notes: tuple[str, ...]
    """Warnings for the caller to show (a device whose configuration is left out)."""


def publish(ctx: Context, uow: UnitOfWork, inputs: PlanInputs) -> tuple[str, ...]:
    """Build and publish the plan in ``uow``; returns the build's notes."""
    built = build(ctx, uow, inputs)
    uow.publish(built.files)
    return built.notes


def digest_of(uow: UnitOfWork) -> Digest:
    return EnterpriseParams.from_stored(uow.get_params()).tftp_digest


def node_certs(uow: UnitOfWork) -> list[NodeCerts]:
    def cert(host: str, name: CertName) -> x509.Certificate | None:
        own = uow.current_certificate(host, name)
        return None if own is None else x509_of(own)

    return [
        NodeCerts(
            n,
            cert(n.host, CertName.CALLMANAGER),
            cert(n.host, CertName.TVS),
            cert(n.host, CertName.CAPF),
        )
        for n in uow.list_nodes()
    ]


@dataclass(frozen=True, slots=True)
class GroupParts:
    """What a device's CallManager group puts in its configuration: the same for the group."""

    name: str
    members: tuple[cnfxml.CallManagerMember, ...]
    tvs: tuple[cnfxml.TvsMember, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    """What every device's configuration is made from, read once per plan build.

    Its contents never change after it is read, so what it derives for a
    group or a CAPF state is worked out once and remembered here, for this
    catalog only: a new build reads a new catalog.
    """

    enterprise: EnterpriseParams
    nodes: dict[str, Node]
    groups: dict[str, CallManagerGroup]
    profiles: dict[str, SecurityProfile]
    _group_parts: dict[str, GroupParts] = field(default_factory=dict, compare=False, repr=False)
    _capf: dict[bool, tuple[cnfxml.CapfEntry, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def group_parts(self, group_name: str) -> GroupParts:
        """The CallManager group block and TVS list of devices in ``group_name``."""
        parts = self._group_parts.get(group_name)
        if parts is None:
            parts = _group_parts(self, group_name)
            self._group_parts[group_name] = parts
        return parts

    def capf_entries(self, pending: bool) -> tuple[cnfxml.CapfEntry, ...]:
        """``capfList``: every CAPF node, named only while a CAPF operation is pending."""
        entries = self._capf.get(pending)
        if entries is None:
            entries = tuple(
                cnfxml.CapfEntry(process_node_name=str(n.ip) if pending else "")
                for n in self.nodes.values()
                if n.runs(Service.CAPF)
            )
            self._capf[pending] = entries
        return entries

    @property
    def params(self) -> dict[str, str]:
        """The parameters as text, for the frozen copy of the old renderer that
        ``tests/service/fileplan_original.py`` keeps until issue 11 item 4 deletes it."""
        return self.enterprise.stored()

    @classmethod
    def read(cls, uow: UnitOfWork) -> Catalog:
        return cls(
            EnterpriseParams.from_stored(uow.get_params()),
            {n.host: n for n in uow.list_nodes()},
            {g.name: g for g in uow.list_groups()},
            {p.name: p for p in uow.list_profiles()},
        )


@dataclass(frozen=True, slots=True)
class NodeSigner:
    """Signs one node's files, reusing the published bytes when nothing changed."""

    published: dict[str, bytes]
    """The node's files in the current version, read once."""
    host: str
    signer: Signer
    digest: Digest
    now: int
    layouts: SignedLayouts = field(init=False, compare=False, repr=False)
    """Recognises this signer's own ``.sgn`` files without parsing them."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "layouts", SignedLayouts(self.signer, self.digest))

    def previous(self, name: str) -> bytes | None:
        return self.published.get(name)

    def _same_signer(self, serial: bytes | None, digest: Digest | int | None) -> bool:
        return (
            serial == serial_bytes(self.signer.certificate.serial_number) and digest == self.digest
        )

    def trust_list(self, name: str, records: list[Record]) -> bytes:
        previous = self.previous(name)
        if previous is not None:
            try:
                old: TrustList | None = TrustList.from_wire(previous)
            except ParseError:
                old = None
            if (
                old is not None
                and old.records == tuple(records)
                and self._same_signer(old.header.signer_serial, old.header.digest)
                and old.verify_with(self.signer.certificate.public_key()).verified
            ):
                return previous
        try:
            built = build_trust_list(
                self.signer, records, filename=name, timestamp=self.now, digest=self.digest
            )
        except BuildError as exc:
            raise BuildError(f"{self.host}: {name} not published: {exc}") from None
        return built.to_wire()

    def signed(self, name: str, content: bytes) -> bytes:
        """The ``.sgn`` of ``content``; the published one while it holds ``content``, same signer.

        A parsed ``.sgn``'s content is the tail of its bytes, so a file that
        does not end with ``content`` is never kept and needs no parsing; one
        that is exactly what :func:`sign_file` writes for this signer, digest
        and name is kept without parsing (see :mod:`~phonetrust.formats.sgnlayout`).
        """
        previous = self.previous(name)
        if previous is not None and previous.endswith(content):
            if self.layouts.holds(previous, name, content):
                return previous
            try:
                old: SignedFile | None = SignedFile.from_wire(previous)
            except ParseError:
                old = None
            if (
                old is not None
                and old.content == content
                and self._same_signer(old.header.signer_serial, old.header.digest)
            ):
                return previous
        return sign_file(
            content, self.signer, filename=name, timestamp=self.now, digest=self.digest
        ).to_wire()

    def encrypted(
        self, name: str, document: bytes, device_cert: x509.Certificate, stub: bytes, stub_name: str
    ) -> bytes:
        """The ``.enc.sgn``; the old one while it holds this document for this device.

        The stub names the device certificate (certHash): an unchanged stub and
        the same plaintext digest mean the published file is still right.
        """
        previous = self.previous(name)
        if previous is not None and self.previous(stub_name) == stub:
            try:
                old = EncryptedFile.from_wire(previous)
                info = old.encryption
            except ParseError:
                info = None
            if (
                info is not None
                and info.plaintext_hash == self.digest.digest(document)
                and self._same_signer(old.header.signer_serial, info.hash_algorithm)
            ):
                return previous
        return encrypt_file(
            document,
            self.signer,
            device_cert,
            filename=name,
            timestamp=self.now,
            digest=self.digest,
        ).to_wire()


def build(ctx: Context, uow: UnitOfWork, inputs: PlanInputs) -> BuiltPlan:
    """Every TFTP node's files as ``uow`` and ``inputs`` say; nothing is written."""
    now = int(ctx.now().timestamp())
    digest = digest_of(uow)
    all_certs = node_certs(uow)
    tftp_nodes = [c for c in all_certs if c.node.runs(Service.TFTP)]
    update = inputs.ctl_update
    served = {e.node.host: uow.published_files(e.node.host) for e in tftp_nodes}
    itls = itl_files(
        ctx, uow, all_certs, tftp_nodes, now, tftp_restart=inputs.tftp_restart, published=served
    )
    catalog = Catalog.read(uow)
    devices = []
    notes = []
    for device in uow.list_devices():
        profile = catalog.profiles.get(device.profile)
        note = left_out(device, profile)
        if note is not None:
            notes.append(note)
            continue
        encrypted = profile is not None and profile.tftp_encrypted
        devices.append((device, config_document(catalog, device), encrypted))
    files: Plan = {}
    for entry in tftp_nodes:
        host = entry.node.host
        published = served[host]
        ctl = published.get(CTL_NAME)
        if update is not None and (update.nodes is None or host in update.nodes):
            ctl = update.data
        if ctl is not None:
            files[host, CTL_NAME] = ctl
        if host in itls:
            files[host, ITL_NAME] = itls[host]
        cm = uow.current_certificate(host, CertName.CALLMANAGER)
        if cm is None:
            continue
        node_signer = NodeSigner(published, host, signer_of(ctx, cm, uow), digest, now)
        for device, document, encrypted in devices:
            for name, data in device_files(node_signer, device, document, encrypted).items():
                files[host, name] = data
    return BuiltPlan(files, tuple(notes))


def itl_files(
    ctx: Context,
    uow: UnitOfWork,
    all_certs: list[NodeCerts],
    tftp_nodes: list[NodeCerts],
    now: int,
    *,
    tftp_restart: bool = True,
    published: dict[str, dict[str, bytes]] | None = None,
) -> dict[str, bytes]:
    """Each TFTP node's ITL; after ``utils itl reset`` all serve the publisher's, re-signed (C1).

    A regenerated ITLRecovery certificate reaches the ITLs at the next TFTP restart (C4):
    until then they keep the recovery record they carry. ``published`` is each TFTP
    node's current files when the caller has read them already (they are read here
    otherwise).
    """
    state = cluster(uow)
    rollback = EnterpriseParams.from_stored(uow.get_params()).rollback
    recovery = itl_recovery(uow)
    digest = digest_of(uow)
    out: dict[str, bytes] = {}
    if published is None:
        published = {e.node.host: uow.published_files(e.node.host) for e in tftp_nodes}
    if not tftp_restart and state.signer is SignerOption.CALLMANAGER:
        recovery = _recovery_in_force(uow, published) or recovery
    recovery_cert = None if recovery is None else x509_of(recovery)
    for entry in tftp_nodes:
        host = entry.node.host
        cm = uow.current_certificate(host, CertName.CALLMANAGER)
        if cm is None:
            continue
        own = recovery if state.signer is SignerOption.ITLRECOVERY and recovery else cm
        node_signer = NodeSigner(published[host], host, signer_of(ctx, own, uow), digest, now)
        records = itl_records(
            entry,
            all_certs,
            recovery_cert,
            signer=node_signer.signer.certificate,
            rollback=rollback,
        )
        out[host] = node_signer.trust_list(ITL_NAME, records)
    source = out.get(publisher(uow).host)
    if state.itl_reset_active and recovery is not None and source is not None:
        records = list(TrustList.from_wire(source).records)
        reset_signer = signer_of(ctx, recovery, uow)
        out = {
            h: NodeSigner(published[h], h, reset_signer, digest, now).trust_list(ITL_NAME, records)
            for h in out
        }
    return out


def _recovery_in_force(
    uow: UnitOfWork, published: dict[str, dict[str, bytes]]
) -> OwnCertificate | None:
    """The publisher's ITLRecovery certificate its served ITL carries (None: none served yet)."""
    pub = publisher(uow).host
    served = published.get(pub, {}).get(ITL_NAME)
    if served is None:
        return None
    try:
        records = TrustList.from_wire(served).records
    except ParseError:
        return None
    for own in reversed(uow.certificate_history(pub, CertName.ITLRECOVERY)):
        if any(r.matches_certificate(own.der) for r in records):
            return own
    return None


def left_out(device: Device, profile: SecurityProfile | None) -> str | None:
    """Why the device gets no configuration file at all (None: it gets them)."""
    if profile is None or not profile.tftp_encrypted:
        return None
    if device.certificate is None:
        return (
            f"{device.name}: its profile encrypts the configuration but it has no LSC or MIC; "
            "no configuration is served until CAPF issues one"
        )
    if not encryptable(device):  # refused at update time; a restored store may still hold one
        return (
            f"{device.name}: its profile encrypts the configuration but its certificate's key "
            "is not RSA; no configuration is served until CAPF issues an RSA LSC"
        )
    return None


def unserved(uow: UnitOfWork) -> tuple[str, ...]:
    """What the plan built from ``uow`` leaves out, and why: the notes of :func:`build`."""
    profiles = {p.name: p for p in uow.list_profiles()}
    found = (left_out(d, profiles.get(d.profile)) for d in uow.list_devices())
    return tuple(note for note in found if note is not None)


def device_files(
    node: NodeSigner, device: Device, document: bytes, encrypted: bool
) -> dict[str, bytes]:
    """The device's files on one node (a device :func:`left_out` says has none is not asked)."""
    base = f"{device.name}.cnf.xml"
    if not encrypted:
        return {base: document, base + ".sgn": node.signed(base + ".sgn", document)}
    if device.certificate is None:  # left_out() gave the note
        return {}
    device_cert = x509.load_der_x509_certificate(device.certificate)
    stub_name, enc_name = base + ".sgn", base + ".enc.sgn"
    stub = node.signed(stub_name, build_stub(document, device_cert))
    return {
        enc_name: node.encrypted(enc_name, document, device_cert, stub, stub_name),
        stub_name: stub,
    }


def encryptable(device: Device) -> bool:
    """Whether a configuration can be encrypted for the device: no certificate yet, or RSA.

    (No certificate is not refused: the device waits for CAPF, with a note.)
    """
    if device.certificate is None:
        return True
    try:
        key = x509.load_der_x509_certificate(device.certificate).public_key()
    except ValueError:
        return False
    return isinstance(key, rsa.RSAPublicKey)


def _group_parts(catalog: Catalog, group_name: str) -> GroupParts:
    """Members of the device's group (or the first three CallManagers) and their TVS list."""
    nodes = catalog.nodes
    group = catalog.groups.get(group_name)
    members: list[Node] = [nodes[h] for h in group.members if h in nodes] if group else []
    if not members:
        members = [n for n in nodes.values() if n.runs(Service.CALLMANAGER)][:3]
    return GroupParts(
        name=group.name if group is not None else "Default",
        members=tuple(
            cnfxml.CallManagerMember(
                name=n.host,
                process_node_name=str(n.ip),
                description=f"{n.host} (Publisher)" if n.publisher else n.host,
                priority=i,
            )
            for i, n in enumerate(members)
        ),
        tvs=tuple(
            cnfxml.TvsMember(address=str(n.ip), priority=i)
            for i, n in enumerate(m for m in members if m.runs(Service.TVS))
        ),
    )


def config_document(catalog: Catalog, device: Device) -> bytes:
    """The device's SEP<MAC>.cnf.xml, from its group, profile and settings (config-xml.md)."""
    group = catalog.group_parts(device.group)
    profile = catalog.profiles.get(device.profile)
    mode = profile.mode if profile is not None else DeviceSecurityMode.NON_SECURE
    pending = device.capf_operation is not CapfOperation.NONE
    if device.protocol is Protocol.SIP:
        transport = 3 if mode is not DeviceSecurityMode.NON_SECURE else 4
    else:
        transport = 1
    config = cnfxml.PhoneConfig(
        device_name=device.name,
        model=device.model,
        protocol=device.protocol.value,
        cm_group_name=group.name,
        members=group.members,
        tvs=group.tvs,
        capf=catalog.capf_entries(pending),
        capf_auth_mode=int(device.capf_auth_mode) if pending else 0,
        device_security_mode=int(mode),
        transport_layer_protocol=transport,
        load_information=device.settings.get("loadInformation", ""),
        vendor_config=tuple(
            (k, v) for k, v in sorted(device.settings.items()) if k != "loadInformation"
        ),
        secure_urls=not catalog.enterprise.rollback,
        version_stamp="",
    )
    return cnfxml.render(config)
