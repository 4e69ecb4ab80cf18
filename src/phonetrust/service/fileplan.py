"""The file plan: which bytes each TFTP node serves, under which name.

For every node running TFTP: ``CTLFile.tlv`` (carried from the last
``utils ctl`` operation until deleted), the node's ``ITLFile.tlv``, and for
each device ``SEP<MAC>.cnf.xml`` plus its ``.sgn`` - or, when the device's
profile encrypts its configuration, ``.enc.sgn`` and the signed stub. The
plan is rebuilt inside every change and published as a new version in the
same transaction. A file whose inputs did not change keeps its old bytes
(and so its hash and timestamp): phones and ``show itl`` checksums only see
a new file when something in it really changed.

"Did its inputs change?" is a lookup. Every file is published with the
digest of what it is made from (:class:`Inputs`): for a configuration, the
device's values and what its group, profile and the enterprise parameters
put in its document; for a signed file, also the signer's certificate and
the digest algorithm; for an ITL, its records. These are cheap to gather,
so a file whose digest is the published one is neither rendered nor
signed. A file
published without a digest (by an older version, or restored) is made again
once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from phonetrust.errors import BuildError, ParseError
from phonetrust.formats import cnfxml
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.encsgn import encrypt_file
from phonetrust.formats.record import Record
from phonetrust.formats.sgn import sign_file
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

BUILD_VERSION = 1
"""Part of every file's inputs. Bump it when the same inputs must give other bytes (the
cnf.xml writer, a signed file's layout or what a document shows changed on purpose):
every file is then made again, instead of being kept by its unchanged inputs."""

Plan = dict[tuple[str, str], bytes]
Inputs = dict[tuple[str, str], str]
"""{(node, file name): digest of what the file is made from} (none for a carried CTL)."""


def inputs_digest(*parts: object) -> str:
    """The digest of ``parts``: strings, numbers, booleans and tuples of them (their repr)."""
    return hashlib.sha256(repr((BUILD_VERSION, *parts)).encode()).hexdigest()


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
    configurations: bool = True
    """False on the planner's copy of a cluster: only the trust lists are published, and
    the few configuration files predicted boots read are made on demand
    (:class:`DeviceFiles`), instead of re-signing every device's at each step."""


@dataclass(frozen=True, slots=True)
class BuiltPlan:
    """A plan ready to publish, and what its build had to say about it."""

    files: Plan
    inputs: Inputs
    """The digest of each file's inputs, published with it for the next build to look up."""
    notes: tuple[str, ...]
    """Warnings for the caller to show (a device whose configuration is left out)."""


def publish(ctx: Context, uow: UnitOfWork, inputs: PlanInputs) -> tuple[str, ...]:
    """Build and publish the plan in ``uow``; returns the build's notes."""
    built = build(ctx, uow, inputs)
    uow.publish(built.files, built.inputs)
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


# -- what a device's configuration is made from ----------------------------------------


@dataclass(frozen=True, slots=True)
class GroupParts:
    """What a device's CallManager group puts in its configuration: the same for the group."""

    name: str
    members: tuple[cnfxml.CallManagerMember, ...]
    tvs: tuple[cnfxml.TvsMember, ...]
    key: str = field(init=False, repr=False, compare=False)
    """These values as text, for the inputs of every document of the group."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", repr((self.name, self.members, self.tvs)))


@dataclass(frozen=True, slots=True)
class Catalog:
    """What every device's configuration is made from beyond the device, read once a build.

    Each group's parts and the two CAPF lists are worked out when the catalog
    is read, once for all the devices that share them.
    """

    enterprise: EnterpriseParams
    profiles: dict[str, SecurityProfile]
    groups: dict[str, GroupParts]
    no_group: GroupParts
    """For a device whose group does not exist (any more): the first three CallManagers."""
    capf_idle: tuple[cnfxml.CapfEntry, ...]
    """``capfList`` without a CAPF operation pending: every CAPF node, unnamed."""
    capf_pending: tuple[cnfxml.CapfEntry, ...]
    """``capfList`` while one is pending: every CAPF node, named."""

    @classmethod
    def read(cls, uow: UnitOfWork, enterprise: EnterpriseParams) -> Catalog:
        nodes = {n.host: n for n in uow.list_nodes()}
        capf = [n for n in nodes.values() if n.runs(Service.CAPF)]
        return cls(
            enterprise,
            {p.name: p for p in uow.list_profiles()},
            {g.name: _group_parts(nodes, g) for g in uow.list_groups()},
            _group_parts(nodes, None),
            tuple(cnfxml.CapfEntry(process_node_name="") for _ in capf),
            tuple(cnfxml.CapfEntry(process_node_name=str(n.ip)) for n in capf),
        )

    def document_inputs(self, device: Device) -> DocumentInputs:
        profile = self.profiles.get(device.profile)
        pending = device.capf_operation is not CapfOperation.NONE
        return DocumentInputs(
            device_name=device.name,
            model=device.model,
            protocol=device.protocol,
            group=self.groups.get(device.group, self.no_group),
            capf=self.capf_pending if pending else self.capf_idle,
            capf_auth_mode=int(device.capf_auth_mode) if pending else 0,
            mode=profile.mode if profile is not None else DeviceSecurityMode.NON_SECURE,
            settings=tuple(sorted(device.settings.items())),
            rollback=self.enterprise.rollback,
        )


def _group_parts(nodes: dict[str, Node], group: CallManagerGroup | None) -> GroupParts:
    """Members of the group (or the first three CallManagers) and their TVS list."""
    members = [nodes[h] for h in group.members if h in nodes] if group else []
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


@dataclass(frozen=True, slots=True)
class DocumentInputs:
    """Everything a device's ``SEP<MAC>.cnf.xml`` is made from, and nothing else.

    :func:`config_document` reads only these values, so their digest
    (:meth:`digest`) changes whenever the document can.
    """

    device_name: str
    model: str
    """Not shown in the document (the configuration is the same for every model), so not
    in :meth:`digest`: a new model alone keeps the files."""
    protocol: Protocol
    group: GroupParts
    capf: tuple[cnfxml.CapfEntry, ...]
    """Named while a CAPF operation is pending."""
    capf_auth_mode: int
    mode: DeviceSecurityMode
    settings: tuple[tuple[str, str], ...]
    rollback: bool

    def digest(self) -> str:
        return inputs_digest(
            "cnf.xml",
            self.device_name,
            self.protocol.value,
            self.group.key,
            self.capf,
            self.capf_auth_mode,
            int(self.mode),
            self.settings,
            self.rollback,
        )


def config_document(inputs: DocumentInputs) -> bytes:
    """The device's SEP<MAC>.cnf.xml, from its group, profile and settings (config-xml.md)."""
    if inputs.protocol is Protocol.SIP:
        transport = 3 if inputs.mode is not DeviceSecurityMode.NON_SECURE else 4
    else:
        transport = 1
    settings = dict(inputs.settings)
    config = cnfxml.PhoneConfig(
        device_name=inputs.device_name,
        model=inputs.model,
        protocol=inputs.protocol.value,
        cm_group_name=inputs.group.name,
        members=inputs.group.members,
        tvs=inputs.group.tvs,
        capf=inputs.capf,
        capf_auth_mode=inputs.capf_auth_mode,
        device_security_mode=int(inputs.mode),
        transport_layer_protocol=transport,
        load_information=settings.get("loadInformation", ""),
        vendor_config=tuple((k, v) for k, v in inputs.settings if k != "loadInformation"),
        secure_urls=not inputs.rollback,
        version_stamp="",
    )
    return cnfxml.render(config)


@dataclass(slots=True)
class DeviceEntry:
    """A device that gets configuration files, its document rendered only if a node needs it."""

    device: Device
    inputs: DocumentInputs
    digest: str
    """Of ``inputs``."""
    certificate: x509.Certificate | None
    """The device's LSC or MIC when its configuration is encrypted (None: it is not)."""
    _document: bytes | None = None

    def document(self) -> bytes:
        """Rendered the first time a node must make one of its files, then shared."""
        if self._document is None:
            self._document = config_document(self.inputs)
        return self._document


# -- one node's files ---------------------------------------------------------------------


@dataclass(slots=True)
class NodeFiles:
    """The files one node serves, each kept from the published plan while its inputs are."""

    host: str
    own: OwnCertificate
    """The certificate whose key signs this node's files."""
    signer: Signer
    """Unsealed even when every file is kept: a lost key stops the change (B5)."""
    digest: Digest
    now: int
    published: dict[str, bytes]
    published_inputs: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    signer_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.signer_id = hashlib.sha256(self.own.der).hexdigest()

    def put(self, name: str, inputs: str, make: Callable[[], bytes]) -> bytes:
        """``name``'s published bytes if they were made from ``inputs``, else ``make()``."""
        data = self.published.get(name)
        if data is None or self.published_inputs.get(name) != inputs:
            data = make()
        self.files[name] = data
        self.inputs[name] = inputs
        return data

    def signed_inputs(self, *parts: object) -> str:
        """The inputs of a file this node signs: ``parts``, the signer and the digest."""
        return inputs_digest(*parts, self.signer_id, self.digest.name)

    def trust_list(self, name: str, records: list[Record]) -> bytes:
        def make() -> bytes:
            try:
                built = build_trust_list(
                    self.signer, records, filename=name, timestamp=self.now, digest=self.digest
                )
            except BuildError as exc:
                raise BuildError(f"{self.host}: {name} not published: {exc}") from None
            return built.to_wire()

        wire = tuple(r.to_wire() for r in records)
        return self.put(name, self.signed_inputs("trust list", name, wire), make)

    def sign(self, name: str, content: bytes) -> bytes:
        return sign_file(
            content, self.signer, filename=name, timestamp=self.now, digest=self.digest
        ).to_wire()

    def device(self, entry: DeviceEntry) -> None:
        """The device's configuration files on this node."""
        base = f"{entry.device.name}.cnf.xml"
        sgn = base + ".sgn"
        cert = entry.certificate
        if cert is None:
            self.put(base, inputs_digest("plain", entry.digest), entry.document)
            self.put(
                sgn,
                self.signed_inputs("sgn", sgn, entry.digest),
                lambda: self.sign(sgn, entry.document()),
            )
            return
        cert_id = hashlib.sha256(entry.device.certificate or b"").hexdigest()
        enc = base + ".enc.sgn"
        self.put(
            enc,
            self.signed_inputs("enc.sgn", enc, entry.digest, cert_id),
            lambda: encrypt_file(
                entry.document(),
                self.signer,
                cert,
                filename=enc,
                timestamp=self.now,
                digest=self.digest,
            ).to_wire(),
        )
        self.put(
            sgn,
            self.signed_inputs("stub", sgn, entry.digest, cert_id),
            lambda: self.sign(sgn, build_stub(entry.document(), cert)),
        )


def build(ctx: Context, uow: UnitOfWork, inputs: PlanInputs) -> BuiltPlan:
    """Every TFTP node's files as ``uow`` and ``inputs`` say; nothing is written."""
    now = int(ctx.now().timestamp())
    enterprise = EnterpriseParams.from_stored(uow.get_params())  # once per build
    digest = enterprise.tftp_digest
    all_certs = node_certs(uow)
    tftp_nodes = [c for c in all_certs if c.node.runs(Service.TFTP)]
    update = inputs.ctl_update
    lists_only = None if inputs.configurations else (CTL_NAME, ITL_NAME)
    current = {e.node.host: uow.published_with_inputs(e.node.host, lists_only) for e in tftp_nodes}
    served = {h: {name: data for name, (data, _) in files.items()} for h, files in current.items()}
    kept = {
        h: {name: inputs for name, (_, inputs) in files.items() if inputs is not None}
        for h, files in current.items()
    }

    def node_files(host: str, own: OwnCertificate) -> NodeFiles:
        return NodeFiles(
            host,
            own,
            signer_of(ctx, own, uow),
            digest,
            now,
            served[host],
            kept[host],
        )

    itls = itl_files(
        uow,
        all_certs,
        tftp_nodes,
        node_files,
        served,
        tftp_restart=inputs.tftp_restart,
        rollback=enterprise.rollback,
    )
    entries: list[DeviceEntry] = []
    notes: list[str] = []
    if inputs.configurations:
        entries, notes = device_entries(Catalog.read(uow, enterprise), uow.list_devices())
    files: Plan = {}
    made: Inputs = {}
    for entry in tftp_nodes:
        host = entry.node.host
        ctl = served[host].get(CTL_NAME)
        if update is not None and (update.nodes is None or host in update.nodes):
            ctl = update.data
        if ctl is not None:
            files[host, CTL_NAME] = ctl
        if host in itls:
            files[host, ITL_NAME], made[host, ITL_NAME] = itls[host]
        cm = uow.current_certificate(host, CertName.CALLMANAGER)
        if cm is None:
            continue
        node = node_files(host, cm)
        for device in entries:
            node.device(device)
        files.update(((host, name), data) for name, data in node.files.items())
        made.update(((host, name), digest) for name, digest in node.inputs.items())
    return BuiltPlan(files, made, tuple(notes))


class DeviceFiles:
    """One device's configuration files on one node, made when asked for.

    The planner's copy of a cluster publishes no configuration files
    (:attr:`PlanInputs.configurations`); a predicted boot asks for the few it
    reads, and they are made here exactly as :func:`build` makes them.
    """

    def __init__(self, ctx: Context, uow: UnitOfWork) -> None:
        self._ctx, self._uow = ctx, uow
        self._enterprise = EnterpriseParams.from_stored(uow.get_params())
        self._catalog = Catalog.read(uow, self._enterprise)
        self._nodes: dict[str, NodeFiles | None] = {}

    def __call__(self, host: str, device_name: str) -> dict[str, bytes]:
        """``device_name``'s files on ``host`` ({} when it has none there)."""
        device = self._uow.get_device(device_name)
        node = self._node(host)
        if device is None or node is None:
            return {}
        entries, _ = device_entries(self._catalog, [device])
        node.files = {}
        for entry in entries:
            node.device(entry)
        return dict(node.files)

    def _node(self, host: str) -> NodeFiles | None:
        if host not in self._nodes:
            cm = self._uow.current_certificate(host, CertName.CALLMANAGER)
            self._nodes[host] = None
            if cm is not None:
                now = int(self._ctx.now().timestamp())
                signer = signer_of(self._ctx, cm, self._uow)
                digest = self._enterprise.tftp_digest
                self._nodes[host] = NodeFiles(host, cm, signer, digest, now, {}, {})
        return self._nodes[host]


def device_entries(catalog: Catalog, devices: list[Device]) -> tuple[list[DeviceEntry], list[str]]:
    """The devices that get configuration files, and a note for each that cannot."""
    entries = []
    notes = []
    for device in devices:
        profile = catalog.profiles.get(device.profile)
        note = left_out(device, profile)
        if note is not None:
            notes.append(note)
            continue
        document = catalog.document_inputs(device)
        cert = None
        if profile is not None and profile.tftp_encrypted and device.certificate is not None:
            cert = x509.load_der_x509_certificate(device.certificate)
        entries.append(DeviceEntry(device, document, document.digest(), cert))
    return entries, notes


def itl_files(
    uow: UnitOfWork,
    all_certs: list[NodeCerts],
    tftp_nodes: list[NodeCerts],
    node_files: Callable[[str, OwnCertificate], NodeFiles],
    served: dict[str, dict[str, bytes]],
    *,
    tftp_restart: bool,
    rollback: bool,
) -> dict[str, tuple[bytes, str]]:
    """Each TFTP node's ITL and its inputs; after ``utils itl reset`` all serve the
    publisher's, re-signed (C1).

    A regenerated ITLRecovery certificate reaches the ITLs at the next TFTP restart (C4):
    until then they keep the recovery record they carry. ``served`` is each TFTP node's
    current files.
    """
    state = cluster(uow)
    recovery = itl_recovery(uow)
    if not tftp_restart and state.signer is SignerOption.CALLMANAGER:
        recovery = _recovery_in_force(uow, served) or recovery
    recovery_cert = None if recovery is None else x509_of(recovery)
    records: dict[str, list[Record]] = {}
    signers: dict[str, OwnCertificate] = {}
    for entry in tftp_nodes:
        host = entry.node.host
        cm = uow.current_certificate(host, CertName.CALLMANAGER)
        if cm is None:
            continue
        own = recovery if state.signer is SignerOption.ITLRECOVERY and recovery else cm
        signers[host] = own
        records[host] = itl_records(
            entry, all_certs, recovery_cert, signer=x509_of(own), rollback=rollback
        )
    source = records.get(publisher(uow).host)
    if state.itl_reset_active and recovery is not None and source is not None:
        records = dict.fromkeys(records, source)
        signers = dict.fromkeys(signers, recovery)
    out = {}
    for host, own in signers.items():
        node = node_files(host, own)
        node.trust_list(ITL_NAME, records[host])
        out[host] = node.files[ITL_NAME], node.inputs[ITL_NAME]
    return out


def _recovery_in_force(
    uow: UnitOfWork, served: dict[str, dict[str, bytes]]
) -> OwnCertificate | None:
    """The publisher's ITLRecovery certificate its served ITL carries (None: none served yet)."""
    pub = publisher(uow).host
    itl = served.get(pub, {}).get(ITL_NAME)
    if itl is None:
        return None
    try:
        records = TrustList.from_wire(itl).records
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
