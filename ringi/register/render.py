"""The register (資料2) in every format: HTML, CSV, XLSX, Markdown, JSON.

Every renderer is a function of the document and the language only, so the
same events always give the same bytes: no clock, no locale, no random ids.
XLSX in particular gets fixed document properties (created and modified at
the document's cutoff) and fixed timestamps on every zip member.

- HTML: a printable A4 landscape page to hand out at the meeting (title
  第N回 資料2, the table with its header repeated on every printed page, page
  header and footer with the page number and the content's SHA-256). Templates
  in ``templates/`` (Jinja2).
- CSV: UTF-8 with a BOM (edition 3), CRLF rows, the six columns, line breaks
  inside cells; a cell that would begin a formula begins with ' (edition 4,
  ``formulas``).
- XLSX: one sheet, title rows, the table with wrapped cells, print set-up
  (A4 landscape, fit to width, header row repeated, header and footer).
- Markdown: a GitHub table, line breaks as ``<br>``.
- JSON: the document's content plus each row's six cells as printed.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from ..domain.lifecycle import shown as when
from ..domain.vocabulary import Category
from .document import RegisterDocument, RegisterRow, RowAnswer, RowNote, Status
from .edition import CSV_BOM_SINCE, CSV_FORMULAS_ESCAPED_SINCE, EDITION
from .formulas import escape

Format = Literal["html", "csv", "xlsx", "md", "json"]
Lang = Literal["ja", "en"]
FORMATS: tuple[Format, ...] = ("html", "csv", "xlsx", "md", "json")
LANGS: tuple[Lang, ...] = ("ja", "en")
EXTENSIONS: dict[Format, str] = {
    "html": ".html",
    "csv": ".csv",
    "xlsx": ".xlsx",
    "md": ".md",
    "json": ".json",
}
#: what each format is sent as over HTTP (the API, the web pages' downloads)
MEDIA_TYPES: dict[Format, str] = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
}


@dataclass(frozen=True)
class Words:
    headings: tuple[str, str, str, str, str, str]
    categories: dict[Category, str]
    status: dict[Status, str]
    document: str  # 資料2
    subtitle: str
    meeting_title: str  # with {n}
    moment_title: str  # with {at}
    held: str  # with {day}
    held_unknown: str
    as_of: str  # with {at}
    since: str  # with {at}
    tag: str  # with {n}
    continued: str
    note: str  # with {dated}
    corrected: str  # with {n}
    corrected_unknown: str
    correction: str
    rows: str  # with {n}
    generated: str


WORDS: dict[Lang, Words] = {
    "ja": Words(
        headings=(
            "No.",
            "区分 (意見・要望・質問など)",
            "対象箇所 (頁・章・節など)",
            "ご意見・ご要望",
            "回答",
            "改修・対応希望 (希望の場合○を入れてください)",
        ),
        categories={c: c.value for c in Category},
        status={
            Status.HELD: "保留",
            Status.CLOSED: "クローズ",
            Status.RELEASED: "リリース済",
            Status.UNKNOWN: "不明",
            Status.SUPPORT: "",
        },
        document="資料2",
        subtitle="ご意見・ご要望一覧",
        meeting_title="第{n}回 資料2",
        moment_title="資料2 ({at} 時点)",
        held="開催日 {day}",
        held_unknown="開催日不明 (仮の日付)",
        as_of="{at} 時点の記録",
        since="前回 ({at}) 以降のクローズを含む",
        tag="(第{n}回)",
        continued="(継続)",
        note="【{dated}追記】",
        corrected="〔第{n}回に訂正〕",
        corrected_unknown="〔訂正あり〕",
        correction="【訂正】",
        rows="{n}件",
        generated="ringi: イベントから再生",
    ),
    "en": Words(
        headings=(
            "No.",
            "Category",
            "Target (page, chapter, section)",
            "Opinion / request",
            "Answer",
            "Support / status",
        ),
        categories={
            Category.REQUEST: "Request",
            Category.OPINION: "Opinion",
            Category.QUESTION: "Question",
        },
        status={
            Status.HELD: "On hold",
            Status.CLOSED: "Closed",
            Status.RELEASED: "Released",
            Status.UNKNOWN: "Unknown",
            Status.SUPPORT: "",
        },
        document="Document 2",
        subtitle="Register of requests and opinions",
        meeting_title="Meeting {n}: Document 2",
        moment_title="Document 2 (as of {at})",
        held="Held on {day}",
        held_unknown="Date unknown (placeholder)",
        as_of="Record as of {at}",
        since="Includes requests closed since {at}",
        tag="(meeting {n})",
        continued="(continued)",
        note="[Appended {dated}]",
        corrected="[corrected at meeting {n}]",
        corrected_unknown="[corrected]",
        correction="[Correction]",
        rows="{n} rows",
        generated="ringi: replayed from events",
    ),
}


def title(doc: RegisterDocument, lang: Lang) -> str:
    words = WORDS[lang]
    if doc.meeting is not None:
        return words.meeting_title.format(n=doc.meeting)
    return words.moment_title.format(at=when(doc.as_of))


def meta(doc: RegisterDocument, lang: Lang) -> list[str]:
    words = WORDS[lang]
    lines = []
    if doc.meeting is not None:
        if doc.date_is_placeholder or doc.held_on is None:
            lines.append(words.held_unknown)
        else:
            lines.append(words.held.format(day=doc.held_on.isoformat()))
    lines.append(words.as_of.format(at=when(doc.as_of)))
    if doc.since is not None:
        lines.append(words.since.format(at=when(doc.since)))
    lines.append(words.rows.format(n=len(doc.rows)))
    return lines


def _dated(note: RowNote, lang: Lang) -> str:
    if lang == "en":
        m = re.fullmatch(r"(\d{4})年(\d{1,2})月", note.dated)
        if m:
            return f"{m.group(1)}-{int(m.group(2)):02d}"
    return note.dated


def body_text(row: RegisterRow, lang: Lang) -> str:
    words = WORDS[lang]
    parts = [row.body]
    for note in row.notes:
        tag = words.tag.format(n=note.meeting) if note.meeting else ""
        parts.append(f"{words.note.format(dated=_dated(note, lang))} {note.text}{tag}")
    return "\n".join(parts)


def answer_text(answer: RowAnswer, lang: Lang) -> str:
    words = WORDS[lang]
    text = answer.text
    if answer.corrects:
        text = f"{words.correction} {text}"
    if answer.meeting:
        text += words.tag.format(n=answer.meeting)
    if answer.continued:
        text += words.continued
    if answer.corrected_by:
        text += (
            words.corrected.format(n=answer.corrected_at)
            if answer.corrected_at
            else words.corrected_unknown
        )
    return text


def status_text(row: RegisterRow, lang: Lang) -> str:
    if row.status is Status.SUPPORT:
        return str(row.support)
    return WORDS[lang].status[row.status]


def cells(row: RegisterRow, lang: Lang) -> list[str]:
    """The six cells of a row, as printed."""
    return [
        str(row.number),
        WORDS[lang].categories[row.category],
        row.target,
        body_text(row, lang),
        "\n→".join(answer_text(a, lang) for a in row.answers),
        status_text(row, lang),
    ]


def render(doc: RegisterDocument, fmt: Format, lang: Lang = "ja", edition: int = EDITION) -> bytes:
    """The register's file in ``fmt``, as the given edition of the rules writes it
    (a publication's own, to reproduce the bytes it handed out)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    if fmt != "csv":
        return _RENDERERS[fmt](doc, lang)
    data = _csv(doc, lang, escaped=edition >= CSV_FORMULAS_ESCAPED_SINCE)
    return codecs.BOM_UTF8 + data if edition >= CSV_BOM_SINCE else data


# --- HTML ------------------------------------------------------------------------------


def _css_string(value: str) -> Markup:
    """A CSS string literal (for @page boxes), safe inside <style>."""
    escaped = "".join(
        ch if ch.isalnum() or ch in " .,:;_-()/[]#+" or ord(ch) > 0x7F else f"\\{ord(ch):x} "
        for ch in value
    )
    return Markup(f'"{escaped}"')


_ENV = Environment(
    loader=PackageLoader("ringi.register", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.filters["css_string"] = _css_string


def _html(doc: RegisterDocument, lang: Lang) -> bytes:
    words = WORDS[lang]
    rows = []
    for row in doc.rows:
        no, category, target, body, _, status = cells(row, lang)
        rows.append(
            {
                "no": no,
                "category": category,
                "target": target,
                "body": body,
                "answers": [
                    {
                        "text": answer_text(a, lang),
                        "current": doc.meeting is not None and a.meeting == doc.meeting,
                        "corrected": a.corrected_by is not None,
                    }
                    for a in row.answers
                ],
                "status": status,
                "status_class": row.status.value,
            }
        )
    page = _ENV.get_template("register.html.j2").render(
        lang=lang,
        title=title(doc, lang),
        subtitle=words.subtitle,
        document=words.document,
        meta=meta(doc, lang),
        headings=words.headings,
        rows=rows,
        digest=doc.digest(),
        generated=words.generated,
        current_meeting=doc.meeting,
    )
    return page.encode("utf-8")


# --- CSV ---------------------------------------------------------------------------------


def _csv(doc: RegisterDocument, lang: Lang, *, escaped: bool = True) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(WORDS[lang].headings)
    for row in doc.rows:
        writer.writerow(
            [escape(cell) for cell in cells(row, lang)] if escaped else cells(row, lang)
        )
    return out.getvalue().encode("utf-8")


# --- Markdown ------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    text = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)
    return text.replace("\n", "<br>")


def _md(doc: RegisterDocument, lang: Lang) -> bytes:
    words = WORDS[lang]
    lines = [f"# {title(doc, lang)} {words.subtitle}", ""]
    lines += [f"- {line}" for line in meta(doc, lang)]
    lines += [f"- SHA-256: `{doc.digest()}`", ""]
    lines.append("| " + " | ".join(_md_cell(h) for h in words.headings) + " |")
    lines.append("| ---: | --- | --- | --- | --- | ---: |")
    for row in doc.rows:
        lines.append("| " + " | ".join(_md_cell(c) for c in cells(row, lang)) + " |")
    return ("\n".join(lines) + "\n").encode("utf-8")


# --- JSON ------------------------------------------------------------------------------------


def _json(doc: RegisterDocument, lang: Lang) -> bytes:
    content = doc.model_dump(mode="json")
    data: dict[str, Any] = {
        "document": "ringi register",
        "version": 1,
        "lang": lang,
        "title": title(doc, lang),
        "digest": doc.digest(),
        "columns": list(WORDS[lang].headings),
        **{k: v for k, v in content.items() if k != "rows"},
        "rows": [
            {**row_data, "cells": cells(row, lang)}
            for row, row_data in zip(doc.rows, content["rows"], strict=True)
        ],
    }
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --- XLSX --------------------------------------------------------------------------------------

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_WIDTHS = (6, 8, 18, 55, 75, 12)


def _xlsx(doc: RegisterDocument, lang: Lang) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
    from openpyxl.writer.excel import ExcelWriter  # type: ignore[import-untyped]

    words = WORDS[lang]
    heading = title(doc, lang)
    wb = Workbook()
    ws = wb.active
    ws.title = re.sub(r"[\[\]:*?/\\]", " ", heading)[:31]

    def put(row: int, column: int, value: object) -> Any:
        cell = ws.cell(row=row, column=column)
        if isinstance(value, str):
            cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell.data_type = "s"  # never a formula, whatever the text starts with
        else:
            cell.value = value
        return cell

    put(1, 1, f"{heading} {words.subtitle}").font = Font(bold=True, size=14)
    put(2, 1, " · ".join(meta(doc, lang)))
    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="top")
    header_row = 4
    for column, text in enumerate(words.headings, start=1):
        cell = put(header_row, column, text)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="D9D9D9")
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = border
        ws.column_dimensions[get_column_letter(column)].width = _WIDTHS[column - 1]
    for offset, row in enumerate(doc.rows, start=1):
        values: list[object] = list(cells(row, lang))
        values[0] = row.number
        if row.status is Status.SUPPORT and row.support is not None:
            values[5] = row.support
        for column, value in enumerate(values, start=1):
            cell = put(header_row + offset, column, value)
            cell.alignment = wrap
            cell.border = border
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddHeader.left.text = heading
    ws.oddHeader.right.text = words.document
    ws.oddFooter.left.text = f"SHA-256 {doc.digest()[:16]}"
    ws.oddFooter.right.text = "&P / &N"

    fixed = doc.as_of.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    props = wb.properties
    props.creator = "ringi"
    props.lastModifiedBy = None
    props.title = heading
    props.created = props.modified = fixed

    written = io.BytesIO()
    with zipfile.ZipFile(written, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    return _fixed_zip(written.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same archive with every member's timestamp and attributes fixed."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            member.create_system = 0
            target.writestr(member, source.read(info.filename))
    return out.getvalue()


_RENDERERS = {"html": _html, "csv": _csv, "xlsx": _xlsx, "md": _md, "json": _json}
