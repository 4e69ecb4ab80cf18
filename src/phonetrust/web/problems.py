"""Errors as RFC 9457 problem documents for the API, as a page with a Status box for a browser.

One exception type, :class:`Problem`, says the status and the sentence; the
service layer's :class:`~phonetrust.errors.LocalError` (the CLI prints its
message as ``Error: ...``) becomes a 400 Problem with the same sentence, so
the API, the pages and the CLI refuse alike.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from phonetrust.errors import PhonetrustError

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An answer other than success, with the sentence a user reads."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra


class LoginNeeded(Exception):
    """A page asked for without a session: the browser goes to the login page."""


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem_response(request: Request, problem: Problem) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": problem.title,
            "status": problem.status,
            "detail": problem.detail,
            "instance": request.url.path,
            **problem.extra,
        }
        return JSONResponse(body, problem.status, headers=problem.headers, media_type=PROBLEM_JSON)
    state = request.app.state.web
    template = state.env.get_template("error.html")
    html = template.render(
        status=problem.status,
        title=problem.title,
        detail=problem.detail,
        user=getattr(request.state, "user", None),
    )
    return HTMLResponse(html, problem.status, headers=problem.headers)


def install(app: Any) -> None:
    """The exception handlers that turn every refusal into a problem document or page."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)  # noqa: S101 - registered for Problem only
        return problem_response(request, exc)

    async def on_library(request: Request, exc: Exception) -> Response:
        return problem_response(request, Problem(400, str(exc)))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101
        return problem_response(
            request, Problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": str(e.get("msg", "")),
            }
            for e in exc.errors()
        ]
        said = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(request, Problem(422, said or "invalid request", errors=errors))

    async def on_login(request: Request, exc: Exception) -> Response:
        from urllib.parse import quote  # noqa: PLC0415

        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return Response(status_code=303, headers={"Location": f"/login?next={quote(target)}"})

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(PhonetrustError, on_library)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(LoginNeeded, on_login)
