"""Devices, phone security profiles, CallManager groups and enterprise parameters."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

from phonetrust.errors import KeyMaterialError, LocalError
from phonetrust.policy import models
from phonetrust.policy import params as P
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
from phonetrust.service.fileplan import encryptable
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
    with change(
        ctx, "device add", ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    ) as uow:
        cluster(uow)
        for device in devices:
            if uow.get_device(device.name) is not None:
                raise LocalError(f"Device {device.name} already exists")
            _check_device(uow, device)
            uow.put_device(device)
    return len(devices)


def update_device(ctx: Context, name: str, **changes: object) -> Device:
    """Change a device's fields or settings; unknown fields are refused."""
    with change(ctx, "device set", f"{name} {sorted(changes)}") as uow:
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


def remove_device(ctx: Context, name: str) -> None:
    with change(ctx, "device remove", name) as uow:
        if not uow.delete_device(device_name(name)):
            raise LocalError(f"Unknown device {name}")


def list_devices(ctx: Context) -> list[Device]:
    with reading(ctx) as uow:
        return uow.list_devices()


def parse_device_csv(text: str) -> list[Device]:
    """Bulk import: a header naming some of name, model, protocol, group, profile, description."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "name" not in reader.fieldnames:
        raise LocalError("the CSV needs a header row with at least 'name' and 'model'")
    unknown = set(reader.fieldnames) - set(DEVICE_FIELDS)
    if unknown:
        raise LocalError(f"unknown CSV columns: {', '.join(sorted(unknown))}")
    devices = []
    for line, row in enumerate(reader, start=2):
        try:
            devices.append(
                Device(
                    name=row["name"],
                    model=row.get("model") or "",
                    protocol=Protocol((row.get("protocol") or "SIP").upper()),
                    group=row.get("group") or "Default",
                    profile=row.get("profile")
                    or "Universal Device Template - Model-independent Security Profile",
                    description=row.get("description") or "",
                )
            )
        except (LocalError, ValueError) as exc:
            raise LocalError(f"CSV line {line}: {exc}") from None
    return devices


def schedule_capf(
    ctx: Context,
    name: str,
    *,
    operation: CapfOperation,
    auth_mode: CapfAuthMode,
    auth_string: str = "",
    key: str = "RSA-2048",
) -> Device:
    """Set a device's pending CAPF operation; it expires after the CAPF expiry parameter."""
    with reading(ctx) as uow:
        days = int(P.effective(uow.get_params())[P.CAPF_EXPIRY_DAYS])
    if auth_mode is CapfAuthMode.AUTH_STRING and not auth_string.isdigit():
        raise LocalError("an authentication string is 4 to 10 digits")
    expires = ctx.now() + timedelta(days=days) if operation is not CapfOperation.NONE else None
    return update_device(
        ctx,
        name,
        capf_operation=operation,
        capf_auth_mode=auth_mode,
        capf_auth_string=auth_string,
        capf_key=key,
        capf_expires=expires,
    )


# -- profiles and groups --------------------------------------------------------


def put_profile(
    ctx: Context, name: str, mode: DeviceSecurityMode, tftp_encrypted: bool = False
) -> None:
    if tftp_encrypted and mode is DeviceSecurityMode.NON_SECURE:
        raise LocalError("TFTP encrypted configuration needs an authenticated or encrypted profile")
    with change(ctx, "profile set", name) as uow:
        uow.put_profile(SecurityProfile(name, mode, tftp_encrypted))


def remove_profile(ctx: Context, name: str) -> None:
    with change(ctx, "profile remove", name) as uow:
        users = [d.name for d in uow.list_devices() if d.profile == name]
        if users:
            raise LocalError(f"profile {name!r} is used by {len(users)} device(s), e.g. {users[0]}")
        if not uow.delete_profile(name):
            raise LocalError(f"Unknown phone security profile {name!r}")


def put_group(ctx: Context, name: str, members: list[str]) -> None:
    with change(ctx, "group set", f"{name}: {members}") as uow:
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
    with change(ctx, "param set", f"{param.name} = {normalised}") as uow:
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
