"""Every scenario of spec/scenarios.md has an end-to-end test here, or a stated reason why not.

The IDs are those of the issue that asked for this suite (A1-A8, B1-B5,
C1-C6, D1-D10, E1-E3, F1-F3, G1-G2, H1-H7). A test covers scenario X9 when
its name starts with ``test_x9_``. A module that cannot cover one says so in
its ``NOT_COVERED`` table; the goal is that every such table is empty.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

SECTIONS = {"A": 8, "B": 5, "C": 6, "D": 10, "E": 3, "F": 3, "G": 2, "H": 7}
SCENARIOS = [f"{letter}{n}" for letter, count in SECTIONS.items() for n in range(1, count + 1)]
HERE = Path(__file__).parent
_TEST_NAME = re.compile(r"^test_([a-h]\d+)_")


def _covered() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
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


def test_every_scenario_is_covered_or_explained() -> None:
    covered, explained = _covered(), _not_covered()
    missing = [s for s in SCENARIOS if s not in covered and s not in explained]
    assert not missing, f"scenarios with neither a test nor a reason: {missing}"


def test_no_scenario_is_both_covered_and_explained_away() -> None:
    both = sorted(set(_covered()) & set(_not_covered()))
    assert not both, f"covered, yet listed as not covered: {both}"


def test_test_names_use_known_scenario_ids() -> None:
    unknown = sorted(set(_covered()) - set(SCENARIOS))
    assert not unknown, f"tests named after no scenario: {unknown}"
