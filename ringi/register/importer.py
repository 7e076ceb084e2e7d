"""Reading a register kept before ringi (資料2 exported from a spreadsheet).

Pure: text in, rows and an import plan out; nothing here touches the store
(``RingiStore.import_register`` writes the plan, ``Ringi.import_register``
also starts the workflows of the requests still open).

The layout (``../shared/fixtures/switching-requests-register.tsv``)
-----------------------------------------------------------------
One row per line, six tab-separated columns: No. · 区分 · 対象箇所 · ご意見・ご要望
· 回答 · 改修・対応希望. Header rows (first cell ``No.``) repeat on every page;
blank lines and one-cell lines (page titles such as ``資料2``) sit between them.
Cells hold HTML fragments (``<p>``, ``<ul>``, ``<br>``...), which become line
breaks; anything in angle brackets that is not an ASCII-named tag is text
(``<状況>``, ``<一括申請編のマニュアル>``). A cell cannot hold a tab or a line
break of its own.

- 回答 is a chain of answers joined by "→". Only an arrow at the start of the
  cell or after white space separates answers: ``(実量制→主開閉器契約)`` stays
  inside its answer. An answer's meeting is its tag ``(第N回)`` (half- or
  full-width brackets) where the tag ends the answer or is followed by white
  space: ``次回会議(第27回)までに`` is a reference, not a tag, and so are
  ``(第29回資料2別紙6、p4)`` and ``(第21回会議、議事概要から)``. The last such tag
  is the answer's meeting and is taken out of its text (ringi writes it back at
  the end); ``(継続)``, carried over, likewise. An untagged answer has no meeting.
- ご意見・ご要望 is the body, then appended notes, each opened by
  ``【2018年10月追記】`` and perhaps tagged with a meeting.
- 改修・対応希望 is the support count (proposer included), 保留 or クローズ.

ringi's own CSV (``ringi register --format csv``: a header row ``No.,...``, then
one record a row, cells quoted where needed) is read too, its cells as plain
text (not HTML). In either, a cell a spreadsheet would have evaluated as a
formula was written with a leading ``'`` (``ringi.register.formulas``): it is
taken off again.

A malformed row (wrong number of cells, a No. that is not a number or repeats,
an unknown 区分, an empty body, a last column that is none of the above, an
answer that is only a tag) is reported with its line number; every problem in
the file is reported at once and nothing is written.

When things happened (the plan)
-------------------------------
The register says at which meeting each answer was given, not when; the
meetings' dates are not in it either. ``plan_import`` dates every imported
fact with an upper bound, on one time line with the meetings:

- meeting dates come from the store (meetings already open), then from
  ``--meeting-dates`` (``N<TAB>YYYY-MM-DD``, the start of that day in Japan);
  any other meeting gets a deterministic placeholder: 30 days a meeting from
  2000-01-01 JST when no date is known at all, otherwise interpolated between
  (or stepped 30 days beyond) the known ones. Its title carries
  ``PLACEHOLDER_DATE``; the register shows 開催日不明 for it.
- a tagged answer or note is dated at its meeting; an untagged one at the next
  tagged one after it (it was said by then), or at the register's meeting;
  where the tags run backwards, the later one bounds the earlier.
- a request was filed no later than its first fact, and (numbers being handed
  out in order) no later than any higher-numbered request's filing.
- what the last column says holds at the register's meeting: by default the
  highest meeting tagged anywhere in the file.

"As of meeting N" therefore shows an imported request from the first meeting
by which it certainly existed, with the answers certainly given by then.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import itertools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import PurePath

from ..domain.errors import Refused
from ..domain.imported import (
    ImportedAnswer,
    ImportedMeeting,
    ImportedNote,
    ImportedRequest,
    ImportSource,
    RegisterMark,
)
from ..domain.lifecycle import JST
from ..domain.meeting import IMPORTED_MEETING, PLACEHOLDER_DATE
from ..domain.text import MAX_NUMBER
from ..domain.vocabulary import Category
from .formulas import unescape

COLUMNS = 6
COLUMN_NAMES = "No. · 区分 · 対象箇所 · ご意見・ご要望 · 回答 · 改修・対応希望"
#: placeholder meeting dates when none is known: meeting N on EPOCH + (N - 1) * STEP
PLACEHOLDER_EPOCH = datetime(2000, 1, 1, tzinfo=JST)
PLACEHOLDER_STEP = timedelta(days=30)


# --- problems ------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class RegisterFormatError(Refused):
    """The file is not a register ringi can import; nothing was written."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  {source}:{p.line}: {p.message}" for p in problems)
        super().__init__(f"{source}: {count}; nothing was imported\n{lines}")


# --- cells ---------------------------------------------------------------------------

_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:p|div|ul|ol|li|br|tr|td|th|table|tbody|thead|h[1-6]|hr)\b[^<>]*>", re.I
)
_INLINE_TAG = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?\s*>")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def html_to_text(cell: str) -> str:
    """A cell's text: HTML block tags become line breaks, other HTML tags go,
    entities are decoded; runs of spaces become one, lines are trimmed and empty
    ones dropped. ``<状況>`` and the like are text and stay."""
    text = _BLOCK_TAG.sub("\n", cell)
    text = _INLINE_TAG.sub("", text)
    return tidy(html.unescape(text))


def tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def normalise(text: str) -> str:
    """For comparing registers: HTML and all white space folded away."""
    return " ".join(html_to_text(text).split())


_SEPARATOR = re.compile(r"(?:^|(?<=\s))→")
_MEETING = r"[（(]\s*第\s*(\d+)\s*回\s*[)）]"
_CONTINUED = r"[（(]\s*継続\s*[)）]"
_FOLLOWS = rf"(?=\s|$|{_CONTINUED}|[（(]\s*第\s*\d+\s*回\s*[)）])"
_TAG = re.compile(_MEETING + _FOLLOWS)
_CONTINUED_TAG = re.compile(_CONTINUED + _FOLLOWS)
_NOTE = re.compile(r"【([^【】\n]*?)追記】")


def split_answers(text: str) -> list[str]:
    """The answers of a 回答 cell, in order ("→" at the start or after space)."""
    segments = [s.strip() for s in _SEPARATOR.split(text)]
    return segments[1:] if segments and not segments[0] else segments


def take_tags(segment: str, *, continued: bool = True) -> tuple[str, int | None, bool]:
    """An answer's text without its meeting tag (the last one) and ``(継続)``,
    the meeting, and whether it was carried over."""
    spans: list[tuple[int, int]] = []
    meeting = None
    tags = list(_TAG.finditer(segment))
    if tags:
        spans.append(tags[-1].span())
        meeting = int(tags[-1].group(1))
    carried = list(_CONTINUED_TAG.finditer(segment)) if continued else []
    spans += [m.span() for m in carried]
    text = segment
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    return tidy(text), meeting, bool(carried)


def split_notes(body: str) -> tuple[str, list[tuple[str | None, str]]]:
    """The body proper and its notes (the date as written, the note's text)."""
    parts = _NOTE.split(body)
    notes = [(parts[i].strip() or None, parts[i + 1]) for i in range(1, len(parts), 2)]
    return tidy(parts[0]), notes


_RELATED = re.compile(r"No\.?\s*(\d+)((?:\s*[、,，]\s*\d+)*)")


def related_numbers(number: int, *texts: str) -> tuple[int, ...]:
    """Numbers a row points at: "No43に同じ", "No37、38と同様", "【関連No.87】"."""
    found: set[int] = set()
    for text in texts:
        for m in _RELATED.finditer(unicodedata.normalize("NFKC", text)):
            found.add(int(m.group(1)))
            found.update(int(n) for n in re.findall(r"\d+", m.group(2)))
    return tuple(sorted(n for n in found if n >= 1 and n != number))


# --- rows --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedNote:
    dated: str | None
    text: str
    meeting: int | None


@dataclass(frozen=True)
class ParsedAnswer:
    text: str
    meeting: int | None
    continued: bool


@dataclass(frozen=True)
class ParsedRow:
    line: int
    number: int
    category: Category
    target: str
    body: str
    notes: tuple[ParsedNote, ...]
    answers: tuple[ParsedAnswer, ...]
    support: int | None
    mark: RegisterMark | None
    related: tuple[int, ...] = ()

    @property
    def meetings(self) -> set[int]:
        return {n.meeting for n in self.notes if n.meeting is not None} | {
            a.meeting for a in self.answers if a.meeting is not None
        }

    @property
    def last_column(self) -> str:
        return self.mark.value if self.mark is not None else str(self.support)

    def digest(self) -> str:
        """SHA-256 of what the row says (not where it stands in the file)."""
        content = {
            "number": self.number,
            "category": self.category.value,
            "target": self.target,
            "body": self.body,
            "notes": [[n.dated, n.text, n.meeting] for n in self.notes],
            "answers": [[a.text, a.meeting, a.continued] for a in self.answers],
            "last": self.last_column,
        }
        text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ParsedRegister:
    source: str
    sha256: str
    rows: tuple[ParsedRow, ...]
    titles: tuple[str, ...] = ()

    @property
    def meetings(self) -> list[int]:
        """Every meeting an answer or a note is tagged with."""
        return sorted({m for row in self.rows for m in row.meetings})


def parse_register(data: bytes | str, source: str = "register") -> ParsedRegister:
    """Read a register; raises ``RegisterFormatError`` listing every malformed
    row with its line number."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        where = raw[: error.start].count(b"\n") + 1
        raise RegisterFormatError(source, [Problem(where, "not UTF-8 text")]) from None
    rows: list[ParsedRow] = []
    titles: list[str] = []
    problems: list[Problem] = []
    first_seen: dict[int, int] = {}
    plain = _is_csv(text)
    for number, cells in _records(text, plain):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line between pages
        if len(cells) == 1:
            title = cells[0].strip()
            if re.match(r"\d", unicodedata.normalize("NFKC", title)):
                problems.append(Problem(number, f"1 cell; a row has {COLUMNS} tab-separated cells"))
            else:
                titles.append(title)  # a page title: 資料2, the register's name
            continue
        if len(cells) != COLUMNS:
            problems.append(
                Problem(
                    number,
                    f"{len(cells)} cells; a row has {COLUMNS} tab-separated cells ({COLUMN_NAMES})",
                )
            )
            continue
        if _is_header(cells[0]):
            continue
        try:
            row = _row(number, [unescape(cell) for cell in cells], plain=plain)
        except _RowError as error:
            problems.append(Problem(number, str(error)))
            continue
        if row.number in first_seen:
            problems.append(
                Problem(number, f"No.{row.number} again (first on line {first_seen[row.number]})")
            )
            continue
        first_seen[row.number] = number
        rows.append(row)
    if not rows and not problems:
        problems.append(Problem(1, f"no register rows ({COLUMN_NAMES})"))
    if problems:
        raise RegisterFormatError(source, problems)
    return ParsedRegister(
        source=source,
        sha256=hashlib.sha256(raw).hexdigest(),
        rows=tuple(rows),
        titles=tuple(titles),
    )


class _RowError(ValueError):
    pass


_CSV_HEADER = re.compile(r'\s*"?No\.?"?,')


def _is_csv(text: str) -> bool:
    """Whether ``text`` is ringi's own CSV: its first line is the header ``No.,...``."""
    first = next((line for line in text.split("\n", 20) if line.strip()), "")
    return _CSV_HEADER.match(first) is not None


def _records(text: str, csv_records: bool) -> Iterator[tuple[int, list[str]]]:
    """Each row's first line number and cells: tab-separated lines, or CSV records
    (whose cells may span lines)."""
    if not csv_records:
        for number, line in enumerate(text.split("\n"), start=1):
            yield number, line.rstrip("\r").split("\t")
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def _is_header(cell: str) -> bool:
    return unicodedata.normalize("NFKC", cell).strip().rstrip(".").lower() == "no"


def _row(line: int, cells: list[str], *, plain: bool = False) -> ParsedRow:
    no_cell, category_cell, target_cell, body_cell, answer_cell, last_cell = cells
    text_of: Callable[[str], str] = tidy if plain else html_to_text
    no_text = unicodedata.normalize("NFKC", no_cell).strip()
    if not re.fullmatch(r"[0-9]{1,10}", no_text) or not 1 <= int(no_text) <= MAX_NUMBER:
        raise _RowError(f"No. must be a number from 1 to {MAX_NUMBER}, not {no_cell.strip()!r}")
    number = int(no_text)
    try:
        category = Category.parse(unicodedata.normalize("NFKC", text_of(category_cell)))
    except ValueError as error:
        raise _RowError(f"No.{number}: 区分: {error}") from None
    target = text_of(target_cell).replace("\n", " ")
    if not target:
        raise _RowError(f"No.{number}: 対象箇所 is empty")
    if len(target) > 500:
        raise _RowError(f"No.{number}: 対象箇所 is longer than 500 characters")
    body, raw_notes = split_notes(text_of(body_cell))
    if not body:
        raise _RowError(f"No.{number}: ご意見・ご要望 is empty")
    notes = []
    for i, (dated, note_text) in enumerate(raw_notes, start=1):
        text, meeting, _ = take_tags(note_text, continued=False)
        if not text:
            raise _RowError(f"No.{number}: appended note {i} (【{dated or ''}追記】) has no text")
        notes.append(ParsedNote(dated=dated, text=text, meeting=meeting))
    answers = []
    for i, segment in enumerate(split_answers(text_of(answer_cell)), start=1):
        text, meeting, continued = take_tags(segment)
        if not text:
            raise _RowError(f"No.{number}: answer {i} has no text besides its tags")
        answers.append(ParsedAnswer(text=text, meeting=meeting, continued=continued))
    last = unicodedata.normalize("NFKC", text_of(last_cell)).strip()
    support, mark = None, None
    if re.fullmatch(r"[0-9]+", last) and int(last) >= 1:
        support = int(last)
    else:
        try:
            mark = RegisterMark(last)
        except ValueError:
            raise _RowError(
                f"No.{number}: 改修・対応希望 is a support count (1 or more), 保留 or クローズ, "
                f"not {last_cell.strip()!r}"
            ) from None
    return ParsedRow(
        line=line,
        number=number,
        category=category,
        target=target,
        body=body,
        notes=tuple(notes),
        answers=tuple(answers),
        support=support,
        mark=mark,
        related=related_numbers(number, body, *(n.text for n in notes), answer_cell),
    )


# --- meeting dates -----------------------------------------------------------------


def parse_meeting_dates(data: bytes | str, source: str = "meeting dates") -> dict[int, date]:
    """``N<TAB>YYYY-MM-DD`` a line (``第N回`` also accepted); ``#`` comments and
    blank lines are skipped."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    dates: dict[int, date] = {}
    problems = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        m = re.fullmatch(r"(?:第\s*)?(\d+)\s*(?:回)?\s+(\d{4}-\d{2}-\d{2})", content)
        if m is None:
            problems.append(Problem(line_no, f"expected N<TAB>YYYY-MM-DD, not {content!r}"))
            continue
        try:
            day = date.fromisoformat(m.group(2))
        except ValueError:
            problems.append(Problem(line_no, f"{m.group(2)!r} is not a date"))
            continue
        meeting = int(m.group(1))
        if meeting in dates:
            problems.append(Problem(line_no, f"meeting {meeting} again"))
            continue
        dates[meeting] = day
    if problems:
        raise RegisterFormatError(source, problems)
    return dates


# --- the plan ----------------------------------------------------------------------


@dataclass(frozen=True)
class ImportPlan:
    register_meeting: int
    meetings: tuple[ImportedMeeting, ...]  # every meeting the register needs
    requests: tuple[ImportedRequest, ...]
    placeholders: tuple[int, ...] = field(default=())  # meetings with placeholder dates

    @property
    def open_rows(self) -> list[int]:
        return [r.number for r in self.requests if r.mark is not RegisterMark.CLOSED]


def plan_import(
    register: ParsedRegister,
    *,
    known: Mapping[int, datetime] | None = None,
    given: Mapping[int, date] | None = None,
    register_meeting: int | None = None,
) -> ImportPlan:
    """Date every fact of the register (see the module docstring). ``known``:
    the meetings already in the store; ``given``: dates from ``--meeting-dates``.
    Raises ``Refused`` when the dates contradict each other."""
    known = dict(known or {})
    for meeting, day in sorted((given or {}).items()):
        start = datetime.combine(day, time(0), JST)
        if meeting in known and known[meeting] != start:
            raise Refused(
                f"meeting {meeting} (第{meeting}回) is already held on "
                f"{known[meeting].isoformat()}; the meeting dates say {day}"
            )
        known[meeting] = start
    tagged = register.meetings
    final = register_meeting if register_meeting is not None else max(tagged, default=None)
    if final is None:
        raise Refused(
            "the register tags no answer with a meeting (第N回): say whose register it is "
            "with --meeting N"
        )
    for row in register.rows:
        later = sorted(m for m in row.meetings if m > final)
        if later:
            raise Refused(
                f"line {row.line}: No.{row.number} has an answer of meeting {later[-1]}, "
                f"after the register's meeting {final}"
            )
    needed = sorted({*tagged, final})
    times = _meeting_times(needed, known)
    placeholders = tuple(n for n in needed if n not in known)
    meetings = tuple(
        ImportedMeeting(
            number=n,
            held_at=times[n],
            title=f"第{n}回 {IMPORTED_MEETING}"
            + (f" {PLACEHOLDER_DATE}" if n in placeholders else ""),
        )
        for n in needed
    )
    settled = times[final]
    rows = sorted(register.rows, key=lambda r: r.number)
    dated: dict[int, tuple[list[datetime], list[datetime]]] = {}
    for row in rows:
        dated[row.number] = (
            _bounds([a.meeting for a in row.answers], times, settled),
            _bounds([n.meeting for n in row.notes], times, settled),
        )
    filed: dict[int, datetime] = {}
    bound = settled
    for row in reversed(rows):
        answers_at, notes_at = dated[row.number]
        bound = min([bound, *answers_at, *notes_at])
        filed[row.number] = bound
    source_name = PurePath(register.source).name
    requests = []
    for row in rows:
        answers_at, notes_at = dated[row.number]
        requests.append(
            ImportedRequest(
                number=row.number,
                category=row.category,
                target=row.target,
                body=row.body,
                related=row.related,
                notes=tuple(
                    ImportedNote(text=n.text, dated=n.dated, meeting=n.meeting, at=at)
                    for n, at in zip(row.notes, notes_at, strict=True)
                ),
                answers=tuple(
                    ImportedAnswer(text=a.text, meeting=a.meeting, continued=a.continued, at=at)
                    for a, at in zip(row.answers, answers_at, strict=True)
                ),
                support=row.support,
                mark=row.mark,
                filed_at=filed[row.number],
                settled_at=settled,
                source=ImportSource(
                    file=source_name,
                    sha256=register.sha256,
                    line=row.line,
                    register_meeting=final,
                ),
                command_id=f"import:No.{row.number}:{row.digest()[:24]}",
            )
        )
    return ImportPlan(
        register_meeting=final,
        meetings=meetings,
        requests=tuple(requests),
        placeholders=placeholders,
    )


def _bounds(
    meetings: list[int | None], times: Mapping[int, datetime], final: datetime
) -> list[datetime]:
    """Each fact's time bound: its meeting's, or the next tagged fact's, never
    later than a later fact's."""
    out: list[datetime] = []
    running = final
    for meeting in reversed(meetings):
        if meeting is not None:
            running = min(running, times[meeting])
        out.append(running)
    return out[::-1]


def _meeting_times(needed: Iterable[int], known: Mapping[int, datetime]) -> dict[int, datetime]:
    anchors = sorted(known.items())
    for (a, ta), (b, tb) in itertools.pairwise(anchors):
        if tb <= ta:
            raise Refused(
                f"meeting {b} is dated {tb.isoformat()}, not after meeting {a} ({ta.isoformat()})"
            )
    times: dict[int, datetime] = {}
    for n in needed:
        if n in known:
            times[n] = known[n]
            continue
        lower = max((k for k in known if k < n), default=None)
        upper = min((k for k in known if k > n), default=None)
        if lower is not None and upper is not None:
            moment = known[lower] + (known[upper] - known[lower]) * (n - lower) / (upper - lower)
        elif lower is not None:
            moment = known[lower] + PLACEHOLDER_STEP * (n - lower)
        elif upper is not None:
            moment = known[upper] - PLACEHOLDER_STEP * (upper - n)
        else:
            moment = PLACEHOLDER_EPOCH + PLACEHOLDER_STEP * (n - 1)
        times[n] = datetime.combine(moment.astimezone(JST).date(), time(0), JST)
    return times
