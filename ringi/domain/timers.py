"""The durable timers of a request: which run in which stage, and what each
leads to when it fires.

``pending_timers`` says which timers a request has running now: the workflow
sleeps until the earliest and sends it back as a ``TimerFired`` command, which
the lifecycle table (``lifecycle.MOVES``) checks like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from .commands import TimerFired, TimerKind
from .days import JST
from .view import RequestView
from .vocabulary import Stage


@dataclass(frozen=True)
class Path:
    """An arrow of the lifecycle diagram: from ``source`` to ``target``, when ``when``.

    A source or target is a stage, or one of the names below for what is not one."""

    source: Stage | str
    target: Stage | str
    when: str = ""


START = "[*]"  # before the request exists
ANY_OPEN = "open"  # any stage but released and closed
LEFT = "held_from"  # the stage a hold left
CLOSED_FROM = "closed_from"  # the stage a close left (issue 20: reopen)


@dataclass(frozen=True)
class Timer:
    """One kind of durable timer: what it records when it fires, and where it leads."""

    kind: TimerKind
    runs: str  # when it runs, for people
    records: tuple[str, ...]
    paths: tuple[Path, ...] = ()


TIMERS = (
    Timer(
        TimerKind.SUPPORT_DEADLINE,
        "while support is gathered, until its deadline",
        ("SupportWindowClosed", "Closed"),
        (Path(Stage.GATHERING_SUPPORT, Stage.CLOSED, "support < threshold"),),
    ),
    Timer(
        TimerKind.DEADLINE_APPROACHING,
        "a reminder before the support deadline",
        ("Reminded",),
    ),
    Timer(
        TimerKind.FINAL_CALL,
        "for a request open over a year with no earlier deadline",
        ("FinalCallIssued",),
    ),
    Timer(
        TimerKind.OBJECTION_WINDOW_END,
        "while the objection window is open",
        ("ObjectionWindowEnded",),
        (
            Path(Stage.OBJECTION_WINDOW, Stage.IMPLEMENTATION, "none standing"),
            Path(
                Stage.OBJECTION_WINDOW,
                Stage.COST_EVALUATION,
                "an objection standing, or support short",
            ),
        ),
    ),
    Timer(
        TimerKind.CLARIFICATION_REMINDER,
        "while a clarification question waits for its reply",
        ("Reminded",),
    ),
    Timer(TimerKind.HOLD_REVIEW, "while on hold, a review reminder", ("Reminded",)),
    Timer(
        TimerKind.PLANNED_RELEASE,
        "in implementation, on the planned release day",
        ("Reminded",),
    ),
)
TIMER = {t.kind: t for t in TIMERS}


def pending_timers(view: RequestView) -> list[TimerFired]:
    """The durable timers this request has running, earliest first."""
    if view.stage.is_terminal:
        return []  # nothing more can happen to a released or closed request
    timers: list[TimerFired] = []
    policy = view.policy
    sent = set(view.reminders_sent)

    def remind(kind: TimerKind, due: datetime) -> None:
        if reminder_key(kind, due) not in sent:
            timers.append(TimerFired.at(kind, due))

    if view.stage is Stage.GATHERING_SUPPORT and not view.support_window_closed:
        deadline = view.support_deadline
        if deadline is not None:
            if policy.deadline_reminder_days:
                remind(TimerKind.DEADLINE_APPROACHING, deadline - policy.deadline_reminder)
            timers.append(TimerFired.at(TimerKind.SUPPORT_DEADLINE, deadline))
        final_call = view.filed_at + policy.final_call_after
        if view.final_call_at is None and (deadline is None or final_call < deadline):
            timers.append(TimerFired.at(TimerKind.FINAL_CALL, final_call))

    window = view.objection_window
    if view.stage is Stage.OBJECTION_WINDOW and window is not None and not window.ended:
        timers.append(TimerFired.at(TimerKind.OBJECTION_WINDOW_END, window.ends_at))

    clarification = view.pending_clarification
    if clarification is not None and view.stage is not Stage.ON_HOLD:
        remind(TimerKind.CLARIFICATION_REMINDER, clarification.reply_due)

    if view.stage is Stage.ON_HOLD and view.held_at is not None:
        last_review = view.last_hold_review or view.held_at
        remind(TimerKind.HOLD_REVIEW, last_review + policy.hold_review)

    if view.stage is Stage.IMPLEMENTATION and view.planned_release is not None:
        due = datetime.combine(view.planned_release, time(0), JST)
        remind(TimerKind.PLANNED_RELEASE, due)

    return sorted(timers, key=lambda t: t.due)


def reminder_key(kind: TimerKind, due: datetime) -> str:
    return f"{kind.value}:{due.isoformat()}"


def next_timer(view: RequestView) -> TimerFired | None:
    timers = pending_timers(view)
    return timers[0] if timers else None
