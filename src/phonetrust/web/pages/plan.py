"""Plan: what an operation would do to the phones, before anyone runs it.

The page runs :func:`phonetrust.planner.whatif.plan` exactly as ``phonetrust
plan`` does: each step is a real ``phonetrust`` command run in a subprocess
on a throw-away copy of the cluster (:func:`~phonetrust.planner.steps.run_step`,
never in this process: a command changes the process's environment, which
the server's other requests share). Nothing of the cluster changes, so a
read-only user may plan; a plan costs seconds of CPU, so each user has one
running at a time, the input is bounded, and the last result is kept per
user so its locked phones can be paged and sorted without planning again.
"""

from __future__ import annotations

import os
import secrets
import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from phonetrust.errors import LocalError
from phonetrust.planner.predict import Outcome, PhoneVerdict
from phonetrust.planner.report import verdict_line
from phonetrust.planner.steps import Step, StepsError, parse_steps
from phonetrust.planner.whatif import Plan, newly_locked
from phonetrust.policy.domain import CertName, Service
from phonetrust.service.changes import reading
from phonetrust.store.datadir import PASSWORD_ENV, DataDir
from phonetrust.web.auth import Caller, PageOwn, PageReader, state_of
from phonetrust.web.problems import Problem
from phonetrust.web.render import page, table
from phonetrust.web.state import WebState

router = APIRouter(include_in_schema=False)

MAX_TEXT = 4000
"""Characters of steps a plan takes (a long steps file is a few hundred)."""
MAX_STEPS = 12
"""Steps a plan takes: each command is a process start and a prediction of every phone."""
SOURCE = "steps"
"""How an error names the typed steps (``steps:2: ...``), as the CLI names a steps file."""
MAX_PICKS = 80


# -- one plan at a time per user -----------------------------------------------------------

_running: set[str] = set()
_running_guard = threading.Lock()


@contextmanager
def one_plan(user: str) -> Iterator[None]:
    """A second plan of the same user while one runs is refused (429), not queued."""
    with _running_guard:
        if user in _running:
            raise Problem(
                429,
                "A plan of yours is still running: wait for its answer, then plan again",
                headers={"Retry-After": "10"},
            )
        _running.add(user)
    try:
        yield
    finally:
        with _running_guard:
            _running.discard(user)


WEB_REFUSED: dict[tuple[str, ...], str] = {
    ("tftp", "upload"): "reads a file on this server",
    ("device", "import"): "reads a CSV file on this server: import it on the Phones page",
    ("truststore", "upload"): "reads a certificate file on this server: upload it on the "
    "Certificate Management page",
    ("truststore", "delete"): "reads a certificate file on this server: delete it on the "
    "Certificate Management page",
    ("backup", "restore"): "reads an archive on this server",
    ("ctl-client",): "needs the eTokens plugged into this server",
}
"""Steps ``phonetrust plan`` takes from a shell but the web does not: each reads files of the
server (or its devices) by a path the caller gives, which would show a web user whether a
file exists, its size and digest. From a shell, the user can read those files anyway."""
WEB_REFUSED_OPTIONS = ("--lsc",)
WEB_REFUSED_ADMIN = ("remotekey", "file get")
"""Admin shell words a web plan refuses: they reach other servers (SFTP) from this one."""


def parse(text: str) -> list[Step]:
    """The steps typed, bounded; :class:`StepsError` in the planner's words otherwise."""
    if len(text) > MAX_TEXT:
        raise StepsError(f"{SOURCE}: more than {MAX_TEXT} characters; plan fewer steps at once")
    steps = parse_steps(text, SOURCE)
    if not any(s.command for s in steps):
        raise StepsError(f"{SOURCE}: no command to plan")
    if len(steps) > MAX_STEPS:
        raise StepsError(f"{SOURCE}: {len(steps)} steps; a plan takes at most {MAX_STEPS}")
    for step in steps:
        _check_web(step)
    return steps


def _check_web(step: Step) -> None:
    """Refuse what only a shell user may plan (:data:`WEB_REFUSED`)."""
    argv = step.argv
    where = f"{SOURCE}, line {step.line}"
    for words, why in WEB_REFUSED.items():
        if argv[: len(words)] == words:
            raise StepsError(f"{where}: `{' '.join(words)}` {why}; plan it with `phonetrust plan`")
    for arg in argv:
        if arg.split("=", 1)[0] in WEB_REFUSED_OPTIONS:
            raise StepsError(
                f"{where}: {arg.split('=', 1)[0]} reads a file on this server; plan it with "
                "`phonetrust plan`"
            )
    if argv[:1] == ("admin",) and any(w in " ".join(argv[1:]) for w in WEB_REFUSED_ADMIN):
        raise StepsError(
            f"{where}: this admin command reaches another server; plan it with `phonetrust plan`"
        )


def run(state: WebState, caller: Caller, steps: list[Step], *, procedures: bool) -> Plan:
    """``phonetrust plan`` on the served cluster, as ``caller``; one at a time per user."""
    from phonetrust.planner.whatif import plan  # noqa: PLC0415 - the simulator loads here

    if state.data_root is None:
        raise Problem(503, "This server was started without the cluster's data directory")
    where = DataDir.locate(state.data_root, None)
    with one_plan(caller.user.name):
        return plan(
            caller.ctx,
            where,
            steps,
            password=os.environ.get(PASSWORD_ENV) or None,
            procedures=procedures,
            node=state.node,
        )


# -- the last result of each user -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kept:
    token: str
    text: str
    plan: Plan


_kept: dict[str, Kept] = {}
_kept_guard = threading.Lock()


def keep(user: str, text: str, result: Plan) -> Kept:
    kept = Kept(secrets.token_urlsafe(9), text, result)
    with _kept_guard:
        _kept[user] = kept
    return kept


def kept(user: str, token: str) -> Kept | None:
    with _kept_guard:
        found = _kept.get(user)
    return found if found is not None and secrets.compare_digest(found.token, token) else None


# -- the common operations ------------------------------------------------------------------


def common_operations(caller: Caller) -> list[tuple[str, str]]:
    """(label, steps) for the operations the references warn about, on this cluster."""
    picks: list[tuple[str, str]] = []
    with reading(caller.ctx) as uow:
        nodes = uow.list_nodes()
        groups = uow.list_groups()
        profiles = uow.list_profiles()
    for n in nodes:
        names = [CertName.CALLMANAGER, CertName.TOMCAT]
        names += [CertName.TVS] if n.runs(Service.TVS) else []
        names += [CertName.CAPF] if n.runs(Service.CAPF) else []
        names += [CertName.ITLRECOVERY] if n.publisher else []
        for name in names:
            line = shlex.join(["admin", "--node", n.host, "-c", f"set cert regen {name.value}"])
            picks.append((f"Regenerate {name.value} of {n.host}", line))
    both = shlex.join(["admin", "-c", "set cert regen CallManager"])
    both += "\nwait 6m\n" + shlex.join(["admin", "-c", "set cert regen TVS"])
    picks.append(("Regenerate CallManager, then TVS 6 minutes later (no reboot)", both))
    for label, command in (
        ("Mixed mode on (utils ctl set-cluster mixed-mode)", "utils ctl set-cluster mixed-mode"),
        (
            "Mixed mode off (utils ctl set-cluster non-secure-mode)",
            "utils ctl set-cluster non-secure-mode",
        ),
        ("Update the CTL (utils ctl update CTLFile)", "utils ctl update CTLFile"),
        ("ITL reset (utils itl reset localkey)", "utils itl reset localkey"),
    ):
        picks.append((label, shlex.join(["admin", "-c", command])))
    for n in nodes:
        line = shlex.join(["cluster", "rename-node", n.host, f"{n.host}-new"])
        picks.append((f"Rename {n.host} to {n.host}-new", line))
    for g in groups:
        for other in groups:
            if other.name != g.name and other.members != g.members:
                line = shlex.join(["group", "set", g.name, *other.members])
                text = f"Move the phones of {g.name} to the servers of {other.name}"
                picks.append((text, line))
    modes = ("non-secure", "authenticated", "encrypted")
    for p in profiles:
        for mode in modes:
            line = shlex.join(["profile", "set", p.name, "--mode", mode])
            picks.append((f"Profile {p.name}: {mode}", line))
    return picks[:MAX_PICKS]


# -- pages ----------------------------------------------------------------------------------

Text = Annotated[str, Form(max_length=MAX_TEXT)]


@router.get("/plan", response_class=HTMLResponse)
def plan_form(request: Request, caller: PageReader, result: str = "", step: int = 0) -> Response:
    found = kept(caller.user.name, result[:64]) if result else None
    values: dict[str, Any] = {}
    if result and found is None:
        values = {"status": "That plan is no longer kept: plan again", "status_error": True}
    return _page(request, caller, found, step, "", **values)


@router.post("/plan", response_class=HTMLResponse)
def plan_post(
    request: Request,
    caller: PageOwn,
    steps: Text = "",
    pick: Text = "",
    procedures: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Any role may plan (it changes nothing); the form still needs its CSRF token, so
    another site cannot make a browser spend the server's CPU."""
    text = steps if steps.strip() else pick
    htmx = request.headers.get("hx-request") == "true"
    try:
        result = run(state_of(request), caller, parse(text), procedures=bool(procedures))
    except LocalError as exc:
        template = "plan_body.html" if htmx else "plan.html"
        return page(
            request,
            caller,
            template,
            400,
            **_form_values(caller, text, bool(procedures)),
            status=str(exc),
            status_error=True,
            kept=None,
        )
    held = keep(caller.user.name, text, result)
    where = f"/plan?result={held.token}"
    if not htmx:
        return RedirectResponse(where, 303)
    response = _page(request, caller, held, 0, "plan_body.html")
    response.headers["HX-Push-Url"] = where
    return response


def _form_values(caller: Caller, text: str, procedures: bool) -> dict[str, Any]:
    return {
        "title": "Plan an Operation",
        "picks": common_operations(caller),
        "text": text,
        "procedures": procedures,
        "max_steps": MAX_STEPS,
        "max_text": MAX_TEXT,
        "verdict_class": verdict_class,
        "verdict_text": verdict_line,
    }


def _page(
    request: Request,
    caller: Caller,
    found: Kept | None,
    step: int,
    template: str,
    **values: Any,
) -> Response:
    form = _form_values(caller, found.text if found else "", True)
    if found is None:
        return page(request, caller, template or "plan.html", **form, kept=None, **values)
    view = PlanView.of(found.plan)
    chosen = step if 1 <= step <= len(found.plan.steps) else view.worst
    outcome = found.plan.steps[chosen - 1] if chosen else None
    locked = outcome.prediction.locked if outcome and outcome.prediction else []
    rows = table(
        request,
        locked,
        keys={
            "device": lambda v: v.device,
            "model": lambda v: v.model,
            "group": lambda v: v.group,
            "reason": lambda v: v.reason,
        },
        default="device",
        keep=("result", "step"),
    )
    return page(
        request,
        caller,
        template or "plan.html",
        **form,
        kept=found,
        view=view,
        chosen=chosen,
        locked=rows,
        **values,
    )


@dataclass(frozen=True, slots=True)
class PlanView:
    """What the templates show of a plan, computed once (the report module's facts)."""

    plan: Plan
    verdict: str
    worst: int
    """The step (1-based) leaving the most phones newly locked; 0 when none does."""
    fresh: tuple[int, ...]
    """Newly locked phones per step."""
    outcomes: tuple[Outcome, ...]
    """The verdicts some phone reaches now or after some step (the table's rows)."""

    @classmethod
    def of(cls, plan: Plan) -> PlanView:
        fresh = tuple(newly_locked(plan, s) for s in plan.steps)
        with_locks = [
            (len(s.prediction.locked), i)
            for i, s in enumerate(plan.steps, start=1)
            if s.prediction and s.prediction.locked
        ]
        worst = max(with_locks)[1] if with_locks else 0
        predictions = [plan.now, *(s.prediction for s in plan.steps if s.prediction)]
        outcomes = tuple(o for o in Outcome if any(p.count(o) for p in predictions))
        return cls(plan, verdict_line(plan), worst, fresh, outcomes)


def verdict_class(outcome: Outcome) -> str:
    if outcome is Outcome.LOCKS:
        return "verdict-locks"
    return "verdict-keeps" if outcome is not Outcome.UNKNOWN else ""


__all__ = ["MAX_STEPS", "MAX_TEXT", "PhoneVerdict", "one_plan", "parse", "router", "run"]
