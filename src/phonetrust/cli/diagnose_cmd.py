"""``phonetrust diagnose`` and ``phonetrust diagnose phone MAC``: the checklist and one phone.

``diagnose`` prints one line per check of the references' checklist
(:mod:`phonetrust.planner.diagnose`): ``OK``, ``WARN`` or ``FAIL``, the
title, what was found, and ``  -> what to do``. ``diagnose phone`` prints
one phone's decision (:mod:`phonetrust.planner.phonediag`): the verdict,
each condition of references 002 and 003 with its evidence, and what to do.
Both read the cluster without changing it; ``--json`` prints the same as
one JSON document.

Exit status: ``diagnose``: 0 when no check FAILs (WARN alone is 0: it is
something to know, not something broken), 1 when one does;
``diagnose phone``: 0 when the phone takes the current files (healthy, or
recovers by itself), 1 when it is locked and needs an administrator. An
error (no cluster, a file that is not a trust list) prints ``Error: ...``
and exits 1; a usage error exits 2.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from phonetrust.cli.app import data_options, open_context
from phonetrust.cli.phone_cmds import route_option
from phonetrust.planner.checks import Check, Status
from phonetrust.planner.probe import PROBE_TIMEOUT, probe
from phonetrust.sim.network import Routes

if TYPE_CHECKING:  # the checklist and the simulator load with the command, not every CLI start
    from phonetrust.planner.phonediag import PhoneDiagnosis

_CONDITIONS = {
    "itl_differs": "the ITL on the phone differs from the one its TFTP server serves",
    "tvs_differs": "the TVS certificate in its ITL differs from the one TVS presents",
    "failure_shown": "the phone shows a verification failure",
    "no_key_backup": "no backup of the old TFTP (CallManager) private key exists",
    "recovery_reaches": "its ITL holds the current ITLRecovery record (reference 003)",
}


@click.group("diagnose", invoke_without_command=True)
@data_options
@click.option("--json", "as_json", is_flag=True, help="Print the checks as one JSON document.")
@click.option(
    "--no-probe", is_flag=True, help="Skip connecting to each node's TFTP, TVS and CAPF ports."
)
@route_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=PROBE_TIMEOUT,
    show_default=True,
    help="Seconds each service probe may take (all are probed at once).",
)
@click.pass_context
def diagnose_group(
    click_ctx: click.Context,
    data: Path | None,
    db: str | None,
    as_json: bool,
    no_probe: bool,
    routes: Routes,
    timeout: float,
) -> None:
    """Run the verification checklist over the cluster: OK / WARN / FAIL and what to do.

    Checks each node's certificates against the CTL and ITL records, the
    CTL's age, that TFTP nodes serve the same lists, the ITL signer against
    CallManager.pem, TVS/CAPF/ITLRecovery in the lists, the ITLRecovery.p12
    export, the CTL's eTokens, certificate expiry, devices locked now, and
    (unless --no-probe) that every service answers on its port. Exit status
    0 when nothing FAILs (WARN alone: 0), 1 when something does.

    `diagnose phone MAC` decides for one phone instead.
    """
    click_ctx.obj = (data, db)
    if click_ctx.invoked_subcommand is not None:
        return
    from phonetrust.planner.diagnose import Report, checklist  # noqa: PLC0415

    ctx = open_context(data, db)
    try:
        report, targets = checklist(ctx)
    finally:
        ctx.repo.close()
    if not no_probe:
        report = Report((*report.checks, asyncio.run(probe(targets, routes, timeout))))
    if as_json:
        document = {"status": report.status.value, "checks": [c.as_json() for c in report.checks]}
        click.echo(json.dumps(document, indent=2))
    else:
        for check in report.checks:
            click.echo(_check_text(check))
    click_ctx.exit(1 if report.status is Status.FAIL else 0)


def _check_text(check: Check) -> str:
    lines = [f"{check.status.value:<4} {check.title}"]
    lines += [f"     {line}" for line in check.detail]
    if check.status is not Status.OK and check.action:
        lines.append(f"  -> {check.action}")
    return "\n".join(lines)


@diagnose_group.command("phone")
@click.argument("mac")
@click.option(
    "--itl",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The ITL copied off the phone (instead of the one it last downloaded).",
)
@click.option(
    "--ctl",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The CTL copied off the phone (instead of the one it last downloaded).",
)
@click.option(
    "--key-backup/--no-key-backup",
    default=None,
    help="Whether you hold a backup of the old CallManager key [default: whether the store "
    "still holds it].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as one JSON document.")
@data_options
@click.pass_context
def phone_cmd(
    click_ctx: click.Context,
    mac: str,
    itl: Path | None,
    ctl: Path | None,
    key_backup: bool | None,
    as_json: bool,
    data: Path | None,
    db: str | None,
) -> None:
    """Can phone MAC recover by itself, or must its ITL be deleted by hand?

    Judges what the phone last downloaded (or the --itl/--ctl files copied off
    it) against the current files: reference 002's four conditions for
    deleting an ITL and reference 003's ITL reset, each with its evidence
    (which record, which signer, which hash). Exit status 0 when the phone
    takes the current files, 1 when it is locked and needs an administrator.
    """
    outer = click_ctx.obj if isinstance(click_ctx.obj, tuple) else (None, None)
    data = data if data is not None else outer[0]
    db = db if db is not None else outer[1]
    itl_bytes = None if itl is None else itl.read_bytes()
    ctl_bytes = None if ctl is None else ctl.read_bytes()
    from phonetrust.planner.phonediag import diagnose_phone  # noqa: PLC0415

    ctx = open_context(data, db)
    try:
        found = diagnose_phone(ctx, mac, itl=itl_bytes, ctl=ctl_bytes, key_backup=key_backup)
    finally:
        ctx.repo.close()
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=2))
    else:
        click.echo(_phone_text(found))
    click_ctx.exit(0 if found.verdict.unlocked else 1)


def _phone_text(found: PhoneDiagnosis) -> str:
    lines = [
        f"{found.device}: {found.verdict.value}",
        f"  lists: {found.source}",
        f"  boot against the current files: {found.boot}",
    ]
    for key, condition in found.conditions().items():
        lines.append(f"  [{'yes' if condition.holds else 'no '}] {_CONDITIONS[key]}")
        lines += [f"        {e}" for e in condition.evidence]
    rule = "all hold" if found.delete_itl else "they do not all hold"
    lines.append(f"  reference 002: delete an ITL only when the first four hold: {rule}")
    if found.action:
        lines.append(f"  -> {found.action}")
    return "\n".join(lines)
