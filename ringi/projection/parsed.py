"""Request states parsed from the projection, kept by (number, version) per store.

A stored state never changes: a request's next event makes a new version. So a
state parsed once can serve every later read that names the same version, the
register of a past meeting and the register as it stands now alike (most of a
register does not change from one meeting to the next). Parsing is most of what
such a read costs; a long-lived process (the API, the pages) pays it once per
state. Nobody changes a view read from here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..domain.view import RequestView
    from .views import RequestViews

#: states kept per store: more than a large register's requests
LIMIT = 40_000


class ParsedStates:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._views: OrderedDict[tuple[int, int], RequestView] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, number: int, version: int) -> RequestView | None:
        with self._lock:
            found = self._views.get((number, version))
            if found is not None:
                self._views.move_to_end((number, version))
            return found

    def knows(self, number: int, version: int) -> bool:
        return (number, version) in self._views

    def put(self, views: list[RequestView]) -> None:
        with self._lock:
            for view in views:
                self._views[view.number, view.version] = view
            while len(self._views) > self.limit:
                self._views.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._views.clear()


def parsed_of(views: RequestViews) -> ParsedStates:
    """The parsed states of the store ``views`` belongs to."""
    found: ParsedStates | None = getattr(views, "_ringi_parsed", None)
    if found is None:
        found = ParsedStates()
        views._ringi_parsed = found  # type: ignore[attr-defined]
    return found
