"""Finding the installation, and running one command against it with the
exit statuses the command line promises: 0 done, 1 refused (nothing written),
2 usage error, 3 cannot reach Temporal, the event store or the API, 4 outcome
unknown (sent, but no answer came: it may have been carried out; the command
sent again with the ``--key`` the line names is carried out at most once),
5 incomplete (``import`` and ``db resume-workflows``: the store is written,
but some open requests' workflows were not started; ``ringi db
resume-workflows`` starts the rest).

``guarded`` is the one place that turns what went wrong into those statuses,
each with one line on stderr and never a traceback."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

# Imported where they are used: every command imports this module, and most
# need only some of them (`ringi --help` none).
if TYPE_CHECKING:
    from pydantic import ValidationError

    from ..config import Settings
    from ..service import OutcomeUnknown, Ringi
    from ..store import RingiStore

T = TypeVar("T")

REFUSED = 1
USAGE = 2
UNREACHABLE = 3
UNKNOWN = 4
INCOMPLETE = 5

ENDPOINT_FILE = "endpoint.json"
#: seconds a command waits for the worker before saying its outcome is unknown
COMMAND_TIMEOUT = float(os.environ.get("RINGI_COMMAND_TIMEOUT") or 60)


@dataclass
class Installation:
    """The flags every command shares, resolved into settings."""

    data_dir: Path | None = None
    temporal: str | None = None
    namespace: str | None = None
    task_queue: str | None = None
    #: the HTTP API to work through instead (``--url``/``RINGI_URL``), with a token
    url: str | None = None
    token: str | None = None
    #: the command's idempotency key (``--key``, or the one it was given: ``keys.tagged``)
    key: str | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            from ..config import Settings

            overrides: dict[str, Any] = {}
            if self.data_dir is not None:
                overrides["data_dir"] = self.data_dir
            if self.namespace is not None:
                overrides["namespace"] = self.namespace
            if self.task_queue is not None:
                overrides["task_queue"] = self.task_queue
            settings = Settings(**overrides)
            address = (
                self.temporal
                or os.environ.get("RINGI_TEMPORAL_ADDRESS")
                or _recorded_address(settings)
            )
            if address:
                settings = settings.model_copy(update={"temporal_address": address})
            self._settings = settings
        return self._settings


def _recorded_address(settings: Settings) -> str | None:
    """``ringi up`` writes the address it serves on into the data directory, so
    that commands naming the same data directory find that server."""
    path = settings.data_dir / ENDPOINT_FILE
    if path.exists():
        return str(json.loads(path.read_text())["temporal_address"])
    return None


def installation(ctx: typer.Context) -> Installation:
    obj = ctx.find_object(Installation)
    assert obj is not None
    return obj


def fail(message: str, status: int = REFUSED) -> typer.Exit:
    typer.echo(f"ringi: {message}", err=True)
    return typer.Exit(status)


def run_with_ringi(
    ctx: typer.Context,
    work: Callable[[Ringi], Awaitable[T]],
    *,
    timeout: float | None = COMMAND_TIMEOUT,
) -> T:
    """Connect to Temporal and the store, do ``work``, and leave with ``guarded``'s
    statuses (an unknown outcome's line names the worker to look for).
    ``timeout=None``: work made of many calls, each with its own deadline
    (starting many workflows), is not cut short as a whole."""
    import asyncio  # here, as the rest: `ringi --help` and the reads need no event loop

    from ..service import OutcomeUnknown, Ringi, answered
    from ..temporal import core_logs_to_stderr

    core_logs_to_stderr()
    where = installation(ctx)
    settings = where.settings()

    async def go() -> T:
        try:
            ringi = await Ringi.connect(settings)
        except RuntimeError as error:
            raise fail(
                f"cannot reach Temporal at {settings.temporal_address} ({error}); "
                "is `ringi up` running, and is --temporal / RINGI_TEMPORAL_ADDRESS right?",
                UNREACHABLE,
            ) from None
        try:
            if timeout is None:
                return await work(ringi)
            return await answered(work(ringi), timeout)
        except OutcomeUnknown as unknown:
            why = (
                f"{unknown.why}: is a ringi worker running on task queue "
                f"{settings.task_queue!r} at {settings.temporal_address}?"
            )
            raise OutcomeUnknown(why, unknown.key) from None
        finally:
            ringi.close()

    return guarded(lambda: asyncio.run(go()), key=where.key)


def with_store(ctx: typer.Context, work: Callable[[RingiStore], T]) -> T:
    from ..store import RingiStore

    settings = installation(ctx).settings()
    if settings.store == "sqlite" and not settings.event_store_path.exists():
        raise fail(
            f"no ringi data in {settings.data_dir}; start it with `ringi up` or pass --data-dir"
        )
    store = guarded(lambda: RingiStore(env=settings.eventsourcing_env()))
    try:
        return guarded(lambda: work(store))
    finally:
        store.close()


def guarded(call: Callable[[], T], *, key: str | None = None) -> T:
    """``call``, with what may go wrong as one line and its exit status: a
    refusal 1, invalid input 2, Temporal or the store unreachable 3, an outcome
    unknown 4 (naming the key to retry with: the exception's, else ``key``)."""
    try:
        return call()
    except Exception as error:
        status = _exit_for(error, key)
        if status is None:
            raise
        raise status from None


def _exit_for(error: Exception, key: str | None) -> typer.Exit | None:
    """What ``guarded`` leaves with for ``error``, or None to let it through. The
    classes are imported only once something went wrong: a read that never
    touches Temporal does not pay for importing its client."""
    from eventsourcing.persistence import InterfaceError, OperationalError
    from pydantic import ValidationError

    from ..domain.errors import DomainError

    if isinstance(error, DomainError):
        return fail(str(error))
    if isinstance(error, ValidationError):
        return fail(describe_validation(error), USAGE)

    from temporalio.exceptions import TemporalError
    from temporalio.service import RPCError

    from ..service import OutcomeUnknown, lost

    if isinstance(error, OutcomeUnknown):
        return unknown_exit(error, key)
    if isinstance(error, OperationalError | InterfaceError):
        return fail(f"cannot reach the event store ({error})", UNREACHABLE)
    if isinstance(error, RPCError | TemporalError):
        sent = lost(error)
        if sent is not None:
            return unknown_exit(sent, key)
        return fail(f"Temporal did not carry this out ({error})", UNREACHABLE)
    return None


def unknown_exit(unknown: OutcomeUnknown, key: str | None) -> typer.Exit:
    """``ringi: outcome unknown: ...; retry with --key K``, exit 4."""
    key = unknown.key or key
    again = f"retry with --key {key}" if key else "run the same command again"
    return fail(f"outcome unknown: {unknown.why}; it may have been carried out: {again}", UNKNOWN)


def describe_validation(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"] if part not in ("actor",)) or "input"
        problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "invalid input: " + "; ".join(problems)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
