"""The file plan's per-device steps exactly as they were before caching: the oracle.

:mod:`phonetrust.service.fileplan` now memoizes group parts per catalog,
renders from memoized fragments and recognises its own ``.sgn`` files
without parsing them. This module keeps the original ``config_document``
(rendering with the original writer) and ``NodeSigner.signed`` (always
parsing), copied verbatim, so the tests can rebuild a plan the old way and
compare it byte for byte.
"""

from __future__ import annotations

from phonetrust.errors import ParseError
from phonetrust.formats import cnfxml
from phonetrust.formats.sgn import SignedFile, sign_file
from phonetrust.policy import params as P
from phonetrust.policy.domain import (
    CapfOperation,
    Device,
    DeviceSecurityMode,
    Node,
    Protocol,
    Service,
)
from phonetrust.service.fileplan import Catalog, NodeSigner
from tests.formats import cnfxml_original


def config_document(catalog: Catalog, device: Device) -> bytes:
    """The device's SEP<MAC>.cnf.xml, from its group, profile and settings (config-xml.md)."""
    params = catalog.params
    group = catalog.groups.get(device.group)
    nodes = catalog.nodes
    members: list[Node] = [nodes[h] for h in group.members if h in nodes] if group else []
    if not members:
        members = [n for n in nodes.values() if n.runs(Service.CALLMANAGER)][:3]
    profile = catalog.profiles.get(device.profile)
    mode = profile.mode if profile is not None else DeviceSecurityMode.NON_SECURE
    pending = device.capf_operation is not CapfOperation.NONE
    capf_nodes = [n for n in nodes.values() if n.runs(Service.CAPF)]
    if device.protocol is Protocol.SIP:
        transport = 3 if mode is not DeviceSecurityMode.NON_SECURE else 4
    else:
        transport = 1
    config = cnfxml.PhoneConfig(
        device_name=device.name,
        model=device.model,
        protocol=device.protocol.value,
        cm_group_name=group.name if group is not None else "Default",
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
        capf=tuple(
            cnfxml.CapfEntry(process_node_name=str(n.ip) if pending else "") for n in capf_nodes
        ),
        capf_auth_mode=int(device.capf_auth_mode) if pending else 0,
        device_security_mode=int(mode),
        transport_layer_protocol=transport,
        load_information=device.settings.get("loadInformation", ""),
        vendor_config=tuple(
            (k, v) for k, v in sorted(device.settings.items()) if k != "loadInformation"
        ),
        secure_urls=params[P.ROLLBACK] != "True",
        version_stamp="",
    )
    return cnfxml_original.render(config)


def signed(self: NodeSigner, name: str, content: bytes) -> bytes:
    """NodeSigner.signed as it was: parse every published file."""
    previous = self.previous(name)
    if previous is not None:
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
