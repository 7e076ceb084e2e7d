"""The audit page's charts (``ringi.web.charts``), on a real SQLite event store
driven by real commands (dated, straight to the store, as the workflow sends them).

The calendar (JST, 10:00 unless said), three meetings: 1 on 2018-01-10,
2 on 2018-02-10, 3 on 2018-03-10.

- No.1 要望 (A社) filed 01-01; B, C, D社 endorse 01-02..04, E社 01-11: the hearing
  opens (10 days gathering support); findings 01-15, cost evaluated 01-21 (10
  days of hearing); objection window opened 01-31 (10 days of evaluation),
  ends 02-14 with no objection (14 days); approved 02-20, released 03-01 (15
  days of implementation).
- No.2 要望 (B社) filed 01-05; held 01-25 (20 days gathering), resumed 02-04
  (10 days held), closed out of scope 02-24 (20 more days gathering: 40).
- No.3 意見 (C社) filed 02-01; support opened 02-11 (10 days filed); gathering
  still.
- No.4 質問 (D社) filed 03-05; answered at meeting 3 and closed that day, 03-10
  (5 days filed).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta

import pytest

from ringi.domain.commands import (
    Approve,
    Close,
    Command,
    Endorse,
    EvaluateCost,
    FileRequest,
    Hold,
    OpenObjectionWindow,
    OpenSupport,
    RecordAnswer,
    RecordFindings,
    Release,
    Resume,
    TimerFired,
    TimerKind,
)
from ringi.domain.lifecycle import JST
from ringi.domain.policy import Policy
from ringi.domain.vocabulary import Actor, Category, CloseReason, Stage
from ringi.register.importer import parse_register, plan_import
from ringi.store import RingiStore
from ringi.web.charts import (
    DWELL_STAGES,
    MAX_MEETINGS,
    WORDS,
    StageTime,
    Stay,
    charts_svg,
    median,
    nearest_rank,
    nice_step,
    render_time_in_stage,
    stage_counts_by_meeting,
    stage_stays,
    summarise,
    time_in_stage,
)
from tests.domain_builders import cost_effective_inputs

SECRETARIAT = Actor.secretariat("事務局")
SVG = "{http://www.w3.org/2000/svg}"


def jst(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=JST)


def member(company: str) -> Actor:
    return Actor.member(company, user=f"{company}担当")


class Life:
    def __init__(self, store: RingiStore) -> None:
        self.store = store

    def file(self, at: datetime, company: str, category: Category = Category.REQUEST) -> int:
        cmd = FileRequest(actor=member(company), category=category, target="API", body="一括で")
        number = self.store.reserve_number(cmd.command_id)
        self.store.file(number, cmd, Policy(), at)
        return number

    def do(self, number: int, at: datetime, cmd: Command) -> None:
        self.store.execute(number, cmd, at)


@pytest.fixture
def life(store: RingiStore) -> Life:
    life = Life(store)
    for n, day in ((1, "2018-01-10"), (2, "2018-02-10"), (3, "2018-03-10")):
        store.open_meeting(n, jst(day, 0), SECRETARIAT, title=f"第{n}回")

    assert life.file(jst("2018-01-01"), "A社") == 1
    for company, day in (("B社", "01-02"), ("C社", "01-03"), ("D社", "01-04")):
        life.do(1, jst(f"2018-{day}"), Endorse(actor=member(company)))
    assert life.file(jst("2018-01-05"), "B社") == 2
    life.do(1, jst("2018-01-11"), Endorse(actor=member("E社")))
    assert store.view(1).stage is Stage.HEARING
    life.do(1, jst("2018-01-15"), RecordFindings(actor=SECRETARIAT, text="5社とも必要"))
    life.do(1, jst("2018-01-21"), EvaluateCost(actor=SECRETARIAT, inputs=cost_effective_inputs()))
    life.do(2, jst("2018-01-25"), Hold(actor=SECRETARIAT, reason="法改正の動向待ち"))
    life.do(1, jst("2018-01-31"), OpenObjectionWindow(actor=SECRETARIAT))
    assert life.file(jst("2018-02-01"), "C社", Category.OPINION) == 3
    life.do(2, jst("2018-02-04"), Resume(actor=SECRETARIAT))
    life.do(3, jst("2018-02-11"), OpenSupport(actor=SECRETARIAT))
    ends = jst("2018-01-31") + Policy().objection_window
    assert ends == jst("2018-02-14")
    life.do(1, ends, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, ends))
    life.do(1, jst("2018-02-20"), Approve(actor=SECRETARIAT, planned_release=date(2018, 3, 1)))
    life.do(2, jst("2018-02-24"), Close(actor=SECRETARIAT, reason=CloseReason.OUT_OF_SCOPE))
    life.do(1, jst("2018-03-01"), Release(actor=SECRETARIAT, released_on=date(2018, 3, 1)))
    assert life.file(jst("2018-03-05"), "D社", Category.QUESTION) == 4
    life.do(4, jst("2018-03-10", 14), RecordAnswer(actor=SECRETARIAT, text="20件です", meeting=3))
    life.do(4, jst("2018-03-10", 15), Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED))
    stages = {n: store.view(n).stage for n in (1, 2, 3, 4)}
    assert stages == {
        1: Stage.RELEASED,
        2: Stage.CLOSED,
        3: Stage.GATHERING_SUPPORT,
        4: Stage.CLOSED,
    }
    return life


def nonzero(counts: dict[Stage, int]) -> dict[Stage, int]:
    return {stage: n for stage, n in counts.items() if n}


# --- computing -------------------------------------------------------------------------------


def test_each_meeting_counts_the_requests_its_register_shows_by_stage(life: Life) -> None:
    rows = stage_counts_by_meeting(life.store)
    assert [(r.meeting, r.held_on) for r in rows] == [
        (1, date(2018, 1, 10)),
        (2, date(2018, 2, 10)),
        (3, date(2018, 3, 10)),
    ]
    # 1: No.1 three endorsements short of the hearing (E社 endorses the next day), No.2 new
    assert nonzero(rows[0].counts) == {Stage.GATHERING_SUPPORT: 2}
    # 2: No.1 in its objection window, No.2 resumed, the opinion No.3 waiting for support
    assert nonzero(rows[1].counts) == {
        Stage.FILED: 1,
        Stage.GATHERING_SUPPORT: 1,
        Stage.OBJECTION_WINDOW: 1,
    }
    # 3: released and closed since meeting 2 are on its register; the question closed that day too
    assert nonzero(rows[2].counts) == {
        Stage.GATHERING_SUPPORT: 1,
        Stage.RELEASED: 1,
        Stage.CLOSED: 2,
    }
    assert [r.total for r in rows] == [2, 3, 4]
    assert all(list(r.counts) == list(Stage) for r in rows)  # every stage, in order


def test_a_later_meeting_without_news_drops_what_closed_before_it(life: Life) -> None:
    life.store.open_meeting(4, jst("2018-04-10", 0), SECRETARIAT, title="第4回")
    assert nonzero(stage_counts_by_meeting(life.store)[-1].counts) == {Stage.GATHERING_SUPPORT: 1}


def test_no_meetings_no_bars(store: RingiStore) -> None:
    Life(store).file(jst("2018-01-01"), "A社")
    assert stage_counts_by_meeting(store) == []
    html = charts_svg(store, "en")
    assert "No meetings yet." in html
    ET.fromstring(html)


def days(stays: list[Stay], number: int, stage: Stage) -> list[float | None]:
    return [s.days for s in stays if s.number == number and s.stage is stage]


def test_every_stay_of_every_request_in_order(life: Life) -> None:
    stays = stage_stays(life.store)
    assert [(s.stage, s.days) for s in stays if s.number == 1] == [
        (Stage.FILED, 0.0),  # a 要望 opens its support gathering as it is filed
        (Stage.GATHERING_SUPPORT, 10.0),
        (Stage.HEARING, 10.0),
        (Stage.COST_EVALUATION, 10.0),
        (Stage.OBJECTION_WINDOW, 14.0),
        (Stage.IMPLEMENTATION, 15.0),
        (Stage.RELEASED, None),  # in it still
    ]
    assert [(s.stage, s.days) for s in stays if s.number == 2] == [
        (Stage.FILED, 0.0),
        (Stage.GATHERING_SUPPORT, 20.0),
        (Stage.ON_HOLD, 10.0),
        (Stage.GATHERING_SUPPORT, 20.0),
        (Stage.CLOSED, None),
    ]
    assert [(s.stage, s.days) for s in stays if s.number == 3] == [
        (Stage.FILED, 10.0),
        (Stage.GATHERING_SUPPORT, None),
    ]
    # the question left 受付 at 15:00 on the meeting's day, five days and five hours in
    assert days(stays, 4, Stage.FILED) == [5 + 5 / 24]
    assert all(s.known for s in stays)
    one = next(s for s in stays if s.number == 1 and s.stage is Stage.HEARING)
    assert (one.entered, one.left) == (jst("2018-01-11"), jst("2018-01-21"))


def test_time_in_stage_is_the_median_and_p90_over_the_requests_that_left_it(life: Life) -> None:
    times = {t.stage: t for t in time_in_stage(life.store)}
    assert list(times) == list(DWELL_STAGES)
    # No.1 10 days; No.2 20 + 20 days in two stays, one request: 40; No.3 in it still
    assert times[Stage.GATHERING_SUPPORT] == StageTime(
        stage=Stage.GATHERING_SUPPORT, requests=2, median_days=25.0, p90_days=40.0, now_in=1
    )
    # the 要望 pass 受付 in no time and are not counted; the opinion waited 10 days, the question 5⅕
    filed = times[Stage.FILED]
    assert (filed.requests, filed.now_in, filed.p90_days) == (2, 0, 10.0)
    assert filed.median_days == pytest.approx((10 + 5 + 5 / 24) / 2)
    expect = {
        Stage.HEARING: 10.0,
        Stage.COST_EVALUATION: 10.0,
        Stage.OBJECTION_WINDOW: 14.0,
        Stage.IMPLEMENTATION: 15.0,
        Stage.ON_HOLD: 10.0,
    }
    for stage, spent in expect.items():
        assert times[stage] == StageTime(
            stage=stage, requests=1, median_days=spent, p90_days=spent, now_in=0
        )


def test_an_imported_request_counts_only_what_ringi_saw_happen(store: RingiStore) -> None:
    """The register of meeting 2 says No.1 is held (保留): ringi knows neither when
    it was filed nor since when it is held. Resumed and closed later, its second
    stay in support gathering is known, and only that one is counted."""
    register = "No.\t区分\t対象箇所\tご意見・ご要望\t回答\t改修・対応希望\n"
    register += "1\t要望\tAPI\t一括で\t検討します(第1回)→保留とします(第2回)\t保留\n"
    register += "2\t要望\tWeb\t画面で\t多数の賛同を待ちます(第2回)\t3\n"
    made = plan_import(
        parse_register(register.encode(), "r.tsv"),
        given={1: date(2018, 1, 10), 2: date(2018, 2, 10)},
    )
    store.import_register(made.meetings, made.requests, Policy(), SECRETARIAT)
    assert store.view(1).stage is Stage.ON_HOLD
    resumed = jst("2018-03-01")
    store.execute(1, Resume(actor=SECRETARIAT), resumed)
    assert store.view(1).stage is Stage.GATHERING_SUPPORT
    store.execute(1, Close(actor=SECRETARIAT, reason=CloseReason.OUT_OF_SCOPE), jst("2018-03-08"))

    stays = stage_stays(store)
    assert [(s.stage, s.known, s.left is None) for s in stays if s.number == 1] == [
        (Stage.FILED, False, False),  # filed (at the latest) at meeting 1; held on import
        (Stage.ON_HOLD, False, False),
        (Stage.GATHERING_SUPPORT, True, False),
        (Stage.CLOSED, True, True),
    ]
    times = {t.stage: t for t in time_in_stage(store)}
    assert times[Stage.ON_HOLD].requests == 0 and times[Stage.FILED].requests == 0
    assert times[Stage.GATHERING_SUPPORT] == StageTime(
        stage=Stage.GATHERING_SUPPORT, requests=1, median_days=7.0, p90_days=7.0, now_in=1
    )


def test_summaries_by_hand() -> None:
    def stay(number: int, d: float | None, known: bool = True) -> Stay:
        entered = jst("2018-01-01")
        left = None if d is None else entered + timedelta(days=d)
        return Stay(number=number, stage=Stage.HEARING, entered=entered, left=left, known=known)

    hearing = {
        t.stage: t
        for t in summarise(
            [stay(n, float(n)) for n in range(1, 11)]
            + [stay(11, None), stay(12, 100.0, known=False), stay(13, 0.0)]
        )
    }[Stage.HEARING]
    assert hearing == StageTime(
        stage=Stage.HEARING, requests=10, median_days=5.5, p90_days=9.0, now_in=1
    )
    assert median([1.0, 2.0, 9.0]) == 2.0 and median([]) is None
    assert nearest_rank([1.0], 90) == 1.0 and nearest_rank([], 90) is None
    assert nearest_rank([float(n) for n in range(1, 21)], 90) == 18.0
    assert [nice_step(t) for t in (4, 5, 7, 23, 100, 0.3)] == [1.0, 1.0, 2.0, 5.0, 20.0, 0.1]


# --- rendering -------------------------------------------------------------------------------


def parse(html: str) -> ET.Element:
    return ET.fromstring(html)  # the fragment is well-formed XML, or this raises


def test_the_charts_are_accessible_svg_with_tables_of_their_figures(life: Life) -> None:
    html = charts_svg(life.store, "en")
    root = parse(html)
    svgs = root.findall(f".//{SVG}svg")
    assert len(svgs) == 2
    for svg in svgs:
        assert svg.get("role") == "img"
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert title is not None and desc is not None and title.text and desc.text
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        w, h = float(svg.get("width", "0")), float(svg.get("height", "0"))
        assert svg.get("viewBox") == f"0 0 {svg.get('width')} {svg.get('height')}" and w > 0 < h
    by_meeting, by_stage = svgs
    assert by_meeting.findtext(f"{SVG}title") == "Requests by stage at each meeting"
    described = by_meeting.findtext(f"{SVG}desc") or ""
    assert "Latest, meeting 3: 4 requests: Gathering support 1, Released 1, Closed 2." in described

    # one stacked bar per meeting, a segment per stage present, as tall as its count
    bars = by_meeting.findall(f".//{SVG}g[@class='bar']")
    assert [b.get("data-meeting") for b in bars] == ["1", "2", "3"]
    segments = {
        (b.get("data-meeting"), r.get("data-stage")): r for b in bars for r in b.iter(f"{SVG}rect")
    }
    assert {k: int(r.get("data-count", "0")) for k, r in segments.items()} == {
        ("1", "gathering_support"): 2,
        ("2", "filed"): 1,
        ("2", "gathering_support"): 1,
        ("2", "objection_window"): 1,
        ("3", "gathering_support"): 1,
        ("3", "released"): 1,
        ("3", "closed"): 2,
    }
    unit = float(segments[("2", "filed")].get("height", "0"))
    assert unit > 0
    for (_, _), rect in segments.items():
        assert float(rect.get("height", "0")) == pytest.approx(
            unit * int(rect.get("data-count", "0")), abs=0.02
        )

    # the time chart: a bar per stage with time counted, its length the median
    rows = {g.get("data-stage"): g for g in by_stage.findall(f".//{SVG}g[@class='row']")}
    assert list(rows) == [s.value for s in DWELL_STAGES]
    medians = {
        stage: float(rect.get("data-median", "nan"))
        for stage, g in rows.items()
        for rect in g.iter(f"{SVG}rect")
    }
    assert medians == pytest.approx(
        {
            "filed": (10 + 5 + 5 / 24) / 2,
            "gathering_support": 25.0,
            "hearing": 10.0,
            "cost_evaluation": 10.0,
            "objection_window": 14.0,
            "implementation": 15.0,
            "on_hold": 10.0,
        },
        abs=1e-4,
    )
    widths = {
        stage: float(rect.get("width", "0"))
        for stage, g in rows.items()
        for rect in g.iter(f"{SVG}rect")
    }
    assert widths["gathering_support"] == pytest.approx(2.5 * widths["hearing"], abs=0.02)
    texts = "".join(rows["gathering_support"].itertext())
    assert "median 25.0 d · p90 40.0 d · n=2" in texts

    # the tables say the same for screen readers
    tables = root.findall(".//table")
    assert len(tables) == 2
    counts, times = tables
    assert counts.findtext("caption") == "Requests by stage at each meeting"
    header = [th.text for th in counts.findall("thead/tr/th")]
    assert header == [
        "Meeting",
        "Held on",
        "Filed",
        "Gathering support",
        "Objection window",
        "Released",
        "Closed",
        "Total",
    ]
    body = [[c.text for c in tr] for tr in counts.findall("tbody/tr")]
    assert body == [
        ["1", "2018-01-10", "0", "2", "0", "0", "0", "2"],
        ["2", "2018-02-10", "1", "1", "1", "0", "0", "3"],
        ["3", "2018-03-10", "0", "1", "0", "1", "2", "4"],
    ]
    gathering = times.find("tbody/tr[@data-stage='gathering_support']")
    assert gathering is not None
    assert [c.text for c in gathering] == ["Gathering support", "25.0 d", "40.0 d", "2", "1"]


def test_japanese_labels_are_the_registers(life: Life) -> None:
    root = parse(charts_svg(life.store, "ja"))
    svgs = root.findall(f".//{SVG}svg")
    assert svgs[0].findtext(f"{SVG}title") == "会議ごとの段階別件数"
    legend = [t.text for t in svgs[0].findall(f".//{SVG}g[@class='legend']/{SVG}text")]
    assert legend == [
        "受付",
        "賛同募集中",
        "意見照会中",
        "リリース済",
        "クローズ",
    ]  # lifecycle order
    labels = [t.text for t in svgs[0].findall(f".//{SVG}g[@class='bar']/{SVG}text")]
    assert "第3回" in labels
    row = root.find(".//table/tbody/tr[@data-stage='hearing']")
    assert row is not None and [c.text for c in row] == [
        "事業者ヒアリング",
        "10.0日",
        "10.0日",
        "1",
        "0",
    ]


def test_the_chart_shows_the_latest_meetings_only(life: Life) -> None:
    for n in range(4, 4 + MAX_MEETINGS):
        life.store.open_meeting(n, jst("2018-03-10", 0) + timedelta(days=30 * n), SECRETARIAT)
    assert len(stage_counts_by_meeting(life.store)) == MAX_MEETINGS + 3
    root = parse(charts_svg(life.store, "en"))
    svg = root.find(f".//{SVG}svg")
    assert svg is not None
    bars = [b.get("data-meeting") for b in svg.findall(f".//{SVG}g[@class='bar']")]
    assert bars == [str(n) for n in range(4, 4 + MAX_MEETINGS)]
    assert f"The latest {MAX_MEETINGS} of {MAX_MEETINGS + 3} meetings." in (
        svg.findtext(f"{SVG}desc") or ""
    )
    table = root.find(".//table")
    assert table is not None
    assert [tr.get("data-meeting") for tr in table.findall("tbody/tr")] == bars


def test_stays_of_minutes_get_an_axis_of_a_day() -> None:
    minutes = 5 / (24 * 60)
    times = [
        StageTime(stage=s, requests=0, median_days=None, p90_days=None, now_in=0)
        for s in DWELL_STAGES
    ]
    times[1] = StageTime(
        stage=Stage.GATHERING_SUPPORT, requests=1, median_days=minutes, p90_days=minutes, now_in=0
    )
    root = parse(render_time_in_stage(times, WORDS["en"]))
    svg = root.find(f"{SVG}svg")
    assert svg is not None
    ticks = [t.text for t in svg.findall(f"{SVG}g[@class='axis']/{SVG}text")][:-1]
    assert ticks == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    texts = "".join(svg.itertext())
    assert "<0.1 d / <0.1 d" in texts and "none yet" in texts


def test_the_output_is_deterministic(life: Life) -> None:
    first = charts_svg(life.store, "en")
    assert charts_svg(life.store, "en") == first
    assert charts_svg(life.store, "ja") != first
