"""What a member company does: file, endorse (one or many), withdraw an
endorsement, append to its own request, answer a clarification, object,
withdraw its own request. The company is the token's, never the body's.

The actions on one request are declared in ``ringi.api.actions`` and made into
endpoints by ``request_actions``; filing and the bulk call are written here."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import Request, Response, status

from ...domain import commands as c
from ...domain.vocabulary import Role
from ...service import OutcomeUnknown
from ..context import (
    Caller,
    Ctx,
    IdempotencyKey,
    Write,
    allowed,
    carry_out,
    guarded_router,
    recorded,
)
from ..errors import classify, documented, outcome_unknown, require_bulk_size
from ..models import (
    BulkEndorseBody,
    BulkEndorseResult,
    EndorseItem,
    FileBody,
    ItemError,
    Recorded,
    RequestSummary,
)
from . import request_actions

log = structlog.get_logger("ringi.api")

MEMBER = allowed(Role.MEMBER)
router = guarded_router("members", 401, 403, 413, 422, 429)


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
) -> Recorded:
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
    return await recorded(ctx, view, body.meeting)


# after filing and before the bulk call: the OpenAPI document keeps this order
request_actions.add(router, Role.MEMBER)


@router.post(
    "/bulk/endorse",
    openapi_extra=MEMBER,
    responses=documented(409),
    summary="Endorse many requests in one call",
    description="Each number is endorsed on its own: one refused does not undo the others, "
    "and none is half-written. The answer reports, per number in the order given, what "
    "succeeded and what was refused and why (with the status that number alone would "
    "have had). With an Idempotency-Key, a retry endorses nothing twice. A number whose "
    "outcome is unknown (its workflow did not answer in time) is answered 503 outcome_unknown "
    "with the call's idempotency_key (the caller's, or the one given to a call sent without): "
    "the same call sent again with it carries out each number at most once.",
)
async def bulk_endorse(
    body: BulkEndorseBody, who: Caller, ctx: Ctx, request: Request, key: IdempotencyKey = None
) -> BulkEndorseResult:
    require_bulk_size(body.numbers, ctx.settings.bulk_max_items)
    write = Write(ctx, who, request, key, body)
    retry = await write.claim() is not None
    gate = asyncio.Semaphore(ctx.settings.bulk_concurrency)
    actor = write.actor

    async def one(number: int) -> EndorseItem:
        async with gate:
            cmd = c.Endorse(actor=actor, command_id=write.command_id(number), meeting=body.meeting)
            try:
                view = await carry_out(ctx, number, cmd, retry=retry)
            except OutcomeUnknown as unknown:
                unknowns.append(unknown)
                answer = outcome_unknown(unknown, write.key)
                return EndorseItem(
                    number=number,
                    ok=False,
                    status=answer.status,
                    error=ItemError(
                        status=answer.status,
                        error=answer.error,
                        message=answer.message,
                        idempotency_key=write.key,
                    ),
                )
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

    unknowns: list[OutcomeUnknown] = []
    items = await asyncio.gather(*(one(n) for n in body.numbers))
    if unknowns:
        await write.unknown(unknowns[0])  # a given key is recorded: it is to be retried with
    succeeded = sum(1 for item in items if item.ok)
    return BulkEndorseResult(succeeded=succeeded, failed=len(items) - succeeded, items=items)
