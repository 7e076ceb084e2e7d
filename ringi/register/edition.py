"""Editions of the register's rules: which rows a register shows and how its
files are written.

A publication records the edition it was made by (``Publication.edition``;
none recorded: 1) and is replayed and rendered by it, so that a rule added later
changes neither what an earlier register said nor the bytes handed out, and its
digests still verify. What is not published always follows the current edition.

1. Rows open at the cutoff, or ended since the previous meeting's cutoff.
2. Also an ended request given an answer tagged with this meeting since then
   (a correction reported at the meeting).
3. CSV files begin with a byte order mark, so that a spreadsheet opens them as
   UTF-8 (Excel in Japan reads a CSV without one as Shift_JIS).
4. A CSV cell a spreadsheet would evaluate as a formula (one that begins with
   = + - @, TAB or CR, or the full-width ＝ ＋ － ＠) begins with ' instead
   (``ringi.register.formulas``).
"""

from __future__ import annotations

EDITION = 4

#: from this edition on, a register's CSV begins with a byte order mark
CSV_BOM_SINCE = 3
#: from this edition on, no CSV cell begins as a formula would
CSV_FORMULAS_ESCAPED_SINCE = 4
#: from this edition on, a tagged answer brings an ended request back into the register
TAGGED_ANSWERS_SINCE = 2
