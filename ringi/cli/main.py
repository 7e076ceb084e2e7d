"""The `ringi` command: every action of every role, and the embedded server.

Members act with ``--as COMPANY``; commands marked [secretariat] act as the
secretariat. Exit status: 0 done, 1 refused (the reason on stderr, nothing
written), 2 usage error, 3 cannot reach Temporal, the event store or the API,
4 outcome unknown (sent, but no answer came in time: it may have been carried
out; run it again with the --key the line names, and it is carried out once).

With ``--url``/``RINGI_URL`` and ``--token``/``RINGI_TOKEN`` the request
commands, show, list and meetings go through the HTTP API instead, acting as
the token's holder (a member's ``--as`` may then be omitted).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..database import SchemaError
from ..domain.enums import Category, CloseReason, Stage
from ..logging import LogFormat
from .audit import audit_app
from .context import (
    USAGE,
    Installation,
    describe_validation,
    fail,
    installation,
    print_json,
)
from .db import db_app
from .desk import desk
from .exit import exit_now
from .inputs import MEETING, REQUEST, number, secretariat, text_option, yen
from .keys import tagged
from .notify import install as install_notify
from .register import install as install_register
from .render import echo, parse_day, parse_until, parse_when, request_text, summary
from .serve import install as install_serve

# What the commands run is imported when one of them runs: `ringi --help` and
# the reads must not pay for the domain's models and the Temporal client.
if TYPE_CHECKING:
    from ..domain import commands as c
    from ..domain.cost import CostItem
    from ..domain.view import RequestView
    from .desk import Session
else:
    from .lazy import lazy_module

    c = lazy_module("ringi.domain.commands")

app = typer.Typer(
    name="ringi",
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
meeting_app = typer.Typer(help="Meetings (第N回) at which answers are given.", no_args_is_help=True)
app.add_typer(meeting_app, name="meeting")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")

# --- shared options -----------------------------------------------------------------

Number = Annotated[int, typer.Argument(help="the request's No.", parser=REQUEST)]
As = Annotated[
    str | None,
    typer.Option(
        "--as", help="the member company you act for (over the API: the token's; may be omitted)"
    ),
]
User = Annotated[str | None, typer.Option("--user", help="who you are (recorded with the event)")]
MeetingNo = Annotated[
    int | None,
    typer.Option(
        "--meeting",
        help="the meeting this is said at (第N回)",
        parser=number("--meeting", "a meeting's number (第N回)"),
    ),
]
Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="idempotency key: repeating a command with the same key writes once; "
        "a key is for one command (another command with it is refused). Without one a "
        "command is given a key, named if its outcome is unknown (exit 4)",
        callback=tagged,  # see ringi.cli.keys
    ),
]
Json = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", envvar="RINGI_DATA_DIR", help="the installation's data directory"
        ),
    ] = None,
    temporal: Annotated[
        str | None,
        typer.Option("--temporal", envvar="RINGI_TEMPORAL_ADDRESS", help="Temporal HOST:PORT"),
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", envvar="RINGI_NAMESPACE")] = None,
    task_queue: Annotated[
        str | None, typer.Option("--task-queue", envvar="RINGI_TASK_QUEUE")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", envvar="RINGI_URL", help="work through the ringi HTTP API at this URL"
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="RINGI_TOKEN", help="the API token (with --url)"),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            envvar="RINGI_LOG_FORMAT",
            help="how up, worker and serve log: console (for people) or json (for machines)",
        ),
    ] = None,
) -> None:
    if log_format is not None:
        # the flag wins over the environment; up, worker and serve read it from there
        os.environ["RINGI_LOG_FORMAT"] = log_format
    ctx.obj = Installation(
        data_dir=data_dir,
        temporal=temporal,
        namespace=namespace,
        task_queue=task_queue,
        url=url or None,
        token=token or None,
    )


def _command(build: Any, **fields: Any) -> Any:
    """Build a command model, turning invalid input into a usage error that names it."""
    from pydantic import ValidationError

    try:
        return build(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as error:
        raise fail(describe_validation(error), USAGE) from None


async def _until(
    session: Session, given: str | None, option: str, until_meeting: int | None
) -> datetime | None:
    """The deadline an option gives: the day meeting N is held (``--until-meeting``),
    or the date or time ``option`` gives; None with neither."""
    if until_meeting is not None:
        from ..domain.meeting import meeting_day

        return meeting_day(await session.meetings(), until_meeting)
    return parse_until(given, option) if given is not None else None


def _print_view(view: RequestView, as_json: bool) -> None:
    """What a command that changed a request prints: its state, as JSON or one line."""
    if as_json:
        print_json(view.model_dump(mode="json"))
    else:
        echo(summary(view))


def _act(ctx: typer.Context, number: int, command: c.Command, as_json: bool) -> None:
    async def work(session: Session) -> None:
        view = await session.act(number, command)
        _print_view(view, as_json)
        await _after_the_meeting(session, command.meeting)

    desk(ctx).run(work)


async def _after_the_meeting(session: Session, meeting: int | None) -> None:
    """Done, but tagged with a meeting whose day is over: say which register shows it."""
    if meeting is not None:
        from ..domain.meeting import after_its_day

        note = after_its_day(await session.meetings(), meeting, datetime.now(tz=UTC))
        if note:
            typer.echo(f"ringi: note: {note}", err=True)


# --- members ---------------------------------------------------------------------------


@app.command("file")
def file_(
    ctx: typer.Context,
    target: Annotated[str, typer.Option("--target", help="対象箇所: the part of the system")],
    body: Annotated[str, typer.Option("--body", help="ご意見・ご要望: what you ask for")],
    company: As = None,
    category: Annotated[
        str, typer.Option("--category", help="要望|意見|質問 (request|opinion|question)")
    ] = "要望",
    related: Annotated[
        list[int] | None,
        typer.Option(
            "--related", help="a related request's No.", parser=number("--related", "a No.")
        ),
    ] = None,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """File a new request; prints its number."""
    try:
        parsed = Category.parse(category)
    except ValueError as error:
        raise fail(str(error), USAGE) from None
    command = _command(
        c.FileRequest,
        actor=desk(ctx).member(company, user),
        category=parsed,
        target=target,
        body=body,
        related=tuple(related or ()),
        meeting=meeting,
        command_id=key,
    )

    async def work(session: Session) -> None:
        view = await session.file(command)
        print_json(view.model_dump(mode="json")) if as_json else echo(str(view.number))
        await _after_the_meeting(session, command.meeting)

    desk(ctx).run(work)


@app.command()
def endorse(
    ctx: typer.Context,
    number: Number,
    company: As = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """Endorse a request (賛同)."""
    _act(
        ctx,
        number,
        _command(c.Endorse, actor=desk(ctx).member(company, user), command_id=key),
        as_json,
    )


@app.command()
def unendorse(
    ctx: typer.Context,
    number: Number,
    company: As = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """Withdraw your endorsement."""
    _act(
        ctx,
        number,
        _command(c.WithdrawEndorsement, actor=desk(ctx).member(company, user), command_id=key),
        as_json,
    )


@app.command()
def append(
    ctx: typer.Context,
    number: Number,
    text: Annotated[str, typer.Option("--text", help="the note to append (追記)")],
    company: As = None,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """Append a note to your own request (追記)."""
    command = _command(
        c.AppendNote,
        actor=desk(ctx).member(company, user),
        text=text,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command("answer-clarification")
def answer_clarification(
    ctx: typer.Context,
    number: Number,
    text: Annotated[str, typer.Option("--text", "--answer", help="your answer")],
    company: As = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """Answer the secretariat's clarification question on your request."""
    command = _command(
        c.AnswerClarification, actor=desk(ctx).member(company, user), text=text, command_id=key
    )
    _act(ctx, number, command, as_json)


@app.command("object")
def object_(
    ctx: typer.Context,
    number: Number,
    reason: Annotated[str, typer.Option("--reason", help="the problem you see")],
    company: As = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """Object during the objection window."""
    command = _command(
        c.RaiseObjection, actor=desk(ctx).member(company, user), reason=reason, command_id=key
    )
    _act(ctx, number, command, as_json)


@app.command("withdraw-objection")
def withdraw_objection(
    ctx: typer.Context,
    number: Number,
    company: As = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """Withdraw your objection while the objection window is open."""
    command = _command(
        c.WithdrawObjection,
        actor=desk(ctx).member(company, user),
        reason=reason,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command()
def withdraw(
    ctx: typer.Context,
    number: Number,
    company: As = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """Withdraw your own request."""
    _act(
        ctx,
        number,
        _command(c.Withdraw, actor=desk(ctx).member(company, user), reason=reason, command_id=key),
        as_json,
    )


# --- the secretariat --------------------------------------------------------------------


@app.command("open-support")
def open_support(
    ctx: typer.Context,
    number: Number,
    deadline: Annotated[
        str | None, typer.Option("--deadline", help="YYYY-MM-DD (through that day) or ISO time")
    ] = None,
    until_meeting: Annotated[
        int | None,
        typer.Option(
            "--until-meeting",
            help="until meeting N (第N回) is held",
            parser=number("--until-meeting", "a meeting's number (第N回)"),
        ),
    ] = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Open support gathering for a filed opinion (by default for the
    policy's support window)."""
    if deadline is not None and until_meeting is not None:
        raise fail("give --deadline DATE or --until-meeting N, not both", USAGE)

    async def work(session: Session) -> None:
        until = await _until(session, deadline, "--deadline", until_meeting)
        command = _command(
            c.OpenSupport,
            actor=secretariat(user),
            deadline=until,
            until_meeting=until_meeting,
            command_id=key,
        )
        _print_view(await session.act(number, command), as_json)

    desk(ctx).run(work)


@app.command("ask-clarification")
def ask_clarification(
    ctx: typer.Context,
    number: Number,
    question: Annotated[str, typer.Option("--question")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Ask the proposer to clarify."""
    command = _command(
        c.AskClarification,
        actor=secretariat(user),
        question=question,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command("withdraw-clarification")
def withdraw_clarification(
    ctx: typer.Context,
    number: Number,
    reason: Annotated[str, typer.Option("--reason")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Withdraw the unanswered clarification question."""
    command = _command(
        c.WithdrawClarification,
        actor=secretariat(user),
        reason=reason,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command("dismiss-objection")
def dismiss_objection(
    ctx: typer.Context,
    number: Number,
    company: Annotated[str, typer.Option("--company", help="whose objection")],
    reason: Annotated[str, typer.Option("--reason", help="why it does not block")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Rule a member's objection not blocking (while the window is open)."""
    command = _command(
        c.DismissObjection,
        actor=secretariat(user),
        company=company,
        reason=reason,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command("identify-proposer")
def identify_proposer(
    ctx: typer.Context,
    number: Number,
    company: Annotated[str, typer.Option("--company", help="the company that proposed it")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Name the proposer of an imported request (its register did not)."""
    command = _command(
        c.IdentifyProposer,
        actor=secretariat(user),
        company=company,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


class CarryStage(StrEnum):
    hearing = "hearing"
    cost_evaluation = "cost_evaluation"
    implementation = "implementation"


@app.command("carry-forward")
def carry_forward(
    ctx: typer.Context,
    number: Number,
    stage: Annotated[CarryStage, typer.Option("--stage", help="where its answers say it stands")],
    reason: Annotated[str, typer.Option("--reason", help="what in the register says so")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Carry an imported request forward to where its answers say it stands."""
    command = _command(
        c.CarryForward,
        actor=secretariat(user),
        stage=Stage(stage.value),
        reason=reason,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command("extend-deadline")
def extend_deadline(
    ctx: typer.Context,
    number: Number,
    until: Annotated[
        str | None, typer.Option("--until", help="YYYY-MM-DD (through that day) or ISO time")
    ] = None,
    until_meeting: Annotated[
        int | None,
        typer.Option(
            "--until-meeting",
            help="until meeting N (第N回)",
            parser=number("--until-meeting", "a meeting's number (第N回)"),
        ),
    ] = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Extend the running deadline (support window or objection window)."""
    if (until is None) == (until_meeting is None):
        raise fail("give exactly one of --until DATE or --until-meeting N", USAGE)

    async def work(session: Session) -> None:
        deadline = await _until(session, until, "--until", until_meeting)
        assert deadline is not None  # one of the two is given
        command = _command(
            c.ExtendDeadline,
            actor=secretariat(user),
            deadline=deadline,
            reason=reason,
            meeting=meeting,
            until_meeting=until_meeting,
            command_id=key,
        )
        view = await session.act(number, command)
        _print_view(view, as_json)
        await _after_the_meeting(session, meeting)

    desk(ctx).run(work)


@app.command("open-hearing")
def open_hearing(
    ctx: typer.Context,
    number: Number,
    below_threshold: Annotated[
        str | None,
        typer.Option(
            "--below-threshold",
            metavar="REASON",
            help="hold it before the support reaches the threshold, for this reason",
        ),
    ] = None,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Open the members' hearing (needs enough support, or
    --below-threshold with the reason)."""
    if below_threshold is not None:  # the secretariat's discretion (issue 20)
        command = _command(
            c.HearBelowThreshold,
            actor=secretariat(user),
            reason=below_threshold,
            meeting=meeting,
            command_id=key,
        )
    else:
        command = _command(c.OpenHearing, actor=secretariat(user), meeting=meeting, command_id=key)
    _act(ctx, number, command, as_json)


@app.command("record-findings")
def record_findings(
    ctx: typer.Context,
    number: Number,
    text: Annotated[str, typer.Option("--text")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Record what the hearing found."""
    command = _command(
        c.RecordFindings, actor=secretariat(user), text=text, meeting=meeting, command_id=key
    )
    _act(ctx, number, command, as_json)


def _cost_item(text: str) -> CostItem:
    from pydantic import ValidationError

    from ..domain.cost import CostBearer, CostItem

    bearer, _, amount = text.partition("=")
    bearers = "|".join(b.value for b in CostBearer)
    if bearer.strip() not in set(bearers.split("|")) or not amount:
        raise fail(
            f"--cost {text!r}: write a cost as BEARER=YEN with BEARER one of {bearers}", USAGE
        )
    try:
        return CostItem(bearer=CostBearer(bearer.strip()), amount_yen=yen("--cost", amount))
    except ValidationError as error:
        raise fail(f"--cost {text!r}: {describe_validation(error)}", USAGE) from None


@app.command("evaluate-cost")
def evaluate_cost(
    ctx: typer.Context,
    number: Number,
    cost: Annotated[
        list[str],
        typer.Option("--cost", help="BEARER=YEN (central|members|network_operators); repeat"),
    ],
    horizon_years: Annotated[
        int | None,
        typer.Option(
            "--horizon-years",
            help="the policy's (5); no other is taken",
            parser=number("--horizon-years", "a count of years"),
        ),
    ] = None,
    monthly_volume: Annotated[
        int | None,
        typer.Option(
            "--monthly-volume",
            help="units (e.g. applications) a month",
            parser=number("--monthly-volume", "a count", lowest=0),
        ),
    ] = None,
    benefit_per_unit: Annotated[
        str | None, typer.Option("--benefit-per-unit", help="yen saved per unit")
    ] = None,
    total_benefit: Annotated[
        str | None, typer.Option("--total-benefit", help="yen over the horizon")
    ] = None,
    without_hearing: Annotated[
        str | None,
        typer.Option(
            "--without-hearing",
            metavar="REASON",
            help="straight from support (enough of it), skipping the hearing, for this reason",
        ),
    ] = None,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Record a cost-effectiveness evaluation."""
    from pydantic import ValidationError

    from ..domain.cost import CostInputs

    items = tuple(_cost_item(item) for item in cost)
    years = horizon_years or installation(ctx).settings().policy().cost_horizon_years
    try:
        inputs = CostInputs(
            horizon_years=years,
            monthly_volume=monthly_volume,
            cost_items=items,
            benefit_per_unit_yen=yen("--benefit-per-unit", benefit_per_unit)
            if benefit_per_unit
            else None,
            total_benefit_yen=yen("--total-benefit", total_benefit) if total_benefit else None,
        )
    except ValidationError as error:
        raise fail(describe_validation(error), USAGE) from None
    if without_hearing is not None:  # the secretariat's discretion (issue 20)
        command = _command(
            c.EvaluateWithoutHearing,
            actor=secretariat(user),
            inputs=inputs,
            reason=without_hearing,
            meeting=meeting,
            command_id=key,
        )
    else:
        command = _command(
            c.EvaluateCost, actor=secretariat(user), inputs=inputs, meeting=meeting, command_id=key
        )

    async def work(session: Session) -> None:
        chosen = command
        if horizon_years is None:  # the request's own policy, wherever it is kept
            view, _ = await session.request(number)
            years = view.policy.cost_horizon_years
            chosen = command.model_copy(
                update={"inputs": inputs.model_copy(update={"horizon_years": years})}
            )
        view = await session.act(number, chosen)
        _print_view(view, as_json)
        await _after_the_meeting(session, chosen.meeting)

    desk(ctx).run(work)


@app.command("open-objection-window")
def open_objection_window(
    ctx: typer.Context,
    number: Number,
    until: Annotated[
        str | None, typer.Option("--until", help="YYYY-MM-DD (through that day) or ISO time")
    ] = None,
    until_meeting: Annotated[
        int | None,
        typer.Option(
            "--until-meeting",
            help="until meeting N (第N回) is held; the window follows the meeting",
            parser=number("--until-meeting", "a meeting's number (第N回)"),
        ),
    ] = None,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Open the objection window after a cost-effective evaluation (by
    default for the policy's objection window)."""
    if until is not None and until_meeting is not None:
        raise fail("give --until DATE or --until-meeting N, not both", USAGE)

    async def work(session: Session) -> None:
        ends_at = await _until(session, until, "--until", until_meeting)
        command = _command(
            c.OpenObjectionWindow,
            actor=secretariat(user),
            ends_at=ends_at,
            until_meeting=until_meeting,
            meeting=meeting,
            command_id=key,
        )
        _print_view(await session.act(number, command), as_json)
        await _after_the_meeting(session, meeting)

    desk(ctx).run(work)


@app.command()
def approve(
    ctx: typer.Context,
    number: Number,
    release: Annotated[str, typer.Option("--release", help="planned release date YYYY-MM-DD")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Approve implementation with a planned release."""
    command = _command(
        c.Approve,
        actor=secretariat(user),
        planned_release=parse_day(release),
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command("change-release")
def change_release(
    ctx: typer.Context,
    number: Number,
    release: Annotated[str, typer.Option("--release", help="new planned release YYYY-MM-DD")],
    reason: Annotated[str, typer.Option("--reason")] = "",
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Change the planned release date."""
    command = _command(
        c.ChangeReleaseDate,
        actor=secretariat(user),
        planned_release=parse_day(release),
        reason=reason,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command()
def release(
    ctx: typer.Context,
    number: Number,
    on: Annotated[str | None, typer.Option("--on", help="release date (default: today)")] = None,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Record the release."""
    command = _command(
        c.Release,
        actor=secretariat(user),
        released_on=parse_day(on) if on else None,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command()
def hold(
    ctx: typer.Context,
    number: Number,
    reason: Annotated[str, typer.Option("--reason")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Put a request on hold (保留); its deadlines stop."""
    command = _command(
        c.Hold, actor=secretariat(user), reason=reason, meeting=meeting, command_id=key
    )
    _act(ctx, number, command, as_json)


@app.command()
def resume(
    ctx: typer.Context,
    number: Number,
    reason: Annotated[str, typer.Option("--reason")] = "",
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Resume a held request in the stage it left."""
    command = _command(
        c.Resume, actor=secretariat(user), reason=reason, meeting=meeting, command_id=key
    )
    _act(ctx, number, command, as_json)


@app.command()
def close(
    ctx: typer.Context,
    number: Number,
    reason: Annotated[CloseReason, typer.Option("--reason", case_sensitive=False)],
    duplicate_of: Annotated[
        list[int] | None,
        typer.Option(
            "--duplicate-of",
            help="the No. this duplicates; repeat for each it duplicates",
            parser=number("--duplicate-of", "a request's No."),
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note")] = "",
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Close a request (クローズ) with a reason."""
    command = _command(
        c.Close,
        actor=secretariat(user),
        reason=reason,
        duplicate_of=duplicate_of[0] if duplicate_of else None,
        duplicates=tuple(duplicate_of[1:]) if duplicate_of else None,
        note=note,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


@app.command()
def answer(
    ctx: typer.Context,
    numbers: Annotated[
        list[int],
        typer.Argument(
            help="the request's No.; several: the same answer to each (「No43に同じ」)",
            parser=REQUEST,
            metavar="NUMBER",
        ),
    ],
    text: Annotated[str, typer.Option("--text")],
    meeting: MeetingNo = None,
    continued: Annotated[bool, typer.Option("--continued", help="(継続): carried over")] = False,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Record an answer (回答), usually at a meeting; also after the
    release or the close. Given several numbers, the same answer is recorded on
    each, naming the others."""
    command = _command(
        c.RecordAnswer,
        actor=secretariat(user),
        text=text,
        meeting=meeting,
        continued=continued,
        command_id=key,
    )
    if len(numbers) == 1:
        _act(ctx, numbers[0], command, as_json)
        return
    if len(set(numbers)) != len(numbers):
        raise fail("a number is given more than once; answer each request once", USAGE)
    _answer_together(ctx, numbers, command, as_json)


def _answer_together(
    ctx: typer.Context, numbers: list[int], command: c.RecordAnswer, as_json: bool
) -> None:
    """One answer to several requests (issue 20): each is checked first, so that
    one refused is refused before any is written."""

    from ..domain import lifecycle
    from .desk import together

    async def work(session: Session) -> None:
        for each in numbers:
            view, _ = await session.request(each)
            lifecycle.check(view, together(numbers, each, command), datetime.now(UTC))
        views = await session.answer_together(numbers, command)
        if as_json:
            print_json([view.model_dump(mode="json") for view in views])
        else:
            for view in views:
                echo(summary(view))
        await _after_the_meeting(session, command.meeting)

    desk(ctx).run(work)


@app.command("correct-answer")
def correct_answer(
    ctx: typer.Context,
    number: Number,
    answer_id: Annotated[str, typer.Option("--answer-id", help="the answer to correct, e.g. a1")],
    text: Annotated[str, typer.Option("--text")],
    reason: Annotated[str, typer.Option("--reason")],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Correct an answer: a new answer that points at the old one."""
    command = _command(
        c.CorrectAnswer,
        actor=secretariat(user),
        answer_id=answer_id,
        text=text,
        reason=reason,
        meeting=meeting,
        command_id=key,
    )
    _act(ctx, number, command, as_json)


# --- after the end (issue 20) ---------------------------------------------------------


@app.command()
def reopen(
    ctx: typer.Context,
    number: Number,
    reason: Annotated[str, typer.Option("--reason", help="why it is reopened")],
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="closed short of support: its new deadline, YYYY-MM-DD or ISO time "
            "(default: the policy's support window)",
        ),
    ] = None,
    until_meeting: Annotated[
        int | None,
        typer.Option(
            "--until-meeting",
            help="closed short of support: gathering it until meeting N (第N回)",
            parser=number("--until-meeting", "a meeting's number (第N回)"),
        ),
    ] = None,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Reopen a closed request in the stage it was closed from, with its
    number, endorsers and history; one closed short of support gets a new deadline."""
    if until is not None and until_meeting is not None:
        raise fail("give --until DATE or --until-meeting N, not both", USAGE)

    async def work(session: Session) -> None:
        deadline = await _until(session, until, "--until", until_meeting)
        command = _command(
            c.Reopen,
            actor=secretariat(user),
            reason=reason,
            deadline=deadline,
            until_meeting=until_meeting,
            meeting=meeting,
            command_id=key,
        )
        view = await session.act(number, command)
        _print_view(view, as_json)
        await _after_the_meeting(session, meeting)

    desk(ctx).run(work)


# --- the secretariat's windows (issue 20) ---------------------------------------------


@app.command("final-call")
def final_call(
    ctx: typer.Context,
    number: Number,
    until_meeting: Annotated[
        int,
        typer.Option(
            "--until-meeting",
            help="support runs until meeting N (第N回) is held, earlier or later than now",
            parser=number("--until-meeting", "a meeting's number (第N回)"),
        ),
    ],
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Final call: closed unless supported by meeting N (次回会議(第N回)までに
    多数の賛同がなければクローズ). The support deadline becomes the meeting's day, and
    follows the meeting; the proposer, the endorsers and every member are told."""

    async def work(session: Session) -> None:
        from ..domain.meeting import meeting_day

        deadline = meeting_day(await session.meetings(), until_meeting)
        command = _command(
            c.FinalCall,
            actor=secretariat(user),
            until_meeting=until_meeting,
            deadline=deadline,
            meeting=meeting,
            command_id=key,
        )
        _print_view(await session.act(number, command), as_json)
        await _after_the_meeting(session, meeting)

    desk(ctx).run(work)


@app.command("end-support")
def end_support(
    ctx: typer.Context,
    number: Number,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] End support gathering now, as its deadline would: closed when
    short of the threshold."""
    command = _command(c.EndSupport, actor=secretariat(user), meeting=meeting, command_id=key)
    _act(ctx, number, command, as_json)


@app.command("end-objection-window")
def end_objection_window(
    ctx: typer.Context,
    number: Number,
    meeting: MeetingNo = None,
    user: User = None,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """[secretariat] Conclude the objection window: on to implementation. Refused while
    an objection stands (it names them) or the support is short."""
    command = _command(
        c.EndObjectionWindow, actor=secretariat(user), meeting=meeting, command_id=key
    )
    _act(ctx, number, command, as_json)


@meeting_app.command("open")
def meeting_open(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="the meeting's number (第N回)", parser=MEETING)],
    date: Annotated[
        str | None, typer.Option("--date", help="when it is held (default: now)")
    ] = None,
    title: Annotated[str, typer.Option("--title")] = "",
    user: User = None,
) -> None:
    """[secretariat] Open (schedule) a meeting."""
    held_at = parse_when(date) if date else datetime.now(tz=UTC)
    title = text_option("--title", title)

    async def work(session: Session) -> None:
        await session.open_meeting(number, held_at, secretariat(user), title)
        echo(f"meeting {number} (第{number}回) open, held {held_at.isoformat()}")

    desk(ctx).run(work)


@meeting_app.command("reschedule")
def meeting_reschedule(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="the meeting's number (第N回)", parser=MEETING)],
    date: Annotated[str, typer.Option("--date", help="when it is held now")],
    reason: Annotated[str, typer.Option("--reason")] = "",
    user: User = None,
) -> None:
    """[secretariat] Move a meeting to another day (postponed, brought forward); it
    stays between the meetings numbered around it, and the support deadlines until
    it follow it to a later date. An imported meeting keeps its date."""
    held_at = parse_when(date)
    reason = text_option("--reason", reason)

    async def work(session: Session) -> None:
        followed = await session.reschedule_meeting(number, held_at, reason, secretariat(user))
        echo(f"meeting {number} (第{number}回) rescheduled, held {held_at.isoformat()}")
        if followed.following:
            listed = ", ".join(f"No.{n}" for n in followed.following)
            # a support deadline or an objection window (issue 20) until the meeting
            echo(f"deadlines until meeting {number}, now until its new date: {listed}")
        if followed.kept:
            listed = ", ".join(f"No.{n}" for n in followed.kept)
            echo(
                f"deadlines until meeting {number}, kept to the later date they "
                f"were given (the meeting comes earlier): {listed}"
            )

    desk(ctx).run(work)


@meeting_app.command("list")
def meeting_list(ctx: typer.Context, as_json: Json = False) -> None:
    """List the meetings."""
    meetings = desk(ctx).run(lambda session: session.meetings(), writes=False)
    if as_json:
        print_json([{"number": n, "held_at": held.isoformat()} for n, held in meetings.items()])
    else:
        for n, held in meetings.items():
            echo(f"第{n}回  {held.isoformat()}")


# --- reading -----------------------------------------------------------------------------


@app.command()
def show(ctx: typer.Context, number: Number, as_json: Json = False) -> None:
    """A request's state and the timeline of its events."""
    from ..domain.lifecycle import pending_timers

    view, timeline = desk(ctx).run(lambda session: session.request(number), writes=False)
    if as_json:
        timers = pending_timers(view) if view.is_open else []
        print_json(
            {
                "request": view.model_dump(mode="json"),
                "support": view.support,
                "timers": [{"timer": t.timer.value, "due": t.due.isoformat()} for t in timers],
                "timeline": [entry.model_dump(mode="json") for entry in timeline],
            }
        )
    else:
        echo(request_text(view, timeline, datetime.now(tz=UTC)))


@app.command("list")
def list_(
    ctx: typer.Context,
    stage: Annotated[
        list[Stage] | None, typer.Option("--stage", case_sensitive=False, help="repeatable")
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="only requests still open")] = False,
    as_json: Json = False,
) -> None:
    """List requests, optionally by stage."""
    chosen = desk(ctx).run(
        lambda session: session.requests(list(stage or ()), open_only), writes=False
    )
    if as_json:
        print_json(
            [
                {
                    "number": v.number,
                    "category": v.category.value,
                    "target": v.target,
                    "stage": v.stage.value,
                    "support": v.support,
                    "proposer": v.proposer,
                    "deadline": v.deadline.isoformat() if v.deadline else None,
                }
                for v in chosen
            ]
        )
    else:
        for v in chosen:
            echo(
                f"{v.number:>5}  {v.category.value}  {v.stage.value:<18} {v.support:>2}  {v.proposer:<12} {v.target}"
            )


# --- running ---------------------------------------------------------------------------------


@app.command()
def up(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Temporal's port")] = 7233,
    ui_port: Annotated[int, typer.Option("--ui-port", help="Temporal UI's port")] = 8233,
    ip: Annotated[str, typer.Option("--ip", help="address to listen on")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option("--api-port", help="the HTTP API's port")] = 8000,
) -> None:
    """Run the embedded default: Temporal dev server (SQLite), event store, worker and HTTP API. Ctrl-C stops all."""
    from .up import serve

    settings = installation(ctx).settings()
    raise typer.Exit(serve(settings, ip=ip, port=port, ui_port=ui_port, api_port=api_port))


@app.command()
def worker(ctx: typer.Context) -> None:
    """Run a worker against an existing Temporal server."""
    from .up import serve_worker

    raise typer.Exit(serve_worker(installation(ctx).settings()))


install_register(app)  # ringi register ..., ringi import
install_serve(app)  # ringi serve, ringi token ...
install_notify(app)  # ringi subscribe ..., ringi subscriptions, ringi unsubscribe


def run() -> None:
    """Console entry point: always leaves with the status the command meant."""
    try:
        app()  # standalone: usage errors print their message and exit 2
        status = 0
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else (0 if done.code is None else USAGE)
    except KeyboardInterrupt:
        status = 130
    except SchemaError as error:  # a store refused its database: says to run `ringi db init`
        status = fail(str(error)).exit_code
    exit_now(status)
