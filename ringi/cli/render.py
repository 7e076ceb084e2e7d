"""How a request reads on a terminal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import TYPE_CHECKING

import typer

from ..domain.days import JST, end_of_day, shown
from ..domain.enums import Category

if TYPE_CHECKING:
    from ..domain.view import RequestView
    from ..store import TimelineEntry


def parse_when(text: str) -> datetime:
    """A date (the start of that day in Japan: a meeting held that day) or an ISO
    date-time (Japan's time if no zone is given)."""
    return _moment(text, lambda day: datetime.combine(day, time(0), JST), None)


def parse_until(text: str, option: str | None = None) -> datetime:
    """A date (the end of that day in Japan: a deadline or a cutoff given as a day
    lasts through it, as on the web pages) or an ISO date-time (Japan's time if no
    zone is given)."""
    return _moment(text, end_of_day, option)


def _moment(text: str, day: Callable[[date], datetime], option: str | None) -> datetime:
    try:
        if len(text) == 10:
            return day(date.fromisoformat(text))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD) or ISO date-time", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


def when(moment: datetime | None) -> str:
    return shown(moment) if moment else "-"


def summary(view: RequestView) -> str:
    line = f"No.{view.number}: {view.stage.value} ({view.stage.label_ja})"
    supported = view.category is not Category.QUESTION  # questions are answered, not backed
    if supported and view.stage.value in ("filed", "gathering_support", "hearing"):
        line += f", support {view.support}/{view.policy.support_threshold}"
    deadline = view.current_deadline
    if deadline:
        line += f", deadline {when(deadline)}"
    return line


def request_text(view: RequestView, timeline: list[TimelineEntry], now: datetime) -> str:
    from ..domain.lifecycle import pending_timers

    out = [
        f"No.{view.number}  {view.category.value}  {view.target}",
        f"  stage:     {view.stage.value} ({view.stage.label_ja})",
        f"  proposer:  {view.proposer}",
        f"  support:   {view.support} of {view.policy.support_threshold}"
        + (f"  (endorsed by {', '.join(view.endorsers)})" if view.endorsers else ""),
        f"  filed:     {when(view.filed_at)}",
    ]
    if view.current_deadline:
        left = view.current_deadline - now
        out.append(f"  deadline:  {when(view.current_deadline)} ({max(left.days, 0)} days left)")
    if view.planned_release:
        out.append(f"  release:   planned {view.planned_release}")
    if view.released_on:
        out.append(f"  released:  {view.released_on}")
    if view.hold_reason:
        out.append(
            f"  on hold:   {view.hold_reason} (from {view.held_from.value if view.held_from else '-'})"
        )
    if view.closure:
        duplicates = view.closure.duplicates or (
            [view.closure.duplicate_of] if view.closure.duplicate_of else []
        )
        extra = f", duplicate of {', '.join(f'No.{n}' for n in duplicates)}" if duplicates else ""
        out.append(f"  closed:    {view.closure.reason.value}{extra} {view.closure.note}".rstrip())
    if view.related:
        out.append(f"  related:   {', '.join(f'No.{n}' for n in view.related)}")
    # the secretariat's steps off the usual path, with their reasons (issue 20)
    for step in view.discretions:
        tag = f" (第{step.meeting}回)" if step.meeting else ""
        out.append(f"  {step.kind.replace('_', ' ')}: {when(step.at)}{tag} {step.reason}")
    out += ["", "  " + view.body]
    for note in view.notes:
        out.append(f"  【追記 {note.dated or f'{note.at.astimezone(JST):%Y-%m-%d}'}】 {note.text}")
    if view.answers:
        out += ["", "  回答:"]
        for answer in view.answers:
            tag = f"(第{answer.meeting}回)" if answer.meeting else ""
            flags = " (継続)" if answer.continued else ""
            fixed = f" [corrects {answer.corrects}]" if answer.corrects else ""
            gone = f" [corrected by {answer.superseded_by}]" if answer.superseded_by else ""
            shared = (
                f" [also to {', '.join(f'No.{n}' for n in answer.together_with)}]"
                if answer.together_with
                else ""
            )
            out.append(f"    {answer.answer_id} {tag}{fixed}{gone}{shared} {answer.text}{flags}")
    for finding in view.findings:
        out.append(f"  hearing {finding.at.astimezone(JST):%Y-%m-%d}: {finding.text}")
    out += _clarification_lines(view)
    for evaluation in view.evaluations:
        ratio = f"{evaluation.ratio}" if evaluation.ratio is not None else "-"
        verdict = "cost-effective" if evaluation.cost_effective else "not cost-effective"
        out.append(
            f"  cost: benefit {evaluation.benefit_yen:,} yen over {evaluation.inputs.horizon_years} years, "
            f"cost {evaluation.total_cost_yen:,} yen, ratio {ratio}: {verdict}"
        )
    for window in view.objection_windows:
        state = "ended" if window.ended else f"until {when(window.ends_at)}"
        if window.short_of_support:
            state += " with support below the threshold"
        out.append(
            f"  objection window {when(window.opened_at)} {state}: {len(window.objections)} objection(s)"
        )
        out += [f"    {o.company}: {o.reason}" for o in window.objections]
    timers = pending_timers(view) if view.is_open else []
    if timers:
        out += ["", "  timers:"]
        out += [f"    {timer.timer.value:<24} {when(timer.due)}" for timer in timers]
    if timeline:
        out += ["", "  timeline:"]
    for entry in timeline:
        actor = entry.actor or {}
        who = actor.get("company") or actor.get("role") or "-"
        meeting = f" 第{entry.meeting}回" if entry.meeting else ""
        out.append(f"    v{entry.version:<3} {when(entry.at)}  {entry.event:<26} {who}{meeting}")
    return "\n".join(out)


def _clarification_lines(view: RequestView) -> list[str]:
    """The clarification thread, as far as the view carries it: a view read for
    someone who may not read the thread arrives without it (``as_read_by``)."""
    out: list[str] = []
    for c in view.clarifications:
        out.append(f"  clarification {c.clarification_id} {when(c.asked_at)}: {c.question}")
        if c.reply is not None:
            out.append(f"    reply {when(c.replied_at)}: {c.reply}")
        elif c.withdrawn_at is not None:
            reason = f": {c.withdrawal_reason}" if c.withdrawal_reason else ""
            out.append(f"    withdrawn {when(c.withdrawn_at)}{reason}")
        else:
            out.append(f"    reply due {when(c.reply_due)}")
    return out


def echo(text: str) -> None:
    typer.echo(text)
