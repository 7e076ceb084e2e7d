"""``ringi audit``: what an auditor runs. Nothing here writes.

Exit status: 0 done (and, for verify and reconcile, nothing found), 1 something
found or refused, 2 usage error.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .context import REFUSED, guarded, print_json, run_with_ringi, with_store
from .desk import through_api
from .inputs import REQUEST
from .render import echo, when

if TYPE_CHECKING:  # each command imports what it runs
    from ..audit.reconcile import Difference
    from ..audit.verify import Anchor, Report
    from ..service import Ringi
    from ..store import RingiStore

audit_app = typer.Typer(
    help="Audit the record: verify it, reconcile it with the workflows, read and export it.",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="print JSON")]


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@audit_app.command("verify")
def verify_(
    ctx: typer.Context,
    workflows: Annotated[
        bool,
        typer.Option(
            "--workflows",
            help="also check each chain reaches the version its workflow holds "
            "(needs Temporal; catches a deleted last event)",
        ),
    ] = False,
    seal: Annotated[
        list[Path] | None,
        typer.Option(
            "--seal",
            help="also check every chain still reaches the head this seal "
            "(`ringi audit seal`) recorded; repeat for several",
            dir_okay=False,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Walk every request's hash chain and every published register's digest.

    One line per finding: the request, the version, what was done to it
    (edited, deleted, reordered, inserted). Exit 1 if anything is found.
    """
    from ..audit import seal as seals
    from ..audit.reconcile import workflow_anchors
    from ..audit.verify import Report, verify

    remote = through_api(ctx)
    if remote is not None:  # the server verifies its store; the seals go from here
        kept = guarded(lambda: [seals.read(path) for path in seal or ()])
        found = remote.through(lambda api: api.verify(kept, workflows))
        anchored = found["anchors"]
        _print_report(
            Report(findings=found["findings"], chains=found["chains"], events=found["events"]),
            anchored,
            as_json,
            f", {anchored} heads of seals and workflows" if anchored else "",
        )
        return
    sealed: list[Anchor] = guarded(
        lambda: [a for path in seal or () for a in seals.read(path).anchors()]
    )
    held: list[Anchor] = []
    if workflows:

        async def gather(ringi: Ringi) -> list[Anchor]:
            return await workflow_anchors(ringi)

        held = run_with_ringi(ctx, gather)
    anchors = sealed + held

    def check(store: RingiStore) -> Report:
        return verify(store, anchors)

    report = with_store(ctx, check)
    detail = (f", {len(sealed)} sealed heads" if seal else "") + (
        f", {len(held)} workflow anchors" if workflows else ""
    )
    _print_report(report, len(anchors), as_json, detail)


def _print_report(report: Report, anchors: int, as_json: bool, detail: str) -> None:
    """What ``verify`` found (exit 1 if anything), here or through the API."""
    from ..audit.verify import NOT_CHAINED

    if as_json:
        print_json(
            {
                "clean": report.clean,
                "chains": report.chains,
                "events": report.events,
                "anchors": anchors,
                "findings": [f.model_dump(mode="json") for f in report.findings],
                "not_covered": NOT_CHAINED,
            }
        )
    else:
        for finding in report.findings:
            echo(finding.line())
        if report.clean:
            echo(
                f"verified: {report.chains} chains, {report.events} events{detail}; nothing altered"
            )
        echo(f"({NOT_CHAINED})")
    if not report.clean:
        raise typer.Exit(REFUSED)


@audit_app.command("seal")
def seal_(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="write the seal to this file (default: stdout)"),
    ] = None,
) -> None:
    """Seal the record: every chain's last version and hash, and one digest over them.

    Keep the seal where the database's writers cannot reach it (with the
    meeting's register, in the minutes); `ringi audit verify --seal FILE` then
    names any event later cut from or rewritten at the end of a chain, which a
    chain cannot show by itself. Refused (exit 1) unless the store verifies clean.
    """
    from ..audit import seal as seals

    remote = through_api(ctx)
    if remote is not None:  # the server seals its store; the seal is kept here
        made = guarded(lambda: remote.through(lambda api: api.seal()))
    else:
        made = with_store(ctx, lambda store: seals.take(store, datetime.now(UTC)))
    if output is None:
        sys.stdout.write(made.model_dump_json(indent=1) + "\n")
        return
    seals.write(made, output)
    echo(f"sealed {len(made.heads)} chains, {made.events} events: {made.digest}")


@audit_app.command("reconcile")
def reconcile_(ctx: typer.Context, as_json: Json = False) -> None:
    """Compare every workflow's state with the state folded from the store.

    Exit 1 if any request differs.
    """
    from ..audit.reconcile import reconcile

    async def work(ringi: Ringi) -> list[Difference]:
        return await reconcile(ringi)

    differences = run_with_ringi(ctx, work)
    if as_json:
        print_json(
            {
                "clean": not differences,
                "differences": [d.model_dump(mode="json") for d in differences],
            }
        )
    else:
        for difference in differences:
            echo(difference.line())
        if not differences:
            echo("every workflow holds the state the store folds")
    if differences:
        raise typer.Exit(REFUSED)


@audit_app.command("history")
def history_(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="the request's No.", parser=REQUEST)],
    as_json: Json = False,
) -> None:
    """A request's timeline as stored: time, actor, meeting, event, hash."""
    from ..audit.trail import history

    remote = through_api(ctx)
    entries = (
        remote.through(lambda api: api.history(number))
        if remote is not None
        else with_store(ctx, lambda store: list(history(store, number)))
    )
    if as_json:
        print_json([entry.model_dump(mode="json") for entry in entries])
        return
    for e in entries:
        meeting = f"第{e.meeting}回" if e.meeting else "-"
        # when it was recorded, where that is not when it happened (an import dates
        # history by its meetings, placeholders perhaps; a timer fires late)
        recorded = (
            f"  recorded {when(e.recorded_at)}"
            if e.recorded_at is not None and (e.at is None or when(e.at) != when(e.recorded_at))
            else ""
        )
        echo(
            f"v{e.version:<3} {when(e.at)}  {e.actor or '-':<24} {meeting:<7} "
            f"{e.event:<26} {(e.hash or '-')[:16]}{recorded}"
        )


@audit_app.command("export")
def export_(
    ctx: typer.Context,
    format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (JSON Lines) or csv")
    ] = ExportFormat.JSONL,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="write to this file (default: standard output)"),
    ] = None,
) -> None:
    """Every event of every aggregate, in the order recorded, streamed page by page."""
    from ..audit.trail import WRITERS, export

    write = WRITERS[format.value]

    def run(store: RingiStore) -> int:
        if output is None:
            return write(export(store), sys.stdout)
        with output.open("w", encoding="utf-8", newline="") as out:
            return write(export(store), out)

    remote = through_api(ctx)
    if remote is not None:  # streamed from the server as it reads its store
        if output is None:
            sys.stdout.flush()
            count = remote.through(lambda api: api.export(format.value, sys.stdout.buffer))
            sys.stdout.buffer.flush()
        else:
            with output.open("wb") as out:
                count = remote.through(lambda api: api.export(format.value, out))
    else:
        count = with_store(ctx, run)
    if output is not None:
        typer.echo(f"{count} events written to {output}", err=True)
