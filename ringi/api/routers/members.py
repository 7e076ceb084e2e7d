"""What a member company does: file, endorse (one or many), withdraw an
endorsement, append to its own request, answer a clarification, object,
withdraw its own request. The company is the token's, never the body's."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Depends, Path, Request, Response, status

from ...domain import commands as c
from ...domain.vocabulary import Role
from ..context import (
    Caller,
    Ctx,
    GuardedRoute,
    IdempotencyKey,
    Write,
    allowed,
    bearer,
    carry_out,
)
from ..errors import ApiError, ErrorDetail, classify, documented
from ..models import (
    MAX_NUMBER,
    AtMeeting,
    BulkEndorseBody,
    BulkEndorseResult,
    ClarificationAnswerBody,
    EndorseItem,
    FileBody,
    ItemError,
    NoteBody,
    ObjectionBody,
    RequestState,
    RequestSummary,
    WithdrawBody,
)

log = structlog.get_logger("ringi.api")

MEMBER = allowed(Role.MEMBER)
router = APIRouter(
    prefix="/v1",
    tags=["members"],
    route_class=GuardedRoute,
    dependencies=[Depends(bearer)],
    responses=documented(401, 403, 413, 422, 429),
)
ACTS = documented(404, 409, 503, 504)
No = Path(ge=1, le=MAX_NUMBER, description="the request's No.")


@router.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=MEMBER,
    responses={
        201: {
            "description": "filed",
            "headers": {
                "Location": {"description": "the new request", "schema": {"type": "string"}}
            },
        },
        **documented(409, 503, 504),
    },
    summary="File a new request (its number is in the answer)",
)
async def file_request(
    body: FileBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    response: Response,
    key: IdempotencyKey = None,
) -> RequestState:
    write = Write(ctx, who, request, key, body)
    view = await write.file(
        lambda base: c.FileRequest(
            **base,
            category=body.category,
            target=body.target,
            body=body.body,
            related=tuple(body.related),
            meeting=body.meeting,
        )
    )
    response.headers["Location"] = f"/v1/requests/{view.number}"
    return RequestState.of(view)


@router.post(
    "/requests/{number}/endorse", openapi_extra=MEMBER, responses=ACTS, summary="Endorse (賛同)"
)
async def endorse(
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    body: AtMeeting | None = None,
    key: IdempotencyKey = None,
) -> RequestState:
    meeting = body.meeting if body else None
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.Endorse(**base, meeting=meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/unendorse",
    openapi_extra=MEMBER,
    responses=ACTS,
    summary="Withdraw your endorsement",
)
async def unendorse(
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    body: AtMeeting | None = None,
    key: IdempotencyKey = None,
) -> RequestState:
    meeting = body.meeting if body else None
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.WithdrawEndorsement(**base, meeting=meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/notes",
    openapi_extra=MEMBER,
    responses=ACTS,
    summary="Append a note to your own request (追記)",
)
async def append(
    body: NoteBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.AppendNote(**base, text=body.text, meeting=body.meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/clarification-answer",
    openapi_extra=MEMBER,
    responses=ACTS,
    summary="Answer the secretariat's clarification question on your request",
)
async def answer_clarification(
    body: ClarificationAnswerBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.AnswerClarification(**base, text=body.text)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/objections",
    openapi_extra=MEMBER,
    responses=ACTS,
    summary="Object during the objection window",
)
async def object_(
    body: ObjectionBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.RaiseObjection(**base, reason=body.reason)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/withdraw",
    openapi_extra=MEMBER,
    responses=ACTS,
    summary="Withdraw your own request",
)
async def withdraw(
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    body: WithdrawBody | None = None,
    key: IdempotencyKey = None,
) -> RequestState:
    reason = body.reason if body else ""
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.Withdraw(**base, reason=reason)
    )
    return RequestState.of(view)


@router.post(
    "/bulk/endorse",
    openapi_extra=MEMBER,
    responses=documented(409),
    summary="Endorse many requests in one call",
    description="Each number is endorsed on its own: one refused does not undo the others, "
    "and none is half-written. The answer reports, per number in the order given, what "
    "succeeded and what was refused and why (with the status that number alone would "
    "have had). With an Idempotency-Key, a retry endorses nothing twice.",
)
async def bulk_endorse(
    body: BulkEndorseBody, who: Caller, ctx: Ctx, request: Request, key: IdempotencyKey = None
) -> BulkEndorseResult:
    limit = ctx.settings.bulk_max_items
    if len(body.numbers) > limit:
        raise ApiError(
            422,
            "invalid",
            f"invalid input: body.numbers has {len(body.numbers)} items; at most {limit} a call",
            details=[
                ErrorDetail(field="body.numbers", message=f"at most {limit} items", type="too_long")
            ],
        )
    write = Write(ctx, who, request, key, body)
    retry = await write.claim() is not None
    gate = asyncio.Semaphore(ctx.settings.bulk_concurrency)
    actor = write.actor

    async def one(number: int) -> EndorseItem:
        async with gate:
            cmd = c.Endorse(actor=actor, command_id=write.command_id(number), meeting=body.meeting)
            try:
                view = await carry_out(ctx, number, cmd, retry=retry)
            except Exception as exc:
                found = classify(exc)
                if found is None:
                    log.exception("bulk endorse item failed", number=number)
                    found = (500, "internal", "ringi failed to carry this out; it was logged", None)
                status_, error, message, _ = found
                return EndorseItem(
                    number=number,
                    ok=False,
                    status=status_,
                    error=ItemError(status=status_, error=error, message=message),
                )
            return EndorseItem(number=number, ok=True, status=200, request=RequestSummary.of(view))

    items = await asyncio.gather(*(one(n) for n in body.numbers))
    succeeded = sum(1 for item in items if item.ok)
    return BulkEndorseResult(succeeded=succeeded, failed=len(items) - succeeded, items=items)
