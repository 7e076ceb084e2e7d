"""Progress of long work on stderr (``rich.progress``), for people only.

Silent when stderr is not a terminal (a script, CI, a pipe) and when the
command prints ``--json``: the output a program reads never carries it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress(description: str, *, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A function ``advance(done, total)`` that moves a bar, for the block."""
    if quiet or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
