"""POST /api/v1/plan: ``phonetrust plan --json`` over HTTP.

Planning changes nothing of the cluster (it runs on a copy), so any user
may plan; each user has one plan running at a time (429 for a second).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from phonetrust.planner import report
from phonetrust.web.auth import ApiOwn, state_of
from phonetrust.web.pages.plan import MAX_TEXT, parse, run

router = APIRouter(tags=["planner"])


class PlanRequest(BaseModel):
    steps: str = Field(
        max_length=MAX_TEXT,
        description="One phonetrust command a line; `reboot`, `wait 6m`; # comments",
        examples=['admin -c "set cert regen CallManager"\nreboot'],
    )
    procedures: bool = Field(
        default=True, description="Also plan the safe procedures the references teach"
    )


@router.post("/plan", summary="Predict which phones an operation would lock out")
def plan(request: Request, caller: ApiOwn, body: PlanRequest) -> dict[str, Any]:
    """The planner's report as ``phonetrust plan --json`` prints it. A step the planner
    refuses, or an unknown command, is a 400 problem in the planner's words."""
    result = run(state_of(request), caller, parse(body.steps), procedures=body.procedures)
    return report.data(result)
