"""A plan as a person reads it, and as data (``phonetrust plan --json``).

Per step: what the command said, then the phones by verdict (count), by
model and by CallManager group, and the phones that lock with the reason in
the phone's own words. The data form holds the same facts under stable
names, so a script can gate a change on it.
"""

from __future__ import annotations

from typing import Any

from phonetrust.planner.predict import Outcome, PhoneVerdict, Prediction
from phonetrust.planner.procedures import Procedure
from phonetrust.planner.whatif import Plan, StepOutcome, newly_locked

SHOWN_LOCKED = 20
"""Locked phones listed per step in text (all of them with --all, and always in JSON)."""
OUTPUT_LINES = 12
"""The last lines of a command's output shown in text."""


def lines(plan: Plan, *, every_phone: bool = False) -> list[str]:
    out = ["Phones now (each rebooted against the cluster as it is):"]
    out += _counts(plan.now, indent="  ")
    for number, step in enumerate(plan.steps, start=1):
        out.append("")
        out += _step_lines(plan, number, step, every_phone)
    out.append("")
    out.append(verdict_line(plan))
    for procedure, planned in plan.safer:
        out.append("")
        out += _procedure_lines(procedure, planned)
    return out


def _procedure_lines(procedure: Procedure, planned: Plan) -> list[str]:
    """A safe procedure: why, what it replaces, its steps each with its planned verdicts."""
    out = [f"Safe procedure: {procedure.title}", f"  {procedure.why}"]
    if procedure.replaces:
        out.append("  Instead of: " + "; ".join(s.text for s in procedure.replaces))
    out += [f"  By hand: {line}" for line in procedure.advice]
    if not procedure.steps:
        return out
    out.append("  Its steps, planned:")
    for number, step in enumerate(planned.steps, start=1):
        line = f"    {number}. {step.step.text}"
        if step.failed and step.run is not None:
            line += f"  -> the command failed (exit {step.run.status})"
        elif step.prediction is not None:
            counts = step.prediction.counts()
            line += "  -> " + ", ".join(f"{n:,} {o.key}" for o, n in counts.items() if n)
        out.append(line)
    out.append("  " + verdict_line(planned))
    return out


def verdict_line(plan: Plan) -> str:
    failed = plan.failed
    worst = max((newly_locked(plan, s) for s in plan.steps), default=0)
    if failed is not None:
        status = failed.run.status if failed.run is not None else "?"
        stopped = f"Plan stopped: `{failed.step.text}` failed (exit {status})."
        if worst:
            stopped += f" Before it, {worst:,} phone(s) would already be locked out."
        return stopped
    if worst:
        return f"Verdict: {worst:,} phone(s) would be locked out. Do not run this as it is."
    return "Verdict: no phone would be locked out."


def _step_lines(plan: Plan, number: int, step: StepOutcome, every_phone: bool) -> list[str]:
    out = [f"Step {number}: {step.step.text}"]
    if step.step.wait:
        return [*out, "  Time passes; the phones do not reboot."]
    if step.run is None:
        return [*out, "  The phones reboot: each now holds what its predicted boot left it."]
    said = step.run.output.rstrip().splitlines()
    if said:
        out.append("  The command said:")
        if len(said) > OUTPUT_LINES:
            out.append(f"    ... ({len(said) - OUTPUT_LINES} lines before)")
        out += [f"    {line}" for line in said[-OUTPUT_LINES:]]
    if step.prediction is None:
        return [
            *out,
            f"  The command failed (exit {step.run.status}); nothing after it is planned.",
        ]
    prediction = step.prediction
    out.append("  If the phones rebooted now:")
    out += _counts(prediction, indent="    ")
    for title, by in (("By model:", "model"), ("By CallManager group:", "group")):
        out.append(f"  {title}")
        for name, counts in prediction.breakdown(by).items():
            parts = ", ".join(f"{n:,} {o.key.replace('_', ' ')}" for o, n in counts.items())
            out.append(f"    {name:<16} {parts}")
    locked = prediction.locked
    if locked:
        fresh = newly_locked(plan, step)
        out.append(f"  Locked phones ({len(locked):,}; {fresh:,} not locked before the plan):")
        shown = locked if every_phone else locked[:SHOWN_LOCKED]
        out += [f"    {_phone(v)}" for v in shown]
        if len(shown) < len(locked):
            out.append(f"    ... and {len(locked) - len(shown):,} more (--all lists them)")
    return out


def _counts(prediction: Prediction, *, indent: str) -> list[str]:
    return [f"{indent}{n:>7,}  {o.value}" for o, n in prediction.counts().items() if n]


def _phone(v: PhoneVerdict) -> str:
    return f"{v.device:<16} {v.model:<6} {v.group:<16} {v.reason}"


def data(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data."""
    failed = plan.failed
    return {
        "now": prediction_data(plan.now, phones=False),
        "steps": [_step_data(plan, s) for s in plan.steps],
        "locks": plan.locks,
        "failed": None if failed is None else failed.step.text,
        "safe_procedures": [
            {
                "title": procedure.title,
                "why": procedure.why,
                "replaces": [s.text for s in procedure.replaces],
                "advice": list(procedure.advice),
                "plan": data(planned),
            }
            for procedure, planned in plan.safer
        ],
    }


def _step_data(plan: Plan, step: StepOutcome) -> dict[str, Any]:
    out: dict[str, Any] = {
        "step": step.step.text,
        "reboot": step.step.reboot,
        "wait": step.step.wait,
    }
    if step.run is not None:
        out["status"] = step.run.status
        out["output"] = step.run.output
    if step.prediction is not None:
        out["prediction"] = prediction_data(step.prediction)
        out["newly_locked"] = newly_locked(plan, step)
    return out


def prediction_data(prediction: Prediction, *, phones: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "counts": {o.key: n for o, n in prediction.counts().items()},
        "by_model": _breakdown(prediction, "model"),
        "by_group": _breakdown(prediction, "group"),
    }
    if phones:
        out["phones"] = [_phone_data(v) for v in prediction.verdicts]
    return out


def _breakdown(prediction: Prediction, by: str) -> dict[str, dict[str, int]]:
    return {k: {o.key: n for o, n in c.items()} for k, c in prediction.breakdown(by).items()}


def _phone_data(v: PhoneVerdict) -> dict[str, Any]:
    return {
        "device": v.device,
        "model": v.model,
        "group": v.group,
        "verdict": v.outcome.key,
        "reason": v.reason,
        "ctl_md5": v.ctl_md5,
        "itl_md5": v.itl_md5,
    }


__all__ = ["Outcome", "data", "lines", "prediction_data", "verdict_line"]
