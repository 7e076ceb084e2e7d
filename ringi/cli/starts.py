"""What ``ringi import`` and ``ringi db resume-workflows`` say about the
workflows they started (``ringi.starting``), and the exit status when some
are left: 5, with the command that starts the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .context import INCOMPLETE, fail
from .render import echo

if TYPE_CHECKING:
    from ..starting import Starts

#: the same default as ``ringi.starting.DEFAULT_CONCURRENCY``, without importing Temporal's client
Concurrency = Annotated[
    int,
    typer.Option(
        "--concurrency",
        min=1,
        max=1000,
        help="workflow starts in flight at once",
    ),
]
DEFAULT_CONCURRENCY = 32


def starts_text(starts: Starts) -> str:
    line = (
        f"workflows: {len(starts.started)} started, {len(starts.running)} already running, "
        f"{len(starts.failed)} remaining"
    )
    if starts.started and len(starts.started) <= 20:
        line += "\nworkflows started: " + ", ".join(f"No.{n}" for n in starts.started)
    return line


def leave_if_incomplete(starts: Starts) -> None:
    """Exit 5 naming what is left, if any start failed."""
    if starts.complete:
        return
    shown = ", ".join(f"No.{n}" for n in starts.remaining[:10])
    more = f" and {len(starts.failed) - 10} more" if len(starts.failed) > 10 else ""
    first = starts.failed[starts.remaining[0]]
    raise fail(
        f"{len(starts.failed)} open requests have no workflow yet ({shown}{more}; "
        f"first error: {first}): run `ringi db resume-workflows` to start the rest",
        INCOMPLETE,
    )


def echo_starts(starts: Starts) -> None:
    echo(starts_text(starts))
