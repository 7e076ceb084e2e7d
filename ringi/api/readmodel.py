"""What the API reads, kept in this process and never stale.

Folding a request and its timeline from the store on every read costs
milliseconds of CPU; the API keeps the folded result instead (the aggregate,
its view, its timeline and the JSON a read answers with), one entry per request,
and keeps it current by following the store's notification log:

- ``Changes`` reads the log after the last position it has read and notes, for
  every request, token and the numbering, the highest version written. One
  query, usually answered with nothing new.
- An entry is served only while its version is at least the one ``Changes`` has
  seen; otherwise the events after it are read from the store and folded onto a
  copy of it (or the whole request when there is no entry).
- ``Freshness`` makes every API call wait for a read of the log that *began
  after the call arrived* (calls arriving together share one). The log is in
  commit order (SQLite writes one at a time; eventsourcing's PostgreSQL
  recorder locks the table to number them), so every write committed before a
  call arrived, through this process, another API process, a worker or the
  command line, is in the log that call waits for, and no entry older than it
  is served. A write that has answered through the API has committed (the
  workflow's activity wrote it before the update returned), so the caller's
  next read shows it.

An entry built by reading the store contains every event committed before that
read; anything committed later is in the log after the position read before it
(or at it), and shows up as a newer version when the log is next read. Neither
the log nor the entries are ever ahead of the store, so a reader never sees a
write the store has not committed either.

The store stays the record: this is a cache of pure functions of its events,
bounded (least recently used entries are dropped) and rebuilt on demand.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import structlog
from eventsourcing.application import AggregateNotFoundError, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from ..domain.errors import NotFound
from ..domain.lifecycle import may_read_clarifications
from ..domain.meeting import NUMBERING_ID, Numbering
from ..domain.request import Request, request_id
from ..domain.view import RequestView
from ..store import RingiStore, TimelineEntry, postgres_log_query, timeline_entry
from .models import RequestDetail
from .tokens import ApiToken, Principal, TokenRegistry, token_aggregate_id

log = structlog.get_logger("ringi.api")

#: notifications read from the log in one query
_BATCH = 1000

T = TypeVar("T")


def reads_on_loop(store: RingiStore) -> bool:
    """Whether the read model reads ``store`` on the event loop rather than in a
    thread. On SQLite, yes: a local read that no writer holds up (WAL), of
    CPU work that needs the GIL wherever it runs; a thread only adds the hop
    there and back, with the event loop and the thread waiting for the GIL in
    turn (bench.api --reads-only: 1,590 -> 1,930 reads a second for the log; the
    first read after fifty writes, p99 324 -> 187 ms). On PostgreSQL, no: a
    network round trip, which the event loop does not wait on."""
    return isinstance(store.recorder, SQLiteApplicationRecorder)


async def read_store(on_loop: bool, read: Callable[..., T], *args: Any) -> T:
    """``read(*args)``, a blocking read of the store, where ``reads_on_loop`` says."""
    return read(*args) if on_loop else await asyncio.to_thread(read, *args)


def _on_postgres(store: RingiStore) -> bool:
    return type(store.recorder).__module__ == "eventsourcing.postgres"


class _PostgresLogTail:
    """The log's tail (``RingiStore.log_versions``' query) over a psycopg async
    connection of its own, opened on first use. Read in a thread, as the rest
    of the store is on PostgreSQL, each catch-up waited for the GIL behind the
    busy event loop (bench.api --store postgres: p99 149 ms without the first
    reads)."""

    def __init__(self, store: RingiStore) -> None:
        recorder: Any = store.recorder
        self._query = postgres_log_query(recorder)
        # the store's own connection settings, without its dictionary rows
        self._kwargs = {
            k: v for k, v in recorder.datastore.pool.kwargs.items() if k != "row_factory"
        }
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def rows(self, after: int, limit: int) -> list[tuple[int, str, int, str]]:
        loop = asyncio.get_running_loop()
        if self._conn is None or self._conn.closed or self._loop is not loop:
            self.close()  # a connection belongs to the event loop it was opened on
            self._conn = await psycopg.AsyncConnection.connect(autocommit=True, **self._kwargs)
            self._loop = loop
        try:
            cursor = self._conn.cursor()
            await cursor.execute(self._query, (after, limit), prepare=True)
            found = await cursor.fetchall()
        except psycopg.Error:
            self.close()  # the next call opens a new one
            raise
        return [(i, o.hex, v, t) for i, o, v, t in found]

    def close(self) -> None:
        """Without awaiting: also from a finalizer, or once its event loop is gone."""
        if self._conn is not None:
            self._conn.pgconn.finish()
            self._conn = None


class Changes:
    """The highest version of each request, API token and of the numbering that
    the store's notification log holds up to ``position``."""

    def __init__(self, store: RingiStore) -> None:
        self.store = store
        self.on_loop = reads_on_loop(store)
        self._topics = tuple(f"{get_topic(cls)}." for cls in (Request, ApiToken))
        self._ids = {NUMBERING_ID.hex}
        #: by the aggregate's id as hex digits, as the log gives it
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()
        # everything before this is in whatever is read from the store from now on
        self.position = store.recorder.max_notification_id() or 0

        #: on PostgreSQL the log is read over an async connection of its own
        self._tail = _PostgresLogTail(store) if _on_postgres(store) else None
        if self._tail is not None:
            weakref.finalize(self, self._tail.close)

    def catch_up(self) -> None:
        """Read the log after ``position`` to its end (blocking: a store query)."""
        with self._lock:
            while self._note(self.store.log_versions(self.position, _BATCH)):
                pass

    async def read(self) -> None:
        """Read the log after ``position`` to its end: on SQLite on the event loop
        (``reads_on_loop``), on PostgreSQL over the async connection, the event
        loop serving other calls while the query is out."""
        if self._tail is None:
            await read_store(self.on_loop, self.catch_up)
            return
        while True:
            found = await self._tail.rows(self.position, _BATCH)
            with self._lock:
                if not self._note(found):
                    return

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()

    def _note(self, found: list[tuple[int, str, int, str]]) -> bool:
        """Take in rows of the log read after ``position``; whether there may be more."""
        versions = self._versions
        for _, originator, version, topic in found:
            if (topic.startswith(self._topics) or originator in self._ids) and (
                version > versions.get(originator, 0)
            ):
                versions[originator] = version
        if found:
            self.position = max(self.position, found[-1][0])
        return len(found) == _BATCH

    def version(self, aggregate_id: UUID) -> int:
        """The highest version of ``aggregate_id`` seen in the log (0: none seen)."""
        return self._versions.get(aggregate_id.hex, 0)


class Freshness:
    """``await wait()`` returns once ``Changes`` has read the log in a query that
    began after the call to ``wait``. Calls waiting at once share a query: one
    runs at a time, and those arriving while it runs share the next one."""

    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self._next: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): nothing carried over
            self._loop, self._next, self._runner = loop, None, None
        if self._next is None:
            self._next = loop.create_future()
            self._next.add_done_callback(_consume)
        waiting = self._next
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        # a caller giving up (a client gone) does not cancel the others' query
        await asyncio.shield(waiting)

    async def _run(self) -> None:
        while self._next is not None:
            batch, self._next = self._next, None  # who arrives from now on waits for the next
            try:
                await self.changes.read()
            except BaseException as error:
                if not batch.done():
                    if isinstance(error, asyncio.CancelledError):
                        batch.cancel()
                    else:
                        batch.set_exception(error)
                if not isinstance(error, Exception):
                    if self._next is not None and not self._next.done():
                        self._next.cancel()
                    raise
            else:
                if not batch.done():
                    batch.set_result(None)


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark an error as seen: the callers waiting on it have all been told."""
    if not future.cancelled():
        future.exception()


class Entry:
    """A request as of ``version`` (0: not in the store, never cached), folded from
    its events. Shared by every call that reads it: nothing changes it (a newer
    version is a new entry), and nobody may change what it holds."""

    __slots__ = ("_detail", "aggregate", "number", "timeline", "version", "view")

    def __init__(
        self,
        number: int,
        version: int,
        aggregate: Request | None,
        timeline: tuple[TimelineEntry, ...],
    ) -> None:
        self.number, self.version = number, version
        self.aggregate, self.timeline = aggregate, timeline
        # the aggregate's own state, not ``view()``'s deep copy (half the cost of
        # bringing an entry up to date): nothing changes an entry's aggregate once
        # it is here, since ``_refresh`` folds new events onto a copy of it
        self.view = (
            aggregate.state.model_copy(update={"version": aggregate.version})
            if aggregate is not None
            else None
        )
        #: the answer encoded once for each kind of reader: with the clarification
        #: thread (True) and without it (False)
        self._detail: dict[bool, bytes] = {}

    def detail(self, who: Principal) -> bytes:
        """``GET /v1/requests/{number}``'s answer for ``who``, as JSON."""
        if self.view is None:
            raise _missing(self.number)
        private = may_read_clarifications(who.role, who.company, self.view)
        encoded = self._detail.get(private)
        if encoded is None:
            detail = RequestDetail.read(self.view, list(self.timeline), private=private)
            encoded = self._detail[private] = detail.model_dump_json(by_alias=True).encode()
        return encoded


def _missing(number: int) -> NotFound:
    return NotFound(f"there is no request No.{number}")


class ReadModel:
    """The requests as the store holds them, per number, folded once per change.

    Every method is to be called after ``Freshness.wait`` in the same call: an
    entry is then as current as the log that call waited for. Methods that may
    have to read the store are blocking (run them off the event loop);
    ``current`` never reads the store.
    """

    def __init__(self, store: RingiStore, changes: Changes, size: int) -> None:
        self.store, self.changes, self.size = store, changes, size
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._numbering: tuple[int, int] = (0, 0)  # (version, last number)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def current(self, number: int) -> Entry | None:
        """The entry for ``number`` if it is up to date; None if the store must be read."""
        entry = self._entries.get(number)
        if entry is None or entry.version < self.changes.version(request_id(number)):
            return None
        with self._lock:
            if number in self._entries:
                self._entries.move_to_end(number)
        return entry

    def entry(self, number: int) -> Entry:
        """The entry for ``number``, reading the store if it is not up to date."""
        return self.current(number) or self._refresh(number)

    def view(self, number: int) -> RequestView:
        """The request's state; ``NotFound`` if there is no such request."""
        view = self.entry(number).view
        if view is None:
            raise _missing(number)
        return view

    def last_number(self) -> int:
        """The highest request number given out (0: none yet)."""
        version, last = self._numbering
        if version < self.changes.version(NUMBERING_ID) or version == 0:
            try:
                numbering: Aggregate = self.store.repository.get(NUMBERING_ID)
            except AggregateNotFoundError:
                return 0
            assert isinstance(numbering, Numbering)
            with self._lock:
                if numbering.version > self._numbering[0]:
                    self._numbering = (numbering.version, numbering.last)
                version, last = self._numbering
        return last

    def _refresh(self, number: int) -> Entry:
        """Read the events after the entry's version (all of them if there is no
        entry) and fold them onto a copy of it."""
        old = self._entries.get(number)
        since = old.version if old is not None else 0
        new = list(self.store.events.get(request_id(number), gt=since or None))
        if old is not None and not new:
            return old  # nothing after it in the store: it is current
        aggregate = project_aggregate(deepcopy(old.aggregate) if old is not None else None, new)
        if aggregate is not None and not isinstance(aggregate, Request):
            raise _missing(number)  # another kind of aggregate under this id: never a request
        timeline = (old.timeline if old is not None else ()) + tuple(map(timeline_entry, new))
        entry = Entry(number, aggregate.version if aggregate else 0, aggregate, timeline)
        if aggregate is None:
            return entry  # not cached: a number can be filed at any moment, and 404s are cheap
        with self._lock:
            cached = self._entries.get(number)
            if cached is None or cached.version < entry.version:
                self._entries[number] = entry
            elif cached.version == entry.version:
                entry = cached  # another thread got there first: share its encoded answer
            self._entries.move_to_end(number)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry


#: True inside a call that has waited for ``Freshness`` (set by the API's route guard)
_CAUGHT_UP: ContextVar[bool] = ContextVar("ringi_api_caught_up", default=False)


@contextmanager
def caught_up() -> Iterator[None]:
    """Within this block the current call has waited for ``Freshness``: ``Reads``
    need not wait again."""
    token = _CAUGHT_UP.set(True)
    try:
        yield
    finally:
        _CAUGHT_UP.reset(token)


class _Round:
    """The entries one trip to the store brings up to date, and who waits for them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.numbers: dict[int, None] = {}  # in the order asked for, once each
        self.done: asyncio.Future[dict[int, Entry | Exception]] = loop.create_future()
        self.done.add_done_callback(_consume)


class Refreshes:
    """Entries that are not current, brought up to date off the event loop in
    one read of the store per round (``read_store``): one round runs at a time,
    and the calls arriving while it runs share the next.

    A round reads the store after every call waiting for it has asked (it
    starts when the one before it ends), so its entries are at least as recent
    as the log those calls waited for."""

    def __init__(self, model: ReadModel) -> None:
        self.model = model
        self._next: _Round | None = None
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def entries(self, numbers: Sequence[int]) -> dict[int, Entry]:
        """The entries for ``numbers``; the first error reading any of them is raised."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): nothing carried over
            self._loop, self._next, self._runner = loop, None, None
        if self._next is None:
            self._next = _Round(loop)
        waiting = self._next
        waiting.numbers.update(dict.fromkeys(numbers))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        # a caller giving up (a client gone) does not cancel the others' round
        read = await asyncio.shield(waiting.done)
        for n in numbers:
            if isinstance(found := read[n], Exception):
                raise found
        return {n: read[n] for n in numbers}  # type: ignore[misc]

    async def _run(self) -> None:
        while self._next is not None:
            batch, self._next = self._next, None  # who asks from now on waits for the next
            try:
                read = await read_store(self.model.changes.on_loop, self._read, [*batch.numbers])
            except BaseException as error:
                if not batch.done.done():
                    if isinstance(error, asyncio.CancelledError):
                        batch.done.cancel()
                    else:
                        batch.done.set_exception(error)
                if not isinstance(error, Exception):
                    if self._next is not None and not self._next.done.done():
                        self._next.done.cancel()
                    raise
            else:
                if not batch.done.done():
                    batch.done.set_result(read)

    def _read(self, numbers: list[int]) -> dict[int, Entry | Exception]:
        read: dict[int, Entry | Exception] = {}
        for n in numbers:
            try:
                read[n] = self.model.entry(n)
            except Exception as error:  # that caller's error, not its neighbours'
                read[n] = error
        return read


class Reads:
    """The API's reads, on the event loop where they can be: entries that are
    current are served without a thread; those that are not are read from the
    store in a shared round (``Refreshes``). A call that has not waited for
    ``Freshness`` (inside ``caught_up``) waits first."""

    def __init__(self, model: ReadModel, fresh: Freshness) -> None:
        self.model, self.fresh = model, fresh
        self.refreshes = Refreshes(model)
        self._ahead: set[asyncio.Task[None]] = set()

    def ahead(self, number: int) -> None:
        """Bring No.``number``'s entry up to date in the background: a write
        through this API has just changed it, and whoever reads it next (most
        often the writer) finds it current instead of waiting for the store
        (bench.api: fifty clients' first reads after their writes)."""
        task = asyncio.get_running_loop().create_task(self._bring_up_to_date(number))
        self._ahead.add(task)
        task.add_done_callback(self._ahead.discard)

    async def _bring_up_to_date(self, number: int) -> None:
        try:
            await self.fresh.wait()  # a read of the log that began after the write answered
            if self.model.current(number) is None:
                await self.refreshes.entries([number])
        except Exception as error:  # the next read of it reads the store itself
            log.debug("could not bring a request up to date ahead", number=number, error=str(error))

    def close(self) -> None:
        for task in list(self._ahead):
            task.cancel()

    async def entries(self, numbers: Sequence[int]) -> list[Entry]:
        if not _CAUGHT_UP.get():
            await self.fresh.wait()
        wanted = list(dict.fromkeys(numbers))
        found = {n: e for n in wanted if (e := self.model.current(n)) is not None}
        stale = [n for n in wanted if n not in found]
        if stale:
            found |= await self.refreshes.entries(stale)
        return [found[n] for n in numbers]

    async def entry(self, number: int) -> Entry:
        return (await self.entries([number]))[0]

    async def view(self, number: int) -> RequestView:
        """The request's state; ``NotFound`` if there is no such request."""
        view = (await self.entry(number)).view
        if view is None:
            raise _missing(number)
        return view

    async def detail(self, number: int, who: Principal) -> bytes:
        """``GET /v1/requests/{number}``'s answer for ``who``; ``NotFound`` if there
        is no such request."""
        return (await self.entry(number)).detail(who)


class TokenCache:
    """Tokens already checked, by the SHA-256 of the token presented: a call with
    one skips the store while its record has not changed since (``Changes``
    sees a revocation as a newer version, and the next call reads the record
    again and is refused). Only tokens found valid are kept."""

    def __init__(self, registry: TokenRegistry, changes: Changes, size: int) -> None:
        self.registry, self.changes, self.size = registry, changes, size
        self._found: OrderedDict[bytes, tuple[Principal, UUID, int]] = OrderedDict()
        self._lock = threading.Lock()

    def current(self, presented: str) -> Principal | None:
        """Who the token is, if it was found valid at the version the log holds now."""
        found = self._found.get(_digest(presented))
        if found is None:
            return None
        principal, aggregate_id, version = found
        if version < self.changes.version(aggregate_id):
            return None
        return principal

    def authenticate(self, presented: str) -> Principal:
        """Who the token is; ``Unauthenticated`` if it is not valid (blocking: reads the store)."""
        principal, version = self.registry.check(presented)
        with self._lock:
            self._found[_digest(presented)] = (
                principal,
                token_aggregate_id(principal.token_id),
                version,
            )
            while len(self._found) > self.size:
                self._found.popitem(last=False)
        return principal


def _digest(presented: str) -> bytes:
    return hashlib.sha256(presented.encode("utf-8")).digest()
