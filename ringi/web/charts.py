"""The audit page's charts: requests by stage over the meetings, and the time
requests spend in each stage. Small server-rendered SVG, from the stored events.

Computing (pure functions of the store, no clock) is apart from rendering:

- ``stage_counts_by_meeting``: for every meeting, how many requests its
  register (資料2) showed in each stage, that is the rows of the register as
  ``ringi.register.replay`` replays it: open at the meeting's cutoff, or closed
  (released) since the previous meeting. A published meeting counts as it was
  published.
- ``stage_stays``: every stay of every request in a stage, folded from the
  event log in one pass with the replay's own decoding and folding (each
  request's events through the aggregate's ``mutate``), noting the stage after
  each event and the event's domain time.
- ``time_in_stage``: per stage, over the requests that have left it, the median
  and the 90th percentile (nearest rank) of the days each spent in it, all its
  stays added up. A passage in no time (entered and left at the same moment, as
  a 要望 leaves 受付 when it is filed) is not time spent and is not counted; nor
  is the time of an imported request before ringi knew it (the import dates
  its facts with upper bounds only), nor a stay that has not ended.

``charts_svg(store, lang)`` renders both as accessible SVG (``role="img"``, a
``<title>`` and a ``<desc>`` that says what the chart shows and the latest
meeting's figures), each followed by its figures as a compact ``<table>`` for
screen readers and for copying; the chart of meetings shows the latest
``MAX_MEETINGS``. Stage names are the pages' own (``ringi.web.i18n``: the
register's Japanese, ``Stage.label_ja``, and the English beside it); colours
are told apart by the colour-blind too, and every count is also written out.
Their size rules (natural size on a wide screen, scaled down on a phone,
never wider than the page) are in the pages' stylesheet under ``.ringi-chart``,
not inline: the pages' Content-Security-Policy allows no inline style. The
output is well-formed XML and depends on the events only (no clock): the same
store gives the same bytes.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from eventsourcing.utils import get_topic
from markupsafe import escape
from pydantic import BaseModel, ConfigDict

from ..domain.lifecycle import JST
from ..domain.request import Request
from ..domain.vocabulary import Stage
from ..register.replay import meeting_cutoff, replay_many, request_steps
from ..store import RingiStore
from .i18n import Lang, Translator, parse_lang

#: every stage, in the lifecycle's order (the stacking order of the bars)
STAGES: tuple[Stage, ...] = tuple(Stage)
#: the stages a request can leave: the ones time is spent in
DWELL_STAGES: tuple[Stage, ...] = tuple(s for s in Stage if not s.is_terminal)
DAY_SECONDS = 86_400
#: topics of the request aggregate's events start with this
REQUEST_TOPICS = get_topic(Request) + "."


# --- what the charts show ---------------------------------------------------------------


class StageCounts(BaseModel):
    """The requests of one meeting's register, by stage."""

    model_config = ConfigDict(frozen=True)

    meeting: int
    held_on: date
    date_is_placeholder: bool
    counts: dict[Stage, int]  # every stage, zeros included, in ``STAGES`` order

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Stay(BaseModel):
    """One stay of a request in a stage."""

    model_config = ConfigDict(frozen=True)

    number: int
    stage: Stage
    entered: datetime
    left: datetime | None  # None: the request is in it still
    #: False where ringi does not know when the request entered the stage (an
    #: imported request's history up to the import)
    known: bool = True

    @property
    def days(self) -> float | None:
        if self.left is None:
            return None
        return (self.left - self.entered).total_seconds() / DAY_SECONDS


class StageTime(BaseModel):
    """The time requests spent in one stage."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    requests: int  # requests whose time in the stage is counted
    median_days: float | None
    p90_days: float | None
    now_in: int  # requests in the stage now


# --- computing ---------------------------------------------------------------------------


def stage_counts_by_meeting(store: RingiStore) -> list[StageCounts]:
    """Each meeting's register by stage, the meetings in order."""
    numbers = sorted(store.meetings())
    cutoffs = [meeting_cutoff(store, n) for n in numbers]
    result = []
    for cutoff, folded in zip(cutoffs, replay_many(store, cutoffs), strict=True):
        counted = Counter(view.stage for view in folded.rows())
        assert cutoff.meeting is not None and cutoff.held_at is not None
        result.append(
            StageCounts(
                meeting=cutoff.meeting,
                held_on=cutoff.held_at.astimezone(JST).date(),
                date_is_placeholder=cutoff.date_is_placeholder,
                counts={stage: counted.get(stage, 0) for stage in STAGES},
            )
        )
    return result


@dataclass
class _Open:
    """A request's stay in progress while the log is folded."""

    stage: Stage
    entered: datetime
    known: bool


def stage_stays(store: RingiStore) -> list[Stay]:
    """Every stay of every request in a stage, by request number and time."""
    numbers: dict[UUID | str, int] = {}
    # an imported request's times are bounds up to and including the import
    # itself (``support_known``: the register's count is in), so a step is
    # judged by what was known before it
    known_before: dict[UUID | str, bool] = {}
    current: dict[UUID | str, _Open] = {}
    stays: list[Stay] = []
    for oid, at, number, stage, support_known in request_steps(store):
        numbers[oid] = number
        known = known_before.get(oid, support_known)
        known_before[oid] = support_known
        stay = current.get(oid)
        if stay is None:
            current[oid] = _Open(stage, at, known)
        elif stay.stage is not stage:
            stays.append(
                Stay(
                    number=number,
                    stage=stay.stage,
                    entered=stay.entered,
                    left=at,
                    known=stay.known,
                )
            )
            current[oid] = _Open(stage, at, known)
    for oid, stay in current.items():
        number = numbers[oid]
        stays.append(
            Stay(number=number, stage=stay.stage, entered=stay.entered, left=None, known=stay.known)
        )
    stays.sort(key=lambda s: (s.number, s.entered, s.left is None, s.left))
    return stays


def summarise(stays: Iterable[Stay]) -> list[StageTime]:
    """Per stage (``DWELL_STAGES``), the days requests spent in it: each
    request's ended, known stays added up; passages in no time left out."""
    spent: dict[Stage, dict[int, float]] = defaultdict(dict)
    now_in: Counter[Stage] = Counter()
    for stay in stays:
        if stay.left is None:
            now_in[stay.stage] += 1
            continue
        days = stay.days
        if not stay.known or days is None or days <= 0:
            continue
        per_request = spent[stay.stage]
        per_request[stay.number] = per_request.get(stay.number, 0.0) + days
    result = []
    for stage in DWELL_STAGES:
        values = sorted(spent[stage].values())
        result.append(
            StageTime(
                stage=stage,
                requests=len(values),
                median_days=median(values),
                p90_days=nearest_rank(values, 90),
                now_in=now_in[stage],
            )
        )
    return result


def time_in_stage(store: RingiStore) -> list[StageTime]:
    return summarise(stage_stays(store))


def median(values: Sequence[float]) -> float | None:
    """The median of sorted ``values`` (the mean of the middle two if even)."""
    n = len(values)
    if n == 0:
        return None
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2


def nearest_rank(values: Sequence[float], percent: int) -> float | None:
    """The ``percent``-th percentile of sorted ``values``, by nearest rank: the
    smallest value with at least ``percent``% of the values at or below it."""
    if not values:
        return None
    rank = max(1, math.ceil(percent * len(values) / 100))
    return values[rank - 1]


# --- words ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    stages: dict[Stage, str]
    by_meeting_title: str
    by_meeting_desc: str  # with {first}, {last}, {n}
    by_meeting_latest: str  # with {meeting}, {total}, {parts}
    by_meeting_recent: str  # with {n}, {every}
    no_meetings: str
    meeting: str  # with {n}
    meeting_axis: str
    requests_axis: str
    total: str
    held_on: str
    placeholder: str
    time_title: str
    time_desc: str
    time_none: str
    days_axis: str
    days: str  # with {d}
    median: str
    p90: str
    requests: str
    now_in: str
    stage: str
    figures: str  # with {median}, {p90}, {n}
    none_yet: str
    summary_part: str  # with {stage}, {n}
    list_sep: str


WORDS: dict[Lang, Words] = {
    "ja": Words(
        stages={s: Translator("ja").stage(s) for s in Stage},
        by_meeting_title="会議ごとの段階別件数",
        by_meeting_desc=(
            "第{first}回から第{last}回まで{n}回の会議で、各回の資料2に載った要望の件数を"
            "段階ごとに積み上げた棒グラフ。数値は下の表にあります。"
        ),
        by_meeting_latest="直近の第{meeting}回は{total}件: {parts}。",
        by_meeting_recent="全{every}回のうち直近の{n}回分です。",
        no_meetings="会議がまだありません。",
        meeting="第{n}回",
        meeting_axis="会議",
        requests_axis="件数",
        total="計",
        held_on="開催日",
        placeholder="開催日不明",
        time_title="段階ごとの滞留日数",
        time_desc=(
            "段階ごとに、その段階を終えた要望が滞在した日数の中央値(棒)と90パーセンタイル(線)。"
            "数値は下の表にあります。"
        ),
        time_none="まだどの段階も終えた要望がありません。",
        days_axis="日数",
        days="{d}日",
        median="中央値",
        p90="90%点",
        requests="件数",
        now_in="現在",
        stage="段階",
        figures="中央値 {median} · 90%点 {p90} · {n}件",
        none_yet="該当なし",
        summary_part="{stage} {n}件",
        list_sep="、",
    ),
    "en": Words(
        stages={s: Translator("en").stage(s) for s in Stage},
        by_meeting_title="Requests by stage at each meeting",
        by_meeting_desc=(
            "Stacked bars, one per meeting ({n} meetings, {first} to {last}): the requests "
            "each meeting's register listed, by stage. The figures are in the table below."
        ),
        by_meeting_latest="Latest, meeting {meeting}: {total} requests: {parts}.",
        by_meeting_recent="The latest {n} of {every} meetings.",
        no_meetings="No meetings yet.",
        meeting="{n}",
        meeting_axis="Meeting",
        requests_axis="Requests",
        total="Total",
        held_on="Held on",
        placeholder="date unknown",
        time_title="Days spent in each stage",
        time_desc=(
            "For each stage, the median (bar) and 90th percentile (line) of the days the "
            "requests that left it spent in it. The figures are in the table below."
        ),
        time_none="No request has left a stage yet.",
        days_axis="Days",
        days="{d} d",
        median="Median",
        p90="90th pct.",
        requests="Requests",
        now_in="Now in it",
        stage="Stage",
        figures="median {median} · p90 {p90} · n={n}",
        none_yet="none yet",
        summary_part="{stage} {n}",
        list_sep=", ",
    ),
}

#: Okabe–Ito (distinguishable with the common colour blindnesses), then greys
COLOURS: dict[Stage, str] = {
    Stage.FILED: "#999999",
    Stage.GATHERING_SUPPORT: "#56B4E9",
    Stage.HEARING: "#E69F00",
    Stage.COST_EVALUATION: "#F0E442",
    Stage.OBJECTION_WINDOW: "#CC79A7",
    Stage.IMPLEMENTATION: "#0072B2",
    Stage.ON_HOLD: "#D55E00",
    Stage.RELEASED: "#009E73",
    Stage.CLOSED: "#555555",
}
#: dark text on the light fills, white on the dark ones
TEXT_ON: dict[Stage, str] = {
    s: "#ffffff" if s in (Stage.IMPLEMENTATION, Stage.CLOSED, Stage.ON_HOLD) else "#000000"
    for s in Stage
}
FONT = "system-ui, -apple-system, 'Segoe UI', 'Hiragino Sans', 'Noto Sans CJK JP', sans-serif"


# --- rendering -----------------------------------------------------------------------------

#: the chart of meetings shows this many, the latest (their table too): more
#: would not be legible on a phone
MAX_MEETINGS = 12


def charts_svg(store: RingiStore, lang: str) -> str:
    """Both charts with their tables, as an HTML fragment (well-formed XML)."""
    words = WORDS[parse_lang(lang) or "ja"]
    by_meeting = stage_counts_by_meeting(store)
    times = time_in_stage(store)
    return (
        '<section class="ringi-charts">'
        + render_stage_counts(by_meeting, words)
        + render_time_in_stage(times, words)
        + "</section>"
    )


def _e(value: object) -> str:
    return str(escape(str(value)))


def _num(x: float) -> str:
    """Coordinates: no trailing zeros, no float noise."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _days(x: float | None, words: Words) -> str:
    if x is None:
        return "—"
    return words.days.format(d="<0.1" if 0 < x < 0.05 else f"{x:.1f}")


def _text_width(text: str, size: float) -> float:
    """A generous estimate of a label's width (wide characters count double)."""
    return sum(size if ord(c) > 0x2E7F else size * 0.62 for c in text)


def _count(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def nice_step(top: float, ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving at most ``ticks`` steps to ``top``."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return float(m * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _ticks(top: float) -> tuple[float, list[float]]:
    """An axis from 0 to a round value at or above ``top``, and its ticks."""
    step = nice_step(top, 5)
    steps = math.ceil(top / step - 1e-9)
    return step * steps, [step * i for i in range(steps + 1)]


def _svg_open(ident: str, width: float, height: float, title: str, desc: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{ident}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" width="{_num(width)}" '
        f'height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'font-family="{_e(FONT)}" font-size="12" fill="#333333">'
        f'<title id="{ident}-title">{_e(title)}</title>'
        f'<desc id="{ident}-desc">{_e(desc)}</desc>'
    )


def _figure(ident: str, svg: str, table: str) -> str:
    return f'<figure class="ringi-chart" id="{ident}-figure">{svg}{table}</figure>'


def _table_open(caption: str) -> str:
    """A table of figures in a box of its own that scrolls sideways if it must
    (and can then be scrolled from the keyboard)."""
    return (
        f'<div class="ringi-chart-table" tabindex="0" role="region" '
        f'aria-label="{_e(caption)}"><table class="ringi-chart-data">'
        f"<caption>{_e(caption)}</caption>"
    )


def render_stage_counts(rows: Sequence[StageCounts], words: Words) -> str:
    """The stacked bars of the latest ``MAX_MEETINGS`` meetings, and their table."""
    ident = "ringi-chart-stages"
    if not rows:
        return (
            f'<figure class="ringi-chart" id="{ident}-figure">'
            f"<figcaption>{_e(words.by_meeting_title)}</figcaption>"
            f'<p class="ringi-chart-empty">{_e(words.no_meetings)}</p></figure>'
        )
    every = len(rows)
    rows = rows[-MAX_MEETINGS:]
    shown = [s for s in STAGES if any(r.counts[s] for r in rows)]
    latest = rows[-1]
    desc = words.by_meeting_desc.format(first=rows[0].meeting, last=latest.meeting, n=len(rows))
    if every > len(rows):
        desc += " " + words.by_meeting_recent.format(n=len(rows), every=every)
    parts = [
        words.summary_part.format(stage=words.stages[s], n=latest.counts[s])
        for s in STAGES
        if latest.counts[s]
    ]
    desc += " " + words.by_meeting_latest.format(
        meeting=latest.meeting, total=latest.total, parts=words.list_sep.join(parts) or "0"
    )

    left, top, plot_h, step, bar = 40.0, 28.0, 170.0, 38.0, 24.0
    plot_w = max(step * len(rows), 160.0)
    plot_bottom = top + plot_h
    # the legend below the plot, in rows as wide as the chart
    width = max(left + plot_w + 12, 300.0)
    legend: list[tuple[Stage, float, float]] = []
    x, y_row = left, plot_bottom + 46
    for stage in shown:
        item = 18 + _text_width(words.stages[stage], 11) + 14
        if x + item > width and x > left:
            x, y_row = left, y_row + 18
        legend.append((stage, x, y_row))
        x += item
    height = y_row + 18
    y_max, ticks = _ticks(max(max(r.total for r in rows), 1))

    def y(value: float) -> float:
        return plot_bottom - plot_h * value / y_max

    out = [_svg_open(ident, width, height, words.by_meeting_title, desc)]
    out.append('<g class="axis" aria-hidden="true">')
    for value in ticks:
        out.append(
            f'<line x1="{_num(left)}" x2="{_num(left + plot_w)}" y1="{_num(y(value))}" '
            f'y2="{_num(y(value))}" stroke="#dddddd"/>'
            f'<text x="{_num(left - 6)}" y="{_num(y(value) + 4)}" text-anchor="end">'
            f"{_count(value)}</text>"
        )
    out.append(
        f'<text x="{_num(left - 6)}" y="14" text-anchor="start">{_e(words.requests_axis)}</text>'
        f'<text x="{_num(left + plot_w / 2)}" y="{_num(plot_bottom + 32)}" '
        f'text-anchor="middle">{_e(words.meeting_axis)}</text></g>'
    )
    for i, row in enumerate(rows):
        x = left + step * i + (step - bar) / 2
        label = words.meeting.format(n=row.meeting)
        out.append(f'<g class="bar" data-meeting="{row.meeting}">')
        base = 0
        for stage in STAGES:
            n = row.counts[stage]
            if not n:
                continue
            y0, y1 = y(base + n), y(base)
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y0)}" width="{_num(bar)}" '
                f'height="{_num(y1 - y0)}" fill="{COLOURS[stage]}" data-stage="{stage.value}" '
                f'data-count="{n}"><title>{_e(label)}: {_e(words.stages[stage])} {n}</title></rect>'
            )
            if y1 - y0 >= 14:
                out.append(
                    f'<text x="{_num(x + bar / 2)}" y="{_num((y0 + y1) / 2 + 4)}" '
                    f'text-anchor="middle" font-size="10" fill="{TEXT_ON[stage]}" '
                    f'aria-hidden="true">{n}</text>'
                )
            base += n
        out.append(
            f'<text x="{_num(x + bar / 2)}" y="{_num(y(base) - 4)}" text-anchor="middle" '
            f'font-size="10" aria-hidden="true">{row.total}</text>'
            f'<text x="{_num(x + bar / 2)}" y="{_num(plot_bottom + 14)}" '
            f'text-anchor="middle" font-size="10">{_e(label)}</text></g>'
        )
    out.append(
        f'<line x1="{_num(left)}" x2="{_num(left + plot_w)}" y1="{_num(plot_bottom)}" '
        f'y2="{_num(plot_bottom)}" stroke="#333333"/>'
    )
    out.append('<g class="legend">')
    for stage, lx, ly in legend:
        out.append(
            f'<rect x="{_num(lx)}" y="{_num(ly - 10)}" width="12" height="12" '
            f'fill="{COLOURS[stage]}"/>'
            f'<text x="{_num(lx + 18)}" y="{_num(ly)}" font-size="11">'
            f"{_e(words.stages[stage])}</text>"
        )
    out.append("</g></svg>")

    table = [
        _table_open(words.by_meeting_title),
        f'<thead><tr><th scope="col">{_e(words.meeting_axis)}</th>',
        f'<th scope="col">{_e(words.held_on)}</th>',
        *(f'<th scope="col">{_e(words.stages[s])}</th>' for s in shown),
        f'<th scope="col">{_e(words.total)}</th></tr></thead><tbody>',
    ]
    for row in rows:
        held = words.placeholder if row.date_is_placeholder else row.held_on.isoformat()
        table.append(
            f'<tr data-meeting="{row.meeting}"><th scope="row">'
            f"{_e(words.meeting.format(n=row.meeting))}</th><td>{_e(held)}</td>"
        )
        table += [f'<td data-stage="{s.value}">{row.counts[s]}</td>' for s in shown]
        table.append(f'<td data-stage="total">{row.total}</td></tr>')
    table.append("</tbody></table></div>")
    return _figure(ident, "".join(out), "".join(table))


def render_time_in_stage(times: Sequence[StageTime], words: Words) -> str:
    """A bar per stage: the median days (the bar) and the 90th percentile (the
    whisker), the two figures beside it; and their table."""
    ident = "ringi-chart-time"
    counted = [t for t in times if t.median_days is not None]
    label_w = 12 + max(_text_width(words.stages[t.stage], 12) for t in times)
    left, top, row_h, bar_h, plot_w = label_w, 32.0, 24.0, 12.0, 240.0
    value_w = 10 + max(_text_width(_pair(t, words), 11) for t in times)
    width = left + plot_w + value_w
    plot_bottom = top + row_h * len(times)
    height = plot_bottom + 36
    # at least a day: stays of minutes would make an axis of 1e-05 days
    x_max, ticks = _ticks(max([t.p90_days or 0.0 for t in counted] + [1.0]))

    def x(days: float) -> float:
        return left + plot_w * days / x_max

    desc = words.time_desc if counted else words.time_none
    out = [_svg_open(ident, width, height, words.time_title, desc)]
    # what the marks mean
    out.append(
        f'<g class="key" aria-hidden="true" font-size="11">'
        f'<rect x="{_num(left)}" y="6" width="18" height="10" fill="#999999"/>'
        f'<text x="{_num(left + 24)}" y="15">{_e(words.median)}</text>'
        f'<line x1="{_num(left + 90)}" x2="{_num(left + 90)}" y1="5" y2="17" '
        f'stroke="#333333" stroke-width="2"/>'
        f'<text x="{_num(left + 96)}" y="15">{_e(words.p90)}</text></g>'
    )
    out.append('<g class="axis" aria-hidden="true">')
    for value in ticks:
        out.append(
            f'<line x1="{_num(x(value))}" x2="{_num(x(value))}" y1="{_num(top - 4)}" '
            f'y2="{_num(plot_bottom)}" stroke="#dddddd"/>'
            f'<text x="{_num(x(value))}" y="{_num(plot_bottom + 14)}" text-anchor="middle" '
            f'font-size="10">{_count(value)}</text>'
        )
    out.append(
        f'<text x="{_num(left + plot_w / 2)}" y="{_num(plot_bottom + 30)}" '
        f'text-anchor="middle">{_e(words.days_axis)}</text></g>'
    )
    for i, t in enumerate(times):
        cy = top + row_h * i + row_h / 2
        out.append(
            f'<g class="row" data-stage="{t.stage.value}" data-requests="{t.requests}">'
            f'<text x="{_num(left - 8)}" y="{_num(cy + 4)}" text-anchor="end">'
            f"{_e(words.stages[t.stage])}</text>"
        )
        if t.median_days is not None and t.p90_days is not None:
            end, p90 = x(t.median_days), x(t.p90_days)
            out.append(
                f'<rect x="{_num(left)}" y="{_num(cy - bar_h / 2)}" '
                f'width="{_num(max(end - left, 1.0))}" height="{_num(bar_h)}" '
                f'fill="{COLOURS[t.stage]}" data-median="{t.median_days:.4f}">'
                f"<title>{_e(words.stages[t.stage])}: {_e(_figures(t, words))}</title></rect>"
                f'<line x1="{_num(end)}" x2="{_num(p90)}" y1="{_num(cy)}" y2="{_num(cy)}" '
                f'stroke="#333333" stroke-width="1.5"/>'
                f'<line x1="{_num(p90)}" x2="{_num(p90)}" y1="{_num(cy - bar_h / 2 - 2)}" '
                f'y2="{_num(cy + bar_h / 2 + 2)}" stroke="#333333" stroke-width="2" '
                f'data-p90="{t.p90_days:.4f}"/>'
            )
        out.append(
            f'<text x="{_num(left + plot_w + 10)}" y="{_num(cy + 4)}" font-size="11">'
            f"{_e(_pair(t, words))}</text></g>"
        )
    out.append(
        f'<line x1="{_num(left)}" x2="{_num(left)}" y1="{_num(top - 4)}" '
        f'y2="{_num(plot_bottom)}" stroke="#333333"/></svg>'
    )

    table = [
        _table_open(words.time_title),
        f'<thead><tr><th scope="col">{_e(words.stage)}</th>'
        f'<th scope="col">{_e(words.median)}</th>'
        f'<th scope="col">{_e(words.p90)}</th>'
        f'<th scope="col">{_e(words.requests)}</th>'
        f'<th scope="col">{_e(words.now_in)}</th></tr></thead><tbody>',
    ]
    for t in times:
        table.append(
            f'<tr data-stage="{t.stage.value}"><th scope="row">{_e(words.stages[t.stage])}</th>'
            f"<td>{_e(_days(t.median_days, words))}</td><td>{_e(_days(t.p90_days, words))}</td>"
            f"<td>{t.requests}</td><td>{t.now_in}</td></tr>"
        )
    table.append("</tbody></table></div>")
    return _figure(ident, "".join(out), "".join(table))


def _pair(t: StageTime, words: Words) -> str:
    """Beside a bar: the median and the 90th percentile, or that there is none."""
    if t.median_days is None:
        return words.none_yet
    return f"{_days(t.median_days, words)} / {_days(t.p90_days, words)}"


def _figures(t: StageTime, words: Words) -> str:
    if t.median_days is None:
        return words.none_yet
    return words.figures.format(
        median=_days(t.median_days, words), p90=_days(t.p90_days, words), n=t.requests
    )
