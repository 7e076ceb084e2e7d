"""One input policy at the edge (issue 19, item 3; ``ringi.domain.text``): control
characters other than the line break and the tab, and the bidi controls, are
refused, naming the field and the character; text is NFC; text of white space
only is refused; a meeting's or a request's number and a count are strict
integers in 1..2147483647 in the API, the CLI, the web forms and the store.
Nothing is written on a refusal."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import pytest
from pydantic import ValidationError
from temporalio.client import Client

from ringi.api.models import FileBody, OpenMeetingBody
from ringi.api.tokens import TokenRegistry
from ringi.config import Settings
from ringi.domain import commands as c
from ringi.domain.cost import CostBearer, CostEvaluation, CostInputs, CostItem
from ringi.domain.errors import Refused
from ringi.domain.lifecycle import JST
from ringi.domain.text import MAX_NUMBER
from ringi.domain.vocabulary import Actor, Category, Role
from ringi.register.importer import RegisterFormatError, parse_register
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.api_harness import Api, serving
from tests.cli_harness import RINGI
from tests.web_harness import browser, parse

SECRETARIAT = Actor.secretariat("事務局")
A = Actor.member("A社")

#: text ringi refuses, and the character its refusal names
REFUSED_TEXT = [
    ("NUL\x00", "U+0000"),
    ("\x1b[31mred", "U+001B"),
    ("DEL\x7f", "U+007F"),
    ("C1\x85", "U+0085"),
    ("abc\u202edef", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("\u202aLRE", "U+202A (LEFT-TO-RIGHT EMBEDDING)"),
    ("\u2066isolate\u2069", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ("\u2069", "U+2069 (POP DIRECTIONAL ISOLATE)"),
]
BLANK = ["   ", "\t", "\n\n", "\u3000\u3000"]  # the last: full-width spaces


def log_length(store: RingiStore) -> int:
    return store.recorder.max_notification_id() or 0


# --- the types -------------------------------------------------------------------------------


def test_the_commands_and_the_bodies_take_the_same_text() -> None:
    for text, named in REFUSED_TEXT:
        for build in (
            lambda t: c.FileRequest(actor=A, category=Category.REQUEST, target=t, body="b"),
            lambda t: FileBody(target=t, body="b"),
            lambda t: c.RecordAnswer(actor=SECRETARIAT, text=t),
            lambda t: c.Withdraw(actor=A, reason=t),
        ):
            with pytest.raises(ValidationError, match=re.escape(named)):
                build(text)
    for blank in BLANK:
        with pytest.raises(ValidationError, match="only white space"):
            c.FileRequest(actor=A, category=Category.REQUEST, target="API", body=blank)
        with pytest.raises(ValidationError, match="only white space"):
            FileBody(target=blank, body="b")
        with pytest.raises(ValidationError, match="only white space"):
            c.Resume(actor=SECRETARIAT, reason=blank)
    assert c.Resume(actor=SECRETARIAT, reason="").reason == ""  # left out is not blank
    # NFC; a line break is LF; a tab stays
    made = c.FileRequest(
        actor=A, category=Category.REQUEST, target="Cafe\u0301", body="一行目\r\n二行目\r三\t行目"
    )
    assert (made.target, made.body) == ("Café", "一行目\n二行目\n三\t行目")
    assert FileBody(target="ｶﾞ", body="が").body == "が"  # NFC, not NFKC: ｶﾞ stays
    assert FileBody(target="ｶﾞ", body="か\u3099").body == "が"


@pytest.mark.parametrize("number", ["7", True, 7.0, 0, -1, MAX_NUMBER + 1])
def test_a_number_is_a_strict_integer_in_bounds(number: Any) -> None:
    with pytest.raises(ValidationError):
        OpenMeetingBody.model_validate({"number": number})
    with pytest.raises(ValidationError):
        FileBody.model_validate({"target": "t", "body": "b", "meeting": number})
    with pytest.raises(ValidationError):
        c.RecordAnswer(actor=SECRETARIAT, text="t", meeting=number)
    with pytest.raises(ValidationError):
        c.FileRequest(actor=A, category=Category.REQUEST, target="t", body="b", related=(number,))
    assert OpenMeetingBody.model_validate({"number": MAX_NUMBER}).number == MAX_NUMBER


def test_who_acts_is_named_by_the_same_policy(store: RingiStore) -> None:
    """``--as``, ``--user`` and a token's company and name become every event's actor."""
    for text, named in REFUSED_TEXT:
        with pytest.raises(ValidationError, match=re.escape(named)):
            c.Endorse(actor=Actor.member(f"A{text}"))
        with pytest.raises(ValidationError, match="the actor's user " + re.escape("contains")):
            c.RecordAnswer(actor=Actor.secretariat(f"desk{text}"), text="t")
        with pytest.raises(Refused, match="a token's company contains " + re.escape(named)):
            TokenRegistry(store).issue(Role.MEMBER, company=f"A{text}")
        with pytest.raises(Refused, match="a token's name contains " + re.escape(named)):
            TokenRegistry(store).issue(Role.SECRETARIAT, name=f"desk{text}")
    with pytest.raises(ValidationError, match="the actor's user is only white space"):
        c.Endorse(actor=Actor.member("A社", user="\u3000"))
    with pytest.raises(ValidationError, match="at most 200 characters"):
        c.Endorse(actor=Actor.member("社" * 201))
    assert c.Endorse(actor=Actor.member("Cafe\u0301")).actor.company == "Café"  # NFC
    assert TokenRegistry(store).list() == [] and log_length(store) == 0


COST = {
    "horizon_years": 5,
    "total_benefit_yen": Decimal(10),
    "cost_items": (CostItem(bearer=CostBearer.CENTRAL, amount_yen=Decimal(1)),),
}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("horizon_years", "5", "valid integer"),
        ("horizon_years", True, "valid integer"),
        ("horizon_years", 5.0, "valid integer"),
        ("horizon_years", 101, "horizon_years is at most 100"),
        ("monthly_volume", "6000", "valid integer"),
        ("monthly_volume", 10**12 + 1, "monthly_volume is at most"),
        ("total_benefit_yen", Decimal("NaN"), "finite number"),
        ("total_benefit_yen", Decimal("1e400"), "total_benefit_yen is at most"),
        (
            "cost_items",
            (CostItem(bearer=CostBearer.MEMBERS, amount_yen=Decimal("1e16")),),
            "at most",
        ),
        (
            "cost_items",
            (CostItem(bearer=CostBearer.MEMBERS, amount_yen=Decimal(1), label="\x1b[2J"),),
            "U+001B",
        ),
    ],
)
def test_a_cost_evaluation_s_figures_are_strict_and_bounded(
    field: str, value: Any, reason: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(reason)):
        c.EvaluateCost(actor=SECRETARIAT, inputs={**COST, field: value})


def test_a_cost_item_s_label_is_nfc_and_recorded_evaluations_keep_their_figures() -> None:
    label = CostItem(bearer=CostBearer.CENTRAL, amount_yen=Decimal(1), label="ｶﾞか\u3099")
    made = c.EvaluateCost(actor=SECRETARIAT, inputs={**COST, "cost_items": (label,)})
    assert made.inputs.cost_items[0].label == "ｶﾞが"
    # the bounds are the commands': an evaluation recorded before them still reads
    old = CostInputs(**{**COST, "total_benefit_yen": Decimal("1e20")})
    assert CostEvaluation.model_validate(CostEvaluation.of(old).model_dump(mode="json"))


# --- the store -----------------------------------------------------------------------------


def test_the_store_keeps_the_same_bounds(store: RingiStore) -> None:
    held = datetime(2026, 6, 20, tzinfo=JST)
    for number in (0, MAX_NUMBER + 1, 99999999999999999999999):
        with pytest.raises(Refused, match=f"from 1 to {MAX_NUMBER}"):
            store.open_meeting(number, held, SECRETARIAT)
    assert store.meetings() == {} and log_length(store) == 0
    store.open_meeting(MAX_NUMBER, held, SECRETARIAT)
    assert list(store.meetings()) == [MAX_NUMBER]

    header = "No.\t区分\t対象箇所\tご意見・ご要望\t回答\t改修・対応希望\n"
    row = "{n}\t要望\tAPI\t本文\t検討します。(第3回)\t2\n"
    with pytest.raises(RegisterFormatError, match=f"from 1 to {MAX_NUMBER}"):
        parse_register(header + row.format(n=MAX_NUMBER + 1))


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
async def api(settings: Settings, store: RingiStore) -> AsyncIterator[Api]:
    # refused before a workflow is asked: no Temporal needed, and none reached
    async with serving(Ringi(settings, cast(Client, None), store)) as served:
        yield served


def problem_fields(answer: Any) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["error"] == "invalid" and problem["message"].startswith("invalid input: ")
    return {d["field"]: d["message"] for d in problem["details"]}


async def test_the_api_refuses_control_characters_blank_text_and_loose_numbers(api: Api) -> None:
    before = log_length(api.store)
    for text, named in REFUSED_TEXT:
        for field in ("target", "body"):
            body = {"target": "API", "body": "本文", field: text}
            fields = problem_fields(await api.call("A社", "POST", "/v1/requests", body))
            assert named in fields[f"body.{field}"], fields
    for blank in BLANK:
        fields = problem_fields(
            await api.call("A社", "POST", "/v1/requests", {"target": "API", "body": blank})
        )
        assert fields == {"body.body": "is only white space"}
    for number in ("7", True, 7.5, MAX_NUMBER + 1, 0):
        answer = await api.call("secretariat", "POST", "/v1/meetings", {"number": number})
        assert set(problem_fields(answer)) == {"body.number"}, number
        filing = {"target": "API", "body": "本文", "meeting": number}
        answer = await api.call("A社", "POST", "/v1/requests", filing)
        assert set(problem_fields(answer)) == {"body.meeting"}, number
        bulk = {"numbers": [number]}
        answer = await api.call("A社", "POST", "/v1/bulk/endorse", bulk)
        assert set(problem_fields(answer)) == {"body.numbers.0"}, number
    answer = await api.call("secretariat", "POST", "/v1/meetings", {"number": 5, "title": "\x1b]"})
    assert "U+001B" in problem_fields(answer)["body.title"]
    assert log_length(api.store) == before and api.store.meetings() == {}


async def test_the_api_refuses_loose_cost_figures_and_names(api: Api) -> None:
    before = log_length(api.store)
    good: dict[str, Any] = {
        "total_benefit_yen": "10",
        "cost_items": [{"bearer": "central", "amount_yen": "1"}],
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"horizon_years": "5"}, "body.horizon_years"),
        ({"horizon_years": True}, "body.horizon_years"),
        ({"horizon_years": 101}, "body.horizon_years"),
        (
            {"monthly_volume": 6000.0, "benefit_per_unit_yen": "1", "total_benefit_yen": None},
            "body.monthly_volume",
        ),
        ({"total_benefit_yen": "NaN"}, "body.total_benefit_yen"),
        ({"total_benefit_yen": "1e400"}, "body.total_benefit_yen"),
        (
            {"cost_items": [{"bearer": "central", "amount_yen": "1", "label": "\u202e"}]},
            "body.cost_items.0.label",
        ),
    ]
    for change, field in cases:
        body = {k: v for k, v in {**good, **change}.items() if v is not None}
        answer = await api.call("secretariat", "POST", "/v1/requests/1/cost-evaluation", body)
        assert field in problem_fields(answer), (change, answer.text)
    for text, named in REFUSED_TEXT:
        body = {"company": f"B{text}", "reason": "理由"}
        answer = await api.call("secretariat", "POST", "/v1/requests/1/objection-dismissals", body)
        assert named in problem_fields(answer)["body.company"], text
    assert log_length(api.store) == before


async def test_the_web_forms_refuse_the_same(api: Api) -> None:
    async with browser(api, "C社") as b:
        numbers = api.store.numbers()
        bad = await b.post("/web/file", {"category": "要望", "target": "A\u202eB", "body": "x"})
        assert bad.status_code == 422
        assert "U+202E" in bad.text
        blank = await b.post("/web/file", {"category": "要望", "target": "API", "body": "\u3000"})
        assert blank.status_code == 422
        assert parse(blank.text).one(data_testid="field-error", data_field="body")
        assert api.store.numbers() == numbers
    async with browser(api, "secretariat") as desk:
        form = {"number": str(MAX_NUMBER + 1), "date": "2026-06-20"}
        assert (await desk.post("/web/meetings", form)).status_code == 422
    assert api.store.meetings() == {} and api.store.numbers() == []


# --- the CLI ---------------------------------------------------------------------------------


def ringi(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    env |= {"RINGI_DATA_DIR": str(settings.data_dir), "RINGI_STORE": settings.store}
    env["RINGI_POSTGRES_SCHEMA"] = settings.postgres_schema
    return subprocess.run(
        [*RINGI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_the_cli_refuses_with_one_line_and_exit_2(settings: Settings, store: RingiStore) -> None:
    before = log_length(store)
    cases = [
        (["meeting", "open", "99999999999999999999999"], "NUMBER: a meeting's number"),
        (["meeting", "open", str(MAX_NUMBER + 1)], f"at most {MAX_NUMBER}"),
        (["meeting", "open", "0"], "at least 1"),
        (["meeting", "open", "７"], "a whole number in digits, not '７'"),
        (["meeting", "open", "5", "--title", "\x1b[31m"], "--title: contains U+001B"),
        (
            ["endorse", str(MAX_NUMBER + 1), "--as", "A社"],
            "NUMBER: a request's number (No.) is at most",
        ),
        (["register", "--meeting", "3000000000"], "--meeting: a meeting's number"),
        (
            ["file", "--as", "A社", "--target", "API", "--body", "b", "--meeting", "1e3"],
            "--meeting: a meeting's number (第N回) is a whole number in digits",
        ),
        (
            ["file", "--as", "A社", "--target", "A\u202eB", "--body", "本文"],
            "target: contains U+202E (RIGHT-TO-LEFT OVERRIDE)",
        ),
        (["file", "--as", "A社", "--target", "API", "--body", "   "], "body: is only white space"),
        (
            ["answer", "1", "--text", "NUL\x01"],
            "text: contains U+0001, a control character",
        ),
        (["endorse", "1", "--as", "A\x1b[31m社"], "--as: contains U+001B, a control character"),
        (["endorse", "1", "--as", "A\u202e社"], "--as: contains U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        (["endorse", "1", "--as", "A社\x85"], "--as: contains U+0085"),
        (["endorse", "1", "--as", "A社", "--user", "\u3000"], "--user: is only white space"),
        (["hold", "1", "--reason", "r", "--user", "x\u2066"], "--user: contains U+2066"),
        (
            ["token", "issue", "--role", "member", "--company", "A\x07"],
            "--company: contains U+0007",
        ),
        (["token", "issue", "--role", "auditor", "--name", "\u202d"], "--name: contains U+202D"),
    ]
    cost = ["evaluate-cost", "1", "--cost", "central=1"]
    for option, value, reason in [
        ("--total-benefit", "abc", "--total-benefit: an amount of yen is written in digits"),
        ("--total-benefit", "1e400", "not '1e400'"),
        ("--total-benefit", "NaN", "not 'NaN'"),
        ("--total-benefit", "３００", "not '３００'"),
        ("--total-benefit", "2,000,000,000,000,000", "at most 1000000000000000"),
        ("--cost", "central=abc", "--cost: an amount of yen is written in digits"),
        ("--cost", "nobody=1", "BEARER one of central|members|network_operators"),
        ("--horizon-years", "101", "horizon_years is at most 100"),
        ("--horizon-years", "True", "--horizon-years: a count of years is a whole number"),
    ]:
        benefit = [] if option == "--total-benefit" else ["--total-benefit", "10"]
        cases.append(([*cost, *benefit, option, value], reason))
    for args, reason in cases:
        done = ringi(settings, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ringi: "), (args, done.stderr)
        assert reason in lines[0], (args, lines[0])
    assert log_length(store) == before and store.meetings() == {}
