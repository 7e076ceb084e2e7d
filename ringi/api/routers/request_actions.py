"""The endpoints ``POST /v1/requests/{number}/<slug>``, one for each action of
``actions.ACTIONS``, on the router of the role that may take it.

Each endpoint reads as a hand-written one would: the body model of its action
(left out or not, as the action says), the caller, the request's No. and the
``Idempotency-Key``; its command is carried out by ``Write.act``, which records
the key, attributes the actor and redacts the answer."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Path, Request

from ...domain.vocabulary import Role
from ..actions import ACTIONS, Action, Known, base
from ..context import ApiContext, Caller, Ctx, IdempotencyKey, Write, allowed, recorded
from ..errors import documented
from ..models import MAX_NUMBER, Body, Recorded
from ..tokens import Principal

ACTS = documented(404, 409, 503, 504)
No = Path(ge=1, le=MAX_NUMBER, description="the request's No.")

Endpoint = Callable[..., Awaitable[Recorded]]


def add(router: APIRouter, role: Role) -> None:
    """Add the endpoints of ``role``'s actions in the table's order, which is
    the order the OpenAPI document lists them in."""
    for action in ACTIONS:
        if action.role is not role:
            continue
        router.add_api_route(
            f"/requests/{{number}}/{action.slug}",
            endpoint(action),
            methods=["POST"],
            name=action.name,
            summary=action.summary,
            description=action.description,
            responses=ACTS,
            openapi_extra=allowed(role),
        )


def endpoint(action: Action[Any]) -> Endpoint:
    # no docstring: FastAPI would publish it as the operation's description
    async def act(
        who: Principal,
        ctx: ApiContext,
        request: Request,
        number: int,
        body: Body | None,
        key: str | None,
    ) -> Recorded:
        write = Write(ctx, who, request, key, body)  # the body as sent: the key's fingerprint
        given = body if body is not None else action.body()
        command = await action.command_for(
            given, base(write.actor, write.command_id()), Known(ctx, number)
        )
        # built already, as its build may have to await a read; act carries it out
        view = await write.act(number, lambda _: command)
        return await recorded(ctx, view, command.meeting)

    # FastAPI reads the parameters from the signature: give it the action's body model
    setattr(act, "__signature__", signature(action))  # noqa: B010 (mypy refuses the attribute)
    return act


def signature(action: Action[Any]) -> inspect.Signature:
    """The endpoint's parameters, as a hand-written endpoint would declare them."""

    def param(
        name: str, annotation: Any, default: Any = inspect.Parameter.empty
    ) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )

    required = () if action.body_optional else (param("body", action.body),)
    optional = (param("body", action.body | None, None),) if action.body_optional else ()
    return inspect.Signature(
        [
            *required,
            param("who", Caller),
            param("ctx", Ctx),
            param("request", Request),
            param("number", int, No),
            *optional,
            param("key", IdempotencyKey, None),
        ],
        return_annotation=Recorded,
    )
