"""Stores for the audit tests, written through ``RingiStore`` as ringi writes them."""

from __future__ import annotations

from pathlib import Path

from ringi.store import RingiStore
from tests.domain_builders import T0, Scenario, State, day, scenario, secretariat


def sqlite_env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def play(store: RingiStore, s: Scenario) -> int:
    """Files the scenario's request and carries out its commands; returns its No."""
    number = store.reserve_number(s.filing.command_id)
    store.file(number, s.filing, s.policy, T0)
    for step in s.steps:
        store.execute(number, step.command, step.at)
    return number


def populate(store: RingiStore) -> None:
    """Meeting 27, and No.1 in hearing (8 events), No.2 gathering support (3), No.3
    closed (4)."""
    store.open_meeting(27, day(7), secretariat(), title="第27回")
    for state in (State.HEARING, State.GATHERING_SUPPORT, State.CLOSED):
        play(store, scenario(state))


def populated_file(path: Path) -> Path:
    """An event store file at ``path``, ``populate``d and closed."""
    store = RingiStore(env=sqlite_env(path))
    try:
        populate(store)
    finally:
        store.close()
    return path
