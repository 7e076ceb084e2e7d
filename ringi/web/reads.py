"""What the pages show, read from the event store through the same functions
as the API's reads (``store.view``, ``store.timeline``, ``RequestDetail``) and
the register's replay (``ringi.register``). Blocking: call off the event loop.

Privacy: who may read a clarification thread is the domain's rule
(``lifecycle.may_read_clarifications``); to anyone else the page shows it
neither in the request's section nor in the timeline, whose clarification
events keep their place and time but not their words.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..api.models import RequestDetail
from ..api.tokens import Principal
from ..audit.verify import Report, verify
from ..domain import lifecycle
from ..domain.view import RequestView
from ..domain.vocabulary import Actor, Category, Stage
from ..projection.search import TRIGRAM, Matches, holds, target_holds
from ..register.diff import RegisterDiff, diff_views
from ..register.document import RegisterRow, cutoff_for, row_of
from ..register.kept import rendered
from ..register.render import EXTENSIONS, Format, Lang
from ..register.replay import Cutoff, meeting_cutoff, moment_cutoff, replay, replay_many
from ..store import RingiStore, TimelineEntry

#: the lifecycle's main line, in order (on hold and closed branch off it)
MAIN_LINE = (
    Stage.FILED,
    Stage.GATHERING_SUPPORT,
    Stage.HEARING,
    Stage.COST_EVALUATION,
    Stage.OBJECTION_WINDOW,
    Stage.IMPLEMENTATION,
    Stage.RELEASED,
)
STAGE_ORDER = {s: i for i, s in enumerate([*MAIN_LINE, Stage.ON_HOLD, Stage.CLOSED])}

#: rows on one page of the register (the file downloads hold every row)
PAGE_SIZE = 100

SortKey = Literal["number", "stage", "category", "target", "support", "deadline"]
SORT_KEYS: tuple[SortKey, ...] = ("number", "stage", "category", "target", "support", "deadline")


# --- the register --------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterQuery:
    meeting: int | None = None
    stage: Stage | None = None
    category: Category | None = None
    target: str = ""
    q: str = ""
    sort: SortKey = "number"
    descending: bool = False
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> RegisterQuery:
        """Lenient: a value the page does not know is ignored, never an error page."""

        def pick(name: str) -> str:
            return params.get(name, "").strip()

        meeting, page = pick("meeting"), pick("page")
        stage, category, sort = pick("stage"), pick("category"), pick("sort")

        def digits(text: str, longest: int) -> int | None:
            # ASCII only: str.isdigit() admits "²", which int() refuses
            ok = text.isascii() and text.isdigit() and 0 < len(text) <= longest
            return int(text) if ok and int(text) > 0 else None

        return cls(
            meeting=digits(meeting, 9),
            stage=Stage(stage) if stage in Stage._value2member_map_ else None,
            category=Category(category) if category in Category._value2member_map_ else None,
            target=pick("target")[:500],
            q=pick("q")[:500],
            sort=next((k for k in SORT_KEYS if k == sort), "number"),
            descending=pick("order") == "desc",
            page=digits(page, 6) or 1,
        )

    def admits(self, view: RequestView, texts: Matches | None = None) -> bool:
        """Whether the page shows ``view``; ``texts``: the search index's answer
        for the target and ``q`` (without it, they are looked for in Python)."""
        if self.stage is not None and view.stage is not self.stage:
            return False
        if self.category is not None and view.category is not self.category:
            return False
        if not (self.target or self.q):
            return True
        if texts is not None:
            return texts.admits(view)
        return self.texts_hold(view)

    def texts_hold(self, view: RequestView) -> bool:
        if self.target and not target_holds(view, self.target):
            return False
        return not self.q or holds(view, self.q)

    def text_matches(self, store: RingiStore) -> Matches | None:
        """The search index's answer for the target and ``q`` (None: neither asked)."""
        if not (self.target or self.q):
            return None
        if all(len(n.casefold()) < TRIGRAM for n in (self.target, self.q) if n):
            # no trigram to look up: the index would read every row, and the page
            # holds the parsed states already
            return None
        from ..projection.catchup import caught_up

        current = caught_up(store).text_matches(self.q or None, self.target or None)
        return Matches(current=current, fallback=self.texts_hold)


@dataclass(frozen=True)
class RegisterLine:
    row: RegisterRow  # the six columns of 資料2
    view: RequestView
    deadline: datetime | None


@dataclass(frozen=True)
class MeetingInfo:
    number: int
    held_at: datetime
    placeholder: bool
    publications: int
    imported: bool = False  # keeps its date (``Meeting.reschedule``)


@dataclass(frozen=True)
class RegisterPage:
    cutoff: Cutoff
    lines: list[RegisterLine]  # this page's
    total: int  # rows in the register
    meetings: list[MeetingInfo]
    #: what "time left" is measured from: now, or the replayed meeting's cutoff
    reference: datetime
    matched: int  # rows the filters admit, on every page
    page: int
    pages: int


def meetings(store: RingiStore) -> list[MeetingInfo]:
    found = []
    for number in store.meetings():
        meeting = store.meeting(number)
        found.append(
            MeetingInfo(
                number=number,
                held_at=meeting.held_at,
                placeholder=meeting.date_is_placeholder,
                publications=len(meeting.publications),
                imported=meeting.imported,
            )
        )
    return found


def register_page(store: RingiStore, query: RegisterQuery, now: datetime) -> RegisterPage:
    known = meetings(store)
    numbers = {m.number for m in known}
    meeting = query.meeting if query.meeting in numbers else None
    cutoff = meeting_cutoff(store, meeting) if meeting is not None else moment_cutoff(store, now)
    views = replay(store, cutoff).rows()
    texts = query.text_matches(store)
    admitted = [v for v in views if query.admits(v, texts)]
    admitted.sort(key=_sort_key(query.sort), reverse=query.descending)
    pages = max(1, -(-len(admitted) // PAGE_SIZE))
    page = min(query.page, pages)
    lines = [
        RegisterLine(row=row_of(v), view=v, deadline=v.current_deadline)
        for v in admitted[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    ]
    reference = cutoff.at if meeting is not None else now
    return RegisterPage(
        cutoff=cutoff,
        lines=lines,
        total=len(views),
        meetings=known,
        reference=reference,
        matched=len(admitted),
        page=page,
        pages=pages,
    )


def register_file(
    store: RingiStore, meeting: int | None, fmt: Format, lang: Lang, now: datetime
) -> tuple[bytes, str]:
    """The register as the page shows it (a meeting's, or now), the whole of it, in a
    format to hand out, and a file name for it."""
    known = meeting is not None and meeting in store.meetings()
    cutoff = cutoff_for(store, meeting=meeting if known else None, at=None if known else now)
    data, _ = rendered(store, cutoff, fmt, lang)
    return data, f"ringi-register-{meeting if known else 'now'}-{lang}{EXTENSIONS[fmt]}"


def _sort_key(key: SortKey) -> Any:
    """The order of the page's columns, read from the states (a row of 資料2 is
    made only for the rows a page shows)."""
    far = datetime.max.replace(tzinfo=None)

    def deadline(view: RequestView) -> tuple[bool, datetime, int]:
        d = view.current_deadline
        return (d is None, d.replace(tzinfo=None) if d is not None else far, view.number)

    keys: dict[SortKey, Any] = {
        "number": lambda view: view.number,
        "stage": lambda view: (STAGE_ORDER[view.stage], view.number),
        "category": lambda view: (view.category.value, view.number),
        "target": lambda view: (view.target.casefold(), view.number),
        "support": lambda view: (view.support if view.support_known else -1, view.number),
        "deadline": deadline,
    }
    return keys[key]


# --- one request ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    stage: Stage
    state: Literal["done", "current", "todo"]


@dataclass(frozen=True)
class TimelineLine:
    entry: TimelineEntry
    who: Actor | None
    #: what the event says, as short ``name: value`` lines; None when private
    details: list[tuple[str, str]] | None


@dataclass(frozen=True)
class RequestPage:
    detail: RequestDetail
    steps: list[Step]
    #: the stage branched to off the main line (on hold, closed), if any
    branch: Stage | None
    timeline: list[TimelineLine]
    private_visible: bool

    @property
    def view(self) -> RequestView:
        return self.detail.request


def request_page(
    stored: RequestView, entries: Sequence[TimelineEntry], who: Principal
) -> RequestPage:
    """A request as the API's ``GET /v1/requests/{number}`` reads it, less what
    ``who`` may not see."""
    private_visible = lifecycle.may_read_clarifications(who.role, who.company, stored)
    # redacted as the API redacts it: not even the model handed to the template
    # holds what ``who`` may not read, so nothing can leak by mistake
    detail = RequestDetail.read(stored, list(entries), private=private_visible)
    view = detail.request
    timeline = [
        TimelineLine(
            entry=entry,
            who=Actor.model_validate(entry.actor) if entry.actor else None,
            details=None
            if entry.event in lifecycle.PRIVATE_EVENTS and not private_visible
            else _details(entry.details),
        )
        for entry in detail.timeline
    ]
    # the page reads the timeline from ``timeline`` above, redacted; the raw one goes
    detail = detail.model_copy(update={"timeline": []})
    steps, branch = lifecycle_steps(view)
    return RequestPage(
        detail=detail,
        steps=steps,
        branch=branch,
        timeline=timeline,
        private_visible=private_visible,
    )


def lifecycle_steps(view: RequestView) -> tuple[list[Step], Stage | None]:
    """The main line with each stage done, current or still to come. A held
    request is current at the stage it left; a closed one shows how far it got."""
    reached = {
        Stage.FILED: True,
        Stage.GATHERING_SUPPORT: view.support_deadline is not None
        or view.threshold_met_at is not None
        or bool(view.endorsements),
        Stage.HEARING: view.hearing_opened_at is not None,
        Stage.COST_EVALUATION: bool(view.evaluations),
        Stage.OBJECTION_WINDOW: bool(view.objection_windows),
        Stage.IMPLEMENTATION: view.approved_at is not None
        or any(w.cleared for w in view.objection_windows),
        Stage.RELEASED: view.stage is Stage.RELEASED,
    }
    if view.stage in MAIN_LINE:
        current, branch = view.stage, None
    elif view.stage is Stage.ON_HOLD:
        current, branch = view.held_from or Stage.FILED, Stage.ON_HOLD
    else:
        current = max((s for s in MAIN_LINE if reached[s]), key=MAIN_LINE.index)
        branch = view.stage
    at = MAIN_LINE.index(current)
    steps = [
        Step(s, "done" if i < at else "current" if i == at and branch is None else "todo")
        for i, s in enumerate(MAIN_LINE)
    ]
    if branch is not None:  # the stage it stopped at is reached, not current
        steps[at] = Step(current, "done")
    return steps, branch


def _details(details: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's attributes as short lines: times in Japan as the rest of the page
    gives them, a record (the policy, an evaluation) as its fields, not as JSON."""
    lines = []
    for name, value in details.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            text = " · ".join(f"{k}: {_detail_text(v)}" for k, v in value.items() if v is not None)
        else:
            text = _detail_text(value)
        lines.append((name, text if len(text) <= 400 else text[:399] + "…"))
    return lines


def _detail_text(value: Any) -> str:
    if isinstance(value, datetime):
        return lifecycle.shown(value)
    if isinstance(value, str) and _ISO_MOMENT.fullmatch(value):
        return lifecycle.shown(datetime.fromisoformat(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    return str(value)


#: a stored moment: date, time and its offset
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)")


# --- the audit page ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    meetings: list[MeetingInfo]
    diffs: list[RegisterDiff]
    report: Report
    charts: str | None  # trusted SVG markup from ringi.web.charts, when it exists


def audit_page(store: RingiStore, lang: str) -> AuditPage:
    known = meetings(store)
    numbers = [m.number for m in known]
    replays = replay_many(store, [meeting_cutoff(store, n) for n in numbers])
    diffs = [
        diff_views(before.views, after.views, a, b)
        for (a, before), (b, after) in zip(
            zip(numbers, replays, strict=True),
            zip(numbers[1:], replays[1:], strict=True),
            strict=False,
        )
    ]
    return AuditPage(meetings=known, diffs=diffs, report=verify(store), charts=_charts(store, lang))


def _charts(store: RingiStore, lang: str) -> str | None:
    """The charts of ``ringi.web.charts`` (another module's work) when it is installed."""
    if importlib.util.find_spec(f"{__package__}.charts") is None:
        return None
    module = importlib.import_module(f"{__package__}.charts")
    svg = module.charts_svg(store, lang)
    return svg if isinstance(svg, str) else None
