"""Planner fixtures: the store tests' PostgreSQL server, for scratch copies made from it, and
the scenarios' second cluster, for phones moved to it.

(``lab`` and ``template`` come from the root conftest.)
"""

from __future__ import annotations

from tests.scenarios.far import far, far_template
from tests.store.conftest import postgres_server

__all__ = ["far", "far_template", "postgres_server"]
