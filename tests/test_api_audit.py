"""Auditing over the HTTP API (``ringi/api/routers/audit.py``): verify names what
was done to the SQLite file itself, checks seals and refuses an altered one;
history and export say what ``ringi audit`` says, export streamed. The API
serves a real store file without Temporal (``workflows`` is covered by the
authorization matrix, which runs one)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from temporalio.client import Client

from ringi.audit import seal as seals
from ringi.audit.trail import export, history, write_csv, write_jsonl
from ringi.audit.verify import verify
from ringi.config import Settings
from ringi.domain.subscriptions import Channel
from ringi.domain.vocabulary import Actor
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.api_harness import Api, serving
from tests.audit_helpers import populated_file, sqlite_env
from tests.test_audit_chain import replace_state, rid, row, tamper

VERIFY = "/v1/audit/verify"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return populated_file(tmp_path / "events.db")


@pytest.fixture
async def api(db: Path, tmp_path: Path) -> AsyncIterator[Api]:
    store = RingiStore(env=sqlite_env(db))
    store.subscribe(
        "A社",
        Channel.WEBHOOK,
        "https://hooks.example/",
        datetime.now(UTC),
        Actor.secretariat("s"),
        secret="the-webhook-secret",
    )
    try:
        async with serving(Ringi(Settings(data_dir=tmp_path), cast(Client, None), store)) as api:
            yield api
    finally:
        store.close()


async def test_verify_is_clean_then_names_the_edited_event(api: Api, db: Path) -> None:
    clean = await api.call("auditor", "POST", VERIFY)
    assert clean.status_code == 200, clean.text
    assert clean.json()["clean"] is True and clean.json()["findings"] == []
    assert clean.json()["chains"] == 4 and clean.json()["anchors"] == 0  # 3 requests, 1 meeting

    _, _, state = row(db, 1, 3)
    replace_state(db, 1, 3, state.replace("B社".encode(), "Z社".encode()))
    found = await api.call("secretariat", "POST", VERIFY, {})
    assert found.status_code == 200 and found.json()["clean"] is False
    assert [(f["kind"], f["number"], f["version"]) for f in found.json()["findings"]] == [
        ("edited", 1, 3)
    ]


async def test_verify_with_seals_and_an_altered_seal_refused(api: Api) -> None:
    seal = seals.take(api.store, datetime.now(UTC))
    sealed = json.loads(seal.model_dump_json())
    checked = await api.call("auditor", "POST", VERIFY, {"seals": [sealed]})
    assert checked.status_code == 200, checked.text
    assert checked.json()["clean"] is True
    assert checked.json()["anchors"] == len(seal.heads) == 4

    sealed["heads"][0]["version"] += 1  # claims a head the store never had
    altered = await api.call("auditor", "POST", VERIFY, {"seals": [sealed]})
    assert altered.status_code == 422 and "seal 0 was altered" in altered.json()["message"]
    unknown = await api.call("auditor", "POST", VERIFY, {"seal": [sealed]})
    assert unknown.status_code == 422  # a misspelt field is not silently ignored


async def test_history_is_the_timeline_ringi_audit_history_prints(api: Api) -> None:
    got = await api.call("auditor", "GET", "/v1/audit/requests/1/history")
    assert got.status_code == 200, got.text
    assert got.json() == [json.loads(e.model_dump_json()) for e in history(api.store, 1)]
    assert [e["version"] for e in got.json()] == list(range(1, 9))
    none = await api.call("auditor", "GET", "/v1/audit/requests/9/history")
    assert none.status_code == 404 and "No.9" in none.json()["message"]


async def test_export_streams_what_ringi_audit_export_writes(api: Api) -> None:
    for fmt, write, media in [
        ("jsonl", write_jsonl, "application/x-ndjson; charset=utf-8"),
        ("csv", write_csv, "text/csv; charset=utf-8"),
    ]:
        expected = io.StringIO()
        write(export(api.store), expected)
        got = await api.call("auditor", "GET", "/v1/audit/export", params={"format": fmt})
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == media
        assert got.text == expected.getvalue(), fmt
        assert "the-webhook-secret" not in got.text and "[redacted]" in got.text
    lines = (await api.call("secretariat", "GET", "/v1/audit/export")).text.splitlines()
    assert len(lines) == api.store.recorder.max_notification_id()
    assert json.loads(lines[0])["notification_id"] == 1


async def test_a_seal_taken_over_the_api_names_an_event_cut_from_a_chains_end(
    api: Api, db: Path
) -> None:
    taken = await api.call("auditor", "POST", "/v1/audit/seal")
    assert taken.status_code == 200, taken.text
    sealed = taken.json()
    assert len(sealed["heads"]) == 4 and seals.checked(seals.Seal.model_validate(sealed))
    assert len(api.store.recorder.select_notifications(start=None, limit=1000)) == sealed["events"]

    # No.3's last two events cut: the seal names them, as `ringi audit verify --seal` does
    for version in (4, 3):
        tamper(
            db,
            lambda c, v=version: c.execute(
                "DELETE FROM stored_events WHERE originator_id=? AND originator_version=?",
                (rid(3), v),
            ),
        )
    with_seal = (await api.call("auditor", "POST", VERIFY, {"seals": [sealed]})).json()
    named = [(f["kind"], f["number"], f["version"]) for f in with_seal["findings"]]
    assert ("deleted", 3, 3) in named and ("deleted", 3, 4) in named
    local = verify(api.store, seals.Seal.model_validate(sealed).anchors())
    assert with_seal["findings"] == [json.loads(f.model_dump_json()) for f in local.findings]

    _, _, state = row(db, 2, 2)
    replace_state(db, 2, 2, state.replace(b"A", b"Z", 1))  # now it does not verify clean
    refused = await api.call("auditor", "POST", "/v1/audit/seal")
    assert refused.status_code == 409 and "does not verify" in refused.json()["message"]
