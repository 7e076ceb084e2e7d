"""Register files over HTTP: compressed once, and not sent again to a client that has them.

A settled register's file cannot change (``ringi.register.kept``), and is large:
a member's system polling a past meeting's register would otherwise be sent it
whole at every call. Such a file carries an entity tag, so a client that has it
is answered 304, and its gzip form is made once per process and kept, so a
client that accepts gzip is sent that. A register as of now is sent as it is.
"""

from __future__ import annotations

import asyncio
import gzip

from fastapi import Request, Response

from ..recent import Recent
from ..register.kept import RegisterFile

#: gzip forms kept per process; each is a small fraction of its file
KEPT = 16


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header admits gzip (RFC 9110 12.5.3)."""
    if not header:
        return False
    chosen: float | None = None
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            return quality > 0
        if coding == "*":
            chosen = quality
    return chosen is not None and chosen > 0


def _matches(header: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` names this entity tag (weak comparison, RFC 9110 13.1.2)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(part.strip().removeprefix("W/") == tag for part in header.split(","))


class Compressed:
    """The gzip forms of the settled files lately asked for, made once each."""

    def __init__(self, size: int = KEPT) -> None:
        self._forms: Recent[str, bytes] = Recent(size)
        self._making: dict[str, asyncio.Future[bytes]] = {}

    async def of(self, file: RegisterFile) -> bytes:
        found = self._forms.get(file.tag)
        if found is not None:
            return found
        making = self._making.get(file.tag)
        if making is not None:  # asked for at once by several clients: made once
            return await asyncio.shield(making)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._making[file.tag] = future
        try:
            made = await asyncio.to_thread(gzip.compress, file.body, 6, mtime=0)
        except BaseException as failed:
            future.set_exception(failed)
            future.exception()  # retrieved: the waiters, if any, raise it
            raise
        finally:
            del self._making[file.tag]
        future.set_result(made)
        self._forms.put(file.tag, made)
        return made


async def file_answer(
    request: Request,
    file: RegisterFile,
    media_type: str,
    headers: dict[str, str],
    compressed: Compressed,
) -> Response:
    """The answer carrying ``file``: 304 to a client that has it, gzip to one that
    accepts it, where the file is settled; else the bytes as they are."""
    if not file.settled:
        return Response(file.body, media_type=media_type, headers=headers)
    zipped = accepts_gzip(request.headers.get("accept-encoding"))
    tag = f'"{file.tag}{"-gz" if zipped else ""}"'
    headers = headers | {"ETag": tag, "Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    if not zipped:
        return Response(file.body, media_type=media_type, headers=headers)
    body = await compressed.of(file)
    return Response(body, media_type=media_type, headers=headers | {"Content-Encoding": "gzip"})
