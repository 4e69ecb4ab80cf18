"""GET /api/v1/fleet and /api/v1/alerts: the Fleet and Alerts page as data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from phonetrust.service import shapes
from phonetrust.web.auth import ApiReader
from phonetrust.web.pages.devices_find import index_of
from phonetrust.web.pages.fleet import fleet, open_alerts

router = APIRouter(tags=["monitoring"])


@router.get("/fleet", summary="Phones by trust list held, locked and unknown phones, CAPF")
def fleet_counts(request: Request, caller: ApiReader) -> dict[str, Any]:
    """Counts, as the Fleet page shows them (the prediction behind ``locked`` is kept until
    the cluster changes)."""
    return fleet(caller.ctx, index_of(request.app.state)).counts()


@router.get("/alerts", summary="Open alerts (phonetrust alerts --json), each with what to do")
def alerts(caller: ApiReader) -> dict[str, Any]:
    """The ``alerts --json`` shape, each alert with an ``action`` more; alerts the cluster
    would raise today (ITLRecovery not exported, certificates expiring within 60 days)
    are listed without being raised: a GET changes nothing."""
    found = open_alerts(caller.ctx)
    items = [{**shapes.alert(a.alert), "action": a.action} for a in found]
    return {"items": items, "total": len(items)}
