"""The `ringi` command through the HTTP API with a token (`--url`/`--token`,
`RINGI_URL`/`RINGI_TOKEN`): the same commands, output, `--json` shapes and exit
statuses as locally, the actor taken from the token. `ringi up` in the
background; every remote command a separate process given a data directory
that does not exist, so it can only have gone through the API."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ringi.api import models as m
from ringi.cli.remote import ROUTES, body_of
from ringi.domain import commands as c
from ringi.domain.cost import CostBearer, CostInputs, CostItem
from ringi.domain.vocabulary import Actor, CloseReason, Stage
from tests.cli_harness import RINGI, Installation, Result, free_port

OTHERS = ("B社", "C社", "D社", "E社")


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("remote") / "data", free_port(), free_port())
    inst.up()
    yield inst
    if inst.process is not None:
        inst.down()


def ok(result: Result) -> Result:
    assert result.status == 0, f"exit {result.status}: {result.err}"
    return result


def issue(inst: Installation, *args: str) -> str:
    return ok(inst.ringi("token", "issue", *args)).out.strip()


def remote(
    inst: Installation, token: str | None, *args: str, env: dict[str, str] | None = None
) -> Result:
    """`ringi --url API --token TOKEN ARGS...` with no way to the store or Temporal."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    environ["RINGI_DATA_DIR"] = str(inst.data_dir.parent / "nowhere")
    environ["RINGI_TEMPORAL_ADDRESS"] = "127.0.0.1:9"  # nothing listens there
    environ |= env or {}
    flags = ["--url", inst.api_url] if env is None else []
    if token is not None and env is None:
        flags += ["--token", token]
    done = subprocess.run(
        [*RINGI, *flags, *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.mark.slow
def test_a_lifecycle_through_the_api_matches_the_local_command(
    installation: Installation,
) -> None:
    inst = installation
    a = issue(inst, "--role", "member", "--company", "A社")
    others = {company: issue(inst, "--role", "member", "--company", company) for company in OTHERS}
    desk = issue(inst, "--role", "secretariat", "--name", "desk")

    # file: --as may be omitted (the token's company) or given as the token's company
    number = int(ok(remote(inst, a, "file", "--target", "使用量情報照会", "--body", "一括")).out)
    filed = ok(
        remote(inst, a, "file", "--as", "A社", "--target", "x", "--body", "y", "--json")
    ).json()
    assert filed["number"] == number + 1 and filed["proposer"] == "A社"

    # endorse to the hearing, each member with its own token
    for company in OTHERS[:3]:
        shown = ok(remote(inst, others[company], "endorse", str(number))).out
        assert shown.startswith(f"No.{number}: gathering_support")
    last = ok(remote(inst, others["E社"], "endorse", str(number), "--as", "E社"))
    assert last.out.startswith(f"No.{number}: hearing")

    # show --json through the API is the local `ringi show --json`, byte for byte
    through_api = ok(remote(inst, desk, "show", str(number), "--json"))
    local = ok(inst.ringi("show", str(number), "--json"))
    assert through_api.out == local.out
    shown_json = through_api.json()
    assert shown_json["request"]["stage"] == "hearing" and shown_json["support"] == 5
    assert shown_json["timeline"][2]["actor"]["company"] == "B社"
    assert ok(remote(inst, a, "list", "--json")).out == ok(inst.ringi("list", "--json")).out
    assert (
        ok(remote(inst, a, "list", "--stage", "hearing", "--open")).out
        == ok(inst.ringi("list", "--stage", "hearing", "--open")).out
    )
    version = shown_json["request"]["version"]

    # a refusal: exit 1, the workflow's reason on stderr, nothing written
    again = remote(inst, others["B社"], "endorse", str(number))
    assert again.status == 1 and "already endorses" in again.err and "409" in again.err, again
    twice = remote(inst, others["B社"], "endorse", str(number + 1))
    assert twice.status == 0, twice
    twice = remote(inst, others["B社"], "endorse", str(number + 1))
    assert twice.status == 1 and "already endorses" in twice.err, twice
    # the wrong role: a member's token cannot do the secretariat's work (403)
    wrong = remote(inst, a, "record-findings", str(number), "--text", "x")
    assert wrong.status == 1 and "403" in wrong.err and "secretariat" in wrong.err, wrong
    # a member acting for another company than its token's: refused before anything is sent
    other = remote(inst, others["B社"], "append", str(number), "--as", "A社", "--text", "x")
    assert other.status == 1 and "acts for B社" in other.err, other
    # an unknown request, a bad token
    missing = remote(inst, desk, "show", "9999")
    assert missing.status == 1 and "no request No.9999" in missing.err, missing
    bad = remote(inst, "ringi_nope_nope", "endorse", str(number))
    assert bad.status == 1 and "401" in bad.err, bad
    assert ok(inst.ringi("show", str(number), "--json")).json()["request"]["version"] == version

    # the secretariat's desk through RINGI_URL / RINGI_TOKEN
    env = {"RINGI_URL": inst.api_url, "RINGI_TOKEN": desk}
    ok(remote(inst, None, "meeting", "open", "71", "--date", "2030-04-01", env=env))
    meetings = ok(remote(inst, None, "meeting", "list", "--json", env=env)).json()
    assert [m["number"] for m in meetings] == [71]
    found = ok(
        remote(inst, None, "record-findings", str(number), "--text", "要", "--json", env=env)
    ).json()
    timeline = ok(inst.ringi("show", str(number), "--json")).json()["timeline"]
    assert found["stage"] == "hearing" and timeline[-1]["event"] == "HearingFindingsRecorded"
    assert timeline[-1]["actor"]["user"].startswith("desk#")
    # a retried command with the same --key writes once
    first = ok(remote(inst, desk, "answer", str(number), "--text", "回答", "--key", "k-1"))
    retry = ok(remote(inst, desk, "answer", str(number), "--text", "回答", "--key", "k-1"))
    assert first.out == retry.out
    answers = ok(inst.ringi("show", str(number), "--json")).json()["request"]["answers"]
    assert len(answers) == 1
    # a cost evaluation: the horizon is the request's policy's, as the API would take it
    evaluated = ok(
        remote(
            inst,
            desk,
            "evaluate-cost",
            str(number),
            "--cost",
            "central=1,000",
            "--total-benefit",
            "1000000",
            "--json",
        )
    ).json()
    assert evaluated["evaluations"][0]["inputs"]["horizon_years"] == 5
    through_api = ok(remote(inst, a, "show", str(number), "--json"))
    assert through_api.out == ok(inst.ringi("show", str(number), "--json")).out


@pytest.mark.slow
def test_subscriptions_through_the_api(installation: Installation) -> None:
    """`ringi subscribe|subscriptions|unsubscribe` over /v1/subscriptions: the
    token's company and user, the server's secret, the local command's output."""
    inst = installation
    g = issue(inst, "--role", "member", "--company", "G社", "--name", "g-sys")
    h = issue(inst, "--role", "member", "--company", "H社")
    desk = issue(inst, "--role", "secretariat", "--name", "desk")
    url = "https://g.example/ringi-hook"

    made = ok(remote(inst, g, "subscribe", "webhook", "--for", "G社", "--url", url))
    first, shown = made.out.splitlines()
    sid = first.split(":")[0]
    assert first == f"{sid}: G社 → webhook {url}"
    assert shown.startswith("secret (shown once")
    secret = shown.rsplit(": ", 1)[1]
    # in the store (the local command reads it): the token's user made it, with that secret
    local = {s["id"]: s for s in ok(inst.ringi("subscriptions", "--json")).json()}
    assert local[sid]["target"] == url and local[sid]["actor"]["user"].startswith("g-sys#")
    assert local[sid]["actor"]["company"] == "G社"
    mailed = ok(
        remote(
            inst,
            desk,
            "subscribe",
            "email",
            "--for",
            "H社",
            "--address",
            "h@h.example.jp",
            "--kind",
            "answered",
            "--json",
        )
    ).json()
    assert mailed["recipient"] == "H社" and mailed["kinds"] == ["answered"]
    assert mailed["actor"]["user"].startswith("desk#") and mailed["secret"] == ""

    # the listing through the API is the local one, byte for byte, for the secretariat
    env = {"RINGI_URL": inst.api_url, "RINGI_TOKEN": desk}
    through_api = ok(remote(inst, None, "subscriptions", "--json", env=env))
    assert through_api.out == ok(inst.ringi("subscriptions", "--json")).out
    assert secret not in through_api.out
    # a member sees its own company's only
    assert [s["id"] for s in ok(remote(inst, g, "subscriptions", "--json")).json()] == [sid]
    assert ok(remote(inst, g, "subscriptions")).out.startswith(f"{sid}\tG社\twebhook\t{url}")

    # refusals: another company (403, exit 1), a secret of one's own (exit 2), a bad URL (422)
    other = remote(inst, g, "subscribe", "webhook", "--for", "H社", "--url", url)
    assert other.status == 1 and "403" in other.err and "own company" in other.err, other
    own_secret = remote(
        inst, g, "subscribe", "webhook", "--for", "G社", "--url", url + "2", "--secret", "x"
    )
    assert own_secret.status == 2 and "--secret" in own_secret.err, own_secret
    bad = remote(inst, g, "subscribe", "webhook", "--for", "G社", "--url", "ftp://g.example/")
    assert bad.status == 2 and "body.target" in bad.err, bad
    theirs = remote(inst, g, "unsubscribe", mailed["id"])
    assert theirs.status == 1 and "403" in theirs.err, theirs
    assert {s["id"] for s in ok(inst.ringi("subscriptions", "--json")).json()} >= {
        sid,
        mailed["id"],
    }

    # a new secret for one's own webhook, made by the server and shown once
    fresh = ok(remote(inst, g, "rotate-secret", sid)).out.strip()
    assert fresh.startswith(f"{sid}: new secret") and fresh.rsplit(": ", 1)[1] != secret
    email_secret = remote(inst, g, "rotate-secret", mailed["id"])
    assert email_secret.status == 1 and "403" in email_secret.err  # H社's, not G社's

    # ending: one's own, then the secretariat any; a second time is a 404
    assert ok(remote(inst, g, "unsubscribe", sid)).out.strip() == f"{sid} ended"
    assert (
        ok(remote(inst, desk, "unsubscribe", mailed["id"])).out.strip() == f"{mailed['id']} ended"
    )
    again = remote(inst, h, "unsubscribe", mailed["id"])
    assert again.status == 1 and "404" in again.err and "no current subscription" in again.err
    left = {s["id"] for s in ok(inst.ringi("subscriptions", "--json")).json()}
    assert sid not in left and mailed["id"] not in left


@pytest.mark.slow
def test_usage_errors_exit_2(installation: Installation) -> None:
    inst = installation
    token = issue(inst, "--role", "member", "--company", "F社")
    no_token = remote(inst, None, "endorse", "1")
    assert no_token.status == 2 and "token" in no_token.err, no_token
    bad_key = remote(inst, token, "endorse", "1", "--key", "鍵")
    assert bad_key.status == 2 and "ASCII" in bad_key.err, bad_key
    empty = remote(inst, token, "object", "1", "--reason", "")
    assert empty.status == 2, empty


@pytest.mark.slow
def test_an_unreachable_api_is_exit_3_naming_it(tmp_path: Path) -> None:
    inst = Installation(tmp_path / "data", free_port(), free_port())
    for call in (("show", "1"), ("endorse", "1")):
        down = remote(inst, "ringi_x_y", *call)
        assert down.status == 3 and "cannot reach the ringi API" in down.err, down
        assert len(down.err.splitlines()) == 1, down


def test_every_command_the_cli_sends_has_a_route_whose_body_takes_it() -> None:
    member, desk, now, day = (
        Actor.member("A社"),
        Actor.secretariat("x"),
        datetime.now(UTC),
        date(2030, 1, 1),
    )
    cost = CostInputs(
        horizon_years=5,
        total_benefit_yen=Decimal(10),
        cost_items=(CostItem(bearer=CostBearer.CENTRAL, amount_yen=Decimal(1)),),
    )
    samples: dict[type[c.Command], tuple[c.Command, type[m.Body]]] = {
        c.Endorse: (c.Endorse(actor=member, meeting=3), m.AtMeeting),
        c.WithdrawEndorsement: (c.WithdrawEndorsement(actor=member), m.AtMeeting),
        c.AppendNote: (c.AppendNote(actor=member, text="t", meeting=2), m.NoteBody),
        c.AnswerClarification: (
            c.AnswerClarification(actor=member, text="t"),
            m.ClarificationAnswerBody,
        ),
        c.RaiseObjection: (c.RaiseObjection(actor=member, reason="r"), m.ObjectionBody),
        c.WithdrawObjection: (c.WithdrawObjection(actor=member, reason="r"), m.WithdrawBody),
        c.Withdraw: (c.Withdraw(actor=member, reason="r"), m.WithdrawBody),
        c.OpenSupport: (c.OpenSupport(actor=desk, deadline=now), m.OpenSupportBody),
        c.AskClarification: (
            c.AskClarification(actor=desk, question="q", meeting=1),
            m.QuestionBody,
        ),
        c.WithdrawClarification: (
            c.WithdrawClarification(actor=desk, reason="r", meeting=1),
            m.WithdrawQuestionBody,
        ),
        c.DismissObjection: (
            c.DismissObjection(actor=desk, company="C社", reason="r", meeting=1),
            m.DismissObjectionBody,
        ),
        c.IdentifyProposer: (
            c.IdentifyProposer(actor=desk, company="C社", meeting=1),
            m.ProposerBody,
        ),
        c.CarryForward: (
            c.CarryForward(actor=desk, stage=Stage.IMPLEMENTATION, reason="r", meeting=1),
            m.CarryForwardBody,
        ),
        c.ExtendDeadline: (
            c.ExtendDeadline(actor=desk, deadline=now, reason="r", meeting=1),
            m.ExtendDeadlineBody,
        ),
        c.OpenHearing: (c.OpenHearing(actor=desk), m.AtMeeting),
        c.RecordFindings: (c.RecordFindings(actor=desk, text="t"), m.FindingsBody),
        c.EvaluateCost: (c.EvaluateCost(actor=desk, inputs=cost), m.EvaluateCostBody),
        c.OpenObjectionWindow: (
            c.OpenObjectionWindow(actor=desk, ends_at=now, until_meeting=3),
            m.OpenObjectionWindowBody,
        ),
        c.Approve: (c.Approve(actor=desk, planned_release=day), m.ApproveBody),
        c.ChangeReleaseDate: (
            c.ChangeReleaseDate(actor=desk, planned_release=day, reason="r"),
            m.ChangeReleaseBody,
        ),
        c.Release: (c.Release(actor=desk, released_on=day), m.ReleaseBody),
        c.Hold: (c.Hold(actor=desk, reason="r"), m.HoldBody),
        c.Resume: (c.Resume(actor=desk), m.ResumeBody),
        c.Close: (
            c.Close(actor=desk, reason=CloseReason.DUPLICATE, duplicate_of=1, duplicates=(2,)),
            m.CloseBody,
        ),
        c.RecordAnswer: (c.RecordAnswer(actor=desk, text="t", continued=True), m.AnswerBody),
        c.CorrectAnswer: (
            c.CorrectAnswer(actor=desk, answer_id="a1", text="t", reason="r"),
            m.CorrectAnswerBody,
        ),
        # the secretariat's discretion and after the end (issue 20)
        c.HearBelowThreshold: (
            c.HearBelowThreshold(actor=desk, reason="r", meeting=1),
            m.HearBelowThresholdBody,
        ),
        c.EvaluateWithoutHearing: (
            c.EvaluateWithoutHearing(actor=desk, inputs=cost, reason="r", meeting=1),
            m.EvaluateWithoutHearingBody,
        ),
        c.Reopen: (
            c.Reopen(actor=desk, reason="r", deadline=now, until_meeting=3, meeting=1),
            m.ReopenBody,
        ),
        # the secretariat's windows (issue 20)
        c.FinalCall: (
            c.FinalCall(actor=desk, until_meeting=27, deadline=now, meeting=26),
            m.FinalCallBody,
        ),
        c.EndSupport: (c.EndSupport(actor=desk, meeting=27), m.AtMeeting),
        c.EndObjectionWindow: (c.EndObjectionWindow(actor=desk, meeting=36), m.AtMeeting),
    }
    assert set(samples) == set(ROUTES)
    for command, body in samples.values():
        body.model_validate(body_of(command))  # the API's model refuses unknown fields


@pytest.mark.slow
def test_the_register_and_auditing_through_the_api(
    installation: Installation, tmp_path: Path
) -> None:
    """`ringi register ...` and `ringi audit verify|history|export` over the API print
    what the local commands print, from the server's store."""
    inst = installation
    desk = issue(inst, "--role", "secretariat", "--name", "desk")
    auditor = issue(inst, "--role", "auditor", "--name", "audit")
    member = issue(inst, "--role", "member", "--company", "K社")
    for n, day in ((81, "2030-06-10"), (82, "2030-07-10")):
        ok(remote(inst, desk, "meeting", "open", str(n), "--date", day))
    number = ok(remote(inst, member, "file", "--target", "API", "--body", "一括で")).out
    number = number.strip().splitlines()[0]

    def same(*args: str, token: str = auditor) -> Result:
        here, there = ok(inst.ringi(*args)), ok(remote(inst, token, *args))
        assert there.out == here.out, args
        return there

    same("register", "--meeting", "81", "--format", "csv")
    same("register", "--as-of", "2030-06-20", "--format", "md", "--lang", "en")
    same("register", "--meeting", "82", "--request", number, "--format", "json")
    same("register", "--meeting", "82", "--request", number)
    same("register", "diff", "81", "82", "--json")
    same("register", "diff", "81", "82")
    same("audit", "history", number, "--json")
    assert "verified:" in same("audit", "verify").out
    assert same("audit", "verify", "--json").json()["clean"] is True
    kept = tmp_path / "seal.json"
    assert "sealed" in ok(remote(inst, auditor, "audit", "seal", "--output", str(kept))).out
    heads = len(json.loads(kept.read_text())["heads"])
    checked = ok(remote(inst, auditor, "audit", "verify", "--seal", str(kept), "--json")).json()
    assert checked["clean"] is True and checked["anchors"] == heads > 0

    published = ok(
        remote(
            inst,
            desk,
            "register",
            "publish",
            "82",
            "--format",
            "csv",
            "--output-dir",
            str(tmp_path / "out"),
        )
    )
    digest = published.out.split("sha256 ")[1].split()[0]
    # (read as text: the command line's output is read so, CSV's CRLF as LF)
    assert (tmp_path / "out" / "ringi-register-82-ja.csv").read_text(encoding="utf-8") == ok(
        inst.ringi("register", "--meeting", "82", "--format", "csv")
    ).out
    assert digest in ok(inst.ringi("register", "--meeting", "82", "--format", "md")).out

    exported = tmp_path / "events.jsonl"
    ok(remote(inst, auditor, "audit", "export", "--output", str(exported)))
    ok(inst.ringi("audit", "export", "--output", str(tmp_path / "local.jsonl")))
    assert exported.read_bytes() == (tmp_path / "local.jsonl").read_bytes()

    refused = remote(inst, member, "audit", "export")
    assert refused.status == 1 and "403" in refused.err, refused
    unknown = remote(inst, auditor, "register", "--meeting", "99")
    assert unknown.status == 1 and "404" in unknown.err and "no meeting 99" in unknown.err
