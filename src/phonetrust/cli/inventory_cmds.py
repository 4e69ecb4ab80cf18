"""``phonetrust param|device|profile|group|truststore ...``: what the cluster manages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from phonetrust.cli.app import data_options, guarded, open_context
from phonetrust.cli.boundary import Failed
from phonetrust.cli.files import DEVICE_CSV_LIMIT, load_certificate, read_bytes
from phonetrust.errors import LocalError
from phonetrust.formats.legacy import sha1
from phonetrust.policy.capfauth import generate_auth_string
from phonetrust.policy.domain import (
    CapfAuthMode,
    CapfOperation,
    Device,
    DeviceSecurityMode,
    Protocol,
    TrustStore,
)
from phonetrust.service import inventory, recoverable, shapes, truststores
from phonetrust.service.changes import reading
from phonetrust.service.context import Context

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON, the shape of the HTTP API's answer."
)
"""The one ``--json`` flag of every listing (here and in cluster_cmds), worded once."""


def echo_json(shape: shapes.Json) -> None:
    click.echo(shapes.dumps(shape))


def _notes(ctx: Context) -> None:
    for note in inventory.plan_notes(ctx):
        click.echo(f"Warning: {note}", err=True)


# -- param -------------------------------------------------------------------------------


@click.group("param")
def param_group() -> None:
    """Enterprise parameters."""


@param_group.command("list")
@json_option
@data_options
def param_list(as_json: bool, data: Path | None, db: str | None) -> None:
    """Every parameter and its value."""
    values = inventory.list_params(open_context(data, db))
    if as_json:
        echo_json(shapes.listing(shapes.params(values)))
        return
    for name, value in values.items():
        click.echo(f"{name} = {value}")


@param_group.command("set")
@guarded
@click.argument("name")
@click.argument("value")
@data_options
def param_set(name: str, value: str, data: Path | None, db: str | None) -> None:
    """Set a parameter, e.g. param set "Prepare Cluster for Rollback to pre 8.0" True."""
    ctx = open_context(data, db)
    real, normalised = inventory.set_param(ctx, name, value)
    click.echo(f"{real} = {normalised}")
    if real == "TFTP File Signature Digest Algorithm" and normalised == "SHA-512":
        for warning in inventory.sha512_warnings(ctx):
            click.echo(f"Warning: {warning}", err=True)
    _notes(ctx)


# -- device -------------------------------------------------------------------------------

PROTOCOLS = click.Choice([p.value for p in Protocol], case_sensitive=False)


@click.group("device")
def device_group() -> None:
    """Phones: add, list, change, remove, import from CSV."""


@device_group.command("add")
@guarded
@click.argument("name")
@click.option("--model", required=True, help="Phone model, e.g. 7975, 8845, 7960.")
@click.option("--protocol", type=PROTOCOLS, default="SIP", show_default=True)
@click.option("--group", default="Default", show_default=True, help="CallManager group.")
@click.option("--profile", help="Phone security profile [default: the model-independent one].")
@click.option("--description", default="")
@data_options
def device_add(
    name: str,
    model: str,
    protocol: str,
    group: str,
    profile: str | None,
    description: str,
    data: Path | None,
    db: str | None,
) -> None:
    """Add a phone by device name (SEP<MAC>) or MAC address."""
    ctx = open_context(data, db)
    device = Device(name, model, Protocol(protocol.upper()), group, description=description)
    if profile:
        device = replace(device, profile=profile)
    inventory.add_devices(ctx, [device])
    click.echo(f"Device {device.name} added.")
    _notes(ctx)


@device_group.command("import")
@guarded
@click.argument("csv_file", type=click.Path(path_type=Path, readable=False))
@click.option(
    "--skip-bad-rows",
    is_flag=True,
    help="Import the good rows and report each bad one [default: any bad row imports nothing].",
)
@data_options
def device_import(csv_file: Path, skip_bad_rows: bool, data: Path | None, db: str | None) -> None:
    """Add the devices of a CSV file (UTF-8), all of them or none.

    Columns: name, model, protocol, group, profile, description (a header row
    names them; name and model are needed). One device a line; an empty field
    takes the default. A bad row (not UTF-8, too few fields, an unterminated
    quote, a control character, an unknown group...) fails the import with
    its line number, unless --skip-bad-rows.
    """
    raw = read_bytes(csv_file, limit=DEVICE_CSV_LIMIT)
    try:
        parsed = inventory.read_device_csv(raw)
    except LocalError as exc:
        raise Failed(f"{csv_file}: {exc}; nothing imported") from None
    if parsed.bad and not skip_bad_rows:
        raise _bad_rows(csv_file, inventory.BadRows(parsed.bad))
    ctx = open_context(data, db)
    with click.progressbar(length=1, label=f"Importing {len(parsed.rows)} devices") as bar:
        try:
            added, skipped = inventory.import_devices(ctx, parsed, skip_bad_rows=skip_bad_rows)
        except inventory.BadRows as exc:
            raise _bad_rows(csv_file, exc) from None
        bar.update(1)
    for bad in skipped:
        click.echo(f"Skipped {csv_file}: {bad}", err=True)
    more = f", {len(skipped)} bad rows skipped" if skipped else ""
    click.echo(f"{added} devices added{more}.")
    _notes(ctx)


def _bad_rows(csv_file: Path, exc: inventory.BadRows) -> Failed:
    return Failed(f"{csv_file}: {exc}; nothing imported (--skip-bad-rows imports the good rows)")


@device_group.command("list")
@json_option
@data_options
def device_list(as_json: bool, data: Path | None, db: str | None) -> None:
    """Every device with its model, protocol, group, profile and CAPF operation."""
    devices = inventory.list_devices(open_context(data, db))
    if as_json:
        echo_json(shapes.listing(shapes.device(d) for d in devices))
        return
    for d in devices:
        capf = "" if d.capf_operation is CapfOperation.NONE else f" CAPF:{d.capf_operation.value}"
        if capf and d.capf_locked_at is not None:  # wrong strings: `device capf` again unlocks
            capf += "(locked)"
        lsc = " LSC" if d.lsc else ""
        click.echo(
            f"{d.name}  {d.model:<8} {d.protocol.value:<4} {d.group:<12} {d.profile}{capf}{lsc}"
        )


@device_group.command("recovery-reach")
@data_options
def device_recovery_reach(data: Path | None, db: str | None) -> None:
    """Which phones `utils itl reset` would reach (C6), by the ITL each last downloaded.

    A phone takes the reset ITL only when the ITL it holds names the
    publisher's current ITLRecovery certificate; the others need their ITL
    deleted by hand (G2).
    """
    rows = recoverable.recovery_reach(open_context(data, db))
    verdicts = {True: "reachable", False: "NOT reachable", None: "unknown"}
    for r in rows:
        where = f"  {r.node} {r.at:%Y-%m-%d %H:%M:%S}" if r.node and r.at else ""
        click.echo(f"{r.device}  {verdicts[r.holds_recovery]:<13} ITL {r.itl_sha1 or '-'}{where}")
    counts = {v: sum(1 for r in rows if r.holds_recovery is v) for v in (True, False, None)}
    click.echo(
        f"{counts[True]} of {len(rows)} devices would take an ITL reset; "
        f"{counts[False]} would not; {counts[None]} unknown "
        "(no ITL download recorded, or an ITL this server no longer keeps)."
    )


@device_group.command("set")
@guarded
@click.argument("name")
@click.option("--model")
@click.option("--protocol", type=PROTOCOLS)
@click.option("--group")
@click.option("--profile")
@click.option(
    "--setting",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="vendorConfig setting, e.g. webAccess=1 (KEY= removes it).",
)
@click.option(
    "--lsc", type=click.Path(path_type=Path, readable=False), help="The device's LSC (PEM or DER)."
)
@click.option(
    "--mic",
    type=click.Path(path_type=Path, readable=False),
    help="The device's manufacturer certificate.",
)
@data_options
def device_set(
    name: str,
    model: str | None,
    protocol: str | None,
    group: str | None,
    profile: str | None,
    settings: tuple[str, ...],
    lsc: Path | None,
    mic: Path | None,
    data: Path | None,
    db: str | None,
) -> None:
    """Change a device; settings reach the phone through its signed configuration."""
    changes: dict[str, object] = {}
    if model:
        changes["model"] = model
    if protocol:
        changes["protocol"] = Protocol(protocol.upper())
    if group:
        changes["group"] = group
    if profile:
        changes["profile"] = profile
    for path, field in ((lsc, "lsc"), (mic, "mic")):
        if path is not None:
            changes[field] = load_certificate(path).public_bytes(serialization.Encoding.DER)
    if settings:
        parsed: dict[str, str | None] = {}
        for item in settings:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--setting")
            parsed[key] = value or None
        changes["settings"] = parsed
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    ctx = open_context(data, db)
    device = inventory.update_device(ctx, name, **changes)
    click.echo(f"Device {device.name} updated.")
    _notes(ctx)


@device_group.command("capf")
@guarded
@click.argument("name")
@click.option("--operation", type=click.Choice([o.value for o in CapfOperation]), required=True)
@click.option(
    "--auth",
    type=click.Choice(["null-string", "auth-string", "lsc-first", "mic-first"]),
    default="null-string",
    show_default=True,
)
@click.option(
    "--auth-string",
    default="",
    help="4-10 digits, for --auth auth-string [default: one is generated and shown once].",
)
@click.option(
    "--key", default="RSA-2048", show_default=True, help="RSA-1024..4096 or EC-P256/P384/P521."
)
@data_options
def device_capf(
    name: str,
    operation: str,
    auth: str,
    auth_string: str,
    key: str,
    data: Path | None,
    db: str | None,
) -> None:
    """Schedule a CAPF operation (install/upgrade, delete, fetch) for a device."""
    modes = {
        "null-string": CapfAuthMode.NULL_STRING,
        "auth-string": CapfAuthMode.AUTH_STRING,
        "lsc-first": CapfAuthMode.EXISTING_LSC_FIRST,
        "mic-first": CapfAuthMode.EXISTING_MIC_FIRST,
    }
    generated = modes[auth] is CapfAuthMode.AUTH_STRING and not auth_string
    if generated:
        auth_string = generate_auth_string()
    ctx = open_context(data, db)
    device = inventory.schedule_capf(
        ctx,
        name,
        operation=CapfOperation(operation),
        auth_mode=modes[auth],
        auth_string=auth_string,
        key=key,
    )
    click.echo(
        f"{device.name}: CAPF {operation} pending until {device.capf_expires:%Y-%m-%d %H:%M}."
    )
    if generated:  # only its hash is stored: this is the one time it can be shown
        click.echo(
            f"Authentication string: {auth_string} (shown once: give it to the phone's user)"
        )


@device_group.command("remove")
@guarded
@click.argument("name")
@data_options
def device_remove(name: str, data: Path | None, db: str | None) -> None:
    """Remove a device; its files leave the TFTP plan."""
    inventory.remove_device(open_context(data, db), name)
    click.echo(f"Device {name} removed.")


# -- profile and group ------------------------------------------------------------------------


@click.group("profile")
def profile_group() -> None:
    """Phone security profiles."""


@profile_group.command("list")
@json_option
@data_options
def profile_list(as_json: bool, data: Path | None, db: str | None) -> None:
    with reading(open_context(data, db)) as uow:
        profiles = uow.list_profiles()
    if as_json:
        echo_json(shapes.listing(shapes.profile(p) for p in profiles))
        return
    for p in profiles:
        enc = ", TFTP encrypted config" if p.tftp_encrypted else ""
        click.echo(f"{p.name}: device security mode {int(p.mode)} ({p.mode.name.lower()}){enc}")


@profile_group.command("set")
@guarded
@click.argument("name")
@click.option(
    "--mode", type=click.Choice(["non-secure", "authenticated", "encrypted"]), required=True
)
@click.option("--tftp-encrypted", is_flag=True, help="Serve the configuration as .enc.sgn.")
@data_options
def profile_set(
    name: str, mode: str, tftp_encrypted: bool, data: Path | None, db: str | None
) -> None:
    """Create or change a profile."""
    modes = {
        "non-secure": DeviceSecurityMode.NON_SECURE,
        "authenticated": DeviceSecurityMode.AUTHENTICATED,
        "encrypted": DeviceSecurityMode.ENCRYPTED,
    }
    inventory.put_profile(open_context(data, db), name, modes[mode], tftp_encrypted)
    click.echo(f"Profile {name!r} saved.")


@profile_group.command("remove")
@guarded
@click.argument("name")
@data_options
def profile_remove(name: str, data: Path | None, db: str | None) -> None:
    inventory.remove_profile(open_context(data, db), name)
    click.echo(f"Profile {name!r} removed.")


@click.group("group")
def group_group() -> None:
    """CallManager groups: the ordered nodes (and TVS servers) a phone uses."""


@group_group.command("list")
@json_option
@data_options
def group_list(as_json: bool, data: Path | None, db: str | None) -> None:
    with reading(open_context(data, db)) as uow:
        groups = uow.list_groups()
    if as_json:
        echo_json(shapes.listing(shapes.group(g) for g in groups))
        return
    for g in groups:
        click.echo(f"{g.name}: {', '.join(g.members)}")


@group_group.command("set")
@guarded
@click.argument("name")
@click.argument("members", nargs=-1, required=True)
@data_options
def group_set(name: str, members: tuple[str, ...], data: Path | None, db: str | None) -> None:
    """Create or change a group: up to three CallManager nodes in order."""
    inventory.put_group(open_context(data, db), name, list(members))
    click.echo(f"Group {name!r}: {', '.join(members)}.")


# -- trust stores -------------------------------------------------------------------------------

STORES = click.Choice([s.value for s in TrustStore], case_sensitive=False)


@click.group("truststore")
def truststore_group() -> None:
    """Upload, list and delete trusted certificates (CallManager-trust, Phone-SAST-trust, ...)."""


@truststore_group.command("upload")
@guarded
@click.argument("store", type=STORES)
@click.argument("pem", type=click.Path(path_type=Path, readable=False))
@click.option("--description", default="", help="Shown by show cert list trust.")
@data_options
def truststore_upload(
    store: str, pem: Path, description: str, data: Path | None, db: str | None
) -> None:
    cert = load_certificate(pem)
    if truststores.upload(open_context(data, db), TrustStore.parse(store), cert, description):
        click.echo(f"Certificate uploaded to {TrustStore.parse(store).value}.")
    else:
        click.echo(f"{TrustStore.parse(store).value} already holds that certificate.")


@truststore_group.command("list")
@click.argument("store", type=STORES, required=False)
@json_option
@data_options
def truststore_list(store: str | None, as_json: bool, data: Path | None, db: str | None) -> None:
    chosen = TrustStore.parse(store) if store else None
    certs = truststores.listing(open_context(data, db), chosen)
    if as_json:
        echo_json(shapes.listing(shapes.trusted(c) for c in certs))
        return
    for c in certs:
        click.echo(f"{c.store.value}  {sha1(c.der).hex()}  {c.description}")


@truststore_group.command("delete")
@guarded
@click.argument("store", type=STORES)
@click.argument("pem", type=click.Path(path_type=Path, readable=False))
@data_options
def truststore_delete(store: str, pem: Path, data: Path | None, db: str | None) -> None:
    der = load_certificate(pem).public_bytes(serialization.Encoding.DER)
    truststores.delete(open_context(data, db), TrustStore.parse(store), der)
    click.echo("Certificate deleted.")
