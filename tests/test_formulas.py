"""No formula in a spreadsheet ringi writes (issue 19, CSV injection): a member's
target or body that a spreadsheet would evaluate (``=HYPERLINK(...)``, ``+cmd|...``,
``-1+1``, ``@SUM(A1)``, a leading TAB or CR, the full-width ＝ ＋ － ＠) is written
to the register's CSV with a leading ``'`` in every way the CSV is handed out
(``ringi register``, the API, the web download), and read back without it by
``ringi import``. A publication made before (edition 3) still verifies, and
hands out the bytes it handed out then. XLSX cells stay typed strings."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import cast

import pytest
from temporalio.client import Client

from ringi.config import Settings
from ringi.domain.vocabulary import Category
from ringi.register.document import document_of, register_document
from ringi.register.edition import CSV_FORMULAS_ESCAPED_SINCE, EDITION
from ringi.register.formulas import escape, unescape
from ringi.register.importer import parse_register
from ringi.register.publish import publish, republished, verify_publications
from ringi.register.render import render
from ringi.register.replay import meeting_cutoff, replay
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.api_harness import Api, serving
from tests.cli_harness import RINGI
from tests.test_register import SECRETARIAT, Lifecycle, jst
from tests.web_harness import browser

#: (target, body) a member files: each would run as a formula in a spreadsheet
PLANTED = [
    ('=HYPERLINK("http://x","y")', "=1+1"),
    ("+cmd|' /C calc'!A0", "+1"),
    ("-1+1", "-2+3"),
    ("@SUM(A1)", "@SUM(A2)"),
    ("＝１＋１", "＠ＳＵＭ"),
    ("－１", "＋１"),
    ("'=already quoted", "'plain after a quote"),
]


def planted(store: RingiStore) -> None:
    life = Lifecycle(store)
    store.open_meeting(1, jst("2026-06-20", 0), SECRETARIAT, title="第1回")
    for i, (target, body) in enumerate(PLANTED):
        life.file(jst("2026-06-01", 9 + i), "A社", Category.REQUEST, target, body)


def csv_table(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def assert_no_formula(data: bytes) -> None:
    """Every cell of the CSV is text to a spreadsheet, and the planted ones are there."""
    table = csv_table(data)
    for row in table:
        for cell in row:
            assert cell == "" or cell[0] not in "=+-@\t\r＝＋－＠", row
    body = {tuple(row[2:4]) for row in table[1:]}
    assert body == {(escape(t), escape(b)) for t, b in PLANTED}
    assert ('\'=HYPERLINK("http://x","y")', "'=1+1") in body


def test_escaping_is_one_to_one() -> None:
    samples = ["=1", "+1", "-1", "@a", "\tx", "\rx", "＝", "＋", "－", "＠", "'=1", "''=1"]
    samples += ["'", "''", "'a", "a", "", "1-2", "a=b", "No.", "使用量情報照会"]
    for text in samples:
        assert unescape(escape(text)) == text, text
    assert [escape(t) for t in ("=1", "\tx", "\rx", "＠a", "'=1", "a=b", "'a")] == [
        "'=1",
        "'\tx",
        "'\rx",
        "'＠a",
        "''=1",
        "a=b",
        "'a",
    ]
    assert unescape("'a") == "'a"  # a quote before nothing escaped is text


def test_the_csv_escapes_formulas_and_the_import_reads_them_back(store: RingiStore) -> None:
    planted(store)
    doc = register_document(store, meeting=1)
    data = render(doc, "csv")
    assert data.startswith(codecs.BOM_UTF8)
    assert_no_formula(data)
    # a cell beginning with a TAB or a CR, as an imported register may hold
    row = doc.rows[0].model_copy(update={"target": "\tTAB", "body": "\r=CR"})
    table = csv_table(render(doc.model_copy(update={"rows": [row]}), "csv"))
    assert table[1][2:4] == ["'\tTAB", "'\r=CR"]

    # ringi import reads ringi's own CSV and takes the quote off again: the same text
    read = parse_register(data, "register-1.csv")
    assert [(r.target, r.body) for r in read.rows] == PLANTED
    assert [r.number for r in read.rows] == [r.number for r in doc.rows]
    # and in a tab-separated file saved from the spreadsheet the CSV was opened in
    tsv = "\n".join("\t".join(c.replace("\n", " ") for c in r) for r in csv_table(data))
    assert [(r.target, r.body) for r in parse_register(tsv, "saved.tsv").rows] == PLANTED

    # the JSON, Markdown and HTML say what was filed, as they always did
    assert [r["cells"][2] for r in json.loads(render(doc, "json"))["rows"]] == [
        t for t, _ in PLANTED
    ]


def test_xlsx_cells_are_typed_strings_as_filed(store: RingiStore) -> None:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    planted(store)
    doc = register_document(store, meeting=1)
    sheet = load_workbook(io.BytesIO(render(doc, "xlsx"))).active
    targets = [sheet.cell(row=5 + i, column=3) for i in range(len(PLANTED))]
    assert [c.value for c in targets] == [t for t, _ in PLANTED]  # no quote: the type says it
    assert {c.data_type for c in targets} == {"s"}
    bodies = [sheet.cell(row=5 + i, column=4) for i in range(len(PLANTED))]
    assert {c.data_type for c in bodies} == {"s"}


def test_a_publication_made_before_the_escaping_still_verifies(store: RingiStore) -> None:
    """Published at edition 3, the CSV had the formula raw: its digest still holds,
    and republishing it hands out those bytes; a new publication escapes."""
    planted(store)
    before = CSV_FORMULAS_ESCAPED_SINCE - 1
    cutoff = replace(meeting_cutoff(store, 1, published=False), edition=before)
    folded = replay(store, cutoff)
    old = document_of(folded)
    old_csv = render(old, "csv", "ja", edition=before)
    assert '\r\n1,要望,"=HYPERLINK(""http://x"",""y"")",=1+1,' in old_csv.decode("utf-8-sig")
    store.publish_register(
        1,
        cutoff=cutoff.at,
        since=cutoff.since,
        position=folded.position,
        digest=old.digest(),
        formats={"csv": hashlib.sha256(old_csv).hexdigest()},
        lang="ja",
        at=jst("2026-06-21"),
        actor=SECRETARIAT,
        edition=before,
    )
    assert verify_publications(store) == []
    assert republished(store, 1, 1).files["csv"] == old_csv

    again = publish(store, 1, formats=["csv"], actor=SECRETARIAT)
    assert store.meeting(1).publications[-1].edition == EDITION >= CSV_FORMULAS_ESCAPED_SINCE
    assert_no_formula(again.files["csv"])
    assert verify_publications(store) == []
    assert republished(store, 1, 1).files["csv"] == old_csv


@pytest.fixture
async def api(settings: Settings, store: RingiStore) -> AsyncIterator[Api]:
    planted(store)
    async with serving(Ringi(settings, cast(Client, None), store)) as served:
        yield served


async def test_the_api_and_the_web_download_hand_out_no_formula(api: Api) -> None:
    expected = render(register_document(api.store, meeting=1), "csv")
    for query in ("meeting=1&format=csv", "format=csv"):
        got = await api.call("A社", "GET", f"/v1/register?{query}")
        assert got.status_code == 200, got.text
        assert_no_formula(got.content)
    assert got.content.split(b"\r\n")[1:] == expected.split(b"\r\n")[1:]
    async with browser(api, "E社") as b:
        for query in ("format=csv&meeting=1", "format=csv", "format=csv&lang=en"):
            download = await b.get(f"/web/register/download?{query}")
            assert download.status_code == 200, download.text[:300]
            assert_no_formula(download.content)
        assert (await b.get("/web/register/download?format=csv&meeting=1")).content == expected


def test_ringi_register_writes_no_formula(settings: Settings, store: RingiStore) -> None:
    planted(store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    env |= {"RINGI_DATA_DIR": str(settings.data_dir), "RINGI_STORE": settings.store}
    env["RINGI_POSTGRES_SCHEMA"] = settings.postgres_schema
    out = settings.data_dir.parent / "register-1.csv"
    printed = b""
    for args in (["--format", "csv"], ["-o", str(out)]):
        done = subprocess.run(
            [*RINGI, "register", "--meeting", "1", *args],
            env=env,
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr.decode()
        printed = printed or done.stdout
    assert_no_formula(printed)
    assert_no_formula(out.read_bytes())
    assert out.read_bytes() == render(register_document(store, meeting=1), "csv")
