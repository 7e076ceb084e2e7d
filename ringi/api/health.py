"""The operators' probes: ``/livez`` (the process answers) and ``/readyz`` (it can
do its work: ``ringi.health``), without a token and outside the OpenAPI document,
which describes the API for its callers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..health import OutboxBacklog, readiness
from .context import context

router = APIRouter(include_in_schema=False)


def _backlog(request: Request) -> OutboxBacklog:
    """One incremental outbox count per API process."""
    found = getattr(request.app.state, "ringi_outbox_backlog", None)
    if not isinstance(found, OutboxBacklog):
        found = OutboxBacklog(context(request).ringi.store)
        request.app.state.ringi_outbox_backlog = found
    return found


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    found = await readiness(
        ctx.ringi.settings,
        ctx.ringi.client,
        ctx.ringi.store,
        _backlog(request),
        max_projection_lag=ctx.settings.ready_max_projection_lag,
        max_outbox_backlog=ctx.settings.ready_max_outbox_backlog,
    )
    return JSONResponse(found.as_json(), status_code=200 if found.ready else 503)
