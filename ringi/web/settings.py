"""What the web pages may be tuned with (``RINGI_WEB_*``), and the secret that
signs their session cookie.

The secret comes from ``RINGI_WEB_SECRET`` when it is set (several processes
behind one address must share it); otherwise it is generated once and kept in
the data directory, readable by its owner only, so a restart keeps everyone
signed in.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "web-secret"
_SECRET_BYTES = 32


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RINGI_WEB_", extra="ignore")

    #: signs the session cookie; default: generated once into <data_dir>/web-secret
    secret: SecretStr | None = None
    #: seconds a sign-in lasts without signing in again (the token is re-checked
    #: on every page regardless)
    session_max_age: int = Field(12 * 3600, ge=60)


def session_secret(settings: WebSettings, data_dir: Path) -> str:
    """The configured secret, or the one kept in ``data_dir`` (created at first use)."""
    if settings.secret is not None and settings.secret.get_secret_value():
        return settings.secret.get_secret_value()
    path = data_dir / SECRET_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    try:
        # O_EXCL: two processes starting at once agree on the first one's secret
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret + "\n")
    return secret


def _read(path: Path) -> str:
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ValueError(f"{path} holds no usable secret; delete it and a new one is made")
    return secret
