"""A seal (``ringi audit seal``) anchors every chain's head outside the database:
what a chain cannot show by itself (its last events cut, or its tail rewritten
with freshly computed hashes) is named against it, by request and version.

The store is a real SQLite file; the tampering is done with ``sqlite3`` on the
file, as in ``test_audit_chain``, whose helpers these tests use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ringi.audit import seal as seals
from ringi.audit.verify import Anchor, verify
from ringi.domain.request import request_id
from ringi.store import RingiStore
from tests.audit_helpers import play, populated_file, sqlite_env
from tests.domain_builders import State, scenario
from tests.test_audit_chain import HEARING_EVENTS, delete, found, rehash

SEALED_AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Meeting 27 and three requests (No.1: 8 events, No.2: 3, No.3: 4)."""
    return populated_file(tmp_path / "events.db")


def sealed(db: Path) -> seals.Seal:
    store = RingiStore(env=sqlite_env(db))
    try:
        return seals.take(store, SEALED_AT)
    finally:
        store.close()


def test_a_seal_holds_every_chains_head_and_one_digest_over_them(db: Path) -> None:
    seal = sealed(db)

    heads = {(h.subject, h.number): h.version for h in seal.heads}
    assert heads == {("meeting", 27): 1, ("request", 1): 8, ("request", 2): 3, ("request", 3): 4}
    store = RingiStore(env=sqlite_env(db))
    try:
        last = store.recorder.select_events(request_id(1), desc=True, limit=1)[0]
        assert (
            next(h for h in seal.heads if h.number == 1).hash
            == json.loads(last.state)["event_hash"]
        )
        assert verify(store, seal.anchors()).clean
    finally:
        store.close()
    assert len(seal.digest) == 64
    assert sealed(db) == seal  # the same store sealed at the same moment: the same seal


def test_a_seal_file_reads_back_and_an_altered_one_is_refused(db: Path, tmp_path: Path) -> None:
    seal = sealed(db)
    path = tmp_path / "seal.json"
    seals.write(seal, path)
    assert seals.read(path) == seal

    altered = json.loads(path.read_text())
    altered["heads"][1]["version"] -= 1  # someone makes the seal agree with a cut store
    path.write_text(json.dumps(altered))
    with pytest.raises(seals.SealError, match="was altered"):
        seals.read(path)
    path.write_text("not a seal")
    with pytest.raises(seals.SealError, match="is not a ringi seal"):
        seals.read(path)


def test_a_rewritten_tail_passes_the_chain_but_not_the_seal(db: Path) -> None:
    """No.1's last event rewritten with a correct hash of its new content: every
    link holds, so the chain alone verifies; the seal knows the old hash."""
    seal = sealed(db)
    rehash(db, 1, HEARING_EVENTS, lambda state: state["actor"].update(user="someone else"))

    assert found(db) == []
    assert found(db, seal.anchors()) == [("edited", 1, HEARING_EVENTS)]
    # the version its workflow holds agrees with the forgery; the seal still counts
    workflow = Anchor(number=1, version=HEARING_EVENTS, source="the workflow")
    assert found(db, [workflow]) == []
    assert found(db, [*seal.anchors(), workflow]) == [("edited", 1, HEARING_EVENTS)]
    assert found(db, [workflow, *seal.anchors()]) == [("edited", 1, HEARING_EVENTS)]


def test_a_cut_tail_is_named_against_the_seal(db: Path) -> None:
    seal = sealed(db)
    delete(db, 3, 4)
    delete(db, 3, 3)

    assert found(db, seal.anchors()) == [("deleted", 3, 3), ("deleted", 3, 4)]


def test_a_store_may_grow_past_its_seal(db: Path) -> None:
    seal = sealed(db)
    store = RingiStore(env=sqlite_env(db))
    try:
        play(store, scenario(State.HEARING))
    finally:
        store.close()

    assert found(db, seal.anchors()) == []


def test_a_store_that_does_not_verify_is_not_sealed(db: Path) -> None:
    delete(db, 1, 4)
    store = RingiStore(env=sqlite_env(db))
    try:
        with pytest.raises(seals.SealError, match="does not verify"):
            seals.take(store, SEALED_AT)
    finally:
        store.close()


def test_seal_and_verify_from_the_command_line(db: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db.rename(data / "events.db")
    db = data / "events.db"
    seal_file = tmp_path / "after-meeting-27.seal.json"

    def ringi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ringi.cli", "--data-dir", str(data), "audit", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    made = ringi("seal", "--output", str(seal_file))
    assert made.returncode == 0, made.stderr
    digest = seals.read(seal_file).digest
    assert "sealed 4 chains" in made.stdout and digest in made.stdout

    clean = ringi("verify", "--seal", str(seal_file))
    assert clean.returncode == 0, clean.stderr
    assert "4 sealed heads; nothing altered" in clean.stdout

    delete(db, 2, 3)
    cut = ringi("verify", "--seal", str(seal_file))
    assert cut.returncode == 1
    assert "No.2" in cut.stdout and "version 3" in cut.stdout and digest[:12] in cut.stdout

    seal_file.write_text(seal_file.read_text().replace('"version": 3', '"version": 2'))
    altered = ringi("verify", "--seal", str(seal_file))
    assert altered.returncode == 1 and "was altered" in altered.stderr
