"""The JSON API under /api/v1: one module per resource, the same service calls as the CLI."""

from __future__ import annotations

from fastapi import APIRouter

from phonetrust.web.api import (
    account,
    audit,
    backup,
    certs,
    devices,
    diagnose,
    fleet,
    plan,
    security,
    system,
)

ROUTERS: tuple[APIRouter, ...] = (
    account.router,
    certs.router,
    system.router,
    devices.router,
    security.router,
    plan.router,
    diagnose.router,
    fleet.router,
    backup.router,
    audit.router,
)
