"""A register's file, rendered once per settled cutoff and kept with its checkpoint.

The register of a past meeting can no longer change (``ringi.projection.checkpoints``),
so neither can its file in a given format, language and edition: the bytes and
the content digest are kept beside the checkpoint they were rendered from, and
go with it when it is dropped. What the file also depends on, the code that
renders it, is part of the key (``RENDERER``), so a ringi that renders
differently renders again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..recent import Recent
from .document import document_of
from .edition import EDITION
from .render import Format, Lang, render
from .replay import Cutoff, Replay, replay

if TYPE_CHECKING:
    from ..store import RingiStore


def _renderer() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("document.py", "edition.py", "formulas.py", "render.py", "kept.py"):
        digest.update((here / name).read_bytes())
    for template in sorted((here / "templates").glob("*")) if (here / "templates").is_dir() else []:
        digest.update(template.read_bytes())
    return digest.hexdigest()[:16]


#: the code that renders registers, as it is in this installation
RENDERER = _renderer()


def variant(cutoff: Cutoff, fmt: Format, lang: Lang, edition: int) -> str:
    """Everything besides the checkpoint's events that the file depends on, as
    JSON (``ringi audit verify`` renders a kept file again from it)."""
    return json.dumps(
        {
            "renderer": RENDERER,
            "format": fmt,
            "lang": lang,
            "edition": edition,
            "at": cutoff.at.isoformat(),
            "position": cutoff.position,
            "since": cutoff.since and cutoff.since.isoformat(),
            "meeting": cutoff.meeting,
            "held_at": cutoff.held_at and cutoff.held_at.isoformat(),
            "date_is_placeholder": cutoff.date_is_placeholder,
            "published": cutoff.published,
            "rules": cutoff.edition,
        },
        sort_keys=True,
    )


def from_variant(text: str) -> tuple[Cutoff, Format, Lang, int] | None:
    """The cutoff and format a kept file was rendered for (None: by other code)."""
    found = json.loads(text)
    if found.get("renderer") != RENDERER:
        return None

    def moment(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    at = moment(found["at"])
    assert at is not None
    cutoff = Cutoff(
        at=at,
        position=found["position"],
        since=moment(found["since"]),
        meeting=found["meeting"],
        held_at=moment(found["held_at"]),
        date_is_placeholder=found["date_is_placeholder"],
        published=found["published"],
        edition=found["rules"],
    )
    return cutoff, found["format"], found["lang"], found["edition"]


@dataclass(frozen=True)
class RegisterFile:
    """A register's file as rendered: its bytes, its content digest, and what
    it was rendered for (``variant``)."""

    body: bytes
    digest: str
    variant: str
    #: the cutoff is settled: the same cutoff, format, language and edition give
    #: these bytes again, as long as the events up to the cutoff stand
    settled: bool

    @property
    def tag(self) -> str:
        """Names these bytes: the same document rendered for the same variant is
        the same file (an HTTP entity tag)."""
        return _tag(self.digest, self.variant)


def _tag(digest: str, variant: str) -> str:
    return hashlib.sha256(f"{digest}\n{variant}".encode()).hexdigest()[:32]


#: the bytes a tag names never change, so this cache is never stale: a file is
#: found here only after its checkpoint and digest were read from the store
_BODIES: Recent[str, bytes] = Recent(96 * 2**20, weigh=len)


def rendered(
    store: RingiStore, cutoff: Cutoff, fmt: Format, lang: Lang, edition: int = EDITION
) -> tuple[bytes, str]:
    """The register of ``cutoff`` in ``fmt`` and its content digest: kept, or
    replayed and rendered (and kept, where its cutoff has a checkpoint)."""
    made = register_file(store, cutoff, fmt, lang, edition)
    return made.body, made.digest


def register_file(
    store: RingiStore, cutoff: Cutoff, fmt: Format, lang: Lang, edition: int = EDITION
) -> RegisterFile:
    """The register of ``cutoff`` in ``fmt``: kept, or replayed and rendered (and
    kept, where its cutoff has a checkpoint)."""
    from ..projection.catchup import ProjectionError, caught_up
    from ..projection.checkpoints import key

    try:
        views = caught_up(store)
        before = views.checkpoint(*key(cutoff))
    except ProjectionError:
        views, before = None, None
    wanted = variant(cutoff, fmt, lang, edition)
    if views is not None and before is not None:
        digest = views.render_digest(before.id, wanted)
        if digest is not None:
            tag = _tag(digest, wanted)
            body = _BODIES.get(tag)
            if body is None:
                found = views.render(before.id, wanted)
                if found is not None:
                    body = found[0]
                    _BODIES.put(tag, body)
            if body is not None:
                return RegisterFile(body, digest, wanted, settled=True)
    folded = replay(store, cutoff)
    document = document_of(folded)
    body, digest = render(document, fmt, lang, edition), document.digest()
    if views is not None:
        after = views.checkpoint(*key(cutoff))
        # the checkpoint this was folded from (the one read, or the one this fold kept)
        if after is not None and (
            (before is not None and after.id == before.id)
            or (before is None and after.taken_position == folded.position)
        ):
            views.keep_render(after.id, wanted, body, digest)
            _BODIES.put(_tag(digest, wanted), body)
            return RegisterFile(body, digest, wanted, settled=True)
    return RegisterFile(body, digest, wanted, settled=False)


def rendered_again(folded: Replay, made: tuple[Cutoff, Format, Lang, int]) -> bytes:
    """A kept file rendered again from a fold of its checkpoint's cutoff."""
    cutoff, fmt, lang, edition = made
    again = Replay(cutoff, folded.position, folded.events, folded.views)
    return render(document_of(again), fmt, lang, edition)
