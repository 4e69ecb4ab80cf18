"""``run sql`` in the admin CLI: the references' two queries, CUCM's layout, clear refusals."""

from __future__ import annotations

import io

import pytest

from phonetrust.cli.admin.commands import parse
from phonetrust.cli.admin.prompts import Prompter
from phonetrust.cli.admin.session import Session
from phonetrust.cli.admin.shell import run_line
from phonetrust.errors import LocalError
from phonetrust.service.runsql import table_lines
from phonetrust.store.cucmviews import QueryResult
from tests.service.conftest import Lab

MODE = (
    "run sql select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'"
)
REFERENCE_002 = (
    "run sql select c.subjectname, c.serialnumber, c.ipv4address, t.name from "
    "certificate as c, certificatetrustrolemap as r, typetrustrole as t where c.pkid = "
    "r.fkcertificate and t.enum = r.tktrustrole"
)


def test_cluster_security_mode_prints_as_in_reference_001(lab: Lab) -> None:
    assert lab.admin(MODE) == (
        "paramname           paramvalue\n=================== ==========\nClusterSecurityMode 0\n"
    )
    lab.admin("utils ctl set-cluster mixed-mode", "y")
    assert lab.admin(MODE).splitlines()[-1] == "ClusterSecurityMode 1"


def _rows(output: str) -> list[list[str]]:
    """Cells cut at the ``=`` rules' column boundaries, as a reader of the layout would."""
    lines = output.splitlines()
    spans, at = [], 0
    for rule in lines[1].split(" "):
        spans.append((at, at + len(rule)))
        at += len(rule) + 1
    return [[line[a:b].strip() for a, b in spans] for line in lines]


def _serial(lab: Lab, node: str) -> str:
    """The CallManager certificate's serial as ``show cert own`` prints it, in hex."""
    for line in lab.admin("show cert own CallManager", node=node).splitlines():
        if "Serial Number" in line:
            return line.split(":", 1)[1].strip().replace(":", "").lower()
    raise AssertionError("no serial number line")


def test_reference_002_join_names_each_nodes_callmanager_certificate(lab: Lab) -> None:
    rows = _rows(lab.admin(REFERENCE_002))
    assert rows[0] == ["subjectname", "serialnumber", "ipv4address", "name"]
    assert all(set(cell) == {"="} for cell in rows[1])
    auth = {(r[0], r[1], r[2]) for r in rows[2:] if r[3] == "Authentication and Authorization"}
    pub = _serial(lab, "cucm-pub").lstrip("0")
    sub = _serial(lab, "cucm-sub1").lstrip("0")
    assert {(s.split(";")[0], n.lstrip("0"), ip) for s, n, ip in auth} == {
        ("CN=cucm-pub.lab.example", pub, "10.0.0.10"),
        ("CN=cucm-sub1.lab.example", sub, "10.0.0.11"),
    }
    roles = sorted(r[3] for r in rows[2:] if r[2] == "10.0.0.10")
    assert roles == ["Authentication and Authorization", "CAPF", "CCM+TFTP", "SAST", "TVS"]


def test_a_regenerated_certificate_replaces_the_old_one_in_the_join(lab: Lab) -> None:
    before = _serial(lab, "cucm-pub")
    lab.later(600)
    lab.admin("set cert regen CallManager", "yes")
    after = _serial(lab, "cucm-pub")
    assert after != before
    listed = {r[1] for r in _rows(lab.admin(REFERENCE_002))[2:] if r[2] == "10.0.0.10"}
    assert after.lstrip("0") in {s.lstrip("0") for s in listed}
    assert before.lstrip("0") not in {s.lstrip("0") for s in listed}


def test_the_query_is_taken_as_typed_spaces_and_case_of_the_words_included(lab: Lab) -> None:
    out = lab.admin("RUN  Sql   select 'two  spaces' as x from processnode where tknodeusage = 0")
    assert out.splitlines() == ["x", "=" * 11, "two  spaces"]


def test_layout_pads_every_column_and_prints_null(lab: Lab) -> None:
    result = QueryResult(("a", "longer"), (("xyz", None), ("", 7)))
    assert table_lines(result) == ["a   longer", "=== ======", "xyz NULL", "    7"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("run sql delete from device", "only SELECT statements are allowed, not DELETE"),
        ("run sql select * from private_keys", "no such table 'private_keys'"),
        ("run sql select 1; drop view device", "only one statement is allowed"),
        ("run sql pragma query_only = 0", "not PRAGMA"),
        ("run sql select load_extension('x')", "function load_extension() is not allowed"),
        ("run sql select nosuch from device", "nosuch"),
        ("run sql select from where", "syntax error"),
        ("run sql", "usage: run sql SELECT..."),
    ],
)
def test_refusals_are_one_clear_message(lab: Lab, line: str, says: str) -> None:
    with pytest.raises(LocalError) as caught:
        lab.admin(line)
    assert says in str(caught.value)
    session_failure = run_line(_session(lab), line)
    assert session_failure is not None
    assert says in session_failure


def _session(lab: Lab) -> Session:
    """A session as the shell makes one, to see what the shell prints on failure."""
    printed: list[str] = []
    prompts = Prompter(assume_yes=False, stdin=io.StringIO(), out=printed.append, interactive=False)
    return Session(lab.ctx, "cucm-pub", lab.where, prompts, printed.append)


def test_the_command_is_listed_with_its_usage() -> None:
    command, args = parse("run sql select 1")
    assert command.usage == "run sql SELECT..."
    assert args == ["select 1"]
