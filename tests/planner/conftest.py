"""Planner fixtures: the store tests' PostgreSQL server, for scratch copies made from it.

(``lab`` and ``template`` come from the root conftest.)
"""

from __future__ import annotations

from tests.store.conftest import postgres_server

__all__ = ["postgres_server"]
