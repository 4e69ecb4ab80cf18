"""``phonetrust plan``: a command or steps run on a copy; verdicts, exit status, nothing changed.

The phones are recorded as booted (tests/planner/booted.py) on B2's cluster:
an 8845 and a 7960 in a CallManager group whose only server is the
publisher. Regenerating CallManager then TVS with time but no reboot
between locks the 8845 (exit 1); with a reboot between, nobody (exit 0).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
from cryptography import x509

from phonetrust.cli.plan_cmd import _invoke, run_here
from phonetrust.formats.sgn import SignedFile
from phonetrust.planner.predict import Outcome
from phonetrust.planner.steps import parse_steps, run_step
from phonetrust.planner.whatif import Plan, plan
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName
from phonetrust.service import fileplan, inventory
from tests.planner.booted import ONE_NODE, add_phones, record_boots
from tests.service.conftest import Lab
from tests.service.helpers import current

MODERN, OLD = "SEP00AA00000001", "SEP00AA00000002"
CLI = "from phonetrust.cli.main import main; main()"
TOGETHER = 'admin -c "set cert regen CallManager"\nwait 6m\nadmin -c "set cert regen TVS"\n'
APART = 'admin -c "set cert regen CallManager"\nreboot\nadmin -c "set cert regen TVS"\n'


@pytest.fixture
def b2(lab: Lab) -> Lab:
    add_phones(lab, (MODERN, "8845"), (OLD, "7960"), group=ONE_NODE)
    record_boots(lab, MODERN, OLD)
    return lab


def phonetrust(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.cli("plan", *args)


def steps_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "steps.txt"
    path.write_text(text)
    return str(path)


def cluster_state(lab: Lab) -> tuple[int, x509.Certificate, x509.Certificate]:
    with lab.ctx.repo.unit_of_work() as uow:
        version = uow.current_version()
    cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
    return version, cm, current(lab.ctx, "cucm-pub", CertName.TVS)


def verdicts(step: dict[str, Any]) -> dict[str, str]:
    return {p["device"]: p["verdict"] for p in step["prediction"]["phones"]}


def test_regenerating_together_locks_the_8845_and_changes_nothing(b2: Lab, tmp_path: Path) -> None:
    before = cluster_state(b2)
    done = phonetrust(b2, "--json", "-f", steps_file(tmp_path, TOGETHER))
    assert done.returncode == 1, done.stdout + done.stderr
    planned = json.loads(done.stdout)
    assert planned["locks"] is True
    first, wait, last = planned["steps"]
    assert verdicts(first) == {MODERN: "tvs", OLD: "keeps"}  # TVS still vouches
    assert wait["wait"] == 360
    assert verdicts(last) == {MODERN: "locks", OLD: "keeps"}
    locked = next(p for p in last["prediction"]["phones"] if p["device"] == MODERN)
    assert locked["reason"].startswith("Trust List Update Failed")
    assert "TVS" in locked["reason"]
    assert last["newly_locked"] == 1
    assert last["prediction"]["by_model"] == {"7960": {"keeps": 1}, "8845": {"locks": 1}}
    assert last["prediction"]["by_group"] == {ONE_NODE: {"keeps": 1, "locks": 1}}
    # The references' safe sequence, planned: a reboot between, and nobody locks.
    (safe,) = planned["safe_procedures"]
    assert "reference 002" in safe["why"]
    assert safe["plan"]["locks"] is False
    assert [s["step"] for s in safe["plan"]["steps"]][1] == "reboot"
    assert cluster_state(b2) == before


def test_regenerating_apart_locks_nobody(b2: Lab, tmp_path: Path) -> None:
    done = phonetrust(b2, "--no-procedures", "-f", steps_file(tmp_path, APART))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verdict: no phone would be locked out." in done.stdout
    assert "Step 2: reboot" in done.stdout
    assert "Safe procedure" not in done.stdout


def test_the_text_names_the_locked_phones_with_the_phone_s_words(b2: Lab, tmp_path: Path) -> None:
    done = phonetrust(b2, "--no-procedures", "-f", steps_file(tmp_path, TOGETHER))
    assert done.returncode == 1
    out = done.stdout
    assert "Locked phones (1; 1 not locked before the plan):" in out
    assert f"    {MODERN:<16} 8845   {ONE_NODE:<16} Trust List Update Failed" in out
    assert "Verdict: 1 phone(s) would be locked out. Do not run this as it is." in out
    assert "Running phonetrust admin -c 'set cert regen TVS' on the copy..." in done.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "give a command after --, or -f FILE"),
        (("--", "serve"), "command line:1"),
        (("--", "device", "list", "--data", "x"), "--data is not allowed"),
    ],
)
def test_usage_errors_exit_2(b2: Lab, args: tuple[str, ...], said: str) -> None:
    done = phonetrust(b2, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr


def test_a_bad_steps_file_names_its_line(b2: Lab, tmp_path: Path) -> None:
    done = phonetrust(b2, "-f", steps_file(tmp_path, "# fine\nreboot\nadmin -c 'unbalanced\n"))
    assert done.returncode == 2
    assert "steps.txt:3:" in done.stderr


def test_a_step_that_fails_stops_the_plan(b2: Lab) -> None:
    done = phonetrust(b2, "--", "device", "set", "SEP0000DEADBEEF", "--group", "nowhere")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Plan stopped: `phonetrust device set SEP0000DEADBEEF" in done.stdout


def test_moving_to_an_identical_cluster_changes_no_phone(b2: Lab, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(b2.where.root, twin)
    done = phonetrust(b2, "--json", "--to-cluster", str(twin))
    assert done.returncode == 0, done.stdout + done.stderr
    (step,) = json.loads(done.stdout)["steps"]
    assert verdicts(step) == {MODERN: "keeps", OLD: "keeps"}


def _outcomes(planned: Plan) -> list[dict[str, Outcome]]:
    return [
        {v.device: v.outcome for v in s.prediction.verdicts}
        for s in planned.steps
        if s.prediction is not None
    ]


def test_steps_run_here_as_they_run_in_a_subprocess(b2: Lab) -> None:
    steps = parse_steps(TOGETHER, "steps")
    here = plan(b2.ctx, b2.where, steps, runner=run_here, procedures=False)
    there = plan(b2.ctx, b2.where, steps, runner=run_step, procedures=False)
    assert _outcomes(here) == _outcomes(there)
    assert _outcomes(here)[-1][MODERN] is Outcome.LOCKS
    assert [s.run.status for s in here.steps if s.run] == [0, 0]
    last = here.steps[-1].run
    assert last is not None
    assert "Successfully Regenerated Certificate for TVS" in last.output


def test_a_configuration_made_on_demand_is_the_one_the_build_makes(b2: Lab) -> None:
    """The copy publishes no configuration files; the ones a predicted boot reads are made
    by fileplan.DeviceFiles, which must make what the build makes (but for the time)."""
    inventory.set_param(b2.ctx, P.TFTP_DIGEST, "SHA-512")  # re-signs all
    with b2.ctx.repo.unit_of_work() as uow:
        published = uow.published_files("cucm-pub")
        made = fileplan.DeviceFiles(b2.ctx, uow)("cucm-pub", MODERN)
    name = f"{MODERN}.cnf.xml.sgn"
    assert set(made) == {f"{MODERN}.cnf.xml", name}
    assert made[f"{MODERN}.cnf.xml"] == published[f"{MODERN}.cnf.xml"]
    ours, theirs = SignedFile.from_wire(made[name]), SignedFile.from_wire(published[name])
    assert ours.content == theirs.content
    assert ours.header.signer_serial == theirs.header.signer_serial
    assert ours.header.digest == theirs.header.digest


def test_the_copy_publishes_the_lists_and_no_configuration(b2: Lab) -> None:
    sketch = b2.ctx.__class__(b2.ctx.repo, b2.ctx.keys, b2.clock, sketch=True)
    with b2.ctx.repo.unit_of_work() as uow:
        lists = {n: uow.published_file("cucm-pub", n) for n in ("ITLFile.tlv", "CTLFile.tlv")}
    inventory.set_param(sketch, P.TFTP_DIGEST, "SHA-512")
    with b2.ctx.repo.unit_of_work() as uow:
        names = set(uow.published_names("cucm-pub"))
        itl = uow.published_file("cucm-pub", "ITLFile.tlv")
    assert names == {n for n, data in lists.items() if data is not None}
    assert itl is not None
    assert itl != lists["ITLFile.tlv"]  # re-signed with SHA-512, as a full build would


def test_the_copy_switch_is_refused_on_a_real_cluster(b2: Lab) -> None:
    """PHONETRUST_PLAN_COPY makes changes publish trust lists only: obeyed only in a
    directory the planner made, never on the cluster itself."""
    with b2.ctx.repo.unit_of_work() as uow:
        version = uow.current_version()
    done = b2.cli("param", "set", P.TFTP_DIGEST, "SHA-512", env={"PHONETRUST_PLAN_COPY": "1"})
    assert done.returncode == 1
    assert "is not a copy made by `phonetrust plan`" in done.stderr
    with b2.ctx.repo.unit_of_work() as uow:
        assert uow.current_version() == version


def test_a_command_that_crashes_in_process_is_a_failed_step_not_a_crashed_plan() -> None:
    @click.command()
    def broken() -> None:
        raise ValueError("a bug in a command")

    said = io.StringIO()
    assert _invoke(broken, [], said) == 1  # type: ignore[arg-type]
    assert "ValueError: a bug in a command" in said.getvalue()
