"""Fixtures shared by every test directory.

``lab`` (a private copy of a two-node cluster with a fake clock) and
``template`` (the cluster it is copied from, built once per session and
worker) live in tests/service/conftest.py; naming them here makes them
reachable from tests/net, tests/cli, tests/scenarios and the rest without
each module importing them. A directory's own conftest or a module may
still define a fixture of the same name: the closer definition wins, so a
local ``cluster`` keeps its local meaning.

(They are re-exported rather than listed in ``pytest_plugins``: pytest
refuses to register tests/service/conftest.py a second time when it later
collects that directory.)
"""

from __future__ import annotations

from tests.service.conftest import lab, template

__all__ = ["lab", "template"]
