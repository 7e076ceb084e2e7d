"""`ringi audit` as an auditor runs it: `ringi up` in the background, every command
a separate process, the exit status checked every time (0 done and nothing
found, 1 something found or refused, 2 usage error)."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from itertools import pairwise

import pytest

from ringi.audit.verify import NOT_CHAINED
from ringi.domain.request import request_id
from tests.cli_harness import Installation, Result, free_port

pytestmark = pytest.mark.slow

SUPPORTERS = ("B社", "C社", "D社", "E社")


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("audit-cli") / "data", free_port(), free_port())
    inst.up()
    yield inst
    if inst.process is not None:
        inst.down()


def status(result: Result, expected: int) -> Result:
    assert result.status == expected, (
        f"exit {result.status}, expected {expected}: {result.out} {result.err}"
    )
    return result


def in_hearing(inst: Installation, proposer: str) -> int:
    """A request filed and endorsed into its hearing: 8 events."""
    number = int(
        status(inst.ringi("file", "--as", proposer, "--target", "API", "--body", "一括照会"), 0).out
    )
    for company in SUPPORTERS:
        if company != proposer:
            status(inst.ringi("endorse", str(number), "--as", company), 0)
    return number


def sql(inst: Installation, statement: str, *params: object) -> None:
    with closing(sqlite3.connect(inst.data_dir / "events.db")) as connection, connection:
        connection.execute(statement, params)


def test_audit_commands_and_their_exit_statuses(installation: Installation) -> None:
    inst = installation
    first = in_hearing(inst, "A社")
    second = in_hearing(inst, "F社")

    # an untouched store: every check passes
    clean = status(inst.ringi("audit", "verify"), 0)
    assert "nothing altered" in clean.out
    assert status(inst.ringi("audit", "verify", "--json"), 0).json()["clean"] is True
    assert "2 workflow anchors" in status(inst.ringi("audit", "verify", "--workflows"), 0).out
    status(inst.ringi("audit", "reconcile"), 0)

    history = status(inst.ringi("audit", "history", str(first), "--json"), 0).json()
    assert [e["version"] for e in history] == list(range(1, 9))
    assert all(after["previous_hash"] == before["hash"] for before, after in pairwise(history))
    assert len(status(inst.ringi("audit", "history", str(first)), 0).out.splitlines()) == 8

    output = inst.data_dir.parent / "trail.csv"
    status(inst.ringi("audit", "export", "--format", "csv", "-o", str(output)), 0)
    with output.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    lines = status(inst.ringi("audit", "export"), 0).out.splitlines()
    assert len(rows) == len(lines) > 16
    assert [r["notification_id"] for r in rows] == [
        str(json.loads(line)["notification_id"]) for line in lines
    ]

    # usage errors and refusals
    assert "xml" in status(inst.ringi("audit", "export", "--format", "xml"), 2).err
    status(inst.ringi("audit", "history", "0"), 2)
    assert "no request No.99" in status(inst.ringi("audit", "history", "99"), 1).err

    # No.first's third event (B社's endorsement) edited in the file: named, exit 1
    sql(
        inst,
        "UPDATE stored_events SET state=replace(state, 'B社', 'Z社') "
        "WHERE originator_id=? AND originator_version=3",
        request_id(first).hex,
    )
    edited = status(inst.ringi("audit", "verify"), 1)
    assert edited.out.splitlines() == [
        f"No.{first} version 3: edited: its content was changed after it was recorded: "
        "it no longer matches its hash",
        f"({NOT_CHAINED})",  # what a verification does not cover, said every time
    ]
    found = status(inst.ringi("audit", "verify", "--json"), 1).json()["findings"]
    assert [(f["kind"], f["number"], f["version"]) for f in found] == [("edited", first, 3)]

    # No.second's last event deleted: against the workflow's version, named exactly
    sql(
        inst,
        "DELETE FROM stored_events WHERE originator_id=? AND originator_version=8",
        request_id(second).hex,
    )
    anchored = status(inst.ringi("audit", "verify", "--workflows", "--json"), 1).json()
    assert [(f["kind"], f["number"], f["version"]) for f in anchored["findings"]] == [
        ("edited", first, 3),
        ("deleted", second, 8),
    ]
    reconciled = status(inst.ringi("audit", "reconcile", "--json"), 1).json()
    assert [d["number"] for d in reconciled["differences"]] == [first, second]
