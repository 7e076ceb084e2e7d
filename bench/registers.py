"""Registers of any size, made from the reference register's own rows
(``../shared/fixtures/switching-requests-register.tsv``): row ``i`` is the
fixture's row ``i mod 22`` numbered ``i``, so the mix of open, held and
closed requests, the answers and their meeting tags are the fixture's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "switching-requests-register.tsv"
)
HEADER = "No.\t区分\t対象箇所\tご意見・ご要望\t回答\t改修・対応希望"


def fixture_rows() -> list[list[str]]:
    """The fixture's register rows, as cells (headers, titles and blanks left out)."""
    rows = []
    for line in FIXTURE.read_text(encoding="utf-8-sig").split("\n"):
        cells = line.rstrip("\r").split("\t")
        if len(cells) == 6 and cells[0].strip().isdigit():
            rows.append(cells)
    return rows


def register_lines(rows: int) -> Iterator[str]:
    """The lines of a register of ``rows`` rows, numbered 1 to ``rows``."""
    source = fixture_rows()
    yield HEADER + "\n"
    for number in range(1, rows + 1):
        cells = source[(number - 1) % len(source)]
        yield "\t".join([str(number), *cells[1:]]) + "\n"


def closed_numbers(rows: int) -> set[int]:
    """The numbers a register of ``rows`` rows closes (last column クローズ)."""
    source = fixture_rows()
    return {n for n in range(1, rows + 1) if source[(n - 1) % len(source)][5].strip() == "クローズ"}


def write_register(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(register_lines(rows))
    return path
