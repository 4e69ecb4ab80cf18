"""The cluster's servers as a phone would meet them, answered from a store in memory.

A :class:`Servers` is read from one unit of work: every TFTP node's
published files (resolved by the TFTP service's own name rules, so
``ITLSEP<MAC>.tlv`` is what the server would send), every TVS node's
certificate and the TVS directory. A phone given :meth:`Servers.network`
boots through the same code as on real sockets; nothing listens and
nothing is sent. The planner reads it from a change that is not made
(a scratch copy, or a transaction about to be rolled back).

What it does not model: alternate TFTP servers of another cluster (E2's
relay), servers that are down (every node of the store answers), and the
TVS servers' TLS itself (the certificate a node presents is its current
TVS certificate, as ``phonetrust serve`` presents it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from phonetrust.errors import RemoteError
from phonetrust.planner.lastknown import config_kind
from phonetrust.policy.domain import CertName, Device, Node, Service
from phonetrust.policy.params import EnterpriseParams
from phonetrust.protocols.tftp.packets import ErrorCode, PeerError, TransferTimeout
from phonetrust.protocols.tvs.messages import Answer
from phonetrust.service import fileplan
from phonetrust.service.tftpfiles import Missing, Stored, TftpSource
from phonetrust.service.tvsdirectory import TvsDirectory, directory_from
from phonetrust.sim.network import Endpoint
from phonetrust.store.repository import UnitOfWork

MakeFiles = Callable[[str, str], Mapping[str, bytes]]
"""(node host, device name) -> that device's configuration files on that node."""


class Unreachable(RemoteError):
    """No node of the planned cluster has this address (or it does not run that service)."""


@dataclass(frozen=True, slots=True)
class Servers:
    """Every node's TFTP files and TVS certificate, by the names phones know them by.

    Files are read from the unit of work when first asked for, so the unit of
    work must stay open while phones boot against these servers.
    """

    tftp: Mapping[str, TftpSource]
    """Keyed by host name and IP address, lower case."""
    tvs: Mapping[str, bytes]
    """The TVS certificate (DER) each TVS node presents, keyed like ``tftp``."""
    directory: TvsDirectory
    nodes: tuple[Node, ...]
    devices: Mapping[str, Device]
    documents: Callable[[str], bytes | None] = field(default=lambda _: None, compare=False)
    """A device's configuration document as the cluster renders it (what its encrypted
    file holds), for the phone's stand-in key; None for a device with none."""
    elsewhere: Mapping[str, TvsDirectory] = field(default_factory=lambda: MappingProxyType({}))
    """TVS servers of another cluster (by address) that answer from their own directory:
    a moved phone still asks the TVS servers its old configuration names."""

    @classmethod
    def read(
        cls,
        uow: UnitOfWork,
        *,
        make: MakeFiles | None = None,
        devices: Iterable[Device] | None = None,
    ) -> Servers:
        """The servers of the cluster ``uow`` sees; ``make`` makes a device's configuration
        files that the store does not hold (the planner's copy publishes none); ``devices``:
        the cluster's devices when the caller has just listed them."""
        nodes = tuple(uow.list_nodes())
        listed = uow.list_devices() if devices is None else devices
        devices_by_name = {d.name: d for d in listed}
        version = uow.current_version()
        tftp: dict[str, TftpSource] = {}
        tvs: dict[str, bytes] = {}
        for node in nodes:
            names = (node.host.lower(), str(node.ip))
            if node.runs(Service.TFTP):
                plan = _PublishedFiles(uow, node.host, version, make)
                source = TftpSource(node.host, version, plan, devices=frozenset(devices_by_name))
                tftp.update(dict.fromkeys(names, source))
            own = uow.current_certificate(node.host, CertName.TVS)
            if node.runs(Service.TVS) and own is not None:
                tvs.update(dict.fromkeys(names, own.der))
        return cls(
            MappingProxyType(tftp),
            MappingProxyType(tvs),
            directory_from(uow),
            nodes,
            MappingProxyType(devices_by_name),
            _Documents(uow, devices_by_name),
        )

    def network(self) -> OfflineNetwork:
        return OfflineNetwork(self)

    def with_tvs_of(self, other: Servers) -> Servers:
        """These servers, plus ``other``'s TVS servers at addresses these do not have."""
        tvs = dict(self.tvs)
        elsewhere = dict(self.elsewhere)
        for address, der in other.tvs.items():
            if address not in tvs:
                tvs[address] = der
                elsewhere[address] = other.elsewhere.get(address, other.directory)
        return replace(self, tvs=MappingProxyType(tvs), elsewhere=MappingProxyType(elsewhere))

    def tftp_address(self) -> str | None:
        """The address phones of this cluster use for TFTP: the publisher's, if it runs
        TFTP, else the first TFTP node's."""
        tftp = [n for n in self.nodes if n.runs(Service.TFTP)]
        chosen = next((n for n in tftp if n.publisher), tftp[0] if tftp else None)
        return None if chosen is None else str(chosen.ip)


class _Documents:
    """Configuration documents rendered on demand, as the file plan renders them."""

    def __init__(self, uow: UnitOfWork, devices: Mapping[str, Device]) -> None:
        self._uow, self._devices = uow, devices
        self._catalog: fileplan.Catalog | None = None

    def __call__(self, name: str) -> bytes | None:
        device = self._devices.get(name)
        if device is None:
            return None
        if self._catalog is None:
            params = EnterpriseParams.from_stored(self._uow.get_params())
            self._catalog = fileplan.Catalog.read(self._uow, params)
        entries, _ = fileplan.device_entries(self._catalog, [device])
        return entries[0].document() if entries else None


class _PublishedFiles(Mapping[str, Stored]):
    """A node's published files of one version, each read when first asked for: a boot
    of a few phones must not load the configuration files of ten thousand."""

    def __init__(self, uow: UnitOfWork, host: str, version: int, make: MakeFiles | None) -> None:
        self._uow, self._host, self._version, self._make = uow, host, version, make
        self._read: dict[str, Stored | None] = {}
        self._names: dict[str, int] | None = None

    def __getitem__(self, name: str) -> Stored:
        if name not in self._read:
            data = self._uow.published_file(self._host, name, self._version)
            self._read[name] = None if data is None else Stored.of(data)
            if data is None and self._make is not None and config_kind(name) is not None:
                made = self._make(self._host, name.partition(".")[0])
                self._read.update((n, Stored.of(d)) for n, d in made.items())
                self._read.setdefault(name, None)
        found = self._read[name]
        if found is None:
            raise KeyError(name)
        return found

    def _all(self) -> dict[str, int]:
        if self._names is None:
            self._names = self._uow.published_names(self._host, self._version)
        return self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


class OfflineNetwork:
    """A phone's :class:`~phonetrust.sim.transport.Network` answered by :class:`Servers`."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    async def fetch(
        self,
        server: Endpoint,
        filename: str,
        *,
        timeout: float,
        blksize: int | None,
        rto: float,
        retries: int,
    ) -> bytes:
        source = self.servers.tftp.get(server[0].lower())
        if source is None:
            raise TransferTimeout(f"no TFTP server at {server[0]} in the planned cluster")
        found = source.lookup(filename)
        if isinstance(found, Missing):
            raise PeerError(found.reason, ErrorCode.FILE_NOT_FOUND)
        return found.data

    async def tvs(
        self,
        server: Endpoint,
        certificate: bytes,
        device_type: str,
        *,
        timeout: float,
        check_server: Callable[[bytes], None],
    ) -> Answer:
        address = server[0].lower()
        presented = self.servers.tvs.get(address)
        if presented is None:
            raise Unreachable(f"no TVS server at {server[0]}:{server[1]} in the planned cluster")
        check_server(presented)
        directory = self.servers.elsewhere.get(address, self.servers.directory)
        return directory.verify(certificate)
