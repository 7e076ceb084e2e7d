"""``ringi db init`` / ``ringi db status``: the event store's schema, on purpose.

The event store is the database of RINGI_STORE (``sqlite``: the data
directory's ``events.db``; ``postgres``: schema RINGI_POSTGRES_SCHEMA of
RINGI_POSTGRES_DSN). On PostgreSQL nothing creates its tables implicitly
(unless RINGI_CREATE_TABLES=true): ``ringi db init`` creates the schema and the
tables, records the schema version, and later brings an older database up to
date. It is idempotent, and safe to run from several processes at once.

``ringi db rebuild-projections`` empties the read model (``ringi.projection``)
and folds every event into it again.

``ringi db resume-workflows`` rebuilds what Temporal derives from the store:
it starts a workflow, loaded from the store, for every open request that has
none (after Temporal's own database was lost or replaced, or an event store
restored into a fresh deployment); ``ringi up`` does the same as it starts.

Exit status: 0 done (for status: the database is at this ringi's version),
1 refused or not initialised, 2 usage error; resume-workflows: 5 some open
requests still have no workflow (run it again to start the rest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .. import database

if TYPE_CHECKING:
    from ..service import Ringi
    from ..starting import Starts
    from ..store import RingiStore
from .context import fail as _fail
from .context import installation, print_json, run_with_ringi
from .render import echo
from .starts import DEFAULT_CONCURRENCY, Concurrency, leave_if_incomplete

db_app = typer.Typer(
    help="The event store's database: create and upgrade its schema (db init), show it.",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="print JSON")]


@db_app.command("init")
def init(ctx: typer.Context) -> None:
    """Create the event store's schema and tables, or upgrade them; idempotent."""
    settings = installation(ctx).settings()
    place = database.where(settings)
    try:
        done = database.init(settings)
    except database.SchemaError as error:
        raise _fail(str(error)) from None
    except Exception as error:
        if _unreachable(error):
            raise _fail(f"cannot open {place}: {error}") from None
        raise
    if not done.applied:
        echo(f"{place}: already at schema version {done.after}; nothing to do")
        return
    for step in done.applied:
        echo(f"{place}: schema version {step.version}: {step.description}")
    before = "nothing" if done.before is None else f"version {done.before}"
    echo(f"{place}: from {before} to schema version {done.after}")


@db_app.command("status")
def status(ctx: typer.Context, as_json: Json = False) -> None:
    """The schema version the event store's database is at, and this ringi's.
    Exit 1 unless they are the same (`ringi db init` then brings it up to date)."""
    settings = installation(ctx).settings()
    place = database.where(settings)
    try:
        found = database.status(settings)
    except Exception as error:
        if _unreachable(error):
            raise _fail(f"cannot open {place}: {error}") from None
        raise
    if as_json:
        print_json(
            {
                "database": place,
                "version": found.version,
                "expected": database.SCHEMA_VERSION,
                "tables": sorted(found.tables),
                "current": found.current,
            }
        )
    else:
        recorded = "none recorded" if found.version is None else str(found.version)
        echo(f"{place}")
        echo(f"  schema version: {recorded} (this ringi: {database.SCHEMA_VERSION})")
        echo(f"  tables: {', '.join(sorted(found.tables)) or 'none'}")
        if not found.current:
            echo("  run `ringi db init` to bring it to this ringi's version")
    if not found.current:
        raise typer.Exit(1)


@db_app.command("resume-workflows")
def resume_workflows(
    ctx: typer.Context,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    as_json: Json = False,
) -> None:
    """Start a workflow, from the store, for every open request without one.

    Idempotent: a request whose workflow runs is left alone, so running it again
    starts only what is left. Starts go a few at a time (--concurrency), each
    with its own deadline and none for the whole. Its timers (deadlines,
    objection windows) run again from the state the events give. Exit 5 if
    some could not be started (run it again).
    """
    from .progress import progress

    async def work(ringi: Ringi) -> Starts:
        with progress("starting workflows", quiet=as_json) as advance:
            return await ringi.resume_workflows(concurrency=concurrency, advance=advance)

    starts = run_with_ringi(ctx, work, timeout=None)
    if as_json:
        print_json(starts.summary())
    elif starts.started:
        echo(
            f"started the workflows of {len(starts.started)} open requests: {_numbers(starts.started)}"
        )
        if starts.failed:
            echo(f"{len(starts.failed)} remaining")
    elif starts.complete:
        echo("every open request has its workflow; nothing to do")
    leave_if_incomplete(starts)


@db_app.command("rebuild-projections")
def rebuild_projections(ctx: typer.Context, as_json: Json = False) -> None:
    """Empty the read model (ringi.projection) and fold every event into it again.

    Reads bring it up to date by themselves, and a projection written by another
    version of ringi is rebuilt as it is next read: this is for a projection
    that `ringi audit verify` found changed behind ringi's back. Safe while
    ringi runs: readers wait for the rebuild's transactions, and the
    checkpoints of past meetings are made again as their registers are read.
    """
    from ..projection.catchup import rebuild, views_of
    from .context import with_store
    from .progress import progress

    def work(store: RingiStore) -> tuple[int, int]:
        with progress("rebuilding the read model", quiet=as_json) as advance:
            applied = rebuild(store, progress=advance)
        return applied, views_of(store).position()

    applied, position = with_store(ctx, work)
    if as_json:
        print_json({"events": applied, "position": position})
    else:
        echo(f"rebuilt the read model from {applied} request events (log position {position})")


def _numbers(numbers: list[int]) -> str:
    shown = ", ".join(f"No.{n}" for n in numbers[:20])
    return shown + (f" and {len(numbers) - 20} more" if len(numbers) > 20 else "")


def _unreachable(error: Exception) -> bool:
    """A database that cannot be reached or opened (rather than a bug of ours)."""
    import sqlite3

    import psycopg

    return isinstance(error, psycopg.OperationalError | sqlite3.OperationalError | OSError)
