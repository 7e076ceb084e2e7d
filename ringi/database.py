"""The event store's tables: created and upgraded on purpose, never by surprise.

``ringi db init`` creates what the event store needs (the PostgreSQL schema,
eventsourcing's tables: ``ringi_events`` and ``ringi_snapshots`` there,
``stored_events`` and ``stored_snapshots`` in SQLite) and records
the schema version it brought them to in a small table of its own,
``ringi_schema_version`` (one row per step applied, with when). Running it
again does nothing; run against an older database, it applies the steps after
the version recorded there, so later upgrades start from a known place. On
PostgreSQL the steps run under an advisory lock, so several ``db init`` at once
(a scaled deployment starting) apply each step once; every step is idempotent
and recorded with ``ON CONFLICT DO NOTHING`` / ``INSERT OR IGNORE`` besides.

Every ``RingiStore`` checks the recorded version when it opens. Where tables
are not created implicitly (``Settings.create_tables``; by default not on
PostgreSQL) a database that is missing its tables, or is older than this
ringi, refuses to open with ``StoreNotInitialised``, which says to run ``ringi
db init``; where they are (SQLite, development) eventsourcing creates them as
the store opens and the store records their version. An upgrade always takes
``ringi db init``, and a database newer than this ringi refuses either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import Settings
    from .store import RingiStore

VERSION_TABLE = "ringi_schema_version"
#: the tables eventsourcing keeps ringi's events and snapshots in, per database
EVENT_TABLES = {
    "postgres": frozenset({"ringi_events", "ringi_snapshots"}),  # after ``RingiStore.name``
    "sqlite": frozenset({"stored_events", "stored_snapshots"}),
}


class SchemaError(Exception):
    """The event store's database is not at the schema version this ringi needs."""


class StoreNotInitialised(SchemaError):
    """The database lacks ringi's tables, or is older than this ringi."""


class StoreTooNew(SchemaError):
    """The database was brought to a schema version this ringi does not know."""


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    #: brings a database at ``version - 1`` to ``version``
    apply: Callable[[Settings], None]


def _create_event_tables(settings: Settings) -> None:
    from .store import RingiStore

    env = settings.eventsourcing_env() | {"CREATE_TABLE": "y"}
    # eventsourcing's own CREATE TABLE/INDEX/TYPE ... IF NOT EXISTS: adopts a
    # database whose tables an older ringi created implicitly
    RingiStore(env=env, check_schema=False).close()


def _create_projection_tables(settings: Settings) -> None:
    from .projection.catchup import views_of
    from .store import RingiStore

    env = settings.eventsourcing_env() | {"CREATE_TABLE": "y"}
    store = RingiStore(env=env, check_schema=False)
    try:
        views_of(store)  # creates its tables where the store creates tables
    finally:
        store.close()


#: every step from an empty database to the current schema, in order
STEPS: tuple[Step, ...] = (
    Step(
        1,
        "the event store's tables (eventsourcing 9's events and snapshots)",
        _create_event_tables,
    ),
    Step(
        2,
        "the read model's tables and its tracking record (ringi.projection)",
        _create_projection_tables,
    ),
    Step(
        3,
        "the register's search index (ringi_search; on PostgreSQL with pg_trgm's index)",
        _create_projection_tables,  # CREATE ... IF NOT EXISTS: adds what step 2 lacked
    ),
)
SCHEMA_VERSION = STEPS[-1].version


def where(settings: Settings) -> str:
    """The event store's database, in words."""
    if settings.store == "postgres":
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(settings.postgres_dsn)
        return (
            f"PostgreSQL schema {settings.postgres_schema!r} of database "
            f"{info.get('dbname', '?')!r} at {info.get('host', '?')}:{info.get('port', 5432)}"
        )
    return f"SQLite file {settings.event_store_path}"


# --- reading the recorded version ------------------------------------------------------


class _Cursor(Protocol):
    def execute(self, query: Any, params: Any = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


def _first(row: Any) -> Any:
    if row is None:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _pg_tables(cursor: _Cursor, schema: str) -> set[str]:
    cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
    )
    return {_first(row) for row in cursor.fetchall()}


def _sqlite_tables(cursor: _Cursor) -> set[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {_first(row) for row in cursor.fetchall()}


def _recorded(cursor: _Cursor, tables: set[str], qualified: str) -> int | None:
    """The version recorded in the database, None if none is."""
    if VERSION_TABLE not in tables:
        return None
    cursor.execute(f"SELECT MAX(version) FROM {qualified}")
    found = _first(cursor.fetchone())
    return None if found is None else int(found)


def _pg_qualified(schema: str) -> str:
    from psycopg import sql

    return (
        sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(VERSION_TABLE)).as_string()
    )


@dataclass(frozen=True)
class Status:
    """What the database holds: the version recorded, and which of ringi's tables exist."""

    version: int | None
    #: the tables of ringi's (the version table and the event store's) that exist
    tables: frozenset[str]

    @property
    def current(self) -> bool:
        return self.version == SCHEMA_VERSION


def status(settings: Settings) -> Status:
    """The schema version recorded in the event store's database (without creating anything)."""
    if settings.store == "postgres":
        import psycopg

        with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
            cursor = conn.cursor()
            tables = _pg_tables(cursor, settings.postgres_schema)
            version = _recorded(cursor, tables, _pg_qualified(settings.postgres_schema))
            return Status(version, _ours(tables, "postgres"))
    import sqlite3

    path = settings.event_store_path
    if not path.exists():
        return Status(None, frozenset())
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as lite:
        reader = lite.cursor()
        tables = _sqlite_tables(reader)
        return Status(_recorded(reader, tables, VERSION_TABLE), _ours(tables, "sqlite"))


def _ours(tables: set[str], kind: str) -> frozenset[str]:
    return frozenset(tables & (EVENT_TABLES[kind] | {VERSION_TABLE}))


# --- creating and upgrading -----------------------------------------------------------


@dataclass(frozen=True)
class Initialised:
    """What ``init`` did: the version before (None: nothing was there) and after."""

    before: int | None
    after: int
    applied: tuple[Step, ...]


@contextmanager
def _locked(settings: Settings) -> Iterator[Callable[[], int | None]]:
    """Holds the database's init lock; yields a reader of the recorded version."""
    if settings.store == "postgres":
        import psycopg
        from psycopg import sql

        schema = settings.postgres_schema
        with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
            # one init at a time per schema, across processes and machines
            conn.execute(
                "SELECT pg_advisory_lock(hashtext('ringi db init'), hashtext(%s))", (schema,)
            )
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.{} (version integer PRIMARY KEY, "
                    "description text NOT NULL, applied_at timestamptz NOT NULL)"
                ).format(sql.Identifier(schema), sql.Identifier(VERSION_TABLE))
            )

            def read() -> int | None:
                cursor = conn.cursor()
                return _recorded(cursor, _pg_tables(cursor, schema), _pg_qualified(schema))

            try:
                yield read
            finally:
                conn.execute(
                    "SELECT pg_advisory_unlock(hashtext('ringi db init'), hashtext(%s))", (schema,)
                )
        return

    import sqlite3

    settings.event_store_path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(settings.event_store_path, timeout=30)) as lite:
        lite.isolation_level = None
        lite.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )

        def read_sqlite() -> int | None:
            cursor = lite.cursor()
            return _recorded(cursor, _sqlite_tables(cursor), VERSION_TABLE)

        yield read_sqlite


def _record(settings: Settings, step: Step) -> None:
    at = datetime.now(tz=UTC)
    if settings.store == "postgres":
        import psycopg
        from psycopg import sql

        with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.{} (version, description, applied_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (version) DO NOTHING"
                ).format(sql.Identifier(settings.postgres_schema), sql.Identifier(VERSION_TABLE)),
                (step.version, step.description, at),
            )
        return
    import sqlite3

    with closing(sqlite3.connect(settings.event_store_path, timeout=30)) as lite, lite:
        lite.execute(
            f"INSERT OR IGNORE INTO {VERSION_TABLE} (version, description, applied_at) "
            "VALUES (?, ?, ?)",
            (step.version, step.description, at.isoformat()),
        )


def init(settings: Settings) -> Initialised:
    """Create the event store's schema and tables, or bring them up to date.
    Idempotent; safe to run from several processes at once."""
    with _locked(settings) as recorded:
        before = recorded()
        if before is not None and before > SCHEMA_VERSION:
            raise StoreTooNew(_too_new(settings, before))
        applied = []
        for step in STEPS:
            if before is None or step.version > before:
                step.apply(settings)
                _record(settings, step)
                applied.append(step)
        return Initialised(before, SCHEMA_VERSION, tuple(applied))


# --- the check every store makes as it opens ---------------------------------------------


def check(store: RingiStore) -> None:
    """Refuse a database this ringi cannot use; where tables are created
    implicitly, also record the version they were created at."""
    datastore: Any = getattr(store.factory, "datastore", None)
    if datastore is None:  # a persistence module without a database (in memory)
        return
    creates: bool = store.factory.env_create_table()  # type: ignore[attr-defined]
    module = store.env.get("PERSISTENCE_MODULE") or ""
    needed = EVENT_TABLES["postgres" if module.endswith("postgres") else "sqlite"]
    if module.endswith("postgres"):
        schema: str = datastore.schema
        with datastore.transaction(commit=False) as cursor:
            tables = _pg_tables(cursor, schema)
            version = _recorded(cursor, tables, _pg_qualified(schema))
        place = f"PostgreSQL schema {schema!r} of database {_pg_dbname(datastore)!r}"
    else:
        with datastore.transaction(commit=False) as cursor:
            tables = _sqlite_tables(cursor)
            version = _recorded(cursor, tables, VERSION_TABLE)
        place = f"SQLite file {store.env.get('SQLITE_DBNAME')}"
    if version is not None and version > SCHEMA_VERSION:
        raise StoreTooNew(_too_new(place, version))
    if creates and (version is None or version < SCHEMA_VERSION):
        # created just now, by eventsourcing, as the store opened; or older, where
        # tables are created as a store opens: the read model's come with it
        from .projection.catchup import views_of

        views_of(store)
        _record_in(datastore, postgres=module.endswith("postgres"))
        return
    missing = sorted(needed - tables)
    if version is None and len(missing) == len(needed):
        state = "has no ringi tables"
    elif version is None:
        state = "has no recorded schema version"
    elif version < SCHEMA_VERSION:
        state = f"is at schema version {version}, this ringi needs {SCHEMA_VERSION}"
    elif missing:
        state = f"is missing the tables {', '.join(missing)}"
    else:
        return
    raise StoreNotInitialised(
        f"the event store ({place}) {state}: run `ringi db init` "
        "(with the same RINGI_STORE / RINGI_POSTGRES_DSN / RINGI_POSTGRES_SCHEMA) first"
    )


def _record_in(datastore: Any, *, postgres: bool) -> None:
    """Record the version of tables a store created implicitly as it opened."""
    at = datetime.now(tz=UTC)
    with datastore.transaction(commit=True) as cursor:
        if postgres:
            from psycopg import sql

            schema = datastore.schema
            # stores opening at once must not race on CREATE TABLE IF NOT EXISTS
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext('ringi db init'), hashtext(%s))", (schema,)
            )
            table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(VERSION_TABLE))
            cursor.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, "
                    "description text NOT NULL, applied_at timestamptz NOT NULL)"
                ).format(table)
            )
            insert: Any = sql.SQL(
                "INSERT INTO {} (version, description, applied_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (version) DO NOTHING"
            ).format(table)
        else:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            insert = (
                f"INSERT OR IGNORE INTO {VERSION_TABLE} (version, description, applied_at) "
                "VALUES (?, ?, ?)"
            )
        for step in STEPS:
            cursor.execute(
                insert, (step.version, step.description, at if postgres else at.isoformat())
            )


def _pg_dbname(datastore: Any) -> str:
    return str(datastore.pool.kwargs.get("dbname", "?"))


def _too_new(place: Settings | str, version: int) -> str:
    where_ = place if isinstance(place, str) else where(place)
    return (
        f"the event store ({where_}) is at schema version {version}, newer than this ringi "
        f"knows ({SCHEMA_VERSION}): run a ringi at least as new as the one that upgraded it"
    )
