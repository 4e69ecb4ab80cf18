"""Every scenario of spec/scenarios.md has an end-to-end test here.

The scenario IDs are read from the spec itself (``../shared/spec/scenarios.md``
beside the checkout, where the team's documents live). A checkout without
them (a CI machine) reads ``scenarios.md`` here, a copy that must stay equal
to the spec wherever the spec is present: each is the bold label that opens a list item, as in
``- **A1 Boot order.**``. A test covers scenario X9 when its name starts with
``test_x9_``. Modules keep a ``NOT_COVERED`` table for a scenario they cannot
cover yet, with the reason; every such table must be empty, since every
scenario must have its test.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SHARED_SPEC = REPO.parent / "shared" / "spec" / "scenarios.md"
"""The spec lives beside the checkout, wherever that is."""
COPY = HERE / "scenarios.md"
SPEC = SHARED_SPEC if SHARED_SPEC.is_file() else COPY
_SCENARIO = re.compile(r"^- \*\*([A-Z]\d+)\b", re.MULTILINE)
_TEST_NAME = re.compile(r"^test_([a-z]\d+)_")


def scenario_ids(text: str) -> list[str]:
    """The scenario IDs of the spec's text, in order."""
    return _SCENARIO.findall(text)


def _spec_ids() -> list[str]:
    if not SPEC.is_file():
        pytest.fail(
            f"the scenario spec is missing: expected {SHARED_SPEC} (../shared/spec/scenarios.md "
            f"beside the repository root {REPO}) or its copy {COPY}",
            pytrace=False,
        )
    ids = scenario_ids(SPEC.read_text(encoding="utf-8"))
    assert ids, f"no scenario IDs (lines like '- **A1 Title.**') found in {SPEC}"
    return ids


def _covered() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                match = _TEST_NAME.match(node.name)
                if match:
                    found.setdefault(match.group(1).upper(), []).append(f"{path.name}::{node.name}")
    return found


def _not_covered() -> dict[str, str]:
    table: dict[str, str] = {}
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"tests.scenarios.{path.stem}")
        table.update(getattr(module, "NOT_COVERED", {}))
    return table


def test_the_spec_names_each_scenario_once() -> None:
    ids = _spec_ids()
    twice = sorted({i for i in ids if ids.count(i) > 1})
    assert not twice, f"scenario IDs listed more than once in {SPEC}: {twice}"


def test_every_scenario_has_a_test() -> None:
    covered = _covered()
    missing = [s for s in _spec_ids() if s not in covered]
    assert not missing, f"scenarios of {SPEC.name} with no test named test_<id>_...: {missing}"


def test_no_scenario_is_explained_away() -> None:
    explained = _not_covered()
    assert not explained, f"every scenario must have a test; NOT_COVERED lists {explained}"


def test_test_names_use_known_scenario_ids() -> None:
    unknown = sorted(set(_covered()) - set(_spec_ids()))
    assert not unknown, f"tests named after no scenario of {SPEC.name}: {unknown}"


def test_scenario_ids_are_read_from_list_items_only() -> None:
    text = (
        "## A. Boot\n\n- **A1 Boot order.** A phone asks...\n  more **A9** text\n"
        "- **A10 Ten.** x\n- **B2 Two.**\n* **C1 not a dash item**\n"
    )
    assert scenario_ids(text) == ["A1", "A10", "B2"]


@pytest.mark.skipif(not SHARED_SPEC.is_file(), reason="no ../shared beside this checkout")
def test_the_copy_of_the_spec_is_the_spec() -> None:
    assert COPY.read_bytes() == SHARED_SPEC.read_bytes(), (
        f"{SHARED_SPEC} changed: copy it to {COPY}"
    )
