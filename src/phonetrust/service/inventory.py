"""Devices, phone security profiles, CallManager groups and enterprise parameters."""

from __future__ import annotations

import codecs
import csv
import unicodedata
from dataclasses import dataclass, replace
from datetime import timedelta

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.policy import models
from phonetrust.policy import params as P
from phonetrust.policy.capfauth import check_format, hash_auth_string, lock_alert
from phonetrust.policy.domain import (
    CallManagerGroup,
    CapfAuthMode,
    CapfOperation,
    Device,
    DeviceSecurityMode,
    Protocol,
    SecurityProfile,
    Service,
    device_name,
)
from phonetrust.service.changes import change, reading
from phonetrust.service.context import Context, cluster
from phonetrust.service.fileplan import encryptable, unserved
from phonetrust.store.repository import UnitOfWork

DEVICE_FIELDS = ("name", "model", "protocol", "group", "profile", "description")


def _check_device(uow: UnitOfWork, device: Device) -> None:
    if uow.get_group(device.group) is None:
        raise LocalError(f"Unknown CallManager group {device.group!r}")
    profile = uow.get_profile(device.profile)
    if profile is None:
        raise LocalError(f"Unknown phone security profile {device.profile!r}")
    if not device.model.strip():
        raise LocalError("a device needs a model (e.g. 7975, 8845)")
    if profile.tftp_encrypted and not encryptable(device):
        raise KeyMaterialError(
            f"{device.name}: profile {profile.name!r} encrypts the configuration, which needs "
            "an RSA device certificate (the key is wrapped with RSA); its certificate has "
            "an EC key: reissue the LSC with an RSA key first"
        )


def add_devices(ctx: Context, devices: list[Device]) -> int:
    """Add devices in one change: all of them or, on the first problem, none."""
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise LocalError("the same device is listed twice")
    with change(ctx, "device add", ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")) as ch:
        uow = ch.uow
        cluster(uow)
        for device in devices:
            _check_new_device(uow, device)
            uow.put_device(device)
    return len(devices)


def update_device(ctx: Context, name: str, **changes: object) -> Device:
    """Change a device's fields or settings; unknown fields are refused."""
    with change(ctx, "device set", f"{name} {sorted(changes)}") as ch:
        uow = ch.uow
        current = uow.get_device(device_name(name))
        if current is None:
            raise LocalError(f"Unknown device {name}")
        settings = dict(current.settings)
        new_settings = changes.pop("settings", None)
        if isinstance(new_settings, dict):
            for key, value in new_settings.items():
                if value is None:
                    settings.pop(str(key), None)
                else:
                    settings[str(key)] = str(value)
        try:
            updated = replace(current, settings=settings, **changes)  # type: ignore[arg-type]
        except TypeError as exc:
            raise LocalError(f"cannot change that: {exc}") from None
        _check_device(uow, updated)
        uow.put_device(updated)
    return updated


def plan_notes(ctx: Context) -> tuple[str, ...]:
    """Devices the published plan leaves out, and why: what to warn about after a change."""
    with reading(ctx) as uow:
        return unserved(uow)


def remove_device(ctx: Context, name: str) -> None:
    with change(ctx, "device remove", name) as ch:
        uow = ch.uow
        if not uow.delete_device(device_name(name)):
            raise LocalError(f"Unknown device {name}")


def list_devices(ctx: Context) -> list[Device]:
    with reading(ctx) as uow:
        return uow.list_devices()


FIELD_LIMIT = 131_072
"""Longest CSV field accepted, in characters (the csv module's own default limit)."""
DEFAULT_PROFILE = "Universal Device Template - Model-independent Security Profile"
_REQUIRED_COLUMNS = ("name", "model")
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)
"""Invisible characters that reorder displayed text (CVE-2021-42574, "Trojan Source")."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    device: Device


@dataclass(frozen=True, slots=True)
class BadRow:
    """A CSV row that cannot be imported, and why; ``line`` counts from 1, the header."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class DeviceCsv:
    """A device CSV read row by row: the rows that make devices and the rows that do not."""

    rows: tuple[CsvRow, ...]
    bad: tuple[BadRow, ...]


class BadRows(LocalError):
    """Rows of a CSV that cannot be imported; nothing was imported."""

    def __init__(self, bad: tuple[BadRow, ...]) -> None:
        self.bad = bad
        more = f" (and {len(bad) - 1} more bad rows)" if len(bad) > 1 else ""
        super().__init__(f"{bad[0]}{more}")


def read_device_csv(data: bytes) -> DeviceCsv:
    """Bulk import: a header naming name, model and some of protocol, group, profile,
    description, then one device a line.

    Each line is decoded and parsed on its own, so a bad line (not UTF-8, an
    unterminated quote, too few or too many fields, a control character, a
    field over :data:`FIELD_LIMIT`) is reported with its line number and never
    swallows or shifts the next one. A field cannot hold a line break, so a
    device is always exactly one line. Empty fields take the default. A header
    that cannot be read raises LocalError: no row can be read without it.
    """
    lines = data.split(b"\n")
    if lines[0].startswith(codecs.BOM_UTF8):
        lines[0] = lines[0][len(codecs.BOM_UTF8) :]
    try:
        header = _fields(lines[0])
    except LocalError as exc:
        raise LocalError(f"line 1 (the header): {exc}") from None
    columns = [c.strip().lower() for c in header]
    _check_header(columns)
    rows: list[CsvRow] = []
    bad: list[BadRow] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            device = _device(columns, _fields(raw))
        except LocalError as exc:
            bad.append(BadRow(number, str(exc)))
            continue
        if device.name in first_line:
            reason = f"{device.name} is already on line {first_line[device.name]}"
            bad.append(BadRow(number, reason))
            continue
        first_line[device.name] = number
        rows.append(CsvRow(number, device))
    return DeviceCsv(tuple(rows), tuple(bad))


def parse_device_csv(text: str) -> list[Device]:
    """The devices of a CSV text; the first bad row raises LocalError naming its line."""
    parsed = read_device_csv(text.encode("utf-8", "surrogateescape"))
    if parsed.bad:
        raise LocalError(f"CSV {parsed.bad[0]}")
    return [row.device for row in parsed.rows]


def import_devices(
    ctx: Context, parsed: DeviceCsv, *, skip_bad_rows: bool = False
) -> tuple[int, tuple[BadRow, ...]]:
    """Add the devices of a CSV in one change: all of them or, if any row is bad, none.

    With ``skip_bad_rows`` the good rows are added and the bad ones returned. A
    row is bad when it cannot be read (see :func:`read_device_csv`) or its device
    cannot be added (it exists, unknown group or profile, no model, ...).
    Raises :class:`BadRows` otherwise.
    """
    bad = list(parsed.bad)
    good: list[Device] = []
    with reading(ctx) as uow:
        for row in parsed.rows:
            try:
                _check_new_device(uow, row.device)
            except LocalError as exc:
                bad.append(BadRow(row.line, str(exc)))
            else:
                good.append(row.device)
    bad.sort(key=lambda b: b.line)
    if bad and not skip_bad_rows:
        raise BadRows(tuple(bad))
    if good:
        add_devices(ctx, good)
    return len(good), tuple(bad)


def _check_new_device(uow: UnitOfWork, device: Device) -> None:
    if uow.get_device(device.name) is not None:
        raise LocalError(f"Device {device.name} already exists")
    _check_device(uow, device)


def _check_header(columns: list[str]) -> None:
    missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise LocalError(
            f"line 1: the CSV needs a header row naming at least name and model "
            f"(missing: {', '.join(missing)})"
        )
    unknown = set(columns) - set(DEVICE_FIELDS)
    if unknown:
        printable = sorted(c if c and c.isprintable() else repr(c) for c in unknown)
        raise LocalError(f"line 1: unknown CSV columns: {', '.join(printable)}")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise LocalError(f"line 1: the header names {', '.join(twice)} twice")


def _fields(raw: bytes) -> list[str]:
    """One line's fields; LocalError says why they cannot be read."""
    raw = raw.removesuffix(b"\r")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
        raise LocalError(
            f"not UTF-8 (byte 0x{raw[exc.start]:02x} at character {column}); save the file as UTF-8"
        ) from None
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        reason = str(exc)
    if "end of data" in reason:
        reason = "unterminated quote: a quoted field must end on its own line"
    elif "new-line character" in reason:
        reason = "a carriage return inside the line (end lines with LF or CR LF)"
    elif "field limit" in reason:
        reason = f"a field is longer than {FIELD_LIMIT} characters"
    else:
        reason = f"not valid CSV: {reason}"
    raise LocalError(reason)


def _device(columns: list[str], fields: list[str]) -> Device:
    if len(fields) < len(columns):
        raise LocalError(
            f"{len(fields)} fields where the header has {len(columns)}: "
            f"no {', '.join(columns[len(fields) :])}"
        )
    if len(fields) > len(columns):
        raise LocalError(
            f"{len(fields)} fields where the header has {len(columns)} "
            "(a comma in a value needs quotes)"
        )
    row = dict(zip(columns, fields, strict=True))
    for column, value in row.items():
        if len(value) > FIELD_LIMIT:
            raise LocalError(f"column {column}: longer than {FIELD_LIMIT} characters")
        for position, char in enumerate(value, start=1):
            if char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
                raise LocalError(
                    f"column {column}: control character {char!r} at character {position}"
                )
    if not row["model"].strip():
        raise LocalError("column model: a device needs a model (e.g. 7975, 8845)")
    protocol = (row.get("protocol") or "SIP").strip().upper()
    if protocol not in Protocol.__members__:
        raise LocalError(f"column protocol: {row['protocol']!r} is not SIP or SCCP")
    return Device(
        name=row["name"],
        model=row["model"],
        protocol=Protocol(protocol),
        group=row.get("group") or "Default",
        profile=row.get("profile") or DEFAULT_PROFILE,
        description=row.get("description") or "",
    )


def schedule_capf(
    ctx: Context,
    name: str,
    *,
    operation: CapfOperation,
    auth_mode: CapfAuthMode,
    auth_string: str = "",
    key: str = "RSA-2048",
) -> Device:
    """Set a device's pending CAPF operation; it expires after the CAPF expiry parameter.

    The authentication string (4 to 10 digits, for ``AUTH_STRING``) is stored
    only as a salted hash, so it cannot be shown again: the caller gives it
    to the phone's user (``policy.capfauth.generate_auth_string`` makes one).
    Scheduling is also what unlocks an operation locked by wrong strings: the
    count starts again and the lock's alert is cleared.
    """
    with reading(ctx) as uow:
        days = P.EnterpriseParams.from_stored(uow.get_params()).capf_expiry_days
    digest = ""
    if auth_mode is CapfAuthMode.AUTH_STRING:
        digest = hash_auth_string(check_format(auth_string))
    expires = ctx.now() + timedelta(days=days) if operation is not CapfOperation.NONE else None
    device = update_device(
        ctx,
        name,
        capf_operation=operation,
        capf_auth_mode=auth_mode,
        capf_auth_hash=digest,
        capf_auth_failures=0,
        capf_locked_at=None,
        capf_key=key,
        capf_expires=expires,
    )
    with ctx.repo.unit_of_work() as uow:
        uow.clear_alert(lock_alert(device.name), ctx.now())
    return device


# -- profiles and groups --------------------------------------------------------


def put_profile(
    ctx: Context, name: str, mode: DeviceSecurityMode, tftp_encrypted: bool = False
) -> None:
    if tftp_encrypted and mode is DeviceSecurityMode.NON_SECURE:
        raise LocalError("TFTP encrypted configuration needs an authenticated or encrypted profile")
    with change(ctx, "profile set", name) as ch:
        uow = ch.uow
        uow.put_profile(SecurityProfile(name, mode, tftp_encrypted))


def remove_profile(ctx: Context, name: str) -> None:
    with change(ctx, "profile remove", name) as ch:
        uow = ch.uow
        users = [d.name for d in uow.list_devices() if d.profile == name]
        if users:
            raise LocalError(f"profile {name!r} is used by {len(users)} device(s), e.g. {users[0]}")
        if not uow.delete_profile(name):
            raise LocalError(f"Unknown phone security profile {name!r}")


def put_group(ctx: Context, name: str, members: list[str]) -> None:
    with change(ctx, "group set", f"{name}: {members}") as ch:
        uow = ch.uow
        for host in members:
            found = uow.get_node(host)
            if found is None:
                raise LocalError(f"Unknown node {host!r}")
            if not found.runs(Service.CALLMANAGER):
                raise LocalError(f"{host} does not run CallManager")
        uow.put_group(CallManagerGroup(name, tuple(members)))


# -- enterprise parameters --------------------------------------------------------


def list_params(ctx: Context) -> dict[str, str]:
    with reading(ctx) as uow:
        values = P.effective(uow.get_params())
        values[P.CLUSTER_SECURITY_MODE] = str(int(cluster(uow).security_mode))
        return values


def set_param(ctx: Context, name: str, value: str) -> tuple[str, str]:
    param = P.lookup(name)
    if param.read_only:
        raise LocalError(f"{param.name} is read-only here: use utils ctl set-cluster")
    normalised = param.normalise(value)
    with change(ctx, "param set", f"{param.name} = {normalised}") as ch:
        uow = ch.uow
        uow.set_param(param.name, normalised)
    return param.name, normalised


def sha512_warnings(ctx: Context) -> list[str]:
    """H7: which devices would fail to verify SHA-512-signed files."""
    with reading(ctx) as uow:
        return [
            f"{d.name} ({d.model}) does not support SHA-512 signatures"
            for d in uow.list_devices()
            if not models.model(d.model).sha512
        ]
