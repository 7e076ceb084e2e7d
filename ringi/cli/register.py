"""``ringi register`` (資料2: replay, render, publish, diff) and ``ringi import``.

Reading, rendering, publishing and diffing work from the event store alone,
without Temporal; importing also starts the workflows of the imported requests
that are still open, so it needs the server (``ringi up``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..domain.days import JST, end_of_day
from .context import (
    USAGE,
    fail,
    guarded,
    installation,
    print_json,
    run_with_ringi,
    with_store,
)
from .desk import through_api
from .inputs import MEETING, number, secretariat
from .render import echo, parse_until, request_text
from .starts import DEFAULT_CONCURRENCY, Concurrency, echo_starts, leave_if_incomplete

if TYPE_CHECKING:  # each command imports what it runs
    from ..register.importer import ImportPlan
    from ..register.render import Format, Lang
    from ..register.replay import Cutoff
    from ..service import Ringi
    from ..starting import Starts
    from ..store import ImportOutcome, RingiStore
    from .remote import Remote


class FormatOption(StrEnum):
    html = "html"
    csv = "csv"
    xlsx = "xlsx"
    md = "md"
    json = "json"


class LangOption(StrEnum):
    ja = "ja"
    en = "en"


register_app = typer.Typer(
    help="The register (資料2) as of a meeting or a moment, replayed from the events: "
    "render it, publish it, compare two meetings.",
)

MeetingOption = Annotated[
    int | None,
    typer.Option(
        "--meeting",
        help="as of meeting N (第N回)",
        parser=number("--meeting", "a meeting's number (第N回)"),
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="as of a moment: ISO date-time (Japan's time if no zone) or YYYY-MM-DD "
        "(the end of that day in Japan)",
    ),
]
FormatArg = Annotated[
    FormatOption | None,
    typer.Option("--format", help="html|csv|xlsx|md|json (default: from --output, else md)"),
]
LangArg = Annotated[LangOption, typer.Option("--lang", help="headings in ja or en")]
User = Annotated[str | None, typer.Option("--user", help="who you are (recorded with the event)")]


def install(app: typer.Typer) -> None:
    """Add ``ringi register ...`` and ``ringi import`` to the command line."""
    app.add_typer(register_app, name="register")
    app.command("import")(import_register)


def _cutoff(store: RingiStore, meeting: int | None, as_of: str | None) -> Cutoff:
    from ..register.replay import meeting_cutoff, moment_cutoff

    if meeting is not None:
        return meeting_cutoff(store, meeting)
    return moment_cutoff(store, parse_until(as_of, "--as-of") if as_of else datetime.now(tz=JST))


def _write(data: bytes, output: Path | None, binary: bool) -> None:
    if output is not None:
        output.write_bytes(data)
        return
    if binary and sys.stdout.isatty():
        raise fail("xlsx is binary: write it to a file with --output FILE", USAGE)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _remote_cutoff(remote: Remote, meeting: int | None, at: datetime | None) -> datetime:
    """The moment a request shown as of ``meeting`` or ``at`` is seen from (for the
    days left to its deadline): the end of the meeting's day, as the server cuts it."""
    if meeting is None:
        return at or datetime.now(tz=JST)
    held = remote.through(lambda api: api.meetings()).get(meeting)
    return end_of_day(held) if held is not None else datetime.now(tz=JST)


@register_app.callback(invoke_without_command=True)
def register(
    ctx: typer.Context,
    meeting: MeetingOption = None,
    as_of: AsOf = None,
    fmt: FormatArg = None,
    lang: LangArg = LangOption.ja,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to FILE instead of stdout")
    ] = None,
    request: Annotated[
        int | None,
        typer.Option(
            "--request",
            help="show only No.N as it stood then",
            parser=number("--request", "a request's No."),
        ),
    ] = None,
) -> None:
    """The register (資料2) as of meeting N (--meeting) or a moment (--as-of; now if
    neither): every request open then, or closed since the previous meeting."""
    if ctx.invoked_subcommand is not None:
        return
    from ..register.render import EXTENSIONS
    from ..register.replay import request_as_of

    if meeting is not None and as_of is not None:
        raise fail("give --meeting N or --as-of TIMESTAMP, not both", USAGE)
    if as_of is not None:
        parse_until(as_of, "--as-of")  # a usage error before the store is opened
    chosen: Format
    by_extension = {e: f for f, e in EXTENSIONS.items()}
    if fmt is not None:
        chosen = fmt.value
    elif output is not None:
        found = by_extension.get(output.suffix.lower())
        if found is None:
            known = ", ".join(sorted(by_extension))
            raise fail(
                f"{output.name}: no format for {output.suffix or 'a name without an extension'} "
                f"(give --format, or an output ending in {known})",
                USAGE,
            )
        chosen = found
    else:
        chosen = "md"
    language: Lang = lang.value

    remote = through_api(ctx)
    at = parse_until(as_of, "--as-of") if as_of is not None else None
    if remote is not None:
        if request is not None:
            view = remote.through(lambda api: api.request_then(request, meeting, at))
            if chosen == "json":
                print_json(view.model_dump(mode="json"))
            else:
                echo(request_text(view, [], _remote_cutoff(remote, meeting, at)))
            return
        data = remote.through(lambda api: api.register(meeting, at, chosen, language))
        _write(data, output, chosen == "xlsx")
        return

    if request is not None:
        number = request

        def one(store: RingiStore) -> None:
            cutoff = _cutoff(store, meeting, as_of)
            view = request_as_of(store, number, cutoff)
            if chosen == "json":
                print_json(view.model_dump(mode="json"))
            else:
                echo(request_text(view, [], cutoff.at))

        with_store(ctx, one)
        return

    def work(store: RingiStore) -> bytes:
        from ..register.kept import rendered

        return rendered(store, _cutoff(store, meeting, as_of), chosen, language)[0]

    _write(with_store(ctx, work), output, chosen == "xlsx")


@register_app.command("publish")
def publish_command(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="the meeting (第N回)", parser=MEETING)],
    formats: Annotated[
        list[FormatOption] | None,
        typer.Option("--format", help="a format to publish in; repeat (default: html)"),
    ] = None,
    lang: LangArg = LangOption.ja,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="also write the published files here"),
    ] = None,
    user: User = None,
) -> None:
    """[secretariat] Publish meeting N's register: record its cutoff and digest."""
    from ..register.publish import publish
    from ..register.render import EXTENSIONS, title

    chosen: list[Format] = [f.value for f in formats] if formats else ["html"]
    language: Lang = lang.value
    remote = through_api(ctx)
    files: dict[Format, bytes]
    if remote is not None:  # the token's user publishes (--user is not sent)
        wanted = output_dir is not None  # fetched only to be written
        made, fetched = remote.through(
            lambda api: api.publish(number, list(chosen), language, fetch=wanted)
        )
        files = {f: fetched[f] for f in chosen} if wanted else {}
        digest = made["digest"]
        headline = f"第{number}回 register published"
    else:
        actor = secretariat(user)
        published = with_store(
            ctx, lambda store: publish(store, number, formats=chosen, lang=language, actor=actor)
        )
        files, digest = published.files, published.digest
        headline = (
            f"{title(published.document, language)} published: {len(published.document.rows)} rows"
        )
    written: list[str] = []
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        for fmt, data in files.items():
            path = output_dir / f"ringi-register-{number}-{language}{EXTENSIONS[fmt]}"
            path.write_bytes(data)
            written.append(str(path))
    echo(f"{headline}, sha256 {digest}")
    for name in written:
        echo(f"  {name}")


@register_app.command("diff")
def diff_command(
    ctx: typer.Context,
    before: Annotated[
        int,
        typer.Argument(help="the earlier meeting", parser=number("BEFORE", "a meeting's number")),
    ],
    after: Annotated[
        int, typer.Argument(help="the later meeting", parser=number("AFTER", "a meeting's number"))
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """What changed between two meetings: new requests, stage changes, new answers
    and support changes."""
    from ..register.diff import diff_meetings

    remote = through_api(ctx)
    if remote is not None:
        changes = remote.through(lambda api: api.diff(before, after))
    else:
        changes = with_store(ctx, lambda store: diff_meetings(store, before, after))
    if as_json:
        print_json(changes.model_dump(mode="json"))
    else:
        echo(changes.text())


def import_register(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="the register: six tab-separated columns", exists=True, dir_okay=False),
    ],
    meeting_dates: Annotated[
        Path | None,
        typer.Option(
            "--meeting-dates",
            exists=True,
            dir_okay=False,
            help="N<TAB>YYYY-MM-DD a line: the meetings' dates (placeholders otherwise)",
        ),
    ] = None,
    meeting: Annotated[
        int | None,
        typer.Option(
            "--meeting",
            help="whose register it is (default: its highest 第N回 tag)",
            parser=number("--meeting", "a meeting's number (第N回)"),
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="only check the file; write nothing")
    ] = False,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
    user: User = None,
) -> None:
    """[secretariat] Import a register kept before ringi (資料2), as historical events.

    Every answer keeps its meeting; the meetings it names are opened (with
    placeholder dates unless --meeting-dates gives them); the numbers are
    claimed, so later filings continue after the highest; the requests left
    open get their workflows. A malformed row is reported with its line number
    and nothing is written. Importing the same file again changes nothing.

    The store is written first, in one transaction; then the workflows start,
    --concurrency at a time, with no overall timeout. Exit 5 if some could not
    be started: the import is written, and `ringi db resume-workflows` (or the
    same import again) starts the rest."""
    from ..register.importer import parse_meeting_dates, parse_register, plan_import

    parsed = guarded(lambda: parse_register(file.read_bytes(), str(file)))
    given = (
        guarded(lambda: parse_meeting_dates(meeting_dates.read_bytes(), str(meeting_dates)))
        if meeting_dates is not None
        else {}
    )
    actor = secretariat(user)

    def plan_for(known: Mapping[int, datetime]) -> ImportPlan:
        """The import of this file into a store whose meetings are ``known``."""
        return plan_import(parsed, known=known, given=given, register_meeting=meeting)

    if check:
        settings = installation(ctx).settings()

        def preview(store: RingiStore) -> str:
            # the same plan and the same decisions as the import, against this store
            plan = plan_for(store.meetings())
            outcome = store.import_register(
                plan.meetings, plan.requests, settings.policy(), actor, write=False
            )
            return _plan_text(plan, str(file), outcome)

        if settings.store == "sqlite" and not settings.event_store_path.exists():
            # no store yet: everything in the file is new
            plan = guarded(lambda: plan_for({}))
            echo(_plan_text(plan, str(file), None))
        else:
            echo(with_store(ctx, preview))
        return

    import asyncio
    import time

    from .progress import progress

    async def work(ringi: Ringi) -> tuple[ImportPlan, ImportOutcome, Starts]:
        began = time.monotonic()
        plan = plan_for(ringi.store.meetings())
        with progress("writing the register", quiet=as_json) as writing:
            outcome = await asyncio.to_thread(
                ringi.store.import_register,
                plan.meetings,
                plan.requests,
                ringi.settings.policy(),
                actor,
                progress=writing,
            )
        written = time.monotonic()
        with progress("starting workflows", quiet=as_json) as starting:
            starts = await ringi.resume_workflows(concurrency=concurrency, advance=starting)
        seconds["write"], seconds["start"] = written - began, time.monotonic() - written
        return plan, outcome, starts

    seconds: dict[str, float] = {}
    plan, outcome, starts = run_with_ringi(ctx, work, timeout=None)
    if as_json:
        print_json(
            {
                "register_meeting": plan.register_meeting,
                "rows": len(plan.requests),
                "imported": len(outcome.imported),
                "already_imported": len(outcome.already),
                "meetings_opened": outcome.meetings_opened,
                "workflows": starts.summary(),
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
            }
        )
        leave_if_incomplete(starts)
        return
    echo(
        f"{file}: the register of 第{plan.register_meeting}回, {len(plan.requests)} rows: "
        f"{len(outcome.imported)} imported, {len(outcome.already)} already imported"
    )
    if outcome.meetings_opened:
        placeholders = [n for n in outcome.meetings_opened if n in plan.placeholders]
        echo(
            "meetings opened: "
            + ", ".join(f"第{n}回" for n in outcome.meetings_opened)
            + (
                f" (placeholder dates for {', '.join(map(str, placeholders))}: "
                "give --meeting-dates to set them)"
                if placeholders
                else ""
            )
        )
    echo_starts(starts)
    leave_if_incomplete(starts)


def _plan_text(plan: ImportPlan, source: str, outcome: ImportOutcome | None) -> str:
    """What ``--check`` found: the plan, and what the import would do to the store
    (None: there is no store yet, so all of it is new)."""
    lines = [
        f"{source}: the register of 第{plan.register_meeting}回, {len(plan.requests)} rows, "
        f"{len(plan.open_rows)} open; nothing written (--check)"
    ]
    if outcome is not None:
        lines.append(
            f"  would import {len(outcome.imported)} rows; {len(outcome.already)} already imported"
        )
    opened = set(outcome.meetings_opened) if outcome is not None else None
    for m in plan.meetings:
        flag = " (placeholder)" if m.number in plan.placeholders else ""
        known = "" if opened is None or m.number in opened else "  (open already)"
        lines.append(f"  第{m.number}回  {m.held_at.date().isoformat()}{flag}{known}")
    return "\n".join(lines)
