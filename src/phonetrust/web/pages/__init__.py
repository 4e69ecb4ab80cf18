"""The administration pages, one module per menu of CUCM's two applications."""

from __future__ import annotations

from fastapi import APIRouter

from phonetrust.web.pages import (
    account,
    audit,
    backup,
    certs,
    devices,
    diagnose,
    fleet,
    home,
    plan,
    security,
    system,
)

ROUTERS: tuple[APIRouter, ...] = (
    account.router,
    home.router,
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
