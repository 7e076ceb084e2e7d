"""Reading: one request with its timeline, many by number, a filtered listing
in pages, the meetings, and who the caller is. Every role reads everything;
every read comes from the event store, which is the record, through the API's
read model (``..readmodel``): folded once per change, never older than the call."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Annotated

from fastapi import Path, Query, Response
from pydantic import BaseModel

from ...domain.lifecycle import as_read_by
from ...domain.view import RequestView
from ...domain.vocabulary import Category, Stage
from ..context import EVERYONE, Caller, Ctx, allowed, guarded_router, require_meetings
from ..errors import ApiError, ErrorDetail, documented, require_bulk_size
from ..models import (
    MAX_NUMBER,
    BulkFetchBody,
    BulkFetchResult,
    FetchItem,
    ItemError,
    MeetingDetail,
    MeetingOut,
    QueryMoment,
    RequestDetail,
    RequestPage,
    RequestState,
    RequestSummary,
    WhoAmI,
)
from ..readmodel import ReadModel

READ = allowed(*EVERYONE)
router = guarded_router("reading", 401, 403, 422, 429)


@router.get(
    "/requests/{number}",
    openapi_extra=READ,
    response_model=RequestDetail,
    responses=documented(404),
    summary="A request's state, running timers and the timeline of its events",
)
async def read_request(
    ctx: Ctx, who: Caller, number: Annotated[int, Path(ge=1, le=MAX_NUMBER)]
) -> Response:
    # the answer is encoded once per version of the request and kind of reader (``readmodel``)
    return Response(await ctx.reads.detail(number, who), media_type="application/json")


class Filters(BaseModel):
    stage: list[Stage]
    category: list[Category]
    target: str | None
    company: str | None
    updated_since: datetime | None
    open: bool | None

    def admits(self, view: RequestView) -> bool:
        return (
            (not self.stage or view.stage in self.stage)
            and (not self.category or view.category in self.category)
            and (self.target is None or self.target.casefold() in view.target.casefold())
            and (
                self.company is None
                or self.company == view.proposer
                or self.company in view.endorsers
            )
            and (self.updated_since is None or view.updated_at >= self.updated_since)
            and (self.open is None or view.is_open == self.open)
        )

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def encode_cursor(after: int, filters: Filters) -> str:
    raw = json.dumps({"after": after, "filters": filters.digest()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: Filters) -> int:
    def bad(why: str) -> ApiError:
        return ApiError(
            422,
            "invalid",
            f"invalid input: query.cursor {why}",
            details=[ErrorDetail(field="query.cursor", message=why, type="cursor")],
        )

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        after, digest = data["after"], data["filters"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise bad("is not a cursor this API gave out") from None
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise bad("is not a cursor this API gave out")
    if digest != filters.digest():
        raise bad("belongs to a listing with other filters; keep the filters while paging")
    return after


def scan(
    model: ReadModel, filters: Filters, after: int, limit: int
) -> tuple[list[RequestView], int | None]:
    """Requests numbered above ``after`` that the filters admit, in number order:
    at most ``limit`` of them, and where the next page starts (None if no
    request after this page is admitted). Blocking: reads the projection
    (``ringi.projection``), filtered by its columns; only the page's states are read."""
    from ...projection.catchup import caught_up, parse_views
    from ...projection.views import micros

    views = caught_up(model.store)
    candidates = views.listing(
        after,
        stages=[s.value for s in filters.stage],
        categories=[c.value for c in filters.category],
        company=filters.company,
        updated_since=(
            micros(since)
            if (since := filters.updated_since) is not None and since.tzinfo is not None
            else None  # a naive moment: the states' check below decides
        ),
        is_open=filters.open,
        target=filters.target,  # through the search index (``ringi.projection.search``)
    )
    admitted = [n for n, _ in candidates]
    page = parse_views(views.views_of_numbers(admitted[:limit]))
    # the columns chose them; the states have the last word (the same rule as before)
    found = [v for v in page if filters.admits(v)]
    return found, (found[-1].number if len(admitted) > limit and found else None)


@router.get(
    "/requests",
    openapi_extra=READ,
    summary="List requests, filtered, a page at a time",
    description="In number order. Filters combine (all must hold); a repeated stage or "
    "category matches any of them. `company` matches the proposer or an endorser; "
    "`target` is a case-insensitive part of 対象箇所. Follow `next_cursor` with the same "
    "filters to walk the whole list once.",
)
async def list_requests(
    ctx: Ctx,
    stage: Annotated[list[Stage], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    category: Annotated[list[Category], Query()] = [],  # noqa: B006
    target: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
    company: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    updated_since: Annotated[QueryMoment | None, Query()] = None,
    open_: Annotated[bool | None, Query(alias="open", description="open or finished only")] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> RequestPage:
    filters = Filters(
        stage=stage,
        category=category,
        target=target,
        company=company,
        updated_since=updated_since,
        open=open_,
    )
    size = min(limit or ctx.settings.page_size, ctx.settings.max_page_size)
    after = decode_cursor(cursor, filters) if cursor else 0
    views, next_after = await ctx.in_thread(scan, ctx.reads.model, filters, after, size)
    return RequestPage(
        items=[RequestSummary.of(v) for v in views],
        next_cursor=encode_cursor(next_after, filters) if next_after is not None else None,
    )


@router.post(
    "/bulk/requests",
    openapi_extra=READ,
    responses=documented(413),
    summary="Fetch many requests by number in one call",
    description="One item per number, in the order given; an unknown number is an item "
    "with status 404, not a failed call.",
)
async def fetch_many(body: BulkFetchBody, ctx: Ctx, who: Caller) -> BulkFetchResult:
    require_bulk_size(body.numbers, ctx.settings.bulk_max_items)
    items = []
    for number, entry in zip(body.numbers, await ctx.reads.entries(body.numbers), strict=True):
        if entry.view is None:
            missing = f"there is no request No.{number}"
            items.append(
                FetchItem(
                    number=number,
                    ok=False,
                    status=404,
                    error=ItemError(status=404, error="not_found", message=missing),
                )
            )
            continue
        view = as_read_by(entry.view, who.role, who.company)
        items.append(FetchItem(number=number, ok=True, status=200, request=RequestState.of(view)))
    found = sum(1 for item in items if item.ok)
    return BulkFetchResult(found=found, missing=len(items) - found, items=items)


@router.get("/meetings", openapi_extra=READ, summary="The meetings (第N回), in order")
async def list_meetings(ctx: Ctx) -> list[MeetingOut]:
    meetings = await ctx.in_thread(ctx.ringi.store.meetings)
    return [MeetingOut(number=n, held_at=held) for n, held in meetings.items()]


@router.get(
    "/meetings/{number}",
    openapi_extra=READ,
    responses=documented(404),
    summary="One meeting (第N回), with every publication of its register and their digests",
)
async def read_meeting(
    ctx: Ctx, number: Annotated[int, Path(ge=1, le=MAX_NUMBER)]
) -> MeetingDetail:
    def read() -> MeetingDetail:
        require_meetings(ctx.ringi.store, number)
        return MeetingDetail.of(ctx.ringi.store.meeting(number))

    return await ctx.in_thread(read)


@router.get("/me", openapi_extra=READ, summary="Who this token is")
async def whoami(who: Caller) -> WhoAmI:
    return WhoAmI(
        token_id=who.token_id, role=who.role, company=who.company, name=who.name, user=who.user
    )
