"""What an operator's probes ask: is this process alive, and can it do its work?

``readiness`` runs every check and names each one that fails:

- ``store``: the event store's database answers a fresh connection now (not one
  held open from before: an open SQLite file stays readable after the file is
  moved away, a pooled PostgreSQL connection hides a database that refuses new ones);
- ``temporal``: the Temporal frontend answers;
- ``projection``: the read model is at most ``max_projection_lag`` positions
  behind the event log's head (the worker keeps it current);
- ``outbox``: at most ``max_outbox_backlog`` deliveries wait to be sent or given up.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from .config import Settings
from .store import RingiStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: seconds one check may take before it counts as failed
CHECK_TIMEOUT = 3.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    value: int | None = None

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"ok": self.ok}
        if self.detail:
            shown["detail"] = self.detail
        if self.value is not None:
            shown["value"] = self.value
        return shown


@dataclass
class Readiness:
    checks: list[Check]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not ready",
            "failing": [c.name for c in self.checks if not c.ok],
            "checks": {c.name: c.as_json() for c in self.checks},
        }


def store_answers(settings: Settings) -> None:
    """Raises unless the event store's database answers a new connection."""
    if settings.store == "postgres":
        import psycopg

        with psycopg.connect(settings.postgres_dsn, connect_timeout=int(CHECK_TIMEOUT)) as c:
            c.execute("SELECT 1")
        return
    path = settings.event_store_path
    # read-only and never created: a missing file is an error, not a new empty store
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=CHECK_TIMEOUT) as c:
        c.execute("SELECT count(*) FROM sqlite_master").fetchone()


def projection_lag(store: RingiStore) -> int:
    """Positions of the event log the read model has not folded yet."""
    from .projection.catchup import views_of

    views = views_of(store)
    return max(0, views.head() - views.position())


@dataclass
class OutboxBacklog:
    """Deliveries not yet sent nor given up: the read model's table of them
    (``ringi.projection.outbox``), so a probe reads as many rows as are waiting,
    whatever was delivered before."""

    store: RingiStore
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        from .projection.outbox import pending_count

        with self.lock:
            return pending_count(self.store)


async def temporal_answers(client: Client) -> None:
    await client.workflow_service.get_system_info(
        GetSystemInfoRequest(), timeout=timedelta(seconds=CHECK_TIMEOUT)
    )


#: how often a probe through the store's pool is tried again when its connection
#: fails: after the database restarts, each pooled connection fails once, and is
#: dropped by the pool, before a new one is made
POOLED_ATTEMPTS = 8


async def _check(
    name: str, probe: Callable[[], Awaitable[Any]], *, attempts: int = 1
) -> tuple[Check, Any]:
    for attempt in range(1, attempts + 1):
        try:
            value = await asyncio.wait_for(probe(), CHECK_TIMEOUT + 1)
        except Exception as error:  # a probe reports every failure, whatever it is
            if attempt < attempts and _connection_lost(error):
                continue
            return Check(name, False, f"{type(error).__name__}: {error}".strip()), None
        return Check(name, True), value
    raise AssertionError("unreachable: the last attempt returns")


def _connection_lost(error: BaseException) -> bool:
    """A pooled connection the database ended (eventsourcing's and psycopg's
    errors for it share these names)."""
    return type(error).__name__ in ("OperationalError", "InterfaceError")


async def readiness(
    settings: Settings,
    client: Client,
    store: RingiStore,
    backlog: OutboxBacklog,
    *,
    max_projection_lag: int,
    max_outbox_backlog: int,
) -> Readiness:
    store_check, _ = await _check("store", lambda: asyncio.to_thread(store_answers, settings))
    temporal_check, _ = await _check("temporal", lambda: temporal_answers(client))
    checks = [store_check, temporal_check]
    if not store_check.ok:
        for name in ("projection", "outbox"):
            checks.append(Check(name, False, "not checked: the store is unreachable"))
        return Readiness(checks)
    lag_check, lag = await _check(
        "projection", lambda: asyncio.to_thread(projection_lag, store), attempts=POOLED_ATTEMPTS
    )
    if lag_check.ok:
        lag_check = _bounded(lag_check, lag, max_projection_lag, "positions behind the log")
    outbox_check, waiting = await _check(
        "outbox", lambda: asyncio.to_thread(backlog.count), attempts=POOLED_ATTEMPTS
    )
    if outbox_check.ok:
        outbox_check = _bounded(outbox_check, waiting, max_outbox_backlog, "deliveries waiting")
    return Readiness([*checks, lag_check, outbox_check])


def _bounded(check: Check, value: int, bound: int, what: str) -> Check:
    if value > bound:
        return Check(check.name, False, f"{value} {what}, more than {bound}", value)
    return Check(check.name, True, value=value)
