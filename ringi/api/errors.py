"""One shape for every error the API answers with, and the mapping onto it.

    {"status": 409, "error": "refused", "message": "B社 already endorses No.1; ...",
     "details": []}

``error`` is a stable code for programs; ``message`` is for the person who
asked (the workflow validator's reason, word for word, for a refusal);
``details`` names the offending fields of invalid input.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from ..domain.errors import Conflict, DomainError, NotAllowed, NotFound
from .idempotency import KeyReused
from .tokens import Unauthenticated

log = structlog.get_logger("ringi.api")

#: what a 401 answers with, so that clients know how to authenticate
WWW_AUTHENTICATE = 'Bearer realm="ringi"'


class ErrorDetail(BaseModel):
    field: str = Field(description="where: body.text, query.stage, header.Idempotency-Key ...")
    message: str
    type: str = Field(description="a code for the kind of problem (pydantic's error type)")


class ErrorBody(BaseModel):
    status: int = Field(description="the HTTP status, repeated")
    error: str = Field(
        description="unauthenticated | forbidden | not_found | refused | conflict | invalid | "
        "idempotency_key_reused | too_large | rate_limited | method_not_allowed | "
        "timeout | unavailable | internal"
    )
    message: str = Field(description="what went wrong, in words for the person who asked")
    details: list[ErrorDetail] = Field(default_factory=list)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[ErrorDetail] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = headers or {}
        self.details = details or []


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: list[ErrorDetail] | None = None,
) -> JSONResponse:
    body = ErrorBody(status=status, error=error, message=message, details=details or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _describe(errors: Any) -> list[ErrorDetail]:
    details = []
    for item in errors:
        loc = [str(part) for part in item.get("loc", ())]
        details.append(
            ErrorDetail(
                field=".".join(loc) or "input",
                message=str(item.get("msg", "invalid")),
                type=str(item.get("type", "invalid")),
            )
        )
    return details


def invalid(details: list[ErrorDetail]) -> JSONResponse:
    fields = ", ".join(dict.fromkeys(d.field for d in details)) or "the input"
    return error_response(422, "invalid", f"invalid input: {fields}", details=details)


_HTTP_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "refused",
    413: "too_large",
    415: "invalid",
    422: "invalid",
    429: "rate_limited",
}


def classify(
    exc: Exception,
) -> tuple[int, str, str, dict[str, str] | None] | None:
    """The status, code, message and headers a failure of ringi's answers with;
    None for a failure nobody expected (a bug: 500)."""
    if isinstance(exc, NotFound):
        return 404, "not_found", str(exc), None
    if isinstance(exc, NotAllowed):
        return 403, "forbidden", str(exc), None
    if isinstance(exc, Conflict):
        return 409, "conflict", str(exc), None
    if isinstance(exc, DomainError):
        return 409, "refused", str(exc), None
    if isinstance(exc, KeyReused):
        return 422, "idempotency_key_reused", str(exc), None
    if isinstance(exc, TimeoutError):
        message = (
            "the request's workflow did not answer in time (is a ringi worker running?); "
            "retry with the same Idempotency-Key to be sure it is carried out once"
        )
        return 504, "timeout", message, {"Retry-After": "5"}
    if isinstance(exc, RPCError):
        log.warning("temporal unavailable", error=str(exc))
        message = f"Temporal is not reachable ({exc.message}); try again"
        return 503, "unavailable", message, {"Retry-After": "5"}
    return None


def install(app: FastAPI) -> None:
    """Every failure answers in the one shape; none is a 500 unless ringi itself failed."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.error, exc.message, headers=exc.headers, details=exc.details
        )

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid(_describe(exc.errors()))

    @app.exception_handler(ValidationError)
    async def command_invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return invalid(_describe([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, say)
            detail = ErrorDetail(field="body", message=str(exc.detail), type="body_unreadable")
            return invalid([detail])
        code = _HTTP_CODES.get(exc.status_code, "invalid" if exc.status_code < 500 else "internal")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        # RFC 6750: an error code only when a token was presented
        challenge = (
            f'{WWW_AUTHENTICATE}, error="invalid_token"' if exc.presented else WWW_AUTHENTICATE
        )
        return error_response(
            401, "unauthenticated", str(exc), headers={"WWW-Authenticate": challenge}
        )

    async def known(_: Request, exc: Exception) -> JSONResponse:
        found = classify(exc)
        assert found is not None
        status, error, message, headers = found
        return error_response(status, error, message, headers=headers)

    for kind in (KeyReused, DomainError, TimeoutError, RPCError):
        app.add_exception_handler(kind, known)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", error=repr(exc))
        return error_response(500, "internal", "ringi failed to carry this out; it was logged")


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation: the error statuses it may answer with."""
    texts = {
        401: "no bearer token, or one that is malformed, unknown or revoked",
        403: "the token's role or company may not do this; nothing was written",
        404: "no such request",
        409: "refused by the lifecycle's rules now (the workflow validator's reason); nothing was written",
        413: "the request body is larger than the API accepts",
        422: "invalid input (the fields are named), or an Idempotency-Key reused for another call",
        429: "too many calls by this token; retry after Retry-After seconds",
        503: "Temporal is not reachable",
        504: "the request's workflow did not answer in time",
    }
    retry_after = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    headers: dict[int, dict[str, Any]] = {
        401: {
            "WWW-Authenticate": {
                "description": 'Bearer realm="ringi"',
                "schema": {"type": "string"},
            }
        },
        429: retry_after,
        503: retry_after,
        504: retry_after,
    }
    return {
        s: {
            "model": ErrorBody,
            "description": texts[s],
            **({"headers": headers[s]} if s in headers else {}),
        }
        for s in statuses
    }
