"""The ``--record ROLE=PEM[,dns=NAME][,ip=A.B.C.D][,hash-only][,no-signature]`` option."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import click

from phonetrust.formats.tags import Role


@dataclass(frozen=True, slots=True)
class RecordSpec:
    role: Role
    pem: Path
    dns_name: str | None = None
    ip_address: ipaddress.IPv4Address | None = None
    hash_only: bool = False
    include_signature: bool = True


class _AsIsMetavar:
    """Show the type's name as written: click upper-cases it, and record keys are lower case."""

    name: str

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        return self.name


class IPv4Type(_AsIsMetavar, click.ParamType[ipaddress.IPv4Address, str]):
    """A dotted-quad IPv4 address, checked when the command line is read (exit 2 if wrong)."""

    name = "A.B.C.D"

    def convert(
        self,
        value: str | ipaddress.IPv4Address,
        param: click.Parameter | None,
        ctx: click.Context | None,
    ) -> ipaddress.IPv4Address:
        if isinstance(value, ipaddress.IPv4Address):
            return value
        try:
            return ipaddress.IPv4Address(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an IPv4 address (A.B.C.D)", param, ctx)


class RecordSpecType(_AsIsMetavar, click.ParamType[RecordSpec, str]):
    name = "ROLE=PEM[,dns=NAME][,ip=A.B.C.D][,hash-only][,no-signature]"

    def convert(
        self, value: str | RecordSpec, param: click.Parameter | None, ctx: click.Context | None
    ) -> RecordSpec:
        if isinstance(value, RecordSpec):
            return value
        text = str(value)
        head, _, rest = text.partition(",")
        role_text, eq, pem = head.partition("=")
        if not eq or not pem:
            self.fail(f"{text!r}: expected ROLE=PEM, e.g. CCM+TFTP=CallManager.pem", param, ctx)
        try:
            role = Role.from_spelling(role_text)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        dns_name: str | None = None
        ip: ipaddress.IPv4Address | None = None
        hash_only, include_signature = False, True
        for option in filter(None, rest.split(",")):
            key, _, val = option.partition("=")
            key = key.strip().lower()
            if key == "dns":
                dns_name = val
            elif key == "ip":
                try:
                    ip = ipaddress.IPv4Address(val)
                except ValueError:
                    self.fail(f"{val!r} is not an IPv4 address (A.B.C.D)", param, ctx)
            elif key == "hash-only" and not val:
                hash_only = True
            elif key == "no-signature" and not val:
                include_signature = False
            else:
                self.fail(
                    f"unknown record option {option!r} (use dns=, ip=, hash-only, no-signature)",
                    param,
                    ctx,
                )
        return RecordSpec(role, Path(pem), dns_name, ip, hash_only, include_signature)
