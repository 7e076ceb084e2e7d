"""The register's search, through the projection's text index (``ringi_search``).

A search asks whether a part of a request's texts (its target, body, notes and
answers) holds what was typed, in any case: ``needle.casefold() in
text.casefold()``, the rule the pages and the API kept in Python. The index holds
every text casefolded as Python folds it, one row per text, so the database's
substring match (FTS5 trigrams on SQLite, a pg_trgm GIN index on PostgreSQL,
checked by ``instr`` / ``LIKE``) gives the same answer; a needle shorter than a
trigram is looked for in every row instead.

The index holds the current state of each request. A register of a past meeting
shows older states: a state of the version the index was written from takes the
index's answer, any other is looked at in Python (``Matches.admits``). A page
whose needles are all shorter than a trigram looks in its parsed states instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..domain.view import RequestView

#: the shortest needle the index looks up (one trigram); a shorter one reads every row
TRIGRAM = 3


def search_texts(view: RequestView) -> tuple[tuple[str, str], ...]:
    """(field, casefolded text) of what the search looks in (``views.SEARCHED``)."""
    texts = [("target", view.target), ("body", view.body)]
    texts += [("note", n.text) for n in view.notes]
    texts += [("answer", a.text) for a in view.answers]
    return tuple((field, text.casefold()) for field, text in texts)


def holds(view: RequestView, q: str) -> bool:
    """Whether one of the view's searched texts holds ``q``, in any case (in Python)."""
    needle = q.casefold()
    return any(needle in text for _, text in search_texts(view))


def target_holds(view: RequestView, target: str) -> bool:
    return target.casefold() in view.target.casefold()


@dataclass(frozen=True)
class Matches:
    """The index's answer for one search: every request's current version, and
    whether that version's texts match."""

    current: dict[int, tuple[int, bool]]
    fallback: Callable[[RequestView], bool]

    def admits(self, view: RequestView) -> bool:
        found = self.current.get(view.number)
        if found is not None and found[0] == view.version:
            return found[1]
        return self.fallback(view)  # another version than the index's: a past state
