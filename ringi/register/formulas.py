"""No formula in a spreadsheet ringi writes (CSV injection).

A spreadsheet opening a CSV evaluates a cell that begins with ``=``, ``+``,
``-`` or ``@`` (and, in some, a TAB or CR before one; Excel in Japan also takes
the full-width ＝ ＋ － ＠ as the half-width ones) as a formula: a member's
target ``=HYPERLINK(...)`` would run in the secretariat's copy. Such a cell is
written with a leading ``'`` (OWASP's advice), which the spreadsheet shows as
text; the import takes it off again.

The escaping is one-to-one, so that every text comes back as it went out: a
cell that already begins with ``'`` before what would be escaped (``'=x``) is
escaped too (``''=x``), and only such a quote is taken off.
"""

from __future__ import annotations

#: what a spreadsheet takes as the start of a formula
FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
QUOTE = "'"


def _needs_quote(text: str) -> bool:
    rest = text.lstrip(QUOTE)
    return bool(rest) and rest[0] in FORMULA_STARTS


def escape(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows as text, never evaluates."""
    return QUOTE + text if _needs_quote(text) else text


def unescape(cell: str) -> str:
    """The text ``escape`` wrote as ``cell``; any other cell as it is."""
    return cell[1:] if cell.startswith(QUOTE) and _needs_quote(cell[1:]) else cell
