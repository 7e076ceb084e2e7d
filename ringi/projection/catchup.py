"""Bringing the projection up to the event log's head, a batch at a time.

A batch reads the request events after the tracking position (as plain rows,
like the register's fast fold), loads the stored states of the requests they
belong to, folds the events onto them with the ``Request`` aggregate's own
event functions (``ringi.register.fold``) and writes the states back, all in
the transaction that moves the tracking position (``views.Batch``). A process
killed half-way leaves the batch unwritten and the position where it was; two
processes catching up at once take turns on the tracking record's lock, and the
second reads on from where the first left off.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import CodeType
from typing import TYPE_CHECKING, Any

from ..domain.view import RequestView
from ..register.fold import _AFTER as _TOPIC_AFTER
from ..register.fold import _FIRST as _TOPIC_FIRST
from ..register.fold import _LIKE, APPLIERS, Folder, Shell, Unfoldable
from .search import search_texts
from .views import (
    LAYOUT_DDL,
    PROJECTION,
    RequestViews,
    StateRow,
    micros,
    postgres_views_class,
)

if TYPE_CHECKING:
    from ..store import RingiStore

#: request events folded in one transaction (it holds the store's write lock on SQLite)
BATCH = 5_000
#: bump when what the tables hold changes without the fold's code changing
LAYOUT = 2


class ProjectionError(Exception):
    """The stored events do not fold onto the projection (a broken or tampered log,
    or a projection edited behind ringi's back): ``ringi db rebuild-projections``."""


@functools.cache
def fingerprint() -> str:
    """What wrote the projection: the table layout, the shape of a request's state
    and every event function's code. A projection written by another is rebuilt."""
    digest = hashlib.sha256(f"layout {LAYOUT}\n".encode())
    digest.update(repr(LAYOUT_DDL).encode())
    _code(digest, search_texts.__code__)  # what the search index holds
    digest.update(repr(sorted(RequestView.model_json_schema().items())).encode())
    for topic, applier in sorted(APPLIERS.items()):
        digest.update(topic.encode())
        _code(digest, applier.func.__code__)
        digest.update(repr(inspect.signature(applier.func)).encode())
    return digest.hexdigest()[:32]


def _code(digest: Any, code: CodeType) -> None:
    """What a function does, the same in every process (no addresses, no file names)."""
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, CodeType):
            _code(digest, const)
        else:
            digest.update(repr(const).encode())


def views_of(store: RingiStore) -> RequestViews:
    """The projection's recorder on ``store``'s own database (one per store)."""
    found: RequestViews | None = getattr(store, "_ringi_views", None)
    if found is not None:
        return found
    recorder: Any = store.recorder
    module = type(recorder).__module__
    views: Any
    if module == "eventsourcing.postgres":
        views = postgres_views_class()(datastore=recorder.datastore)
    elif module == "eventsourcing.sqlite":
        from .views import SQLiteRequestViews

        views = SQLiteRequestViews(datastore=recorder.datastore)
    else:
        raise ProjectionError(f"no projection for the {module} recorder")
    creates = store.factory.env_create_table()  # type: ignore[attr-defined]
    # another layout (a table or an index added) is made here too: every
    # statement is CREATE ... IF NOT EXISTS, and the projection is rebuilt after
    if creates and (not views.has_tables() or views.fingerprint() != fingerprint()):
        _create_tables(views)
    store._ringi_views = views  # type: ignore[attr-defined]
    return views  # type: ignore[no-any-return]


def _create_tables(views: RequestViews) -> None:
    """Create the projection's tables (if not there), trying again while another
    process holds the database (SQLite refuses, rather than waits for, a write
    after a read in the same transaction when another writer came in between)."""
    from eventsourcing.persistence import OperationalError

    for attempt in range(50):
        try:
            views.create_table()  # type: ignore[attr-defined]
            return
        except OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.02 * (1 + attempt % 5))


def ensure_current_layout(views: RequestViews, log: Callable[[str], None] | None = None) -> bool:
    """Empty a projection that another fold wrote (it is then rebuilt from the
    events as it catches up); whether it did."""
    wanted = fingerprint()
    if views.fingerprint() == wanted:
        return False
    with views.batch() as batch:
        if views.fingerprint() == wanted:  # another process did it meanwhile
            return False
        had = batch.position
        batch.reset(wanted)
    if log is not None and had:
        log("the projection was written by another version of ringi: rebuilding it from the events")
    return True


def _say(message: str) -> None:
    import structlog

    structlog.get_logger("ringi.projection").warning(message)


def catch_up(
    store: RingiStore,
    *,
    batch_size: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Fold every event after the projection's position onto it; the request
    events folded. ``progress(position, head)`` is told after every batch."""
    views = views_of(store)
    ensure_current_layout(views, log=_say)
    folder_decode = _decoder(store)
    from eventsourcing.persistence import OperationalError

    applied = 0
    refused = 0
    while True:
        try:
            with views.batch() as batch:
                head = batch.head()
                if batch.position >= head:
                    return applied
                rows = batch.request_rows(
                    batch.position, head, (_TOPIC_FIRST, _TOPIC_AFTER), _LIKE, batch_size
                )
                reached = head if len(rows) < batch_size else rows[-1][0]
                if rows:
                    _fold(batch, rows, folder_decode)
                batch.advance(reached)
        except OperationalError:
            # the database refused the batch (SQLite: another writer came in
            # first); it wrote nothing, so it is folded again
            refused += 1
            if refused > 50:
                raise
            time.sleep(0.02 * (1 + refused % 5))
            continue
        applied += len(rows)
        if progress is not None:
            progress(reached, head)


def caught_up_layout(store: RingiStore) -> RequestViews:
    """The projection, emptied first if another fold wrote it (then rebuilt as it
    catches up): what a fold of another of its tables starts from."""
    views = views_of(store)
    ensure_current_layout(views, log=_say)
    return views


def caught_up(store: RingiStore) -> RequestViews:
    """The projection, brought up to the store's head first: what a read reads."""
    views = views_of(store)
    if views.position() < views.head() or views.fingerprint() != fingerprint():
        catch_up(store)
    return views


def rebuild(store: RingiStore, progress: Callable[[int, int], None] | None = None) -> int:
    """Empty the projection and fold the whole log into it again."""
    views = views_of(store)
    with views.batch() as batch:
        batch.reset(fingerprint())
    return catch_up(store, progress=progress)


# --- folding a batch --------------------------------------------------------------------------


def _decoder(store: RingiStore) -> Folder:
    return Folder(store)


def _fold(batch: Any, rows: list[tuple[int, str, int, str, bytes]], folder: Folder) -> None:
    stored = batch.states({row[1] for row in rows})
    folder.shells.clear()
    latest: dict[str, int] = {}
    for oid, (version, text, max_at) in stored.items():
        shell = Shell()
        shell.state = RequestView.model_validate_json(text)
        shell.version = version
        shell.drafts = []
        folder.shells[oid] = shell
        latest[oid] = max_at
    earliest: int | None = None
    for row in rows:
        try:
            applier, kwargs, at = folder.decode(row)
            folder.apply(row, applier, kwargs)
        except Unfoldable as error:
            raise ProjectionError(
                f"the event at position {row[0]} does not fold onto the projection ({error}): "
                "run `ringi audit verify`, then `ringi db rebuild-projections`"
            ) from None
        shell = folder.shells[row[1]]
        shell.drafts.clear()  # notifications are the outbox's: the projection drops them
        when = micros(_aware(at))
        earliest = when if earliest is None else min(earliest, when)
        latest[row[1]] = max(latest.get(row[1], when), when)
    if earliest is not None:
        batch.invalidate(earliest, rows[-1][0])
    batch.write([state_row(oid, folder.view(oid), latest[oid]) for oid in folder.shells])
    folder.shells.clear()


def state_row(oid: str, view: RequestView, max_at: int) -> StateRow:
    deadline = view.current_deadline
    answered = [a.meeting for a in view.answers if a.meeting is not None]
    return StateRow(
        number=view.number,
        oid=oid,
        version=view.version,
        stage=view.stage.value,
        category=view.category.value,
        target=view.target,
        proposer=view.proposer,
        support=view.support,
        deadline=None if deadline is None else micros(_aware(deadline)),
        meeting=answered[-1] if answered else None,
        is_open=view.is_open,
        updated=micros(_aware(view.updated_at)),
        max_at=max_at,
        view=view.model_dump_json(),
        endorsements=tuple((e.company, micros(_aware(e.at))) for e in view.endorsements),
        answers=tuple((a.answer_id, a.meeting, micros(_aware(a.at)), a.text) for a in view.answers),
        texts=search_texts(view),
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse_views(texts: Iterable[str]) -> list[RequestView]:
    """Stored states as ``RequestView``\\ s (the collector paused: see ``collector_paused``)."""
    from ..register.replay import collector_paused

    with collector_paused():
        return [RequestView.model_validate_json(text) for text in texts]


__all__ = [
    "BATCH",
    "PROJECTION",
    "ProjectionError",
    "catch_up",
    "caught_up",
    "fingerprint",
    "parse_views",
    "rebuild",
    "state_row",
    "views_of",
]
