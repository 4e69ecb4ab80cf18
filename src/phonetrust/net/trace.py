"""The servers' trace lines, in the words CUCM's own traces use.

An administrator who has read CUCM's traces in a TAC document finds the
same lines here: reference 004 shows ``TFTPEngine::isReadRequest[...]`` and
``Transferred[CTLFile.tlv]`` for TFTP and ``Got a new ph conn``, ``TLS HS
Done``, ``MsgType : CAPF_MSG_AUTH_REQ``, ``Certificate upgrade successful``
for CAPF; reference 000 shows ``tvsHandleQueryCertReq`` and the
``CertificateDBCache`` lookups for TVS. Events CUCM's excerpts do not show
(a refused TFTP request, a dropped TVS connection) are written in the same
manner. The bracket ``[0x<server>~<request>~<ip>~<port>]`` ties a TFTP
request to its transfer, as CUCM's does.

The servers call these only when given a tracer (``None``: no tracing), and
only once per request or connection, never per datagram. Nothing secret is
written: CAPF authentication strings, passwords and keys never reach a
tracer; certificates appear by subject, issuer and serial only.
Names that come from the network are escaped, so a hostile file name cannot
forge a line.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from phonetrust.formats.tags import Role
from phonetrust.protocols.capf.messages import HEADER_SIZE, Command
from phonetrust.protocols.capf.server import Outcome
from phonetrust.store.tracefiles import (
    COMPONENTS,
    FLUSH_EVERY,
    KEEP,
    MAX_BYTES,
    TraceFile,
    component_dir,
)

Address = tuple[str, int]
MAX_PENDING = 65536
"""TFTP requests remembered until their transfer ends (emptied when full)."""


def clean(text: str) -> str:
    """``text`` as one printable line (control characters escaped)."""
    if text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


class Tracer:
    """Stamped lines (``HH:MM:SS.mmm |``, local time) to one service's trace files."""

    def __init__(self, file: TraceFile, *, wall: Callable[[], float] = time.time) -> None:
        self.file = file
        self._wall = wall
        self._second = -1
        self._hms = ""

    def line(self, text: str) -> None:
        now = self._wall()
        second = int(now)
        if second != self._second:  # localtime and strftime once a second, not per line
            self._second = second
            self._hms = time.strftime("%H:%M:%S", time.localtime(second))
        self.file.write(f"{self._hms}.{int(now * 1000) % 1000:03d} |{text}\n")

    def debug(self, text: str) -> None:
        """CUCM's TVS and CAPF traces mark their lines `` debug``."""
        self.line(f" debug {text}")

    def close(self) -> None:
        self.file.close()


class TftpTrace(Tracer):
    """TFTPEngine lines: each read request, and what became of it."""

    def __init__(self, file: TraceFile, *, wall: Callable[[], float] = time.time) -> None:
        super().__init__(file, wall=wall)
        self._engine = f"0x{id(self) & 0xFFFFFFF:07x}"
        self._count = itertools.count(1)
        self._pending: dict[Address, str] = {}

    def _key(self, addr: Address) -> str:
        key = self._pending.pop(addr, None)
        return key or f"{self._engine}~0~{addr[0]}~{addr[1]}"

    def request(self, addr: Address, filename: str, mode: str, serving: int) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.clear()
        key = f"{self._engine}~{next(self._count)}~{addr[0]}~{addr[1]}"
        self._pending[addr] = key
        self.line(
            f"TFTPEngine::isReadRequest[{key}], [{clean(filename)}] opcode(1), "
            f"Mode({clean(mode)}), Serving Count({serving})"
        )

    def transferred(self, addr: Address, file: str, tid: int, sock: int) -> None:
        self.line(
            f"TID[{tid & 0xFFFFFFFF:08x}] TFTPEngine::processMessage[{self._key(addr)}], "
            f"Transferred[{clean(file)}] Socket[{sock}]"
        )

    def failed(self, addr: Address, file: str, tid: int, reason: str) -> None:
        self.line(
            f"TID[{tid & 0xFFFFFFFF:08x}] TFTPEngine::processMessage[{self._key(addr)}], "
            f"Failed[{clean(file)}] Reason[{clean(reason)}]"
        )

    def refused(self, addr: Address, filename: str, code: int, reason: str) -> None:
        self.line(
            f"TFTPEngine::sendErrorPacket[{self._key(addr)}], [{clean(filename)}] "
            f"ErrorCode({code}), ErrorMsg({clean(reason)})"
        )


def _name(name: x509.Name) -> str:
    """A name as CUCM's TVS trace prints it: ``CN=...;OU=...;O=...``."""
    return ";".join(a.rfc4514_string() for rdn in reversed(name.rdns) for a in rdn)


class TvsTrace(Tracer):
    """tvsHandle... lines: connections and certificate queries."""

    def connected(self, peer: str, sock: int) -> None:
        self.debug(f"tvsHandleNewPhConnection : New phone connection from {peer} on {sock}")

    def query(
        self, peer: str, device: str | None, der: bytes, valid: bool, roles: tuple[int, ...]
    ) -> None:
        debug = self.debug
        debug("tvsHandleQueryCertReq")
        if device:
            debug(f"tvsHandleQueryCertReq : Device Name is: {clean(device)}")
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            debug("ERROR:tvsHandleQueryCertReq : the certificate cannot be parsed")
        else:
            issuer = _name(cert.issuer)
            serial = f"{cert.serial_number:X}"
            debug(f"tvsHandleQueryCertReq : Subject Name is: {_name(cert.subject)}")
            debug(f"tvsHandleQueryCertReq : Issuer Name is: {issuer}")
            debug(f"tvsHandleQueryCertReq : Serial Number is: {serial}")
            debug(
                "CertificateDBCache::getCertificateInformation - Looking up the certificate "
                f"cache using Unique MAP ID : {serial}{issuer}"
            )
        if valid:
            cache = "CertificateDBCache::getCertificateInformation"
            debug(f"{cache} - Found entry {{rolecount : {len(roles)}}}")
            for role in roles:
                debug(f"{cache} - {{role : {role}}}")
        else:
            debug(
                "ERROR:CertificateDBCache::getCertificateInformation - "
                "Cannot find the certificate in the cache"
            )
        names = ", ".join(_role(r) for r in roles) or "none"
        debug(
            f"tvsHandleQueryCertReq : Sending response to {peer}, status : "
            f"{'valid' if valid else 'invalid'}, roles : {names}"
        )

    def dropped(self, peer: str, why: str) -> None:
        self.debug(f"ERROR:tvsHandleNewPhConnection : dropped {peer}: {clean(why)}")


def _role(role: int) -> str:
    return Role(role).spelling if role in Role._value2member_map_ else str(role)


def capf_message(command: int) -> str:
    """CAPF's name for a message: ``CAPF_MSG_AUTH_REQ``, ``CAPF_MSG_KEY_GEN_RES``."""
    try:
        name = Command(command).name
    except ValueError:
        return f"CAPF_MSG_UNKNOWN({command})"
    short = name.replace("REQUEST", "REQ").replace("RESPONSE", "RES").replace("CERTIFICATE", "CERT")
    return f"CAPF_MSG_{short}"


class CapfFrames:
    """The commands of the CAPF messages in a byte stream, however it is cut.

    Reads only each 8-byte header (protocol, command, session, length) and
    skips the payload, so nothing the phone sent (its authentication string)
    is kept or traced.
    """

    def __init__(self) -> None:
        self._header = bytearray()
        self._skip = 0

    def feed(self, data: bytes) -> list[int]:
        found: list[int] = []
        view = memoryview(data)
        while view:
            if self._skip:
                n = min(self._skip, len(view))
                self._skip -= n
                view = view[n:]
                continue
            need = HEADER_SIZE - len(self._header)
            self._header += view[:need]
            view = view[need:]
            if len(self._header) == HEADER_SIZE:
                found.append(self._header[1])
                self._skip = int.from_bytes(self._header[6:8], "big")
                self._header.clear()
        return found


class CapfTrace(Tracer):
    """CAPF lines: connections, the TLS handshake, each message, the outcome."""

    def connected(self, conn: int, ip: str, sock: int) -> None:
        self.debug(f"{conn}:UNKNOWN:Got a new ph conn {ip} on {sock}")

    def handshake_done(self) -> None:
        self.debug("TLS HS Done for ph_conn .")

    def messages(
        self, conn: int, device: str | None, commands: list[int], *, incoming: bool
    ) -> None:
        if incoming and commands:
            self.debug(f"{conn}:{clean(device or 'UNKNOWN')}:Incoming Phone Msg:")
        for command in commands:
            self.debug(f"MsgType : {capf_message(command)}")

    def generated(self) -> None:
        self.debug("Generated the cert")

    def outcome(self, conn: int, outcome: Outcome) -> None:
        """The session's end; ``outcome.info`` says why, never what the phone authenticated with."""
        who = f"{conn}:{clean(outcome.device or 'UNKNOWN')}"
        operation = outcome.operation.value if outcome.operation is not None else "operation"
        if outcome.success:
            done = {"install": "Certificate upgrade", "fetch": "Certificate fetch"}.get(
                operation, f"Certificate {operation}"
            )
            self.debug(f"{who}:{done} successful")
        else:
            self.debug(
                f"{who}:Certificate {operation} failed: reason {int(outcome.reason)}: "
                f"{clean(outcome.info)}"
            )


@dataclass(frozen=True, slots=True)
class Tracers:
    tftp: TftpTrace
    tvs: TvsTrace
    capf: CapfTrace

    def close(self) -> None:
        for tracer in (self.tftp, self.tvs, self.capf):
            tracer.close()


def open_tracers(
    root: Path,
    *,
    max_bytes: int = MAX_BYTES,
    keep: int = KEEP,
    flush_every: float = FLUSH_EVERY,
) -> Tracers:
    """The three services' tracers under the active log ``root`` (files open at first line)."""

    def file(service: str) -> TraceFile:
        component = COMPONENTS[service]
        return TraceFile(
            component_dir(root, component),
            component,
            max_bytes=max_bytes,
            keep=keep,
            flush_every=flush_every,
        )

    return Tracers(TftpTrace(file("tftp")), TvsTrace(file("tvs")), CapfTrace(file("capf")))
