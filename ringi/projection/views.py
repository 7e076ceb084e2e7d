"""The projection's tables, in SQLite and in PostgreSQL, and the recorders that keep them.

Both recorders are eventsourcing tracking recorders (``SQLiteTrackingRecorder``,
``PostgresTrackingRecorder``) with ringi's tables beside the tracking table:

- ``ringi_requests``: one row per request, its current state (the
  ``RequestView`` as JSON) and the columns a listing filters and shows;
- ``ringi_endorsements`` and ``ringi_answers``: a row per endorsement and answer;
- ``ringi_search``: the text index of the register's search, a row per text of a
  request (its target, body, notes and answers), casefolded as Python does, so
  a search is a substring match on it (``ringi.projection.search``): SQLite's
  FTS5 with the trigram tokenizer, PostgreSQL's pg_trgm GIN index;
- ``ringi_states``: states of a request at a version, shared by the checkpoints
  (a request's state after version v is the same whatever the cutoff);
- ``ringi_checkpoints`` and ``ringi_checkpoint_members``: which state of each
  request a register cutoff saw (``ringi.projection.checkpoints``);
- ``ringi_outbox_pending``: the outbox's deliveries neither made nor given up,
  with a tracking record of its own (``ringi.projection.outbox``);
- ``ringi_projection_meta``: the fingerprint of the fold that wrote them.

Times are stored as microseconds since the epoch (UTC), so they compare as
numbers in both databases. Every write happens inside ``Batch``, a transaction
that first takes the tracking record's lock, so two processes catching up at
once apply each batch once (the later one finds the position moved and reads on
from there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

#: the projection's name: the runner's environment prefix, and the PostgreSQL
#: tracking table's (``ringi_projection_tracking``)
PROJECTION = "ringi_projection"
#: whose events it follows: the tracking record's application name
APPLICATION = "ringi"
#: the outbox's tracking record (``ringi.projection.outbox``), beside the requests'
OUTBOX = "ringi_outbox"
#: where eventsourcing keeps ringi's events (``ringi.database.EVENT_TABLES``)
EVENTS_TABLE = {"sqlite": "stored_events", "postgres": "ringi_events"}

#: the fields of a request the register's search looks in (``ringi_search.field``)
SEARCHED = ("target", "body", "note", "answer")
#: the search index's rows in a stable order, per dialect
_SEARCH_ORDER = {"sqlite": "rowid", "postgres": "number, seq"}
#: SQLite: a request's index rows are numbered ``number * TEXTS_PER_REQUEST + seq``,
#: so they are replaced by a rowid range (an FTS5 table has no other index)
TEXTS_PER_REQUEST = 1 << 20

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """``at`` as whole microseconds since the epoch (exact, unlike a float timestamp)."""
    return (at - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _MICRO


@dataclass(frozen=True, slots=True)
class StateRow:
    """A request's state as the projection stores it."""

    number: int
    oid: str  # the aggregate id, 32 hex digits
    version: int
    stage: str
    category: str
    target: str
    proposer: str
    support: int
    deadline: int | None  # microseconds
    meeting: int | None  # of its latest answer
    is_open: bool
    updated: int  # microseconds
    max_at: int  # the latest domain time among its events, microseconds
    view: str  # the RequestView as JSON
    endorsements: tuple[tuple[str, int], ...]  # (company, at)
    answers: tuple[tuple[str, int | None, int, str], ...]  # (answer id, meeting, at, text)
    texts: tuple[tuple[str, str], ...] = ()  # (field, casefolded text): the search index's


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``ringi list`` shows of a request, without its whole state."""

    number: int
    category: str
    target: str
    stage: str
    support: int
    proposer: str
    deadline: datetime | None
    is_open: bool


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    id: int
    cutoff_at: int
    position_limit: int  # -1: none
    taken_position: int
    events: int


class Cursor(Protocol):
    def execute(self, query: Any, params: Any = ...) -> Any: ...
    def executemany(self, query: Any, params: Any) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


def _value(row: Any, index: int) -> Any:
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]


class RequestViews(TrackingRecorder):
    """What both recorders share: the SQL, written once with ``?`` placeholders
    and table names in braces, and the reads and writes made of it."""

    dialect: str
    events_table: str
    tracking_lock: str

    # --- the dialect -------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        raise NotImplementedError

    @contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[Cursor]:
        raise NotImplementedError
        yield

    def _track(self, c: Cursor, position: int) -> None:
        raise NotImplementedError

    def _create_ringi_tables(self) -> None:
        raise NotImplementedError

    def _write_texts(self, c: Cursor, rows: Sequence[StateRow]) -> None:
        """Replace these requests' rows of the search index (in the batch's transaction)."""
        raise NotImplementedError

    def _rows(self, c: Cursor) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in c.fetchall()]

    # --- writing: one batch, exactly once ----------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """A transaction holding the tracking record's lock, with the position it
        stood at: everything written in it, and the position it moves to, commit
        together or not at all."""
        with self._transaction(commit=True) as c:
            c.execute(self._sql(self.tracking_lock), (APPLICATION,))
            found = c.fetchone()
            position = int(_value(found, 0)) if found is not None else 0
            yield Batch(self, c, position)

    # --- reading -----------------------------------------------------------------------

    def has_tables(self) -> bool:
        """Whether the projection's tables are there (the newest of them)."""
        try:
            with self._transaction(commit=False) as c:
                c.execute(self._sql("SELECT 1 FROM {search} LIMIT 1"))
                c.execute(self._sql("SELECT 1 FROM {pending} LIMIT 1"))
                c.fetchall()
        except Exception:
            return False
        return True

    def position(self) -> int:
        """How far into the event log the projection has applied (0: nothing yet)."""
        return int(self.max_tracking_id(APPLICATION) or 0)

    def head(self) -> int:
        """The event log's highest position."""
        with self._transaction(commit=False) as c:
            c.execute(self._sql("SELECT MAX({n}) FROM {events}"))
            found = c.fetchone()
        top = _value(found, 0) if found is not None else None
        return int(top or 0)

    def fingerprint(self) -> str | None:
        with self._transaction(commit=False) as c:
            c.execute(self._sql("SELECT fingerprint FROM {meta} WHERE name=?"), (PROJECTION,))
            found = c.fetchone()
        return None if found is None else str(_value(found, 0))

    def summaries(self) -> list[Summary]:
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT number, category, target, stage, support, proposer, deadline, "
                    "is_open FROM {requests} ORDER BY number"
                )
            )
            rows = self._rows(c)
        return [
            Summary(
                number=n,
                category=cat,
                target=target,
                stage=stage,
                support=support,
                proposer=proposer,
                deadline=None if deadline is None else from_micros(deadline),
                is_open=bool(is_open),
            )
            for n, cat, target, stage, support, proposer, deadline, is_open in rows
        ]

    def listing(
        self,
        after: int,
        *,
        stages: Sequence[str] = (),
        categories: Sequence[str] = (),
        company: str | None = None,
        updated_since: int | None = None,
        is_open: bool | None = None,
        target: str | None = None,
    ) -> list[tuple[int, str]]:
        """(number, target) of the requests numbered above ``after`` that these
        filters admit, in number order; ``target`` is a part of the target, any
        case (through the search index)."""
        where: list[str] = ["number>?"]
        params: list[object] = [after]
        if target is not None:
            found, more = self._matching(target, ("target",))
            where.append(f"number IN ({found})")
            params += more
        if stages:
            where.append(f"stage IN ({','.join('?' * len(stages))})")
            params += stages
        if categories:
            where.append(f"category IN ({','.join('?' * len(categories))})")
            params += categories
        if company is not None:
            where.append(
                "(proposer=? OR EXISTS (SELECT 1 FROM {endorsements} e "
                "WHERE e.number={requests}.number AND e.company=?))"
            )
            params += [company, company]
        if updated_since is not None:
            where.append("updated>=?")
            params.append(updated_since)
        if is_open is not None:
            where.append("is_open=?")
            params.append(1 if is_open else 0)
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    f"SELECT number, target FROM {{requests}} WHERE {' AND '.join(where)} "
                    "ORDER BY number"
                ),
                params,
            )
            return [(int(n), str(t)) for n, t in self._rows(c)]

    def views_of_numbers(self, numbers: Sequence[int]) -> list[str]:
        """The states of these requests as JSON, in the order given."""
        found: dict[int, str] = {}
        with self._transaction(commit=False) as c:
            for start in range(0, len(numbers), 500):
                chunk = list(numbers[start : start + 500])
                c.execute(
                    self._sql(
                        f"SELECT number, view FROM {{requests}} WHERE number IN "
                        f"({','.join('?' * len(chunk))})"
                    ),
                    chunk,
                )
                found.update((int(n), str(v)) for n, v in self._rows(c))
        return [found[n] for n in numbers if n in found]

    def _matching(self, needle: str, fields: Sequence[str]) -> tuple[str, list[object]]:
        """A SELECT of the numbers of the requests one of whose ``fields`` holds
        ``needle`` in any case (Python's ``casefold``), and its parameters (SQL
        with ``?`` and table names in braces, as ``_sql`` takes it)."""
        raise NotImplementedError

    def text_matches(self, q: str | None, target: str | None) -> dict[int, tuple[int, bool]]:
        """Every request's current version, and whether its texts hold ``q`` (its
        target, body, notes or answers) and its target ``target``, in any case;
        read together, so a state of that version is matched by the flag."""
        where: list[str] = []
        params: list[object] = []
        if q:
            found, more = self._matching(q, SEARCHED)
            where.append(f"number IN ({found})")
            params += more
        if target:
            found, more = self._matching(target, ("target",))
            where.append(f"number IN ({found})")
            params += more
        test = " AND ".join(where) or "1=1"
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    f"SELECT number, version, CASE WHEN {test} THEN 1 ELSE 0 END FROM {{requests}}"
                ),
                params,
            )
            return {int(n): (int(v), bool(m)) for n, v, m in self._rows(c)}

    def stored_texts(self) -> list[tuple[int, str, str]]:
        """Every (number, field, text) of the search index, for ``audit verify``."""
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    f"SELECT number, field, text FROM {{search}} ORDER BY {_SEARCH_ORDER[self.dialect]}"
                )
            )
            return [(int(n), str(f), str(t)) for n, f, t in self._rows(c)]

    def view_json(self, number: int) -> str | None:
        with self._transaction(commit=False) as c:
            c.execute(self._sql("SELECT view FROM {requests} WHERE number=?"), (number,))
            found = c.fetchone()
        return None if found is None else str(_value(found, 0))

    def current_states(
        self, known: Callable[[tuple[int, int]], bool]
    ) -> tuple[int, list[tuple[int, int]], list[str]]:
        """In one read: the position, every request's (number, version), and the
        state as JSON of those ``known`` does not already know."""
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql("SELECT MAX(notification_id) FROM {tracking} WHERE application_name=?"),
                (APPLICATION,),
            )
            found = c.fetchone()
            position = int((_value(found, 0) if found is not None else 0) or 0)
            c.execute(self._sql("SELECT number, version FROM {requests} ORDER BY number"))
            members = [(int(n), int(v)) for n, v in self._rows(c)]
            unknown = [n for n, v in members if not known((n, v))]
            texts: list[str] = []
            for start in range(0, len(unknown), 500):
                chunk = unknown[start : start + 500]
                c.execute(
                    self._sql(
                        f"SELECT view FROM {{requests}} WHERE number IN "
                        f"({','.join('?' * len(chunk))})"
                    ),
                    chunk,
                )
                texts += [str(v) for (v,) in self._rows(c)]
        return position, members, texts

    def views_json(self) -> list[tuple[int, str]]:
        with self._transaction(commit=False) as c:
            c.execute(self._sql("SELECT number, view FROM {requests} ORDER BY number"))
            return [(int(n), str(v)) for n, v in self._rows(c)]

    def stored_rows(self) -> list[tuple[Any, ...]]:
        """Every request's row as stored, for ``audit verify`` to compare with a fold."""
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT number, oid, version, stage, category, target, proposer, support, "
                    "deadline, meeting, is_open, updated, max_at, view FROM {requests} "
                    "ORDER BY number"
                )
            )
            return self._rows(c)

    def stored_endorsements(self) -> list[tuple[Any, ...]]:
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT number, seq, company, at FROM {endorsements} ORDER BY number, seq"
                )
            )
            return self._rows(c)

    def stored_answers(self) -> list[tuple[Any, ...]]:
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT number, answer_id, meeting, at, text FROM {answers} "
                    "ORDER BY number, answer_id"
                )
            )
            return self._rows(c)

    def latest_at(self) -> int | None:
        """The latest domain time of any event folded, microseconds (None: none)."""
        with self._transaction(commit=False) as c:
            c.execute(self._sql("SELECT MAX(max_at) FROM {requests}"))
            found = c.fetchone()
        top = _value(found, 0) if found is not None else None
        return None if top is None else int(top)

    # --- checkpoints ---------------------------------------------------------------------

    def checkpoint(self, cutoff_at: int, position_limit: int) -> CheckpointRow | None:
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT id, cutoff_at, position_limit, taken_position, events "
                    "FROM {checkpoints} WHERE cutoff_at=? AND position_limit=?"
                ),
                (cutoff_at, position_limit),
            )
            found = c.fetchone()
        if found is None:
            return None
        return CheckpointRow(*(int(_value(found, i)) for i in range(5)))

    def checkpoints(self) -> list[CheckpointRow]:
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT id, cutoff_at, position_limit, taken_position, events "
                    "FROM {checkpoints} ORDER BY cutoff_at, position_limit"
                )
            )
            return [CheckpointRow(*map(int, row)) for row in self._rows(c)]

    def checkpoint_views(self, checkpoint: int) -> list[tuple[int, int, str]]:
        """(number, version, state as JSON) of every request the checkpoint saw."""
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT m.number, m.version, s.view FROM {members} m JOIN {states} s "
                    "ON s.number=m.number AND s.version=m.version "
                    "WHERE m.checkpoint=? ORDER BY m.number"
                ),
                (checkpoint,),
            )
            return [(int(n), int(v), str(j)) for n, v, j in self._rows(c)]

    def checkpoint_members(self, checkpoint: int) -> list[tuple[int, int]]:
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT number, version FROM {members} WHERE checkpoint=? ORDER BY number"
                ),
                (checkpoint,),
            )
            return [(int(n), int(v)) for n, v in self._rows(c)]

    def states_json(self, wanted: Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
        """(number, version, state as JSON) of these stored states."""
        found: list[tuple[int, int, str]] = []
        with self._transaction(commit=False) as c:
            for start in range(0, len(wanted), 400):
                chunk = wanted[start : start + 400]
                marks = " OR ".join("(number=? AND version=?)" for _ in chunk)
                c.execute(
                    self._sql(f"SELECT number, version, view FROM {{states}} WHERE {marks}"),
                    [x for pair in chunk for x in pair],
                )
                found += [(int(n), int(v), str(j)) for n, v, j in self._rows(c)]
        return found

    def render(self, checkpoint: int, variant: str) -> tuple[bytes, str] | None:
        """A register rendered from ``checkpoint`` (its bytes and content digest)."""
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql("SELECT body, digest FROM {renders} WHERE checkpoint=? AND variant=?"),
                (checkpoint, variant),
            )
            found = c.fetchone()
        return None if found is None else (bytes(_value(found, 0)), str(_value(found, 1)))

    def render_digest(self, checkpoint: int, variant: str) -> str | None:
        """The content digest of a register kept with ``checkpoint``, without its bytes."""
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql("SELECT digest FROM {renders} WHERE checkpoint=? AND variant=?"),
                (checkpoint, variant),
            )
            found = c.fetchone()
        return None if found is None else str(_value(found, 0))

    def renders_of(self, checkpoint: int) -> list[tuple[str, bytes]]:
        """(variant, bytes) of the register files kept with ``checkpoint``."""
        with self._transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT variant, body FROM {renders} WHERE checkpoint=? ORDER BY variant"
                ),
                (checkpoint,),
            )
            return [(str(v), bytes(b)) for v, b in self._rows(c)]

    def keep_render(self, checkpoint: int, variant: str, body: bytes, digest: str) -> None:
        """Keep a register rendered from ``checkpoint``, while that checkpoint stands."""
        with self._transaction(commit=True) as c:
            c.execute(
                self._sql(
                    "INSERT INTO {renders} (checkpoint, variant, digest, body) "
                    "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM {checkpoints} WHERE id=?) "
                    "ON CONFLICT (checkpoint, variant) DO NOTHING"
                ),
                (checkpoint, variant, digest, body, checkpoint),
            )

    def stored_states(self) -> set[tuple[int, int]]:
        with self._transaction(commit=False) as c:
            c.execute(self._sql("SELECT number, version FROM {states}"))
            return {(int(n), int(v)) for n, v in self._rows(c)}


class Batch:
    """One transaction of the projection: what it writes commits with the
    tracking position it moves to (``advance``)."""

    def __init__(self, views: RequestViews, cursor: Cursor, position: int) -> None:
        self.views, self.cursor, self.position = views, cursor, position

    def _sql(self, statement: str) -> str:
        return self.views._sql(statement)

    def head(self) -> int:
        self.cursor.execute(self._sql("SELECT MAX({n}) FROM {events}"))
        found = self.cursor.fetchone()
        top = _value(found, 0) if found is not None else None
        return int(top or 0)

    def request_rows(
        self, after: int, stop: int, topics: tuple[str, str], like: str, limit: int
    ) -> list[tuple[int, str, int, str, bytes]]:
        """Request events after ``after`` up to ``stop`` (both positions), in log order."""
        if self.views.dialect == "sqlite":
            self.cursor.execute(
                self._sql(
                    "SELECT {n}, originator_id, originator_version, topic, state FROM {events} "
                    "WHERE {n}>? AND {n}<=? AND topic>=? AND topic<? ORDER BY {n} LIMIT ?"
                ),
                (after, stop, topics[0], topics[1], limit),
            )
        else:
            self.cursor.execute(
                self._sql(
                    "SELECT {n}, originator_id, originator_version, topic, state FROM {events} "
                    "WHERE {n}>? AND {n}<=? AND topic LIKE ? ORDER BY {n} LIMIT ?"
                ),
                (after, stop, like, limit),
            )
        return [
            (int(i), _hex(o), int(v), str(t), bytes(s))
            for i, o, v, t, s in self.views._rows(self.cursor)
        ]

    def states(self, oids: Iterable[str]) -> dict[str, tuple[int, str, int]]:
        """The stored (version, state as JSON, latest domain time) of the requests
        with these ids."""
        wanted = list(oids)
        found: dict[str, tuple[int, str, int]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            self.cursor.execute(
                self._sql(
                    f"SELECT oid, version, view, max_at FROM {{requests}} WHERE oid IN ({marks})"
                ),
                chunk,
            )
            for oid, version, view, max_at in self.views._rows(self.cursor):
                found[str(oid)] = (int(version), str(view), int(max_at))
        return found

    def write(self, rows: Sequence[StateRow]) -> None:
        """Store these requests' states, endorsements and answers (replacing the old)."""
        if not rows:
            return
        c = self.cursor
        c.executemany(
            self._sql(
                "INSERT INTO {requests} (number, oid, version, stage, category, target, "
                "proposer, support, deadline, meeting, is_open, updated, max_at, view) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (number) DO UPDATE SET "
                "oid=excluded.oid, version=excluded.version, stage=excluded.stage, "
                "category=excluded.category, target=excluded.target, "
                "proposer=excluded.proposer, support=excluded.support, "
                "deadline=excluded.deadline, meeting=excluded.meeting, "
                "is_open=excluded.is_open, updated=excluded.updated, "
                "max_at=excluded.max_at, view=excluded.view"
            ),
            [
                (
                    r.number,
                    r.oid,
                    r.version,
                    r.stage,
                    r.category,
                    r.target,
                    r.proposer,
                    r.support,
                    r.deadline,
                    r.meeting,
                    1 if r.is_open else 0,
                    r.updated,
                    r.max_at,
                    r.view,
                )
                for r in rows
            ],
        )
        numbers = [(r.number,) for r in rows]
        c.executemany(self._sql("DELETE FROM {endorsements} WHERE number=?"), numbers)
        c.executemany(self._sql("DELETE FROM {answers} WHERE number=?"), numbers)
        endorsements = [
            (r.number, seq, company, at)
            for r in rows
            for seq, (company, at) in enumerate(r.endorsements)
        ]
        if endorsements:
            c.executemany(
                self._sql("INSERT INTO {endorsements} (number, seq, company, at) VALUES (?,?,?,?)"),
                endorsements,
            )
        self.views._write_texts(c, rows)
        answers = [(r.number, *answer) for r in rows for answer in r.answers]
        if answers:
            c.executemany(
                self._sql(
                    "INSERT INTO {answers} (number, answer_id, meeting, at, text) "
                    "VALUES (?,?,?,?,?)"
                ),
                answers,
            )

    def invalidate(self, earliest_at: int, after_position: int) -> None:
        """Drop the checkpoints of unpublished cutoffs that an event recorded after
        them (past ``after_position``), dated at or before them, would change."""
        for table in ("members", "renders"):
            self.cursor.execute(
                self._sql(
                    f"DELETE FROM {{{table}}} WHERE checkpoint IN (SELECT id FROM {{checkpoints}} "
                    "WHERE position_limit=-1 AND cutoff_at>=? AND taken_position<?)"
                ),
                (earliest_at, after_position),
            )
        self.cursor.execute(
            self._sql(
                "DELETE FROM {checkpoints} WHERE position_limit=-1 AND cutoff_at>=? "
                "AND taken_position<?"
            ),
            (earliest_at, after_position),
        )

    def advance(self, position: int) -> None:
        """Move the tracking record to ``position``, with everything written in this batch."""
        if position > self.position:
            self.views._track(self.cursor, position)
            self.position = position

    def reset(self, fingerprint: str) -> None:
        """Empty every table of the projection and record who fills it again."""
        for table in (
            "pending",
            "search",
            "renders",
            "members",
            "checkpoints",
            "states",
            "answers",
            "endorsements",
            "requests",
        ):
            self.cursor.execute(self._sql(f"DELETE FROM {{{table}}}"))
        self.cursor.execute(self._sql("DELETE FROM {meta} WHERE name=?"), (PROJECTION,))
        self.cursor.execute(
            self._sql("INSERT INTO {meta} (name, fingerprint) VALUES (?, ?)"),
            (PROJECTION, fingerprint),
        )
        for application in (APPLICATION, OUTBOX):
            self.cursor.execute(
                self._sql("UPDATE {tracking} SET notification_id=0 WHERE application_name=?"),
                (application,),
            )
        self.position = 0

    def save_checkpoint(
        self,
        cutoff_at: int,
        position_limit: int,
        taken_position: int,
        events: int,
        members: Sequence[tuple[int, int]],
        states: Sequence[tuple[int, int, str]],
    ) -> None:
        c = self.cursor
        c.executemany(
            self._sql(
                "INSERT INTO {states} (number, version, view) VALUES (?,?,?) "
                "ON CONFLICT (number, version) DO NOTHING"
            ),
            list(states),
        )
        for table in ("members", "renders"):
            c.execute(
                self._sql(
                    f"DELETE FROM {{{table}}} WHERE checkpoint IN (SELECT id FROM {{checkpoints}} "
                    "WHERE cutoff_at=? AND position_limit=?)"
                ),
                (cutoff_at, position_limit),
            )
        c.execute(
            self._sql("DELETE FROM {checkpoints} WHERE cutoff_at=? AND position_limit=?"),
            (cutoff_at, position_limit),
        )
        c.execute(
            self._sql(
                "INSERT INTO {checkpoints} (cutoff_at, position_limit, taken_position, events) "
                "VALUES (?,?,?,?) RETURNING id"
            ),
            (cutoff_at, position_limit, taken_position, events),
        )
        found = c.fetchone()
        checkpoint = int(_value(found, 0))
        c.executemany(
            self._sql("INSERT INTO {members} (checkpoint, number, version) VALUES (?,?,?)"),
            [(checkpoint, n, v) for n, v in members],
        )


def _hex(oid: Any) -> str:
    return (
        oid.hex if hasattr(oid, "hex") and not isinstance(oid, str) else str(oid).replace("-", "")
    )


# --- SQLite ---------------------------------------------------------------------------------

_SQLITE_TABLES = {
    "requests": "ringi_requests",
    "endorsements": "ringi_endorsements",
    "answers": "ringi_answers",
    "states": "ringi_states",
    "checkpoints": "ringi_checkpoints",
    "members": "ringi_checkpoint_members",
    "renders": "ringi_renders",
    "search": "ringi_search",
    "pending": "ringi_outbox_pending",
    "meta": "ringi_projection_meta",
    "tracking": "tracking",
    "events": EVENTS_TABLE["sqlite"],
    "n": "rowid",
}

_DDL = (
    "CREATE TABLE IF NOT EXISTS {requests} (number INTEGER PRIMARY KEY, oid TEXT NOT NULL "
    "UNIQUE, version INTEGER NOT NULL, stage TEXT NOT NULL, category TEXT NOT NULL, "
    "target TEXT NOT NULL, proposer TEXT NOT NULL, support INTEGER NOT NULL, deadline BIGINT, "
    "meeting INTEGER, is_open INTEGER NOT NULL, updated BIGINT NOT NULL, "
    "max_at BIGINT NOT NULL, view TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ringi_requests_stage ON {requests} (stage, number)",
    # the latest domain time folded, asked by every read of a register
    "CREATE INDEX IF NOT EXISTS ringi_requests_max_at ON {requests} (max_at)",
    # every request's version without reading its state: what a search's answer
    # is matched to (``text_matches``), and what a register read asks first
    "CREATE INDEX IF NOT EXISTS ringi_requests_version ON {requests} (number, version)",
    "CREATE TABLE IF NOT EXISTS {endorsements} (number INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "company TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (number, seq))",
    "CREATE INDEX IF NOT EXISTS ringi_endorsements_company ON {endorsements} (company)",
    "CREATE TABLE IF NOT EXISTS {answers} (number INTEGER NOT NULL, answer_id TEXT NOT NULL, "
    "meeting INTEGER, at BIGINT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (number, answer_id))",
    "CREATE INDEX IF NOT EXISTS ringi_answers_meeting ON {answers} (meeting)",
    "CREATE TABLE IF NOT EXISTS {states} (number INTEGER NOT NULL, version INTEGER NOT NULL, "
    "view TEXT NOT NULL, PRIMARY KEY (number, version))",
    "CREATE TABLE IF NOT EXISTS {members} (checkpoint BIGINT NOT NULL, number INTEGER NOT NULL, "
    "version INTEGER NOT NULL, PRIMARY KEY (checkpoint, number))",
    "CREATE TABLE IF NOT EXISTS {meta} (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL)",
    # the outbox's deliveries neither made nor given up (``ringi.projection.outbox``)
    "CREATE TABLE IF NOT EXISTS {pending} (oid TEXT NOT NULL, subscriber TEXT NOT NULL, "
    "key TEXT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (oid, subscriber))",
    "CREATE INDEX IF NOT EXISTS ringi_outbox_pending_position ON {pending} (position)",
    "CREATE INDEX IF NOT EXISTS ringi_outbox_pending_subscriber ON {pending} (subscriber)",
)


def _index_rows(rows: Sequence[StateRow]) -> Iterator[tuple[int, int, str, str]]:
    """(number, seq, field, text) of these requests' search index."""
    for r in rows:
        if len(r.texts) >= TEXTS_PER_REQUEST:
            raise ValueError(f"No.{r.number} has more texts than the search index numbers")
        for seq, (field, text) in enumerate(r.texts):
            yield r.number, seq, field, text


def like_pattern(needle: str) -> str:
    """A LIKE pattern matching any text that holds ``needle`` (escaped with ``\\``)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_RENDERS_DDL = (
    "CREATE TABLE IF NOT EXISTS {renders} (checkpoint BIGINT NOT NULL, variant TEXT NOT NULL, "
    "digest TEXT NOT NULL, body {blob} NOT NULL, PRIMARY KEY (checkpoint, variant))"
)


#: the search index: an FTS5 table; its trigrams match any part of three or more
#: characters (Japanese has no spaces to split words at). Its text is casefolded
#: by Python already, so the tokenizer does not fold it again.
_SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS {search} USING fts5(number UNINDEXED, "
    "field UNINDEXED, text, tokenize='trigram case_sensitive 1')"
)
_POSTGRES_SEARCH_DDL = (
    "CREATE TABLE IF NOT EXISTS {search} (number INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "field TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (number, seq))"
)
#: what the fingerprint takes the table layout from (``catchup.fingerprint``)
LAYOUT_DDL = (*_DDL, _RENDERS_DDL, _SQLITE_SEARCH_DDL, _POSTGRES_SEARCH_DDL)


class SQLiteRequestViews(RequestViews, SQLiteTrackingRecorder):
    dialect = "sqlite"
    tracking_lock = (
        # a write first: it takes SQLite's write lock, so the position read next
        # is the latest and stays so until this transaction ends
        "UPDATE {tracking} SET notification_id=notification_id WHERE application_name=? "
        "RETURNING notification_id"
    )

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.create_table_statements += [self._sql(s) for s in _DDL] + [
            self._sql(_RENDERS_DDL.replace("{blob}", "BLOB")),
            self._sql(_SQLITE_SEARCH_DDL),
            self._sql(
                "CREATE TABLE IF NOT EXISTS {checkpoints} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "cutoff_at BIGINT NOT NULL, position_limit BIGINT NOT NULL, "
                "taken_position BIGINT NOT NULL, events BIGINT NOT NULL, "
                "UNIQUE (cutoff_at, position_limit))"
            ),
        ]

    def _sql(self, statement: str) -> str:
        return statement.format(**_SQLITE_TABLES)

    @contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=commit) as c:
            c.row_factory = None  # type: ignore[attr-defined]  # plain tuples
            yield c

    def _track(self, c: Cursor, position: int) -> None:
        self._insert_tracking(c, Tracking(APPLICATION, position))  # type: ignore[arg-type]

    def _write_texts(self, c: Cursor, rows: Sequence[StateRow]) -> None:
        c.executemany(
            self._sql("DELETE FROM {search} WHERE rowid>=? AND rowid<?"),
            [(r.number * TEXTS_PER_REQUEST, (r.number + 1) * TEXTS_PER_REQUEST) for r in rows],
        )
        c.executemany(
            self._sql("INSERT INTO {search} (rowid, number, field, text) VALUES (?,?,?,?)"),
            [(n * TEXTS_PER_REQUEST + seq, n, f, t) for n, seq, f, t in _index_rows(rows)],
        )

    def _matching(self, needle: str, fields: Sequence[str]) -> tuple[str, list[object]]:
        folded = needle.casefold()
        marks = ",".join("?" * len(fields))
        # instr has the last word: the trigrams only narrow the rows down
        test = f"field IN ({marks}) AND instr(text, ?)>0"
        if len(folded) < 3:  # too short for a trigram: every row is looked at
            return f"SELECT number FROM {{search}} WHERE {test}", [*fields, folded]
        phrase = '"' + folded.replace('"', '""') + '"'
        return (
            f"SELECT number FROM {{search}} WHERE {{search}} MATCH ? AND {test}",
            [phrase, *fields, folded],
        )

    def _create_table(self, c: Any) -> None:
        super()._create_table(c)
        c.execute(
            "INSERT INTO tracking VALUES (?, 0) ON CONFLICT (application_name) DO NOTHING",
            (APPLICATION,),
        )


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres_class() -> Any:
    """The PostgreSQL recorder, made on first use (psycopg is imported only then)."""
    from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder

    class PostgresRequestViews(RequestViews, PostgresTrackingRecorder):
        dialect = "postgres"
        tracking_lock = "SELECT notification_id FROM {tracking} WHERE application_name=? FOR UPDATE"

        def __init__(
            self,
            datastore: PostgresDatastore,
            *,
            tracking_table_name: str = PROJECTION + "_tracking",
            **kwargs: Any,
        ) -> None:
            super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
            schema = datastore.schema or "public"
            self._tables = {
                key: f'"{schema}"."{name}"' if key != "n" else name
                for key, name in _SQLITE_TABLES.items()
            }
            self._tables.update(
                tracking=f'"{schema}"."{tracking_table_name}"',
                events=f'"{schema}"."{EVENTS_TABLE["postgres"]}"',
                n="notification_id",
            )
            from psycopg.sql import SQL

            statements: list[Any] = self.sql_create_statements
            statements += [SQL(self._sql(s)) for s in _DDL] + [
                SQL(self._sql(_RENDERS_DDL.replace("{blob}", "BYTEA"))),
                SQL(self._sql(_POSTGRES_SEARCH_DDL)),
                SQL(
                    self._sql(
                        "CREATE TABLE IF NOT EXISTS {checkpoints} (id BIGSERIAL PRIMARY KEY, "
                        "cutoff_at BIGINT NOT NULL, position_limit BIGINT NOT NULL, "
                        "taken_position BIGINT NOT NULL, events BIGINT NOT NULL, "
                        "UNIQUE (cutoff_at, position_limit))"
                    )
                ),
                SQL(
                    self._sql(
                        "INSERT INTO {tracking} VALUES ('" + APPLICATION + "', 0) "
                        "ON CONFLICT (application_name) DO NOTHING"
                    )
                ),
            ]

        def _sql(self, statement: str) -> str:
            return statement.format(**self._tables).replace("?", "%s")

        @contextmanager
        def _transaction(self, *, commit: bool) -> Iterator[Cursor]:
            from psycopg.rows import tuple_row

            with self.datastore.transaction(commit=commit) as c:
                c.row_factory = tuple_row  # type: ignore[assignment]
                yield c

        def _track(self, c: Cursor, position: int) -> None:
            self._insert_tracking(c, Tracking(APPLICATION, position))  # type: ignore[arg-type]

        def _write_texts(self, c: Cursor, rows: Sequence[StateRow]) -> None:
            c.executemany(
                self._sql("DELETE FROM {search} WHERE number=?"), [(r.number,) for r in rows]
            )
            c.executemany(
                self._sql("INSERT INTO {search} (number, seq, field, text) VALUES (?,?,?,?)"),
                list(_index_rows(rows)),
            )

        def _matching(self, needle: str, fields: Sequence[str]) -> tuple[str, list[object]]:
            marks = ",".join("?" * len(fields))
            return (
                f"SELECT number FROM {{search}} WHERE field IN ({marks}) "
                "AND text LIKE ? ESCAPE '\\'",
                [*fields, like_pattern(needle.casefold())],
            )

        def create_table(self) -> None:
            super().create_table()
            self._index_texts()

        def _index_texts(self) -> None:
            """The search index's trigram GIN index (pg_trgm), if the database has
            the extension or lets it be made; a search without it reads every row."""
            import psycopg

            try:
                with self.datastore.transaction(commit=True) as c:
                    c.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    c.execute(
                        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                        "ON n.oid=e.extnamespace WHERE e.extname='pg_trgm'"
                    )
                    found = c.fetchone()
                    schema = str(_value(found, 0)).replace('"', '""')
                    c.execute(
                        self._sql(
                            "CREATE INDEX IF NOT EXISTS ringi_search_trigrams ON {search} "
                            f'USING gin (text "{schema}".gin_trgm_ops)'
                        )
                    )
            except psycopg.Error as error:
                import structlog

                structlog.get_logger("ringi.projection").warning(
                    "no trigram index for the register's search (pg_trgm): a search "
                    "reads every row of the index",
                    error=str(error),
                )

    return PostgresRequestViews


_POSTGRES: Any = None


def postgres_views_class() -> Any:
    global _POSTGRES
    if _POSTGRES is None:
        _POSTGRES = _postgres_class()
    return _POSTGRES
