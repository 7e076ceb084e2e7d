"""Publishing a meeting's register (資料2), and checking every publication since.

``publish`` replays the register of meeting N from the events (as of the end
of the meeting's day, and the event log as it stands), renders it in the
formats asked for, and records ``RegisterPublished`` on the meeting: the
cutoff, the log position, the previous meeting's cutoff (which closed requests
are shown), the SHA-256 of the canonical content (``RegisterDocument.canonical``)
and of each rendered file.

``verify_publications`` replays each publication from its recorded cutoff and
position and compares: a different content digest means the events the
register was folded from are no longer what they were (edited, deleted or
inserted in the database); a different file digest with the same content means
the renderer no longer produces the bytes that were handed out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

from pydantic import BaseModel

from ..domain.lifecycle import shown
from ..domain.vocabulary import Actor
from ..store import RingiStore
from .document import RegisterDocument, document_of
from .render import Format, Lang, render
from .replay import meeting_cutoff, publication_cutoff, replay, replay_many


class PublicationFinding(BaseModel):
    """A published register that its events no longer reproduce."""

    meeting: int
    message: str
    kind: Literal["content", "format", "unreadable"]
    published_at: datetime | None
    recorded: str | None = None  # the digest the publication recorded
    replayed: str | None = None  # the digest of the register replayed now


@dataclass(frozen=True)
class Published:
    meeting: int
    document: RegisterDocument
    digest: str
    position: int
    files: dict[Format, bytes]
    #: its number among the meeting's publications (1 for the first)
    publication: int


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def publish(
    store: RingiStore,
    meeting: int,
    *,
    formats: Sequence[Format] = ("html",),
    lang: Lang = "ja",
    actor: Actor,
    at: datetime | None = None,
    command_id: str | None = None,
) -> Published:
    """Publish meeting ``meeting``'s register; a later publication of the same
    meeting is recorded too and becomes the one ``--meeting N`` shows. Under a
    ``command_id`` already published (a retry), nothing is recorded and the
    publication made then is returned, its files reproduced from its record."""
    done = store.meeting(meeting).publication_of(command_id)
    if done is not None:
        return republished(store, meeting, done)
    at = at or datetime.now(tz=UTC)
    cutoff = meeting_cutoff(store, meeting, published=False)
    folded = replay(store, cutoff)
    document = document_of(folded)
    files = {fmt: render(document, fmt, lang, cutoff.edition) for fmt in dict.fromkeys(formats)}
    made = store.publish_register(
        meeting,
        cutoff=cutoff.at,
        since=cutoff.since,
        position=folded.position,
        digest=document.digest(),
        formats={fmt: sha256(data) for fmt, data in files.items()},
        lang=lang,
        at=at,
        actor=actor,
        command_id=command_id,
        edition=cutoff.edition,
    )
    if command_id is not None and store.meeting(meeting).publications[made - 1].at != at:
        return republished(store, meeting, made)  # the retry's first attempt came first
    return Published(
        meeting=meeting,
        document=document,
        digest=document.digest(),
        position=folded.position,
        files=files,
        publication=made,
    )


def republished(store: RingiStore, meeting: int, index: int) -> Published:
    """Publication ``index`` of meeting ``meeting`` as it was handed out: replayed
    from its recorded cutoff and position, rendered in its recorded formats."""
    opened = store.meeting(meeting)
    publication = opened.publications[index - 1]
    document = document_of(replay(store, publication_cutoff(meeting, opened, publication)))
    # recorded as text; only ringi's own formats and languages were ever recorded
    lang = cast(Lang, publication.lang)
    formats = [cast(Format, fmt) for fmt in publication.formats]
    return Published(
        meeting=meeting,
        document=document,
        digest=document.digest(),
        position=publication.position,
        files={fmt: render(document, fmt, lang, publication.edition) for fmt in formats},
        publication=index,
    )


def verify_publications(store: RingiStore) -> list[PublicationFinding]:
    """Every publication of every meeting, replayed and compared; [] if all hold."""
    subjects = []
    findings: list[PublicationFinding] = []
    for number in store.meetings():
        try:
            meeting = store.meeting(number)
        except Exception as error:  # its own events do not fold: the chains say which
            findings.append(
                PublicationFinding(
                    meeting=number,
                    kind="unreadable",
                    published_at=None,
                    message=f"meeting {number} (第{number}回) cannot be read, so neither can "
                    f"its publications: {type(error).__name__}: {error}",
                )
            )
            continue
        for publication in meeting.publications:
            subjects.append((number, publication, publication_cutoff(number, meeting, publication)))
    try:
        # from the events themselves, not the read model: this is what checks them
        replays = replay_many(store, [cutoff for _, _, cutoff in subjects], projected=False)
    except Exception as error:  # a log that does not fold: say so for each publication
        return findings + [
            PublicationFinding(
                meeting=number,
                kind="unreadable",
                published_at=publication.at,
                recorded=publication.digest,
                message=f"meeting {number} (第{number}回): the register published "
                f"{shown(publication.at)} cannot be replayed: {error}",
            )
            for number, publication, _ in subjects
        ]
    for (number, publication, _), folded in zip(subjects, replays, strict=True):
        document = document_of(folded)
        digest = document.digest()
        label = f"meeting {number} (第{number}回): the register published {shown(publication.at)}"
        if digest != publication.digest:
            findings.append(
                PublicationFinding(
                    meeting=number,
                    kind="content",
                    published_at=publication.at,
                    recorded=publication.digest,
                    replayed=digest,
                    message=f"{label} no longer replays to its digest "
                    f"{publication.digest[:16]}… (now {digest[:16]}…): "
                    "the events it was folded from have changed",
                )
            )
            continue
        for fmt, recorded in publication.formats.items():
            rendered = sha256(render(document, fmt, publication.lang, publication.edition))  # type: ignore[arg-type]
            if rendered != recorded:
                findings.append(
                    PublicationFinding(
                        meeting=number,
                        kind="format",
                        published_at=publication.at,
                        recorded=recorded,
                        replayed=rendered,
                        message=f"{label} has the same content, but its {fmt} file renders "
                        f"differently now ({recorded[:16]}… then, {rendered[:16]}… now)",
                    )
                )
    return findings
