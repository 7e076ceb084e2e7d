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
from typing import Any, cast

import pytest
from pydantic import ValidationError
from temporalio.client import Client

from ringi.api.models import FileBody, OpenMeetingBody
from ringi.config import Settings
from ringi.domain import commands as c
from ringi.domain.errors import Refused
from ringi.domain.lifecycle import JST
from ringi.domain.text import MAX_NUMBER
from ringi.domain.vocabulary import Actor, Category
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
    ]
    for args, reason in cases:
        done = ringi(settings, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ringi: "), (args, done.stderr)
        assert reason in lines[0], (args, lines[0])
    assert log_length(store) == before and store.meetings() == {}
