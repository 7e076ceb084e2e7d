"""Request states parsed from the projection, kept by (number, version) per store.

A stored state never changes: a request's next event makes a new version. So a
state parsed once can serve every later read that names the same version, the
register of a past meeting and the register as it stands now alike (most of a
register does not change from one meeting to the next). Parsing is most of what
such a read costs; a long-lived process (the API, the pages) pays it once per
state. Nobody changes a view read from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from ..recent import Recent

if TYPE_CHECKING:
    from ..domain.view import RequestView
    from .views import RequestViews

#: states kept per store: more than a large register's requests
LIMIT = 40_000

ParsedStates: TypeAlias = "Recent[tuple[int, int], RequestView]"


def parsed_of(views: RequestViews) -> ParsedStates:
    """The parsed states of the store ``views`` belongs to."""
    found: ParsedStates | None = getattr(views, "_ringi_parsed", None)
    if found is None:
        found = Recent(LIMIT)
        views._ringi_parsed = found  # type: ignore[attr-defined]
    return found
