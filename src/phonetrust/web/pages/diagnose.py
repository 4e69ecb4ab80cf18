"""Diagnose: the ``phonetrust diagnose`` checklist, and one phone's decision.

The checklist reads the cluster once (checks 1-9); check 10, the services
answering on their ports, connects to every node and is asked for with a
button (``?probe=1``) and a short timeout, so the page itself answers at once
even when no service runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.errors import LocalError
from phonetrust.planner.checks import Check, Status
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.sim.network import Routes
from phonetrust.web.auth import PageReader
from phonetrust.web.render import page

router = APIRouter(include_in_schema=False)

PROBE_TIMEOUT = 1.0
"""Seconds each service may take to answer (all are asked at once)."""
MAX_NAME = 64


def run_checklist(ctx: Context, *, probe: bool) -> tuple[Status, tuple[Check, ...]]:
    """``phonetrust diagnose`` (``--no-probe`` unless ``probe``), on the served cluster."""
    from phonetrust.planner.diagnose import checklist  # noqa: PLC0415 - loads the simulator
    from phonetrust.planner.probe import probe as probe_ports  # noqa: PLC0415

    report, targets = checklist(ctx)
    checks = report.checks
    if probe:
        checks = (*checks, asyncio.run(probe_ports(targets, Routes(), PROBE_TIMEOUT)))
    statuses = [c.status for c in checks]
    worst = (
        Status.FAIL
        if Status.FAIL in statuses
        else Status.WARN
        if Status.WARN in statuses
        else Status.OK
    )
    return worst, checks


def device_exists(ctx: Context, name: str) -> bool:
    with reading(ctx) as uow:
        return uow.get_device(name) is not None


@router.get("/diagnose", response_class=HTMLResponse)
def diagnose(request: Request, caller: PageReader, probe: str = "") -> Response:
    status, checks = run_checklist(caller.ctx, probe=bool(probe))
    return page(
        request,
        caller,
        "diagnose.html",
        title="Diagnose",
        overall=status,
        checks=checks,
        probed=bool(probe),
    )


@router.get("/diagnose/phone", response_class=HTMLResponse)
def diagnose_phone(request: Request, caller: PageReader, name: str = "") -> Response:
    """One phone's decision (``phonetrust diagnose phone``); the form when no name is given."""
    from phonetrust.planner.phonediag import diagnose_phone as decide  # noqa: PLC0415

    name = name.strip()[:MAX_NAME]
    values: dict[str, Any] = {"title": "Diagnose a Phone", "name": name, "found": None}
    if name:
        try:
            values["found"] = decide(caller.ctx, name)
        except LocalError as exc:
            return page(
                request,
                caller,
                "diagnose_phone.html",
                400,
                **values,
                status=str(exc),
                status_error=True,
            )
    return page(request, caller, "diagnose_phone.html", **values, conditions=CONDITIONS)


CONDITIONS = {
    "itl_differs": "The ITL on the phone differs from the one its TFTP server serves",
    "tvs_differs": "The TVS certificate in its ITL differs from the one TVS presents",
    "failure_shown": "The phone shows a verification failure",
    "no_key_backup": "No backup of the old TFTP (CallManager) private key exists",
    "recovery_reaches": "Its ITL holds the current ITLRecovery record (reference 003)",
}
"""Reference 002's four conditions and reference 003's, as ``diagnose phone`` words them."""
