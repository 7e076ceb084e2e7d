"""``ringi audit seal``: the anchor a chain cannot be to itself, kept outside the database.

A hash chain proves that its events are consistent with each other, not that it
is as long as it was: whoever can write the database and knows the scheme can
cut a chain's last events, or rewrite its tail with freshly computed hashes,
and every link still holds (``verify``'s docstring). A seal closes that gap.
It lists the head of every chain (each request's and meeting's last version
and that event's hash) at one moment, with one SHA-256 digest over the list.

Taken after a meeting and kept where the database's writers cannot reach it
(handed out with the meeting's register, mailed to the members, printed in the
minutes: the 64 hex digits of the digest are enough to tell a seal file from
an altered one), it lets ``ringi audit verify --seal FILE`` name any event that
was later removed from, or rewritten at, a chain's end, by request and
version. A store may grow past its seal; it may not shrink below it or differ
at it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ..domain.errors import Refused
from ..store import RingiStore
from .records import PAGE, Subject
from .verify import Anchor, chain_heads, verify


class SealError(Refused):
    """A seal that cannot be used: unreadable, or not what was sealed."""


class Head(BaseModel):
    """A chain's last event when the seal was taken."""

    subject: Subject
    number: int
    version: int
    hash: str


class Seal(BaseModel):
    taken_at: datetime
    #: how many events the store held (of every aggregate), for the reader
    events: int
    heads: list[Head]
    #: SHA-256 of the canonical JSON of everything above
    digest: str

    def anchors(self) -> list[Anchor]:
        source = f"the seal of {self.taken_at:%Y-%m-%d %H:%M:%S} UTC ({self.digest[:12]})"
        return [
            Anchor(
                number=h.number, version=h.version, hash=h.hash, source=source, subject=h.subject
            )
            for h in self.heads
        ]


def take(store: RingiStore, at: datetime, page: int = PAGE) -> Seal:
    """The seal of the store as it is now. Refused unless the store verifies
    clean: a seal vouches for what it seals."""
    report = verify(store, page=page)
    if not report.clean:
        raise SealError(
            f"the store does not verify ({len(report.findings)} findings; "
            "see `ringi audit verify`): a seal of it would vouch for them"
        )
    heads = [
        Head(subject=subject, number=number, version=version, hash=event_hash)
        for subject, number, version, event_hash in chain_heads(store, page)
    ]
    heads.sort(key=lambda h: (h.subject, h.number))
    return Seal(
        taken_at=at, events=report.events, heads=heads, digest=_digest(at, report.events, heads)
    )


def read(path: Path) -> Seal:
    """A seal file, checked against its own digest."""
    try:
        seal = Seal.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as error:
        raise SealError(f"{path} is not a ringi seal: {error}") from None
    return checked(seal, str(path))


def checked(seal: Seal, name: str = "the seal") -> Seal:
    """``seal``, if its heads still hash to its digest."""
    if _digest(seal.taken_at, seal.events, seal.heads) != seal.digest:
        raise SealError(f"{name} was altered: its heads no longer hash to its digest {seal.digest}")
    return seal


def write(seal: Seal, path: Path) -> None:
    path.write_text(seal.model_dump_json(indent=1) + "\n", encoding="utf-8")


def _digest(at: datetime, events: int, heads: list[Head]) -> str:
    canonical = json.dumps(
        {
            "taken_at": at.isoformat(),
            "events": events,
            "heads": [h.model_dump(mode="json") for h in heads],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
