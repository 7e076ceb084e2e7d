"""The register (資料2) replayed as of meetings and moments, rendered, published,
verified and compared, on a real SQLite event store.

One lifecycle runs through meetings 35, 36 and 37 (dated commands straight to
the store, as the workflow would send them):

- No.1 要望 (A社): supported by 5 at once (hearing), answered at 35; evaluated
  cost-effective, answered at 36 and its objection window opened; the window
  ends without objection (implementation), approved; at 37 answered again and
  its answer of 36 corrected; released after 37.
- No.2 質問 (B社): answered at 35 and closed that day.
- No.3 要望 (C社): filed before 35 (support 1), endorsed twice after it (3),
  a note appended at 36, held at 37.
- No.4 意見 (D社): filed between 35 and 36; waits (filed).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, datetime

import psycopg
import pytest
from psycopg import sql

from ringi.config import Settings
from ringi.domain.commands import (
    AppendNote,
    Approve,
    Close,
    Command,
    CorrectAnswer,
    Endorse,
    EvaluateCost,
    FileRequest,
    Hold,
    OpenObjectionWindow,
    RecordAnswer,
    Release,
    TimerFired,
    TimerKind,
)
from ringi.domain.errors import NotAllowed, Refused
from ringi.domain.lifecycle import JST
from ringi.domain.policy import Policy
from ringi.domain.vocabulary import Actor, Category, CloseReason, Stage
from ringi.register.diff import diff_meetings
from ringi.register.document import RegisterDocument, Status, document_of, register_document
from ringi.register.edition import EDITION
from ringi.register.publish import publish, republished, verify_publications
from ringi.register.render import FORMATS, LANGS, cells, render
from ringi.register.replay import (
    meeting_cutoff,
    moment_cutoff,
    replay,
    replay_many,
    request_as_of,
)
from ringi.store import RingiStore
from tests.domain_builders import cost_effective_inputs

SECRETARIAT = Actor.secretariat("事務局")
HELD = {35: date(2018, 6, 21), 36: date(2018, 9, 20), 37: date(2018, 12, 20)}


def jst(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=JST)


def member(company: str) -> Actor:
    return Actor.member(company, user=f"{company}担当")


class Lifecycle:
    """Drives the store with dated commands."""

    def __init__(self, store: RingiStore) -> None:
        self.store = store

    def file(self, at: datetime, company: str, category: Category, target: str, body: str) -> int:
        cmd = FileRequest(actor=member(company), category=category, target=target, body=body)
        number = self.store.reserve_number(cmd.command_id)
        self.store.file(number, cmd, Policy(), at)
        return number

    def do(self, number: int, at: datetime, cmd: Command) -> None:
        self.store.execute(number, cmd, at)

    def answer(self, number: int, at: datetime, text: str, meeting: int | None) -> None:
        self.do(number, at, RecordAnswer(actor=SECRETARIAT, text=text, meeting=meeting))


def until_35(life: Lifecycle) -> None:
    store = life.store
    for n, day in HELD.items():
        store.open_meeting(n, jst(day.isoformat(), 0), SECRETARIAT, title=f"第{n}回")
    one = life.file(
        jst("2018-05-01"), "A社", Category.REQUEST, "使用量情報照会", "パスワード発行を一括で"
    )
    for i, company in enumerate(("B社", "C社", "D社", "E社"), start=2):
        life.do(one, jst(f"2018-05-0{i}"), Endorse(actor=member(company)))
    two = life.file(jst("2018-06-10"), "B社", Category.QUESTION, "API", "上限件数は？")
    three = life.file(
        jst("2018-06-12"), "C社", Category.REQUEST, "設備情報照会", "高圧の検索機能がほしい"
    )
    assert (one, two, three) == (1, 2, 3)
    life.answer(1, jst("2018-06-21", 14), "事業者ヒアリングを実施中。", 35)
    life.answer(2, jst("2018-06-21", 14), "上限は20件です。", 35)
    life.do(2, jst("2018-06-21", 15), Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED))


def until_36(life: Lifecycle) -> None:
    life.do(3, jst("2018-07-01"), Endorse(actor=member("A社")))
    life.do(1, jst("2018-08-01"), EvaluateCost(actor=SECRETARIAT, inputs=cost_effective_inputs()))
    life.do(3, jst("2018-08-10"), Endorse(actor=member("D社")))
    four = life.file(jst("2018-08-20"), "D社", Category.OPINION, "マニュアル", "記載を増やして")
    assert four == 4
    life.do(3, jst("2018-09-01"), AppendNote(actor=member("C社"), text="低圧も含めて", meeting=36))
    life.answer(1, jst("2018-09-20", 11), "費用対効果が見込めることから検討を進めます。", 36)
    life.do(1, jst("2018-09-20", 12), OpenObjectionWindow(actor=SECRETARIAT, meeting=36))


def until_37(life: Lifecycle) -> None:
    ends = jst("2018-09-20", 12) + Policy().objection_window
    life.do(1, ends, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, ends))
    life.do(1, jst("2018-10-10"), Approve(actor=SECRETARIAT, planned_release=date(2019, 2, 1)))
    life.answer(1, jst("2018-12-20", 10), "2019年2月リリース予定です。", 37)
    life.do(
        1,
        jst("2018-12-20", 11),
        CorrectAnswer(
            actor=SECRETARIAT,
            answer_id="a2",
            text="費用対効果が見込めることから実現性の検討を進めます。",
            reason="誤記",
            meeting=37,
        ),
    )
    life.do(3, jst("2018-12-20", 12), Hold(actor=SECRETARIAT, reason="FIT法改正の動向待ち"))


def after_37(life: Lifecycle) -> None:
    life.do(1, jst("2019-02-01"), Release(actor=SECRETARIAT, released_on=date(2019, 2, 1)))


@pytest.fixture
def life(store: RingiStore) -> Lifecycle:
    lifecycle = Lifecycle(store)
    until_35(lifecycle)
    until_36(lifecycle)
    until_37(lifecycle)
    after_37(lifecycle)
    return lifecycle


def answers(doc: RegisterDocument, number: int) -> list[tuple[str, int | None]]:
    row = next(r for r in doc.rows if r.number == number)
    return [(a.text, a.meeting) for a in row.answers]


def row(doc: RegisterDocument, number: int) -> list[str]:
    return cells(next(r for r in doc.rows if r.number == number), "ja")


# --- replay -----------------------------------------------------------------------------


def test_each_meeting_has_its_own_register(life: Lifecycle) -> None:
    store = life.store
    r35, r36, r37 = (register_document(store, meeting=n) for n in (35, 36, 37))

    # 35: No.2 answered and closed that day is shown, closed; No.4 is not filed yet
    assert [r.number for r in r35.rows] == [1, 2, 3]
    assert row(r35, 1) == [
        "1",
        "要望",
        "使用量情報照会",
        "パスワード発行を一括で",
        "事業者ヒアリングを実施中。(第35回)",
        "5",
    ]
    assert row(r35, 2)[4:] == ["上限は20件です。(第35回)", "クローズ"]
    assert row(r35, 3)[5] == "1"
    assert r35.held_on == HELD[35] and r35.as_of == jst("2018-06-21", 23, 59).replace(
        second=59, microsecond=999999
    )

    # 36: No.2 closed at the previous meeting is gone; No.3 endorsed twice, with its note
    assert [r.number for r in r36.rows] == [1, 3, 4]
    assert answers(r36, 1) == [
        ("事業者ヒアリングを実施中。", 35),
        ("費用対効果が見込めることから検討を進めます。", 36),
    ]
    assert next(r for r in r36.rows if r.number == 1).stage is Stage.OBJECTION_WINDOW
    assert row(r36, 3)[3:] == [
        "高圧の検索機能がほしい\n【2018年9月追記】 低圧も含めて(第36回)",
        "",
        "3",
    ]
    assert row(r36, 4)[1:] == ["意見", "マニュアル", "記載を増やして", "", "1"]

    # 37: the correction shows on both answers; No.3 held
    assert row(r37, 1)[4] == "\n→".join(
        [
            "事業者ヒアリングを実施中。(第35回)",
            "費用対効果が見込めることから検討を進めます。(第36回)〔第37回に訂正〕",
            "2019年2月リリース予定です。(第37回)",
            "【訂正】 費用対効果が見込めることから実現性の検討を進めます。(第37回)",
        ]
    )
    assert next(r for r in r37.rows if r.number == 1).stage is Stage.IMPLEMENTATION
    assert row(r37, 3)[5] == "保留"
    assert len({r35.digest(), r36.digest(), r37.digest()}) == 3


def test_as_of_a_moment_and_one_request(life: Lifecycle) -> None:
    store = life.store
    mid_august = moment_cutoff(store, jst("2018-08-15", 12))
    assert mid_august.since is not None and mid_august.since.date() == HELD[35]
    folded = replay(store, mid_august)
    assert folded.views[1].stage is Stage.COST_EVALUATION
    assert folded.views[3].support == 3
    assert 4 not in folded.views  # filed on 08-20
    assert request_as_of(store, 1, mid_august) == folded.views[1]
    with pytest.raises(Refused, match=r"No\.4 had not been filed"):
        request_as_of(store, 4, mid_august)

    # after 37 No.1 was released: as of then it is shown once more, released
    later = register_document(store, at=jst("2019-02-02"))
    assert [r.number for r in later.rows] == [1, 3, 4]
    assert row(later, 1)[5] == "リリース済"
    assert request_as_of(store, 1, moment_cutoff(store, jst("2019-02-02"))).stage is Stage.RELEASED
    # the current state is not what a replay reads: as of 37 No.1 is still in implementation
    assert store.view(1).stage is Stage.RELEASED
    assert request_as_of(store, 1, meeting_cutoff(store, 37)).stage is Stage.IMPLEMENTATION


def test_one_pass_for_several_meetings_folds_the_same_as_one_pass_each(life: Lifecycle) -> None:
    store = life.store
    cutoffs = [meeting_cutoff(store, n) for n in (37, 35, 36)]
    together = replay_many(store, cutoffs)
    for cutoff, folded in zip(cutoffs, together, strict=True):
        alone = replay(store, cutoff)
        assert folded.views == alone.views
        assert document_of(folded) == document_of(alone)


def test_an_answer_corrected_after_the_end_does_not_bring_the_request_back(
    life: Lifecycle,
) -> None:
    """Corrections may come after a request was released or closed; the register
    keeps showing it only at the meeting where it ended, not wherever the
    correction falls."""
    store = life.store
    for n, day in {38: "2019-03-20", 39: "2019-06-20"}.items():
        store.open_meeting(n, jst(day, 0), SECRETARIAT, title=f"第{n}回")
    # No.1 released on 2019-02-01 (after 37), No.2 closed at 35: both corrected after 38
    life.do(
        1,
        jst("2019-04-01"),
        CorrectAnswer(
            actor=SECRETARIAT, answer_id="a4", text="2019年2月1日リリース済み。", reason="実績"
        ),
    )
    life.do(
        2,
        jst("2019-04-02"),
        CorrectAnswer(actor=SECRETARIAT, answer_id="a1", text="上限は50件です。", reason="誤記"),
    )

    r38, r39 = (register_document(store, meeting=n) for n in (38, 39))
    assert [r.number for r in r38.rows] == [1, 3, 4]  # No.1 released since 37
    assert [r.number for r in r39.rows] == [3, 4]
    # the corrections are recorded all the same, each pointing at what it corrects
    released, closed = store.view(1), store.view(2)
    assert (released.stage, closed.stage) == (Stage.RELEASED, Stage.CLOSED)
    assert released.released_at == jst("2019-02-01")
    assert [(a.answer_id, a.corrects, a.superseded_by) for a in closed.answers] == [
        ("a1", None, "a2"),
        ("a2", "a1", None),
    ]
    assert released.answers[-1].corrects == "a4" and released.updated_at == jst("2019-04-01")


def test_a_correction_reported_at_a_meeting_shows_the_ended_request_in_its_register(
    life: Lifecycle,
) -> None:
    """Tagged with meeting 39, a correction of No.2's answer (closed at 35) is what
    the secretariat reports there: the 39th register has the row with the corrected
    answer; the 38th, before it, does not."""
    store = life.store
    for n, day in {38: "2019-03-20", 39: "2019-06-20"}.items():
        store.open_meeting(n, jst(day, 0), SECRETARIAT, title=f"第{n}回")
    life.do(
        2,
        jst("2019-06-20", 11),
        CorrectAnswer(
            actor=SECRETARIAT, answer_id="a1", text="上限は50件です。", reason="誤記", meeting=39
        ),
    )

    r38, r39 = (register_document(store, meeting=n) for n in (38, 39))
    assert [r.number for r in r38.rows] == [1, 3, 4]
    assert [r.number for r in r39.rows] == [2, 3, 4]
    (row,) = [r for r in r39.rows if r.number == 2]
    assert [(a.text, a.meeting) for a in row.answers][-1] == ("上限は50件です。", 39)
    assert row.status is Status.CLOSED


def test_a_register_published_by_earlier_rules_replays_by_them(life: Lifecycle) -> None:
    """A publication records the edition of the rules that chose its rows and
    replays by it: the 39th register published before a tagged correction brought
    ended requests back (edition 1, as every publication recorded without an
    edition) still verifies, and a new publication of it has the row."""
    store = life.store
    store.open_meeting(39, jst("2019-06-20", 0), SECRETARIAT, title="第39回")
    life.do(
        2,
        jst("2019-06-20", 11),
        CorrectAnswer(
            actor=SECRETARIAT, answer_id="a1", text="上限は50件です。", reason="誤記", meeting=39
        ),
    )
    cutoff = replace(meeting_cutoff(store, 39, published=False), edition=1)
    folded = replay(store, cutoff)
    old = document_of(folded)
    assert 2 not in [r.number for r in old.rows]
    store.publish_register(  # as the first edition's code recorded it: no edition
        39,
        cutoff=cutoff.at,
        since=cutoff.since,
        position=folded.position,
        digest=old.digest(),
        formats={
            fmt: hashlib.sha256(render(old, fmt, "ja", edition=1)).hexdigest()
            for fmt in ("json", "csv")  # the CSV without the byte order mark of edition 3
        },
        lang="ja",
        at=jst("2019-06-21"),
        actor=SECRETARIAT,
    )

    assert verify_publications(store) == []
    assert register_document(store, meeting=39).digest() == old.digest()
    again = publish(store, 39, formats=["json", "csv"], actor=SECRETARIAT)
    assert 2 in [r.number for r in again.document.rows]
    assert again.files["csv"].startswith(codecs.BOM_UTF8)
    assert store.meeting(39).publications[-1].edition == EDITION
    assert verify_publications(store) == []
    first = republished(store, 39, 1)  # the files the first publication handed out
    assert not first.files["csv"].startswith(codecs.BOM_UTF8)
    assert first.digest == old.digest()


# --- publishing ---------------------------------------------------------------------------


def test_published_registers_still_verify_after_more_events(store: RingiStore) -> None:
    life = Lifecycle(store)
    until_35(life)
    first = publish(store, 35, formats=["html", "xlsx", "csv"], actor=SECRETARIAT)
    # an answer recorded after publishing, though dated on the meeting's day
    life.answer(3, jst("2018-06-21", 21), "遅れて記録した回答", 35)
    until_36(life)
    second = publish(store, 36, formats=["json"], lang="en", actor=SECRETARIAT)
    until_37(life)
    after_37(life)

    assert verify_publications(store) == []
    # what --meeting 35 shows now is what was published, not the late answer
    assert register_document(store, meeting=35).digest() == first.digest
    assert register_document(store, meeting=36).digest() == second.digest
    assert render(register_document(store, meeting=35), "xlsx") == first.files["xlsx"]
    unpublished = document_of(replay(store, meeting_cutoff(store, 35, published=False)))
    assert answers(unpublished, 3) == [("遅れて記録した回答", 35)]
    assert answers(register_document(store, meeting=35), 3) == []
    meeting = store.meeting(35)
    (publication,) = meeting.publications
    assert publication.digest == first.digest and publication.position == first.position
    assert set(publication.formats) == {"html", "xlsx", "csv"}

    # only the secretariat publishes; a meeting must exist
    with pytest.raises(NotAllowed):
        publish(store, 37, actor=member("A社"))
    with pytest.raises(Refused, match="meeting 99"):
        publish(store, 99, actor=SECRETARIAT)


def test_a_publication_under_one_command_id_is_made_once(store: RingiStore) -> None:
    """A retried publish (an API key, a web form sent twice) records nothing more
    and hands back the files of the publication made then, even when events were
    recorded in between; two attempts at once record one publication."""
    life = Lifecycle(store)
    until_35(life)
    first = publish(store, 35, formats=["csv", "md"], lang="en", actor=SECRETARIAT, command_id="c1")
    life.answer(3, jst("2018-06-21", 21), "遅れて記録した回答", 35)  # the register would differ now
    events = store.recorder.max_notification_id()
    again = publish(store, 35, formats=["html"], actor=SECRETARIAT, command_id="c1")
    assert store.recorder.max_notification_id() == events
    assert (again.publication, again.digest, again.files) == (1, first.digest, first.files)
    other = publish(store, 35, actor=SECRETARIAT, command_id="c2")
    assert other.publication == 2 and other.digest != first.digest
    assert [p.command_id for p in store.meeting(35).publications] == ["c1", "c2"]

    with ThreadPoolExecutor(4) as pool:
        raced = list(
            pool.map(
                lambda _: publish(store, 35, formats=["json"], actor=SECRETARIAT, command_id="c3"),
                range(4),
            )
        )
    assert {(r.publication, r.digest) for r in raced} == {(3, raced[0].digest)}
    assert len(store.meeting(35).publications) == 3
    assert verify_publications(store) == []


def test_a_meeting_moved_after_its_register_was_published_keeps_that_register(
    store: RingiStore,
) -> None:
    """A published register printed the meeting's date of the time: moving the
    meeting later changes neither what --meeting N shows nor its digest."""
    life = Lifecycle(store)
    until_35(life)
    published = publish(store, 35, formats=["md"], actor=SECRETARIAT)
    store.reschedule_meeting(35, jst("2018-06-28", 0), "会場の都合で延期", SECRETARIAT)
    assert store.meetings()[35] == jst("2018-06-28", 0)

    assert verify_publications(store) == []
    shown = register_document(store, meeting=35)
    assert shown.digest() == published.digest
    assert render(shown, "md") == published.files["md"]
    # published again, the register is cut and dated by the new day
    again = publish(store, 35, formats=["md"], actor=SECRETARIAT)
    assert again.digest != published.digest
    assert verify_publications(store) == []


def test_an_edited_event_breaks_the_published_digests_it_was_in(
    store: RingiStore, settings: Settings
) -> None:
    life = Lifecycle(store)
    until_35(life)
    publish(store, 35, actor=SECRETARIAT)
    until_36(life)
    publish(store, 36, actor=SECRETARIAT)
    until_37(life)
    publish(store, 37, actor=SECRETARIAT)
    assert verify_publications(store) == []

    # someone edits No.2's answer (given and closed at 35) in the database itself
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    if settings.store == "postgres":  # RINGI_TEST_STORE=postgres
        with psycopg.connect(settings.postgres_dsn, autocommit=True) as pg:
            changed = pg.execute(
                sql.SQL(
                    "UPDATE {}.{} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
                    "'上限は20件です', '上限は50件です'), 'UTF8') "
                    "WHERE convert_from(state, 'UTF8') LIKE '%%上限は20件です%%' "
                    "AND topic LIKE '%%Request.AnswerRecorded'"
                ).format(sql.Identifier(settings.postgres_schema), sql.Identifier(table))
            ).rowcount
    else:
        with sqlite3.connect(settings.event_store_path) as db:
            changed = db.execute(
                f"UPDATE {table} SET state = CAST(REPLACE(CAST(state AS TEXT), '上限は20件です', "
                f"'上限は50件です') AS BLOB) WHERE CAST(state AS TEXT) LIKE '%上限は20件です%' "
                "AND topic LIKE '%Request.AnswerRecorded'"
            ).rowcount
    assert changed == 1

    fresh = RingiStore(env=settings.eventsourcing_env())
    try:
        findings = verify_publications(fresh)
    finally:
        fresh.close()
    # No.2 is in 35's register only (closed there): the one publication that changed
    assert [(f.meeting, f.kind) for f in findings] == [(35, "content")]
    assert "第35回" in findings[0].message and "changed" in findings[0].message


# --- formats ----------------------------------------------------------------------------------


def test_every_format_renders_the_same_bytes_every_time(
    life: Lifecycle, settings: Settings
) -> None:
    doc = register_document(life.store, meeting=37)
    first = {(fmt, lang): render(doc, fmt, lang) for fmt in FORMATS for lang in LANGS}
    again = {
        (fmt, lang): render(register_document(life.store, meeting=37), fmt, lang)
        for fmt, lang in first
    }
    assert again == first
    restarted = RingiStore(env=settings.eventsourcing_env())
    try:
        after_restart = {
            (fmt, lang): render(register_document(restarted, meeting=37), fmt, lang)
            for fmt, lang in first
        }
    finally:
        restarted.close()
    assert after_restart == first
    assert len(set(first.values())) == len(first)  # ja and en differ, every format differs

    expected = [cells(r, "ja") for r in doc.rows]
    # a byte order mark first, so that a spreadsheet reads UTF-8 (edition 3)
    assert first["csv", "ja"].startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(first["csv", "ja"].decode("utf-8-sig"), newline="")))
    assert table[0][0] == "No." and table[0][3] == "ご意見・ご要望" and table[1:] == expected
    # rows end in CRLF; a line break inside a cell stays a bare LF
    assert first["csv", "ja"].count(b"\r\n") == len(expected) + 1

    data = json.loads(first["json", "en"])
    assert data["digest"] == doc.digest() and data["meeting"] == 37
    assert data["columns"][3] == "Opinion / request"
    assert [r["cells"] for r in data["rows"]] == [cells(r, "en") for r in doc.rows]

    html = first["html", "ja"].decode("utf-8")
    assert "<title>第37回 資料2 ご意見・ご要望一覧</title>" in html
    assert "size: A4 landscape" in html and "thead" in html and doc.digest() in html
    assert "開催日 2018-12-20" in html
    assert '<span class="current">2019年2月リリース予定です。(第37回)</span>' in html
    assert "Meeting 37: Document 2" in first["html", "en"].decode("utf-8")
    assert "(meeting 35)" in first["md", "en"].decode("utf-8")
    assert "| No. | 区分 (意見・要望・質問など) |" in first["md", "ja"].decode("utf-8")

    from openpyxl import load_workbook  # type: ignore[import-untyped]

    sheet = load_workbook(io.BytesIO(first["xlsx", "ja"])).active
    values = [
        [str(c) if c is not None else "" for c in r]
        for r in sheet.iter_rows(min_row=5, values_only=True)
    ]
    assert values == expected
    assert sheet["A1"].value.startswith("第37回 資料2")


def test_markdown_and_html_escape_what_would_be_markup(store: RingiStore) -> None:
    store.open_meeting(1, jst("2020-01-10", 0), SECRETARIAT)
    Lifecycle(store).file(
        jst("2020-01-05"),
        "A社",
        Category.REQUEST,
        "画面|一覧",
        "<script>alert(1)</script> =SUM(A1)",
    )
    doc = register_document(store, meeting=1)
    html = render(doc, "html").decode()
    assert "<script>" not in html and "&lt;script&gt;" in html
    md = render(doc, "md").decode()
    assert "画面\\|一覧" in md and "&lt;script>" in md
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(render(doc, "xlsx"))).active
    assert sheet["D5"].value == "<script>alert(1)</script> =SUM(A1)"
    assert sheet["D5"].data_type == "s"


# --- diff ------------------------------------------------------------------------------------------


def test_diff_lists_what_changed_between_two_meetings(life: Lifecycle) -> None:
    d = diff_meetings(life.store, 35, 36)
    assert [(r.number, r.category, r.stage, r.support) for r in d.new_requests] == [
        (4, Category.OPINION, Stage.FILED, 1)
    ]
    assert [(c.number, c.before, c.after) for c in d.stage_changes] == [
        (1, Stage.HEARING, Stage.OBJECTION_WINDOW)
    ]
    assert [(a.number, a.answer_id, a.meeting) for a in d.new_answers] == [(1, "a2", 36)]
    assert [(c.number, c.before, c.after) for c in d.support_changes] == [(3, 1, 3)]

    d = diff_meetings(life.store, 36, 37)
    assert d.new_requests == []
    assert [(c.number, c.before, c.after) for c in d.stage_changes] == [
        (1, Stage.OBJECTION_WINDOW, Stage.IMPLEMENTATION),
        (3, Stage.GATHERING_SUPPORT, Stage.ON_HOLD),
    ]
    assert [(a.number, a.answer_id, a.meeting, a.corrects) for a in d.new_answers] == [
        (1, "a3", 37, None),
        (1, "a4", 37, "a2"),
    ]
    assert d.support_changes == []
    text = d.text()
    assert "No.1: objection_window (意見照会中) → implementation (改修実施)" in text
    assert "No.1 a4 (第37回) [corrects a2]" in text

    assert diff_meetings(life.store, 37, 37).text() == "第37回 → 第37回: no changes"


def test_an_unknown_meeting_is_refused_and_an_empty_store_has_no_rows(store: RingiStore) -> None:
    with pytest.raises(Refused, match="meeting 5"):
        register_document(store, meeting=5)
    doc = register_document(store, at=jst("2020-01-01"))
    assert doc.rows == [] and doc.meeting is None
    assert (
        render(doc, "csv")
        == "\ufeffNo.,区分 (意見・要望・質問など),対象箇所 (頁・章・節など),ご意見・ご要望,回答,改修・対応希望 (希望の場合○を入れてください)\r\n".encode()
    )
