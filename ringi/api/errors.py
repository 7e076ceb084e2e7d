"""One shape for every error the API answers with, and the mapping onto it.

    {"status": 409, "error": "refused", "message": "B社 already endorses No.1; ...",
     "details": []}

``error`` is a stable code for programs; ``message`` is for the person who
asked (the workflow validator's reason, word for word, for a refusal);
``details`` names the offending fields of invalid input.

A write whose outcome is unknown (its workflow did not answer in time, or
Temporal went away mid-call: it may have been carried out) answers 503
``outcome_unknown``, never a failure, with ``Retry-After`` and the key to
retry with, in the body (``idempotency_key``) and as the ``Idempotency-Key``
header: the caller's own, or the one the API gave the call.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.exceptions import TemporalError
from temporalio.service import RPCError

from ..domain.errors import Conflict, DomainError, NotAllowed, NotFound
from ..service import OutcomeUnknown
from .idempotency import HEADER, KeyReused
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
        "timeout | unavailable | outcome_unknown | internal"
    )
    message: str = Field(description="what went wrong, in words for the person who asked")
    details: list[ErrorDetail] = Field(default_factory=list)
    idempotency_key: str | None = Field(
        None,
        description="with outcome_unknown: the Idempotency-Key to send the same call again "
        "with (the caller's, or the one given to a call sent without); the retry is carried "
        "out at most once and answers with the first result",
    )


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[ErrorDetail] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = headers or {}
        self.details = details or []
        self.idempotency_key = idempotency_key


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: list[ErrorDetail] | None = None,
    idempotency_key: str | None = None,
) -> JSONResponse:
    body = ErrorBody(
        status=status,
        error=error,
        message=message,
        details=details or [],
        idempotency_key=idempotency_key,
    )
    shown = body.model_dump(mode="json", exclude_none=True)  # a key only where one is meant
    return JSONResponse(shown, status_code=status, headers=headers)


#: seconds a caller told the outcome is unknown waits before sending the call again
RETRY_AFTER = "5"


class Unanswered(ApiError, TimeoutError):
    """The API's answer to a write whose outcome is unknown; still a
    ``TimeoutError`` to the pages, which answer it in their own way."""


def require_bulk_size(numbers: Sized, limit: int) -> None:
    """Refuse (422) a bulk call of more than ``limit`` numbers, naming the field."""
    if len(numbers) > limit:
        raise ApiError(
            422,
            "invalid",
            f"invalid input: body.numbers has {len(numbers)} items; at most {limit} a call",
            details=[
                ErrorDetail(field="body.numbers", message=f"at most {limit} items", type="too_long")
            ],
        )


def outcome_unknown(unknown: OutcomeUnknown, key: str) -> ApiError:
    """The answer to a write whose outcome is unknown: retry with ``key``."""
    return Unanswered(
        503,
        "outcome_unknown",
        f"outcome unknown: {unknown.why} (is a ringi worker running?); it may have been "
        "carried out. Send the same call "
        f"again with {HEADER}: {key} (it is carried out at most once)",
        headers={"Retry-After": RETRY_AFTER, HEADER: key},
        idempotency_key=key,
    )


def _describe(errors: Any) -> list[ErrorDetail]:
    details = []
    for item in errors:
        loc = [str(part) for part in item.get("loc", ())]
        details.append(
            ErrorDetail(
                field=".".join(loc) or "input",
                message=str(item.get("msg", "invalid")).removeprefix("Value error, "),
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
    if isinstance(exc, OutcomeUnknown):
        message = (
            f"outcome unknown: {exc.why} (is a ringi worker running?); it may have been "
            "carried out: retry with the same "
            "Idempotency-Key to be sure it is carried out once"
        )
        return 503, "outcome_unknown", message, {"Retry-After": RETRY_AFTER}
    if isinstance(exc, TimeoutError):
        message = (
            "the request's workflow did not answer in time (is a ringi worker running?); "
            "retry with the same Idempotency-Key to be sure it is carried out once"
        )
        return 504, "timeout", message, {"Retry-After": RETRY_AFTER}
    if isinstance(exc, RPCError):
        log.warning("temporal unavailable", error=str(exc))
        message = f"Temporal is not reachable ({exc.message}); try again"
        return 503, "unavailable", message, {"Retry-After": RETRY_AFTER}
    if isinstance(exc, RPCTimeoutOrCancelledError | TemporalError):
        # anything else of Temporal's: answered here, never left to the ASGI server
        # (which would drop the connection, and the next call on it with it)
        log.warning("temporal failed", error=repr(exc))
        message = f"Temporal did not carry this out ({exc}); try again"
        return 503, "unavailable", message, {"Retry-After": RETRY_AFTER}
    return None


def install(app: FastAPI) -> None:
    """Every failure answers in the one shape; none is a 500 unless ringi itself failed."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status,
            exc.error,
            exc.message,
            headers=exc.headers,
            details=exc.details,
            idempotency_key=exc.idempotency_key,
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

    for kind in (KeyReused, DomainError, TimeoutError, RPCError, TemporalError):
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
        503: "Temporal is not reachable; or, for a write, outcome_unknown: it was sent but "
        "its answer did not come, and it may have been carried out (retry with the "
        "idempotency_key the body names)",
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
        503: {
            **retry_after,
            HEADER: {
                "description": "with outcome_unknown: the key to send the call again with",
                "schema": {"type": "string"},
            },
        },
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
