"""The `ringi` command exercised as a user would: `ringi up` in the background,
every other command a separate process, exit statuses checked every time
(0 done, 1 refused with the reason on stderr, 2 usage error)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from ringi.domain.lifecycle import JST, end_of_day
from tests.cli_harness import Installation, Result, free_port

pytestmark = pytest.mark.slow

OTHERS = ("B社", "C社", "D社", "E社")


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("cli") / "data", free_port(), free_port())
    inst.up()
    yield inst
    if inst.process is not None:
        inst.down()


def ok(result: Result) -> Result:
    assert result.status == 0, f"exit {result.status}: {result.err}"
    return result


def refused(result: Result, reason: str) -> Result:
    assert result.status == 1, (
        f"exit {result.status}, expected a refusal: {result.out} {result.err}"
    )
    assert reason in result.err
    return result


def usage_error(result: Result, problem: str) -> Result:
    assert result.status == 2, f"exit {result.status}, expected a usage error: {result.err}"
    assert problem in result.err
    return result


def file_request(inst: Installation, company: str = "A社", *extra: str) -> int:
    result = ok(
        inst.ringi(
            "file", "--as", company, "--target", "使用量情報照会", "--body", "一括申込", *extra
        )
    )
    return int(result.out.strip())


def state(inst: Installation, number: int) -> dict:  # type: ignore[type-arg]
    return ok(inst.ringi("show", str(number), "--json")).json()  # type: ignore[no-any-return]


def supported(inst: Installation) -> int:
    number = file_request(inst)
    for company in OTHERS:
        ok(inst.ringi("endorse", str(number), "--as", company))
    return number


def test_filing_prints_the_number_and_support_opens_the_hearing(installation: Installation) -> None:
    first = file_request(installation)
    second = file_request(installation)
    assert second == first + 1

    for company in OTHERS[:3]:
        ok(installation.ringi("endorse", str(first), "--as", company))
    last = ok(installation.ringi("endorse", str(first), "--as", OTHERS[3]))

    assert "hearing" in last.out
    shown = state(installation, first)
    assert shown["request"]["stage"] == "hearing"
    assert shown["support"] == 5
    events = [entry["event"] for entry in shown["timeline"]]
    assert events[:2] == ["Filed", "SupportGatheringOpened"]
    assert events[-2:] == ["SupportThresholdMet", "HearingOpened"]
    assert shown["timeline"][2]["actor"]["company"] == "B社"


def test_refusals_exit_1_with_the_reason_and_write_nothing(installation: Installation) -> None:
    number = file_request(installation)
    ok(installation.ringi("endorse", str(number), "--as", "B社"))
    version = state(installation, number)["request"]["version"]

    refused(installation.ringi("endorse", str(number), "--as", "B社"), "already endorses")
    refused(installation.ringi("endorse", str(number), "--as", "A社"), "already counted")
    refused(
        installation.ringi("record-findings", str(number), "--text", "x"),
        "cannot record hearing findings",
    )
    refused(
        installation.ringi("append", str(number), "--as", "B社", "--text", "x"), "only the proposer"
    )
    refused(installation.ringi("endorse", "9999", "--as", "B社"), "no request No.9999")

    assert state(installation, number)["request"]["version"] == version


def test_usage_errors_exit_2_and_name_the_problem(installation: Installation) -> None:
    usage_error(installation.ringi("file", "--target", "t", "--body", "b"), "--as")
    usage_error(
        installation.ringi(
            "file", "--as", "A社", "--target", "t", "--body", "b", "--category", "苦情"
        ),
        "unknown category",
    )
    usage_error(installation.ringi("file", "--as", "A社", "--target", "", "--body", "b"), "target")
    usage_error(installation.ringi("no-such-command"), "No such command")
    usage_error(installation.ringi("approve", "1", "--release", "next spring"), "not a date")
    usage_error(installation.ringi("evaluate-cost", "1", "--cost", "everyone=5"), "BEARER=YEN")
    usage_error(
        installation.ringi(
            "evaluate-cost",
            "1",
            "--cost",
            "members=10",
            "--total-benefit",
            "5",
            "--benefit-per-unit",
            "1",
            "--monthly-volume",
            "10",
        ),
        "one way",
    )
    usage_error(installation.ringi("endorse", "0", "--as", "B社"), "number")


def test_not_cost_effective_closes_with_the_figures_kept(installation: Installation) -> None:
    """No.61: ~6,000 applications a month, 5-year benefit ~50M yen, ~1B yen cost."""
    number = supported(installation)
    ok(installation.ringi("record-findings", str(number), "--text", "事業者ヒアリング実施"))
    evaluated = ok(
        installation.ringi(
            "evaluate-cost",
            str(number),
            "--monthly-volume",
            "6000",
            "--total-benefit",
            "50,000,000",
            "--cost",
            "members=1,000,000,000",
            "--json",
        )
    ).json()
    assert evaluated["stage"] == "cost_evaluation"
    refused(
        installation.ringi("open-objection-window", str(number)), "no cost-effective evaluation"
    )

    ok(installation.ringi("close", str(number), "--reason", "not_cost_effective"))

    request = state(installation, number)["request"]
    assert request["stage"] == "closed"
    assert request["closure"]["reason"] == "not_cost_effective"
    evaluation = request["evaluations"][0]
    assert evaluation["inputs"]["monthly_volume"] == 6000
    assert float(evaluation["benefit_yen"]) == 50_000_000
    assert float(evaluation["total_cost_yen"]) == 1_000_000_000
    assert float(evaluation["ratio"]) == 0.05
    assert evaluation["cost_effective"] is False
    refused(installation.ringi("endorse", str(number), "--as", "F社"), "closed")


def test_a_question_is_answered_at_a_meeting_and_closed(installation: Installation) -> None:
    ok(installation.ringi("meeting", "open", "27", "--date", "2017-07-20"))
    refused(installation.ringi("meeting", "open", "27"), "already open")
    number = file_request(installation, "A社", "--category", "質問")
    assert state(installation, number)["request"]["stage"] == "filed"

    refused(
        installation.ringi("answer", str(number), "--text", "x", "--meeting", "99"), "meeting 99"
    )
    refused(installation.ringi("close", str(number), "--reason", "answered"), "no recorded answer")
    answered = ok(
        installation.ringi(
            "answer", str(number), "--text", "現行仕様どおりです。", "--meeting", "27"
        )
    )
    # recorded years after meeting 27's day: done, and told where the register shows it
    assert "meeting 27 (第27回) was held on 2017-07-20" in answered.err
    assert "next meeting's register" in answered.err
    ok(installation.ringi("close", str(number), "--reason", "answered", "--meeting", "27"))

    request = state(installation, number)["request"]
    assert request["answers"][0]["meeting"] == 27
    assert request["closure"]["reason"] == "answered"
    listed = ok(installation.ringi("list", "--stage", "closed", "--json")).json()
    assert number in [row["number"] for row in listed]
    assert ok(installation.ringi("meeting", "list", "--json")).json()[0]["number"] == 27


def test_a_meeting_is_rescheduled_from_the_command_line(installation: Installation) -> None:
    ok(installation.ringi("meeting", "open", "61", "--date", "2031-07-20"))
    ok(installation.ringi("meeting", "open", "62", "--date", "2031-10-20"))
    moved = ok(
        installation.ringi(
            "meeting", "reschedule", "61", "--date", "2031-07-27", "--reason", "延期"
        )
    )
    assert "2031-07-27" in moved.out
    held = {
        m["number"]: m["held_at"]
        for m in ok(installation.ringi("meeting", "list", "--json")).json()
    }
    assert held[61].startswith("2031-07-27T00:00:00+09:00")
    refused(installation.ringi("meeting", "reschedule", "61", "--date", "2031-11-01"), "not before")
    refused(
        installation.ringi("meeting", "reschedule", "63", "--date", "2031-11-01"), "not been opened"
    )


def test_support_is_opened_until_a_meeting(installation: Installation) -> None:
    ok(installation.ringi("meeting", "open", "71", "--date", "2032-01-10"))
    n = str(file_request(installation, "A社", "--category", "意見"))
    usage_error(
        installation.ringi("open-support", n, "--deadline", "2032-01-01", "--until-meeting", "71"),
        "not both",
    )
    refused(installation.ringi("open-support", n, "--until-meeting", "72"), "not been opened")
    ok(installation.ringi("open-support", n, "--until-meeting", "71"))
    deadline = state(installation, int(n))["request"]["support_deadline"]
    assert deadline.startswith("2032-01-10T00:00:00")


def test_hold_resumes_to_the_stage_it_left(installation: Installation) -> None:
    number = file_request(installation)
    ok(installation.ringi("hold", str(number), "--reason", "FIT法改正の動向待ち"))
    assert state(installation, number)["request"]["stage"] == "on_hold"
    refused(installation.ringi("endorse", str(number), "--as", "B社"), "support window")

    ok(installation.ringi("resume", str(number)))

    assert state(installation, number)["request"]["stage"] == "gathering_support"
    human = ok(installation.ringi("show", str(number))).out
    assert "gathering_support" in human and "timeline:" in human and "Resumed" in human


def test_a_key_writes_its_command_once_and_is_refused_for_another_command(
    installation: Installation,
) -> None:
    """--key is the API's Idempotency-Key on the command line: the same command sent
    again writes once; another command with the key is refused, not taken for the
    first one's retry (which would have left it silently undone)."""
    number = file_request(installation, "A社", "--category", "質問")
    n = str(number)
    ok(installation.ringi("answer", n, "--text", "現行仕様どおりです。", "--key", "m33-q"))
    ok(installation.ringi("answer", n, "--text", "現行仕様どおりです。", "--key", "m33-q"))
    request = state(installation, number)["request"]
    assert len(request["answers"]) == 1
    version = request["version"]

    refused(installation.ringi("close", n, "--reason", "answered", "--key", "m33-q"), "--key")
    refused(
        installation.ringi("answer", n, "--text", "別の回答", "--key", "m33-q"), "first used for"
    )
    assert state(installation, number)["request"]["version"] == version
    ok(installation.ringi("close", n, "--reason", "answered", "--key", "m33-close"))
    assert state(installation, number)["request"]["stage"] == "closed"

    # the same key, another company: another call, refused; the first one counted once
    other = file_request(installation)
    ok(installation.ringi("endorse", str(other), "--as", "B社", "--key", "e-1"))
    refused(installation.ringi("endorse", str(other), "--as", "C社", "--key", "e-1"), "e-1")
    ok(installation.ringi("endorse", str(other), "--as", "B社", "--key", "e-1"))
    assert state(installation, other)["support"] == 2

    # a filing's key: the retry is the same request, not a second one
    first = ok(
        installation.ringi("file", "--as", "D社", "--target", "t", "--body", "b", "--key", "f-1")
    )
    again = ok(
        installation.ringi("file", "--as", "D社", "--target", "t", "--body", "b", "--key", "f-1")
    )
    assert first.out == again.out


def test_a_deadline_given_as_a_day_lasts_through_that_day(installation: Installation) -> None:
    """「2030年9月まで」 entered as --until 2030-09-30 keeps the window open all that
    day in Japan, as the web form does; a time given is taken as it is."""
    number = file_request(installation)
    ok(installation.ringi("extend-deadline", str(number), "--until", "2030-09-30"))
    deadline = state(installation, number)["request"]["support_deadline"]
    assert datetime.fromisoformat(deadline) == end_of_day(date(2030, 9, 30))
    assert (
        datetime.fromisoformat(deadline)
        .astimezone(JST)
        .isoformat()
        .startswith("2030-09-30T23:59:59.999999")
    )
    ok(installation.ringi("extend-deadline", str(number), "--until", "2030-10-01T12:00"))
    deadline = state(installation, number)["request"]["support_deadline"]
    assert datetime.fromisoformat(deadline) == datetime(2030, 10, 1, 12, tzinfo=JST)
    usage_error(
        installation.ringi("extend-deadline", str(number), "--until", "2030-13-01"),
        "is not a date",
    )


def test_the_secretariat_withdraws_a_question_and_asks_another(
    installation: Installation,
) -> None:
    n = str(file_request(installation))
    ok(installation.ringi("ask-clarification", n, "--question", "Web・APIいずれ?"))
    refused(installation.ringi("ask-clarification", n, "--question", "件数は?"), "withdraw it")
    usage_error(installation.ringi("withdraw-clarification", n, "--reason", ""), "reason")
    ok(installation.ringi("withdraw-clarification", n, "--reason", "会議で確認済み"))
    refused(
        installation.ringi("withdraw-clarification", n, "--reason", "再度"),
        "no open clarification question to withdraw",
    )
    ok(installation.ringi("ask-clarification", n, "--question", "件数は?"))
    first, second = state(installation, int(n))["request"]["clarifications"]
    assert (first["withdrawal_reason"], second["question"]) == ("会議で確認済み", "件数は?")


def test_every_command_exits_with_its_true_status_50_times_in_a_row(
    installation: Installation,
) -> None:
    """The Temporal client can abort the interpreter at exit (sdk-python#300):
    every run, done or refused, must still leave with its own status."""
    number = file_request(installation)
    statuses = []
    for i in range(50):
        if i % 2 == 0:
            result = installation.ringi("append", str(number), "--as", "A社", "--text", f"追記 {i}")
        else:
            result = installation.ringi("endorse", str(number), "--as", "A社")
        statuses.append((result.status, result.err))

    assert [s for s, _ in statuses] == [0, 1] * 25, statuses
    assert all("already counted" in err for s, err in statuses if s == 1)
    assert len(state(installation, number)["request"]["notes"]) == 25


def test_reads_need_an_installation(tmp_path: Path) -> None:
    empty = Installation(tmp_path / "nothing-here", free_port(), free_port())
    refused(empty.ringi("show", "1"), "no ringi data")


def test_two_installations_run_side_by_side_and_state_survives_a_restart(
    installation: Installation, tmp_path: Path
) -> None:
    other = Installation(tmp_path / "other", free_port(), free_port())
    other.up()
    try:
        assert file_request(other, "Z社") == 1  # numbered on its own
        assert [row["proposer"] for row in ok(other.ringi("list", "--json")).json()] == ["Z社"]
    finally:
        assert other.down() == 0

    number = file_request(installation)
    ok(installation.ringi("endorse", str(number), "--as", "B社"))
    before = state(installation, number)

    assert installation.down() == 0
    down = installation.ringi("endorse", str(number), "--as", "C社")
    assert down.status == 3 and "cannot reach Temporal" in down.err, (
        down
    )  # unreachable, not refused
    assert "Traceback" not in down.err and len(down.err.splitlines()) == 1, down
    installation.up()

    assert state(installation, number) == before
    ok(installation.ringi("endorse", str(number), "--as", "C社"))
    assert state(installation, number)["support"] == 3


# --- the secretariat's windows (issue 20) ----------------------------------------------------


@pytest.fixture
def of_its_own(tmp_path: Path) -> Iterator[Installation]:
    """An installation whose calendar starts today: the module's has meetings years ahead."""
    inst = Installation(tmp_path / "data", free_port(), free_port())
    inst.up()
    yield inst
    if inst.process is not None:
        inst.down()


def test_the_secretariat_steers_and_ends_the_windows(of_its_own: Installation) -> None:
    inst = of_its_own
    today = datetime.now(JST).date()
    ok(inst.ringi("meeting", "open", "80", "--date", today.isoformat()))
    # the next meeting, well before a new request's default support deadline
    meeting_81 = date.fromordinal(today.toordinal() + 30).isoformat()
    ok(inst.ringi("meeting", "open", "81", "--date", meeting_81))

    n = str(file_request(inst))
    refused(inst.ringi("extend-deadline", n, "--until-meeting", "81"), "not later than")
    refused(inst.ringi("final-call", n, "--until-meeting", "82"), "not been opened")
    usage_error(inst.ringi("final-call", n), "--until-meeting")
    ok(inst.ringi("final-call", n, "--until-meeting", "81", "--meeting", "80"))
    request = state(inst, int(n))["request"]
    assert request["support_deadline"].startswith(f"{meeting_81}T00:00:00")
    assert request["support_until_meeting"] == 81
    ok(inst.ringi("end-support", n, "--meeting", "80"))
    closed = state(inst, int(n))["request"]
    assert closed["stage"] == "closed" and closed["closure"]["reason"] == "insufficient_support"
    refused(inst.ringi("end-support", n), "closed")

    m = str(supported(inst))
    ok(inst.ringi("evaluate-cost", m, "--total-benefit", "100000000", "--cost", "central=1000"))
    usage_error(
        inst.ringi("open-objection-window", m, "--until", meeting_81, "--until-meeting", "81"),
        "not both",
    )
    ok(inst.ringi("open-objection-window", m, "--until-meeting", "81", "--meeting", "80"))
    window = state(inst, int(m))["request"]["objection_windows"][-1]
    assert window["ends_at"].startswith(f"{meeting_81}T00:00:00") and window["until_meeting"] == 81
    ok(inst.ringi("object", m, "--as", "F社", "--reason", "運用への影響が大きい"))
    refused(inst.ringi("end-objection-window", m), "F社: 運用への影響が大きい")
    ok(inst.ringi("dismiss-objection", m, "--company", "F社", "--reason", "移行期間を設ける"))
    ok(inst.ringi("end-objection-window", m, "--meeting", "80"))
    assert state(inst, int(m))["request"]["stage"] == "implementation"
    refused(inst.ringi("end-objection-window", m), "has ended already")
