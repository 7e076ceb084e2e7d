"""Webhook secrets are sealed before they are recorded.

A webhook's secret signs what ringi sends, so ringi must read it back. But a
recorded event is never deleted: a secret written in the clear would stay in
the store, its backups and every copy of them for good. So the store receives
it sealed with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``),
under a key kept outside the store:

* ``RINGI_SECRET_KEYS``: Fernet keys separated by commas (``ringi secret-key``
  makes one). The first one seals; each of them opens. To replace a key, put the
  new one first and keep the old one as long as a subscription sealed under it
  is current.
* otherwise ``<data dir>/secret.key``, made on first use and readable by its
  owner only. That suits one machine (``ringi up``). Processes on several
  machines (the compose stack) must share ``RINGI_SECRET_KEYS`` instead.

A secret recorded before secrets were sealed has no ``fernet:`` prefix and is
read as it stands.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from secrets import token_hex

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .config import Settings

#: what a sealed secret starts with in the store
SEALED = "fernet:"
KEY_FILE = "secret.key"


class Unsealable(RuntimeError):
    """A sealed secret that none of this process's keys opens."""


class Sealer:
    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError("a sealer needs at least one key")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError:
            raise ValueError(
                "RINGI_SECRET_KEYS must be Fernet keys (32 bytes, url-safe base64) separated "
                "by commas; `ringi secret-key` makes one"
            ) from None

    @classmethod
    def of(cls, settings: Settings) -> Sealer:
        """The installation's sealer: ``RINGI_SECRET_KEYS``, or the data directory's key."""
        given = [k.strip() for k in settings.secret_keys.get_secret_value().split(",")]
        keys = [k for k in given if k]
        return cls(keys or [data_dir_key(settings.data_dir)])

    def seal(self, secret: str) -> str:
        return SEALED + self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret ``stored`` holds (one recorded in the clear, as it is)."""
        if not stored.startswith(SEALED):
            return stored
        try:
            return self._fernet.decrypt(stored[len(SEALED) :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise Unsealable(
                "a webhook secret was sealed with a key this process does not have: "
                "every process of an installation (API, workers, command line) needs the "
                "same RINGI_SECRET_KEYS"
            ) from None


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def data_dir_key(data_dir: Path) -> bytes:
    """The key in ``data_dir``, made (owner-only) if there is none yet. Processes
    starting together agree: the file appears whole or not at all."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{KEY_FILE}.{os.getpid()}.{token_hex(8)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, Fernet.generate_key())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(draft, path)  # fails if another process made one first: use that one
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes().strip()
