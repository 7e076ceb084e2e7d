"""Webhook secrets sealed before they are recorded (``ringi/sealing.py``): what a
key seals only a key of the installation opens, keys are replaced without
losing what the old one sealed, a secret recorded in the clear still reads,
and the data directory's key is made once, for its owner only."""

from __future__ import annotations

import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from ringi.activities.notify import NotifyActivities
from ringi.config import Settings
from ringi.domain.notifications import NotificationKind
from ringi.domain.subscriptions import Channel
from ringi.domain.vocabulary import Actor
from ringi.sealing import KEY_FILE, SEALED, Sealer, Unsealable, data_dir_key, new_key
from ringi.store import RingiStore
from tests.audit_helpers import play
from tests.domain_builders import PROPOSER, T0, State, scenario

SECRET = "whsec-前回の秘密-0123456789"


def test_a_sealed_secret_opens_to_itself_and_shows_nothing_of_it() -> None:
    sealer = Sealer([new_key()])
    sealed = sealer.seal(SECRET)
    assert sealed.startswith(SEALED) and SECRET not in sealed
    assert sealer.seal(SECRET) != sealed  # a fresh IV each time: equal secrets do not show
    assert sealer.open(sealed) == SECRET


def test_a_secret_recorded_in_the_clear_reads_as_it_stands() -> None:
    assert Sealer([new_key()]).open("recorded-before-sealing") == "recorded-before-sealing"


def test_another_installations_key_does_not_open_it_and_says_what_to_do() -> None:
    sealed = Sealer([new_key()]).seal(SECRET)
    with pytest.raises(Unsealable, match="same RINGI_SECRET_KEYS") as refused:
        Sealer([new_key()]).open(sealed)
    assert SECRET not in str(refused.value)
    with pytest.raises(Unsealable):
        Sealer([new_key()]).open(SEALED + "not-a-token")


def test_a_new_key_first_seals_and_the_old_one_still_opens() -> None:
    old, new = new_key(), new_key()
    before = Sealer([old]).seal(SECRET)
    rotated = Sealer([new, old])
    after = rotated.seal("次の秘密")
    assert rotated.open(before) == SECRET
    assert Sealer([new]).open(after) == "次の秘密"  # sealed with the first key
    with pytest.raises(Unsealable):
        Sealer([old]).open(after)


def test_the_keys_come_from_the_settings_separated_by_commas(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    before = Sealer([old]).seal(SECRET)
    settings = Settings(data_dir=tmp_path, secret_keys=SecretStr(f" {new} , {old} ,"))
    sealer = Sealer.of(settings)
    assert sealer.open(before) == SECRET
    assert Sealer([new]).open(sealer.seal(SECRET)) == SECRET
    assert not (tmp_path / KEY_FILE).exists()  # given keys: no key file is made
    assert "secret_keys=SecretStr('**********')" in repr(settings)  # never shown


def test_a_key_that_is_not_a_fernet_key_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RINGI_SECRET_KEYS must be Fernet keys"):
        Sealer.of(Settings(data_dir=tmp_path, secret_keys=SecretStr("hunter2")))


def test_without_keys_the_data_directory_key_is_made_once_for_its_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "ringi"
    settings = Settings(data_dir=data_dir)
    sealed = Sealer.of(settings).seal(SECRET)

    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Sealer.of(settings).open(sealed) == SECRET  # the same key, read back
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]  # no draft left over


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    found: list[bytes] = []

    def make() -> None:
        barrier.wait()
        found.append(data_dir_key(tmp_path))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and len(set(found)) == 1
    assert (tmp_path / KEY_FILE).read_bytes().strip() == found[0]


def test_a_worker_without_the_key_sends_nothing_and_says_why(
    settings: Settings, store: RingiStore
) -> None:
    """The delivery activity, on a real store, given a secret sealed under a key its
    installation does not have: a retryable failure naming RINGI_SECRET_KEYS, and
    nothing sent or recorded (it goes out once the worker has the key)."""
    hook = store.subscribe(
        PROPOSER,
        Channel.WEBHOOK,
        "http://127.0.0.1:9/never",
        T0 - timedelta(days=1),
        Actor.secretariat("desk"),
        secret=Sealer([new_key()]).seal(SECRET),
        kinds=(NotificationKind.ANSWERED,),  # the filing is announced too: not this test's
    )
    play(store, scenario(State.ANSWERED))  # answered: a notification for the proposer
    (delivery,) = [d for d in store.deliveries_since(0).deliveries if d.subscriber == hook.id]

    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(NotifyActivities(store, settings).deliver, delivery)
    assert refused.value.type == "Unsealable" and not refused.value.non_retryable
    assert "RINGI_SECRET_KEYS" in refused.value.message and SECRET not in refused.value.message
    assert store.outbox_message(delivery.key).delivered_to == []
