"""The HTTP API: ``create_app(ringi, settings)`` builds it around a ``Ringi``
service (the same facade the command line uses), so a write goes through the
request's workflow and a read comes from the event store."""

from __future__ import annotations

from fastapi import FastAPI

from .. import __name__ as _package
from .. import web
from ..service import Ringi
from . import errors, health
from .context import ApiContext
from .limits import BodyLimit
from .routers import audit, members, reads, register, secretariat, subscriptions
from .settings import ApiSettings

DESCRIPTION = """\
ringi runs the lifecycle of improvement requests: members file, endorse and
object; the secretariat moves requests through support, hearing, cost
evaluation, the objection window, implementation and release, and answers at
meetings; auditors read everything.

**Identity.** Every call carries `Authorization: Bearer <token>`; tokens are
issued with `ringi token issue --role member|secretariat|auditor [--company NAME]`.
A member acts for its token's company only; who did what is recorded with each
event. Each operation lists the roles that may call it in `x-ringi-roles`.

**Errors** have one shape (`ErrorBody`): 401 no valid token, 403 wrong role or
company, 404 unknown request or subscription, 409 refused by the lifecycle's
rules (the reason is the workflow's, word for word), 413 body too large, 422
invalid input (the fields are named), 429 too many calls (see `Retry-After`).
Nothing is written when a call is refused. 503 `outcome_unknown`: a write was
sent but its workflow did not answer in time, and it may have been carried
out; send it again with the `idempotency_key` the body names.

**Retries.** Send an `Idempotency-Key` with a write: repeating the call with the
same key answers with the first result and writes nothing new. A write sent
without one is given one, in its answer's `Idempotency-Key` header.
"""


def create_app(ringi: Ringi, settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    app = FastAPI(
        title="ringi",
        version=_version(),
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "members", "description": "what a member company does"},
            {"name": "secretariat", "description": "what the secretariat (事務局) does"},
            {"name": "reading", "description": "reads, for every role"},
            {
                "name": "register",
                "description": "the register (資料2) as of a meeting or a moment, replayed "
                "from the events",
            },
            {
                "name": "audit",
                "description": "verify, history and export, for auditors and the secretariat",
            },
            {
                "name": "subscriptions",
                "description": "who is told of what happens to requests: webhooks and e-mail",
            },
        ],
    )
    app.state.ringi = ApiContext(ringi, settings)
    errors.install(app)
    web.install(app, app.state.ringi)  # the pages (ringi/web), behind the same tokens
    routers = (members, secretariat, reads, register, audit)
    for router in (r.router for r in routers):
        app.include_router(router)
    app.include_router(subscriptions.router)  # notification subscriptions (webhook, e-mail)
    app.include_router(health.router)  # operators' probes, outside the OpenAPI document
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_package)
    except PackageNotFoundError:
        return "0"
