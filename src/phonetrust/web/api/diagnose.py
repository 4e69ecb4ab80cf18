"""GET /api/v1/diagnose and /api/v1/diagnose/phones/{name}: ``diagnose --json`` over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from phonetrust.web.auth import ApiReader
from phonetrust.web.pages.diagnose import MAX_NAME, device_exists, run_checklist
from phonetrust.web.problems import Problem

router = APIRouter(tags=["planner"])


@router.get("/diagnose", summary="The verification checklist (phonetrust diagnose --json)")
def checklist(caller: ApiReader, probe: bool = False) -> dict[str, Any]:
    """``probe=true`` adds check 10 (each node's services answering, a second at most)."""
    status, checks = run_checklist(caller.ctx, probe=probe)
    return {"status": status.value, "checks": [c.as_json() for c in checks]}


@router.get(
    "/diagnose/phones/{name}",
    summary="One phone's decision (phonetrust diagnose phone --json)",
)
def phone(caller: ApiReader, name: str) -> dict[str, object]:
    """Can the phone recover by itself, or must its ITL go: the verdict with its evidence."""
    from phonetrust.planner.phonediag import diagnose_phone  # noqa: PLC0415
    from phonetrust.sim.phone import normalise_mac  # noqa: PLC0415

    try:
        device = "SEP" + normalise_mac(name[:MAX_NAME])
    except ValueError as exc:
        raise Problem(400, str(exc)) from None
    if not device_exists(caller.ctx, device):
        raise Problem(404, f"No phone named {device} in this cluster")
    return diagnose_phone(caller.ctx, device).as_json()
