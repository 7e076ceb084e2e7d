"""The projection's tables, in SQLite and in PostgreSQL, and the recorders that keep them.

Both recorders are eventsourcing tracking recorders (``SQLiteTrackingRecorder``,
``PostgresTrackingRecorder``) with ringi's tables beside the tracking table:

- ``ringi_requests``: one row per request, its current state (the
  ``RequestView`` as JSON) and the columns a listing filters and shows;
- ``ringi_endorsements`` and ``ringi_answers``: a row per endorsement and answer;
- ``ringi_states``: states of a request at a version, shared by the checkpoints
  (a request's state after version v is the same whatever the cutoff);
- ``ringi_checkpoints`` and ``ringi_checkpoint_members``: which state of each
  request a register cutoff saw (``ringi.projection.checkpoints``);
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
#: where eventsourcing keeps ringi's events (``ringi.database.EVENT_TABLES``)
EVENTS_TABLE = {"sqlite": "stored_events", "postgres": "ringi_events"}

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
                c.execute(self._sql("SELECT 1 FROM {renders} LIMIT 1"))
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
    ) -> list[tuple[int, str]]:
        """(number, target) of the requests numbered above ``after`` that these
        filters admit, in number order (the target's filter is the caller's)."""
        where: list[str] = ["number>?"]
        params: list[object] = [after]
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
        self.cursor.execute(
            self._sql("UPDATE {tracking} SET notification_id=0 WHERE application_name=?"),
            (APPLICATION,),
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
)


_RENDERS_DDL = (
    "CREATE TABLE IF NOT EXISTS {renders} (checkpoint BIGINT NOT NULL, variant TEXT NOT NULL, "
    "digest TEXT NOT NULL, body {blob} NOT NULL, PRIMARY KEY (checkpoint, variant))"
)


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

    return PostgresRequestViews


_POSTGRES: Any = None


def postgres_views_class() -> Any:
    global _POSTGRES
    if _POSTGRES is None:
        _POSTGRES = _postgres_class()
    return _POSTGRES
