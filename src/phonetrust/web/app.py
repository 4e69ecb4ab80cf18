"""The ASGI application: pages, API, static files, error handling, secure headers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from phonetrust import __version__
from phonetrust.net.webserver import phone_urls
from phonetrust.web import api, pages, problems
from phonetrust.web.headers import SecureHeaders
from phonetrust.web.state import WebState


def create_app(state: WebState) -> FastAPI:
    app = FastAPI(
        title="phonetrust",
        version=__version__,
        summary="Trust lists, signed configuration, TFTP, TVS and CAPF for Cisco IP phones",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.web = state
    problems.install(app)
    app.mount("/static", StaticFiles(packages=[("phonetrust.web", "static")]), name="static")
    app.mount("/ccmcip", phone_urls)
    for router in pages.ROUTERS:
        app.include_router(router)
    for router in api.ROUTERS:
        app.include_router(router, prefix="/api/v1")
    app.add_middleware(SecureHeaders)
    return app
