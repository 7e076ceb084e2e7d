"""Auditing over the network: verify the store, read a request's history, export
every event. The same work as ``ringi audit verify|history|export``
(``ringi.audit``), for auditors and the secretariat: members do not read the
whole trail (it holds other companies' clarification threads and every user's
name).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...audit.reconcile import workflow_anchors
from ...audit.seal import Seal, SealError, checked, take
from ...audit.trail import CSV_COLUMNS, HistoryEntry, csv_lines, export, history, jsonl_lines
from ...audit.verify import NOT_CHAINED, Anchor, Finding, verify
from ...domain.errors import NotFound, Refused
from ...domain.vocabulary import Role
from ..context import Ctx, allowed, guarded_router
from ..errors import ApiError, ErrorDetail, documented
from ..models import MAX_NUMBER

AUDIT = allowed(Role.SECRETARIAT, Role.AUDITOR)
router = guarded_router("audit", 401, 403, 422, 429)

#: what an export is sent as
CHUNK = 1 << 16
EXPORT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seals: list[Seal] = Field(
        default_factory=list,
        max_length=100,
        description="seals kept outside the store (`ringi audit seal`): every chain must "
        "still reach the head each recorded; a seal altered since is refused (422)",
    )
    workflows: bool = Field(
        False, description="also check each chain reaches the version its workflow holds"
    )


class VerifyReport(BaseModel):
    clean: bool = Field(description="nothing was found")
    chains: int
    events: int
    anchors: int = Field(description="heads checked from the seals and the workflows")
    findings: list[Finding]
    not_covered: str = Field(NOT_CHAINED, description="what a verification does not cover")


@router.post(
    "/audit/verify",
    openapi_extra=AUDIT,
    summary="Verify every hash chain and every published register's digest",
    description="Walks every request's and meeting's chain and replays every published "
    "register; each finding names the request (or meeting) and the version that was "
    "edited, deleted, reordered or inserted. Writes nothing. With seals, also every head "
    "they recorded; with workflows, every version a workflow holds. 200 whether clean or "
    "not: `clean` says which.",
)
async def verify_store(ctx: Ctx, body: VerifyBody | None = None) -> VerifyReport:
    asked = body or VerifyBody()
    anchors: list[Anchor] = []
    for i, sealed in enumerate(asked.seals):
        try:
            anchors += checked(sealed, f"seal {i}").anchors()
        except SealError as error:
            raise ApiError(
                422,
                "invalid",
                str(error),
                details=[ErrorDetail(field=f"body.seals.{i}", message=str(error), type="seal")],
            ) from None
    if asked.workflows:
        anchors += await workflow_anchors(ctx.ringi)
    report = await ctx.in_thread(verify, ctx.ringi.store, anchors)
    return VerifyReport(
        clean=report.clean,
        chains=report.chains,
        events=report.events,
        anchors=len(anchors),
        findings=report.findings,
    )


@router.post(
    "/audit/seal",
    openapi_extra=AUDIT,
    responses=documented(409),
    summary="Seal the record: every chain's last version and hash, with one digest over them",
    description="Keep the seal where the database's writers cannot reach it and send it "
    "back to POST /v1/audit/verify: it then names any event cut from or rewritten at the "
    "end of a chain, which a chain cannot show by itself. Writes nothing. 409 unless the "
    "store verifies clean (a seal vouches for what it seals).",
)
async def take_seal(ctx: Ctx) -> Seal:
    return await ctx.in_thread(take, ctx.ringi.store, datetime.now(tz=UTC))


@router.get(
    "/audit/requests/{number}/history",
    openapi_extra=AUDIT,
    responses=documented(404),
    summary="A request's events as stored: time, actor, meeting, event and hash",
)
async def request_history(
    ctx: Ctx, number: Annotated[int, Path(ge=1, le=MAX_NUMBER)]
) -> list[HistoryEntry]:
    def read() -> list[HistoryEntry]:
        try:
            return list(history(ctx.ringi.store, number))
        except NotFound:
            raise
        except Refused as refused:
            raise NotFound(str(refused)) from None

    return await ctx.in_thread(read)


@router.get(
    "/audit/export",
    openapi_extra=AUDIT,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "every stored event in the order recorded, streamed: JSON Lines "
            f"(one object per event) or CSV ({', '.join(CSV_COLUMNS)}); webhook secrets "
            "redacted",
            "content": {media: {"schema": {"type": "string"}} for media in EXPORT_TYPES.values()},
        }
    },
    summary="Every event of every aggregate, as JSON Lines or CSV",
)
async def export_events(
    ctx: Ctx,
    format: Annotated[
        Literal["jsonl", "csv"], Query(description="jsonl (default) or csv")
    ] = "jsonl",
) -> StreamingResponse:
    store = ctx.ringi.store
    lines = jsonl_lines if format == "jsonl" else csv_lines

    def chunks() -> Iterator[bytes]:
        # the store is read a page at a time and sent on in chunks of about 64 KiB: a
        # million events never become a million objects at once (Starlette iterates
        # this in a thread, off the event loop)
        parts: list[str] = []
        size = 0
        for line in lines(export(store)):
            parts.append(line)
            size += len(line)
            if size >= CHUNK:
                yield "".join(parts).encode()
                parts, size = [], 0
        if parts:
            yield "".join(parts).encode()

    extension = ".jsonl" if format == "jsonl" else ".csv"
    return StreamingResponse(
        chunks(),
        media_type=EXPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="ringi-events{extension}"'},
    )
