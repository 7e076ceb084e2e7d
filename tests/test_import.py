"""Importing a register kept before ringi: the fixture of the switching-support
system's register (``../shared/fixtures/switching-requests-register.tsv``),
parsed, written to a real SQLite event store as historical events, replayed
and rendered back; then run under the lifecycle's rules."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from ringi.domain.commands import (
    AppendNote,
    Approve,
    CarryForward,
    Close,
    Endorse,
    EvaluateCost,
    FileRequest,
    Hold,
    IdentifyProposer,
    RecordAnswer,
    Reopen,
    Resume,
    TimerKind,
)
from ringi.domain.errors import NotAllowed, Refused
from ringi.domain.lifecycle import JST, pending_timers
from ringi.domain.policy import Policy
from ringi.domain.request import Request
from ringi.domain.view import RequestView
from ringi.domain.vocabulary import UNKNOWN_PROPOSER, Actor, Category, CloseReason, Role, Stage
from ringi.register.document import register_document
from ringi.register.importer import (
    PLACEHOLDER_EPOCH,
    ImportPlan,
    RegisterFormatError,
    html_to_text,
    normalise,
    parse_meeting_dates,
    parse_register,
    plan_import,
    split_answers,
    take_tags,
)
from ringi.register.render import render
from ringi.service import Ringi
from ringi.store import ImportOutcome, RingiStore
from tests.cli_harness import Installation, Result, free_port
from tests.domain_builders import cost_effective_inputs
from tests.helpers import assert_store_matches_workflow, eventually

FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "switching-requests-register.tsv"
)
NUMBERS = [
    13,
    37,
    38,
    39,
    43,
    44,
    45,
    46,
    52,
    56,
    58,
    61,
    63,
    71,
    72,
    74,
    78,
    80,
    81,
    88,
    98,
    102,
    103,
]
SECRETARIAT = Actor.secretariat("事務局")
NOW = datetime.now(tz=UTC)


def fixture_rows() -> list[list[str]]:
    """The fixture's data rows, read here without ringi's parser: the lines
    with six tab-separated cells whose first cell is a number."""
    lines = FIXTURE.read_text(encoding="utf-8").split("\n")
    return [cells for line in lines if len(cells := line.split("\t")) == 6 and cells[0].isdigit()]


def answer_chain(cell: str) -> list[tuple[str, int | None, bool]]:
    """An answer cell as (text, meeting, carried over), texts without white space."""
    chain = [take_tags(segment) for segment in split_answers(html_to_text(cell))]
    return [("".join(text.split()), meeting, continued) for text, meeting, continued in chain]


def imported(store: RingiStore, data: bytes | None = None, **plan: object) -> ImportOutcome:
    parsed = parse_register(data if data is not None else FIXTURE.read_bytes(), str(FIXTURE))
    made = plan_import(parsed, known=store.meetings(), **plan)  # type: ignore[arg-type]
    return store.import_register(made.meetings, made.requests, Policy(), SECRETARIAT)


def log_length(store: RingiStore) -> int:
    return store.recorder.max_notification_id() or 0


# --- reading the fixture ---------------------------------------------------------------------


def test_the_fixture_reads_as_its_rows_with_their_answers_meetings_and_notes() -> None:
    register = parse_register(FIXTURE.read_bytes(), "fixture.tsv")
    rows = {r.number: r for r in register.rows}
    assert [r.number for r in register.rows] == NUMBERS
    assert [rows[n].last_column for n in NUMBERS] == [c[5].strip() for c in fixture_rows()]
    assert register.titles == (
        "スイッチング支援に関するルール、システムへのご意見・ご要望",
        "資料2",
    )
    assert register.meetings == [27, 28, 30, 31, 32, 33, 35, 36, 37]

    no39 = rows[39]
    assert [a.meeting for a in no39.answers] == [None, None, None, 27, 33, 35, 36, 37]
    # "次回会議(第27回)までに" refers to a meeting; it is not the answer's tag
    assert no39.answers[2].text.endswith(
        "次回会議(第27回)までに多数の賛同がなければクローズいたします。"
    )
    assert no39.answers[3].text == "賛同数の条件を満たしましたので、事業者ヒアリングを実施中。"
    # the tag stood inside the last answer: it is taken out, the quotation after it stays
    assert "(第37回)" not in no39.answers[7].text and "「標準回答日に" in no39.answers[7].text
    assert "<一括申請編のマニュアル>" in no39.answers[7].text  # text in angle brackets is text
    assert no39.body.startswith("法人需要者の使用量情報照会") and "<p>" not in no39.body
    (note,) = no39.notes
    assert (note.dated, note.meeting) == ("2018年10月", 36)
    assert note.text.startswith("一括申込の上限20件ならば")

    no58 = rows[58]
    assert [a.meeting for a in no58.answers] == [None, None, None, None, 33, 35]
    assert any("(実量制→主開閉器契約)" in a.text for a in no58.answers)  # not a separator
    assert "<状況>" in no58.answers[4].text
    assert [a.continued for a in rows[13].answers] == [False, True]
    assert [a.continued for a in rows[37].answers] == [False, True, False, False]
    assert rows[72].answers[-1].text == "本件、保留ステータスとする。"
    assert "（第21回会議、議事概要から）" in rows[72].answers[0].text
    assert (
        rows[98].answers[0].meeting is None and "(第29回資料2別紙6、p4)" in rows[98].answers[0].text
    )
    assert (rows[98].related, rows[52].related, rows[44].related) == ((87,), (37, 38), (43,))
    assert rows[78].notes[0].dated == "2017年9月" and rows[78].notes[0].meeting is None
    assert (rows[74].support, rows[74].mark, rows[103].support) == (2, None, None)


# --- importing -------------------------------------------------------------------------------


def test_the_register_of_the_last_meeting_renders_back_as_the_fixture(store: RingiStore) -> None:
    outcome = imported(store)
    assert outcome.imported == NUMBERS
    assert outcome.meetings_opened == [27, 28, 30, 31, 32, 33, 35, 36, 37]

    csv_bytes = render(register_document(store, meeting=37), "csv")
    header, *rendered = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"), newline="")))
    assert header[0] == "No." and len(header) == 6
    expected = fixture_rows()
    assert [r[0] for r in rendered] == [e[0] for e in expected]
    for got, want in zip(rendered, expected, strict=True):
        no = want[0]
        assert got[1] == want[1], no  # 区分
        assert normalise(got[2]) == normalise(want[2]), no  # 対象箇所
        assert normalise(got[3]) == normalise(want[3]), no  # the body with its 追記 notes
        assert answer_chain(got[4]) == answer_chain(want[4]), no  # each answer, its meeting
        assert got[5] == want[5].strip(), no  # the count, 保留 or クローズ
    # the tags are written back: No.39 shows its five meetings in order
    no39 = next(r for r in rendered if r[0] == "39")[4]
    tags = ["(第27回)", "(第33回)", "(第35回)", "(第36回)", "(第37回)"]
    assert [no39.index(t) for t in tags] == sorted(no39.index(t) for t in tags)


def test_importing_the_same_file_twice_changes_nothing(store: RingiStore) -> None:
    imported(store)
    length, view = log_length(store), store.view(39)
    again = imported(store)
    assert again.imported == [] and again.already == NUMBERS and again.meetings_opened == []
    assert log_length(store) == length
    assert store.view(39) == view


def test_imported_history_is_dated_by_meeting_and_numbers_continue(store: RingiStore) -> None:
    imported(store)
    # placeholders, 30 days a meeting from 2000-01-01, flagged in the meeting's title
    meeting = store.meeting(33)
    assert meeting.held_at == PLACEHOLDER_EPOCH + timedelta(days=30 * 32)
    assert meeting.date_is_placeholder
    view = store.view(39)
    assert view.proposer == UNKNOWN_PROPOSER and view.support == 5
    assert view.imported is not None and view.imported.line == 9
    assert [(a.meeting, a.at) for a in view.answers[2:5]] == [
        (None, store.meeting(27).held_at),  # untagged: no later than the next tagged answer
        (27, store.meeting(27).held_at),
        (33, store.meeting(33).held_at),
    ]
    assert view.filed_at == store.meeting(27).held_at
    # No.80's first dated fact is in 37, but No.98 after it had an answer at 32
    assert store.view(80).filed_at == store.meeting(32).held_at

    # as of an earlier meeting: only what was certainly said by then, support not known
    r27 = register_document(store, meeting=27)
    assert [r.number for r in r27.rows] == [13, 37, 38, 39]
    assert [len(r.answers) for r in r27.rows] == [0, 0, 0, 4]
    assert {r.status.value for r in r27.rows} == {"unknown"}
    assert "不明" in render(r27, "csv").decode()
    assert len(register_document(store, meeting=33).rows[3].answers) == 5

    # later filings continue after the highest number
    filing = FileRequest(
        actor=Actor.member("A社"), category=Category.REQUEST, target="API", body="b"
    )
    number = store.reserve_number(filing.command_id)
    assert number == 104
    assert store.file(number, filing, Policy(), NOW).view.number == 104


def test_an_imported_meeting_keeps_its_date(store: RingiStore) -> None:
    """The imported answers are dated by their meetings: meeting 36 moved to its real
    day (2018) would leave 37's answers (dated 2002) in 36's register. Refused, with
    the way to give the dates; a meeting opened by hand afterwards still moves."""
    imported(store)
    length, r36 = log_length(store), register_document(store, meeting=36)
    actor = Actor(role=Role.SECRETARIAT, user="事務局")
    for number in (36, 37):
        with pytest.raises(
            Refused, match=rf"meeting {number} .*imported register.*--meeting-dates"
        ):
            store.reschedule_meeting(number, datetime(2018, 11, 20, tzinfo=JST), "", actor)
    assert log_length(store) == length
    assert register_document(store, meeting=36) == r36
    store.open_meeting(38, datetime(2030, 1, 10, tzinfo=JST), actor)
    store.reschedule_meeting(38, datetime(2030, 1, 17, tzinfo=JST), "延期", actor)
    assert store.meetings()[38] == datetime(2030, 1, 17, tzinfo=JST)


def test_meeting_dates_are_used_and_the_others_placed_between_them(store: RingiStore) -> None:
    given = parse_meeting_dates("# 第N回 and its date\n33\t2018-06-21\n第37回\t2018-12-20\n")
    assert given == {33: date(2018, 6, 21), 37: date(2018, 12, 20)}
    imported(store, given=given)
    day = {n: held.astimezone(JST).date() for n, held in store.meetings().items()}
    assert day[33] == date(2018, 6, 21) and day[37] == date(2018, 12, 20)
    assert day[35] == date(2018, 9, 20)  # halfway between 33 and 37
    assert day[27] == date(2018, 6, 21) - timedelta(days=6 * 30)
    assert not store.meeting(33).date_is_placeholder and store.meeting(35).date_is_placeholder
    assert "開催日 2018-06-21" in render(register_document(store, meeting=33), "html").decode()
    assert "開催日不明" in render(register_document(store, meeting=35), "html").decode()

    # the same file with other dates contradicts the meetings it opened: refused
    with pytest.raises(Refused, match="meeting 33"):
        imported(store, given={33: date(2018, 6, 22)})
    with pytest.raises(RegisterFormatError, match=r"dates:2: expected N<TAB>YYYY-MM-DD"):
        parse_meeting_dates("33\t2018-06-21\n33 on the 21st\n", "dates")


def test_a_malformed_row_is_reported_with_its_line_and_nothing_is_written(
    store: RingiStore, tmp_path: Path
) -> None:
    lines = FIXTURE.read_text(encoding="utf-8").split("\n")
    lines[9] = lines[9].replace("\t", " ", 1)  # line 10: a tab lost, five cells
    lines[21] = lines[21].rsplit("\t", 1)[0] + "\t多数"  # line 22: not a count
    lines[32] = lines[32].replace("\t要望\t", "\t提案\t")  # line 33: no such 区分
    broken = tmp_path / "broken.tsv"
    broken.write_text("\n".join(lines), encoding="utf-8")

    with pytest.raises(RegisterFormatError) as refusal:
        parse_register(broken.read_bytes(), str(broken))
    assert [p.line for p in refusal.value.problems] == [10, 22, 33]
    message = str(refusal.value)
    assert f"{broken}:10: 5 cells" in message
    assert "No.63: 改修・対応希望 is a support count" in message and "'多数'" in message
    assert "No.74: 区分" in message
    assert log_length(store) == 0

    # a row whose number the store already holds with something else refuses the
    # whole import: nothing of it is written, not even the rows before
    other = "No.\t区分\t対象箇所\tご意見・ご要望\t回答\t改修・対応希望\n45\t要望\t別件\t別の要望\t検討します。(第30回)\t3\n"
    assert imported(store, other.encode()).imported == [45]
    before = log_length(store)
    with pytest.raises(Refused, match=r"line 12: No\.45 is already in the store and differs"):
        imported(store)
    assert log_length(store) == before
    assert list(store.meetings()) == [30] and store.numbers() == [45]


def test_imported_requests_run_under_the_lifecycle_rules(store: RingiStore) -> None:
    imported(store)
    now = NOW

    no74 = store.view(74)  # a count of 2: gathering support, with no deadline
    assert (no74.stage, no74.support, no74.support_deadline) == (Stage.GATHERING_SUPPORT, 2, None)
    # open over a year: the final call is due at once, as for any request
    (final_call,) = pending_timers(no74)
    assert final_call.timer is TimerKind.FINAL_CALL and final_call.due < now
    assert store.execute(74, Endorse(actor=Actor.member("B社")), now).view.support == 3
    with pytest.raises(NotAllowed, match="unknown proposer"):
        store.execute(74, Endorse(actor=Actor.member(UNKNOWN_PROPOSER)), now)

    assert store.view(39).stage is Stage.HEARING  # 5 of 5
    evaluated = store.execute(
        39, EvaluateCost(actor=SECRETARIAT, inputs=cost_effective_inputs()), now
    )
    assert evaluated.view.stage is Stage.COST_EVALUATION

    held = store.view(37)
    assert held.stage is Stage.ON_HOLD and held.hold_reason is not None
    assert "保留 in the register of 第37回" in held.hold_reason
    resumed = store.execute(37, Resume(actor=SECRETARIAT), now).view
    assert (resumed.stage, resumed.support) == (Stage.GATHERING_SUPPORT, 1)

    closed = store.view(103)
    assert closed.closure is not None and closed.closure.reason is CloseReason.IMPORTED
    with pytest.raises(Refused, match="closed; nothing more"):
        store.execute(103, Hold(actor=SECRETARIAT, reason="追加"), now)
    # but it takes a later answer, and may be reopened: where it was closed from is not
    # known, so it starts where the import starts what it cannot place, with a deadline
    answered = store.execute(103, RecordAnswer(actor=SECRETARIAT, text="追加"), now).view
    assert answered.stage is Stage.CLOSED and answered.answers[-1].text == "追加"
    reopened = store.execute(103, Reopen(actor=SECRETARIAT, reason="再検討"), now).view
    start = Stage.GATHERING_SUPPORT if closed.category is Category.REQUEST else Stage.FILED
    assert reopened.stage is start and reopened.closure is None
    if start is Stage.GATHERING_SUPPORT:
        assert reopened.support_deadline == now + reopened.policy.support_window
    with pytest.raises(Refused, match="'imported' is the reason"):
        store.execute(13, Close(actor=SECRETARIAT, reason=CloseReason.IMPORTED), now)


def test_the_secretariat_names_an_imported_requests_proposer(store: RingiStore) -> None:
    """The register does not say who proposed a request; once the secretariat names
    the company, it acts as the proposer, and an endorsement it gave since the
    import no longer counts it twice (the register's count includes it)."""
    imported(store)
    now = NOW
    assert store.execute(74, Endorse(actor=Actor.member("B社")), now).view.support == 3
    with pytest.raises(NotAllowed, match="only the proposer"):
        store.execute(74, AppendNote(actor=Actor.member("B社"), text="追記"), now)

    named = store.execute(74, IdentifyProposer(actor=SECRETARIAT, company="B社"), now).view
    assert (named.proposer, named.support, named.endorsers) == ("B社", 2, [])
    assert store.execute(74, AppendNote(actor=Actor.member("B社"), text="追記"), now).written
    with pytest.raises(Refused, match="already counted"):
        store.execute(74, Endorse(actor=Actor.member("B社")), now)

    version = store.view(74).version
    with pytest.raises(Refused, match="names its proposer already: B社"):
        store.execute(74, IdentifyProposer(actor=SECRETARIAT, company="C社"), now)
    with pytest.raises(NotAllowed):
        store.execute(39, IdentifyProposer(actor=Actor.member("B社"), company="B社"), now)
    assert store.view(74).version == version
    with pytest.raises(Refused, match="name the company"):
        store.execute(39, IdentifyProposer(actor=SECRETARIAT, company=UNKNOWN_PROPOSER), now)


def test_an_imported_request_is_carried_forward_to_where_its_answers_say(
    store: RingiStore,
) -> None:
    """No.39's answers say its objection window passed and its release is planned,
    but the register's last column (a count) puts it in the hearing: the secretariat
    carries it forward, once, instead of replaying an evaluation and a window today."""
    imported(store)
    now = NOW
    assert store.view(39).stage is Stage.HEARING
    carry = CarryForward(
        actor=SECRETARIAT, stage=Stage.IMPLEMENTATION, reason="第35回: 意見照会で問題なし"
    )
    moved = store.execute(39, carry, now).view
    assert moved.stage is Stage.IMPLEMENTATION
    approved = store.execute(
        39, Approve(actor=SECRETARIAT, planned_release=date(2030, 2, 1)), now
    ).view
    assert approved.planned_release == date(2030, 2, 1)
    (carried,) = [e for e in store.timeline(39) if e.event == "CarriedForward"]
    assert carried.details["reason"] == "第35回: 意見照会で問題なし"

    back = carry.model_copy(update={"stage": Stage.HEARING, "command_id": "back"})
    filing = FileRequest(
        actor=Actor.member("A社"), category=Category.REQUEST, target="API", body="b"
    )
    filed = store.reserve_number(filing.command_id)
    store.file(filed, filing, Policy(), NOW)
    for number, command, words in [
        (39, back, "carried forward, not back"),
        (filed, carry, "only an imported request"),
        (37, carry, "on hold"),  # 保留
        (74, carry.model_copy(update={"stage": Stage.OBJECTION_WINDOW}), "carried forward to"),
    ]:
        before = store.view(number).version
        with pytest.raises(Refused, match=words):
            store.execute(number, command, now)
        assert store.view(number).version == before
    with pytest.raises(NotAllowed):
        store.execute(74, carry.model_copy(update={"actor": Actor.member("B社")}), now)


def test_only_the_secretariat_imports(store: RingiStore) -> None:
    register = parse_register(FIXTURE.read_bytes())
    made: ImportPlan = plan_import(register)
    with pytest.raises(NotAllowed, match="only the secretariat imports"):
        Request.imported(made.requests[0], Policy(), Actor.member("A社"))
    with pytest.raises(NotAllowed):
        store.import_register(made.meetings, made.requests, Policy(), Actor.member("A社"))
    assert log_length(store) == 0


async def test_import_starts_the_workflows_of_the_open_requests(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    register = parse_register(FIXTURE.read_bytes())
    made = plan_import(register, known=ringi.store.meetings())
    outcome, started = await ringi.import_register(
        list(made.meetings), list(made.requests), SECRETARIAT
    )
    assert outcome.imported == NUMBERS
    assert started.started == [n for n in NUMBERS if n != 103]  # クローズ has no workflow
    assert started.complete

    # the final call falls due at once for a request open over a year
    async def no74() -> RequestView:
        return ringi.store.view(74)

    await eventually(no74, lambda v: v.final_call_at is not None)
    view = await ringi.act(74, Endorse(actor=Actor.member("B社")))
    assert view.support == 3 and view.stage is Stage.GATHERING_SUPPORT
    await assert_store_matches_workflow(ringi, 74)
    with pytest.raises(Refused):
        await ringi.act(103, Endorse(actor=Actor.member("B社")))
    _, again = await ringi.import_register(list(made.meetings), list(made.requests), SECRETARIAT)
    assert again.started == [] and again.complete


# --- the command line ------------------------------------------------------------------------


def _ok(result: Result) -> Result:
    assert result.status == 0, f"exit {result.status}: {result.err}"
    return result


@pytest.mark.slow
def test_ringi_import_and_ringi_register_csv(tmp_path: Path) -> None:
    inst = Installation(tmp_path / "data", free_port(), free_port())
    inst.up()
    try:
        lines = FIXTURE.read_text(encoding="utf-8").split("\n")
        lines[16] = lines[16].replace("\t要望\t", "\t\t", 1)
        broken = tmp_path / "broken.tsv"
        broken.write_text("\n".join(lines), encoding="utf-8")
        refused = inst.ringi("import", str(broken))
        assert refused.status == 1 and f"{broken}:17: No.56: 区分" in refused.err, refused.err

        checked = _ok(inst.ringi("import", str(FIXTURE), "--check"))
        assert "would import 23 rows; 0 already imported" in checked.out
        first = _ok(inst.ringi("import", str(FIXTURE)))
        assert "23 rows: 23 imported, 0 already imported" in first.out
        again = _ok(inst.ringi("import", str(FIXTURE)))
        assert "0 imported, 23 already imported" in again.out
        # --check decides as the import does, against the store: a changed row is refused
        checked = _ok(inst.ringi("import", str(FIXTURE), "--check"))
        assert "would import 0 rows; 23 already imported" in checked.out
        assert "(open already)" in checked.out and "(placeholder)" not in checked.out
        changed = tmp_path / "changed.tsv"
        lines = FIXTURE.read_text(encoding="utf-8").split("\n")
        lines[16] = lines[16].replace("\t要望\t", "\t意見\t", 1)
        changed.write_text("\n".join(lines), encoding="utf-8")
        differs = inst.ringi("import", str(changed), "--check")
        assert differs.status == 1 and "No.56 is already in the store and differs" in differs.err

        out = _ok(inst.ringi("register", "--meeting", "37", "--format", "csv")).out
        _, *rendered = list(csv.reader(io.StringIO(out, newline="")))
        assert [(r[0], r[5]) for r in rendered] == [(e[0], e[5].strip()) for e in fixture_rows()]

        assert inst.ringi("register", "--meeting", "99").status == 1
        assert inst.ringi("register", "--meeting", "37", "--as-of", "2020-01-01").status == 2
        assert inst.ringi("register", "--as-of", "yesterday").status == 2
        # imported history happened at its meetings (placeholders), recorded today
        timeline = _ok(inst.ringi("audit", "history", "39")).out.splitlines()
        assert timeline[0].startswith("v1   2002-") and "  recorded 20" in timeline[0]
        pdf = inst.ringi("register", "--meeting", "37", "-o", str(tmp_path / "r37.pdf"))
        assert pdf.status == 2 and "r37.pdf: no format for .pdf" in pdf.err
        assert not (tmp_path / "r37.pdf").exists()
        published = _ok(inst.ringi("register", "publish", "37", "--format", "csv"))
        assert "第37回 資料2 published: 23 rows" in published.out
        assert "no changes" not in _ok(inst.ringi("register", "diff", "36", "37")).out
    finally:
        inst.down()
