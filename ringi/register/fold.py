"""The fast path of the replay: from the stored bytes of the request events
straight to ``RequestView``\\ s, with the aggregate's own rules.

The reference fold (``ringi.register.replay``'s ``reference=True``) does what the
repository does: every stored event becomes a domain-event object through the
application's mapper (``resolve_topic``, the transcoder's JSON decoding with an
object hook for every dictionary, ``UUID`` ids, a ``Notification`` per row) and
``event.mutate(aggregate)`` folds it into a ``Request``. Most of that work is
bookkeeping a replay does not need. This module keeps only the part that
changes the state and takes it from the same source:

* **The rules are the aggregate's.** ``APPLIERS`` is generated from the
  ``Request`` class: for every event class it defines, the function its
  ``@event`` decorator wraps (eventsourcing keeps it in ``decorated_funcs``; for
  ``Filed`` it is ``Request.__init__``) and that function's parameter names.
  Folding an event calls that very function, with the stored attributes it
  names (what eventsourcing's ``filter_kwargs_for_method_params`` passes it), on
  a ``Shell``: an object with the aggregate's ``state`` (a real ``RequestView``)
  and the aggregate's own ``_touch``, but none of its event-sourcing machinery.
  There is no second copy of how an event changes a request; a new event kind
  on ``Request`` is in the table without any change here.
* **The bytes are decoded as the transcoder decodes them**, but only the
  attributes the function takes: ``orjson`` (falling back
  to ``json`` for anything it refuses, so the result is the same), then the
  transcoder's own ``_decode_obj`` on every dictionary, innermost first, exactly
  as its ``object_hook`` would. The stored ``timestamp``, hashes and command
  ids a fold never reads are left as they are.
* **The rows are read with one plain SELECT per page**, of the request events
  only (``topic LIKE 'ringi.domain.request:Request.%'``, the other aggregates'
  events stay in the database), as tuples: no ``Notification``, no ``UUID`` per
  row.
* **Versions are checked** like ``mutate`` checks them: the first event of a
  request must be ``Filed`` at version 1, each next one the next version.

Whatever does not fit (an unknown topic, bytes that do not decode, a version
out of sequence, a function that raises) raises ``Unfoldable``; the replay then
folds the same log again the reference way, which names the problem as it
always has. ``tests/test_replay_fast.py`` checks that the two folds agree on
random lifecycles covering every event kind.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from eventsourcing.domain import CanInitAggregate, CanMutateAggregate, decorated_funcs
from eventsourcing.utils import get_topic

from ..domain.request import Request
from ..domain.view import RequestView
from ..store import RingiStore, plain_rows, postgres_events_table

#: topics of the request aggregate's events start with this
REQUEST_TOPICS = get_topic(Request) + "."
#: a row: (notification id, originator id, originator version, topic, stored state)
Row = tuple[int, Any, int, str, bytes]
_NESTED = (dict, list)


class Unfoldable(Exception):
    """The fast fold cannot fold this log; the reference fold will say why."""


@dataclass(frozen=True, slots=True)
class Applier:
    """How one kind of request event changes a request: the aggregate's own function."""

    func: Callable[..., None]
    params: tuple[str, ...]  # the stored attributes it takes, in order
    creates: bool  # the first event of a request (``Filed``)


def appliers(aggregate: type[Any] = Request) -> dict[str, Applier]:
    """The event-apply functions of ``aggregate``'s event classes, by stored topic."""
    table: dict[str, Applier] = {}
    for cls in vars(aggregate).values():
        if not (isinstance(cls, type) and issubclass(cls, CanMutateAggregate)):
            continue
        if issubclass(cls, CanInitAggregate):
            func = aggregate.__init__  # the @event-decorated __init__, undecorated
            creates = True
        elif cls in decorated_funcs:
            func, creates = decorated_funcs[cls], False
        else:
            continue
        params = tuple(inspect.signature(func).parameters)[1:]  # without self
        table[get_topic(cls)] = Applier(func=func, params=params, creates=creates)
    return table


APPLIERS = appliers()


class _Discard:
    """Where a shell's command ids go: a replay does not need them."""

    __slots__ = ()

    def add(self, _: object) -> None:
        pass


_DISCARD = _Discard()


class Shell:
    """What the event-apply functions see of a ``Request``: its ``state`` and its
    own ``_touch``, without the event-sourcing machinery (ids, chain heads,
    pending events) or the command ids (kept by the aggregate for idempotency)."""

    __slots__ = ("drafts", "state", "version")

    state: RequestView
    version: int
    drafts: list[Any]
    _touch = Request._touch

    @property
    def commands(self) -> _Discard:
        return _DISCARD

    @commands.setter
    def commands(self, _: object) -> None:
        pass


def decoder(store: RingiStore) -> Callable[[Any], Any]:
    """A function that turns a decoded JSON value into what the store's
    transcoder would have made of it: every dictionary through its
    ``_decode_obj``, innermost first."""
    decode_obj = store.mapper.transcoder._decode_obj  # type: ignore[attr-defined]
    nested = (dict, list)

    def revive(value: Any) -> Any:
        if type(value) is list:
            return [revive(item) if type(item) in nested else item for item in value]
        for key, item in value.items():
            if type(item) in nested:
                value[key] = revive(item)
        # only a dictionary of two items can be an encoded object ({"_type_", "_data_"})
        return decode_obj(value) if len(value) == 2 else value

    return revive


def loads(data: bytes) -> Any:
    """The JSON of a stored state, as ``json`` reads it: with orjson, which parses
    these states in about half json's time (the replay runs 1.2x faster, see
    bench/README.md)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass  # what orjson refuses (NaN, huge ints, lone surrogates), json may read
    return json.loads(data.decode("utf8"))


class Folder:
    """Folds request events, row by row, into shells (one per request)."""

    def __init__(self, store: RingiStore) -> None:
        self.revive = decoder(store)
        self.shells: dict[Any, Shell] = {}

    def decode(self, row: Row) -> tuple[Applier, dict[str, Any], datetime]:
        """The applier of ``row``, the attributes it takes, and when it happened."""
        _, oid, version, topic, data = row
        try:
            applier = APPLIERS[topic]
            stored = loads(data)
            revive = self.revive
            kwargs = {}
            for name in applier.params:
                if name in stored:
                    value = stored[name]
                    if type(value) in _NESTED:
                        value = revive(value)
                    kwargs[name] = value
            at = kwargs.get("at")
            if not isinstance(at, datetime):
                at = revive(stored["timestamp"])
                if not isinstance(at, datetime):
                    raise TypeError("no time")
        except Exception as error:
            raise Unfoldable(f"{oid} v{version}: {type(error).__name__}: {error}") from error
        return applier, kwargs, at

    def apply(self, row: Row, applier: Applier, kwargs: dict[str, Any]) -> None:
        oid, version = row[1], row[2]
        shell = self.shells.get(oid)
        try:
            if shell is None:
                if not applier.creates or version != 1:
                    raise ValueError("a request's first event must be its filing")
                shell = Shell()
                applier.func(shell, **kwargs)
                self.shells[oid] = shell
            else:
                if applier.creates or version != shell.version + 1:
                    raise ValueError(f"version {version} after {shell.version}")
                applier.func(shell, **kwargs)
        except Exception as error:
            raise Unfoldable(f"{oid} v{version}: {type(error).__name__}: {error}") from error
        shell.version = version

    def view(self, oid: Any, *, copy: bool = False) -> RequestView:
        """The request's state as folded so far (a deep copy with ``copy``)."""
        shell = self.shells[oid]
        view = shell.state.model_copy(deep=True) if copy else shell.state
        view.version = shell.version
        return view


# --- reading the rows --------------------------------------------------------------


def request_rows(store: RingiStore, stop: int, page: int) -> Iterator[Sequence[Row]]:
    """The stored request events up to notification ``stop``, in recording order,
    a page at a time, as plain tuples; the other aggregates' rows stay unread."""
    recorder: Any = store.recorder
    module = type(recorder).__module__
    if module == "eventsourcing.sqlite":
        yield from _sqlite_rows(recorder, stop, page)
    elif module == "eventsourcing.postgres":
        yield from _postgres_rows(recorder, stop, page)
    else:  # any other recorder: through its API
        yield from _recorder_rows(recorder, stop, page)


#: the request topics as a range: every string with the prefix, and no other (SQLite
#: compares text bytewise; the prefix ends in ".", and "/" follows it)
_FIRST, _AFTER = REQUEST_TOPICS, REQUEST_TOPICS[:-1] + chr(ord(REQUEST_TOPICS[-1]) + 1)
#: the same for PostgreSQL, whose text order depends on the database's collation
_LIKE = REQUEST_TOPICS.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _sqlite_rows(recorder: Any, stop: int, page: int) -> Iterator[Sequence[Row]]:
    statement = (
        "SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} "
        "WHERE rowid>? AND rowid<=? AND topic>=? AND topic<? ORDER BY rowid LIMIT ?"
    )
    start = 0
    while start < stop:
        batch: list[Row] = plain_rows(recorder, statement, (start, stop, _FIRST, _AFTER, page))
        if not batch:
            return
        yield batch
        start = batch[-1][0]


def _postgres_rows(recorder: Any, stop: int, page: int) -> Iterator[Sequence[Row]]:
    from psycopg.sql import SQL

    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM {table} WHERE notification_id>%s AND notification_id<=%s "
        "AND topic LIKE %s ORDER BY notification_id LIMIT %s"
    ).format(table=postgres_events_table(recorder))
    start = 0
    while start < stop:
        batch: list[Row] = plain_rows(recorder, statement, (start, stop, _LIKE, page))
        if not batch:
            return
        yield batch
        start = batch[-1][0]


def _recorder_rows(recorder: Any, stop: int, page: int) -> Iterator[Sequence[Row]]:
    start: int | None = None
    while True:
        notifications = recorder.select_notifications(
            start=start, limit=page, stop=stop, inclusive_of_start=False
        )
        if not notifications:
            return
        yield [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in notifications
            if n.topic.startswith(REQUEST_TOPICS)
        ]
        start = notifications[-1].id
        if start >= stop:
            return
