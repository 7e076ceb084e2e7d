"""The secretariat's own moves of issue 20 on the command line, locally and
through the API (`--url/--token`): a hearing below the threshold, a cost
evaluation without a hearing, one answer to several requests, a close as a
duplicate of several, a reopening. `ringi up` in the background."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli_harness import Installation, Result, free_port
from tests.test_cli import file_request, ok, refused, state, usage_error
from tests.test_cli_remote import issue, remote

OTHERS = ("B社", "C社", "D社", "E社")


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("cli-path") / "data", free_port(), free_port())
    inst.up()
    yield inst
    if inst.process is not None:
        inst.down()


def endorsed(inst: Installation, number: int, companies: tuple[str, ...]) -> None:
    for company in companies:
        ok(inst.ringi("endorse", str(number), "--as", company))


def cost(*extra: str) -> tuple[str, ...]:
    return ("--total-benefit", "1000", "--cost", "central=1,000,000", *extra)


def test_the_secretariats_path_on_the_command_line(installation: Installation) -> None:
    inst = installation
    n = file_request(inst)
    endorsed(inst, n, OTHERS[:3])
    refused(inst.ringi("open-hearing", str(n)), "the hearing needs 5")
    ok(inst.ringi("open-hearing", str(n), "--below-threshold", "起案者及び賛同者へのヒアリング"))
    request = state(inst, n)["request"]
    assert request["stage"] == "hearing" and request["discretions"][0]["kind"] == (
        "hear_below_threshold"
    )

    m = file_request(inst)
    refused(
        inst.ringi("evaluate-cost", str(m), *cost("--without-hearing", "賛同数の条件")),
        "evaluating it without a hearing needs 5",
    )
    endorsed(inst, m, OTHERS)
    ok(inst.ringi("evaluate-cost", str(m), *cost("--without-hearing", "賛同数の条件")))
    request = state(inst, m)["request"]
    assert request["stage"] == "cost_evaluation" and request["findings"] == []


def test_one_answer_to_several_and_a_close_as_a_duplicate_of_several(
    installation: Installation,
) -> None:
    inst = installation
    a, b = file_request(inst), file_request(inst)
    usage_error(inst.ringi("answer", str(a), str(a), "--text", "x"), "more than once")
    done = ok(inst.ringi("answer", str(a), str(b), "--text", "No43に同じ。", "--key", "m33-ab"))
    assert len(done.out.strip().splitlines()) == 2
    again = ok(inst.ringi("answer", str(a), str(b), "--text", "No43に同じ。", "--key", "m33-ab"))
    assert again.out == done.out  # the same call again records nothing twice
    for n, other in ((a, b), (b, a)):
        answers = state(inst, n)["request"]["answers"]
        assert [(x["text"], x["together_with"]) for x in answers] == [("No43に同じ。", [other])]

    ok(inst.ringi("close", str(b), "--reason", "duplicate", "--duplicate-of", str(a)))
    c = file_request(inst)
    ok(
        inst.ringi(
            "close", str(c), "--reason", "duplicate", "--duplicate-of", str(a), "--duplicate-of",
            str(b),
        )
    )  # fmt: skip
    closure = state(inst, c)["request"]["closure"]
    assert (closure["duplicate_of"], closure["duplicates"]) == (a, [a, b])
    # an answer after the close, given to both closed requests
    ok(inst.ringi("answer", str(b), str(c), "--text", "No.1で対応します。"))
    assert state(inst, c)["request"]["answers"][-1]["together_with"] == [b]


def test_reopen_on_the_command_line(installation: Installation) -> None:
    inst = installation
    n = file_request(inst)
    endorsed(inst, n, OTHERS[:2])
    refused(inst.ringi("reopen", str(n), "--reason", "r"), "cannot reopen")
    ok(inst.ringi("withdraw", str(n), "--as", "A社", "--reason", "取り下げ"))
    refused(
        inst.ringi("reopen", str(n), "--reason", "r", "--until", "2199-01-01"),
        "no support deadline to set",
    )
    ok(inst.ringi("reopen", str(n), "--reason", "再検討の依頼"))
    request = state(inst, n)["request"]
    assert request["stage"] == "gathering_support" and request["closure"] is None
    assert [e["company"] for e in request["endorsements"]] == list(OTHERS[:2])
    ok(inst.ringi("audit", "verify"))


def _remote_ok(result: Result) -> Result:
    assert result.status == 0, f"exit {result.status}: {result.err}"
    return result


def test_the_same_through_the_api(installation: Installation) -> None:
    inst = installation
    desk = issue(inst, "--role", "secretariat", "--name", "desk")
    n = file_request(inst)
    refused(remote(inst, desk, "open-hearing", str(n)), "the hearing needs 5")
    _remote_ok(remote(inst, desk, "open-hearing", str(n), "--below-threshold", "理由"))
    assert state(inst, n)["request"]["stage"] == "hearing"

    m = file_request(inst)
    endorsed(inst, m, OTHERS)
    _remote_ok(remote(inst, desk, "evaluate-cost", str(m), *cost("--without-hearing", "理由")))
    assert state(inst, m)["request"]["stage"] == "cost_evaluation"

    both = _remote_ok(remote(inst, desk, "answer", str(n), str(m), "--text", "同上", "--key", "k1"))
    assert len(both.out.strip().splitlines()) == 2
    assert state(inst, m)["request"]["answers"][-1]["together_with"] == [n]
    refused(
        remote(inst, desk, "answer", str(n), "999999", "--text", "同上"), "No.999999"
    )  # one unknown: refused before any is written
    assert len(state(inst, n)["request"]["answers"]) == 1

    _remote_ok(remote(inst, desk, "close", str(m), "--reason", "out_of_scope"))
    _remote_ok(remote(inst, desk, "answer", str(m), "--text", "リリースしました"))
    _remote_ok(remote(inst, desk, "reopen", str(m), "--reason", "再検討"))
    assert state(inst, m)["request"]["stage"] == "cost_evaluation"
