"""The README's five-minute tour, run as written: every `ringi` line of it on a
fresh `ringi up`, each ending as the tour says (exit 0, or the refusal it
quotes), so that the first thing a newcomer does cannot drift from what ringi
does (a tour whose meeting was dated years back once published an empty register)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_harness import Installation, free_port

README = Path(__file__).resolve().parent.parent / "README.md"


def tour() -> list[tuple[list[str], str]]:
    """(the command's arguments after `ringi`, the comment on its line) in order."""
    section = README.read_text(encoding="utf-8").split("## A five-minute tour", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    steps = []
    for line in block.splitlines():
        if not line.startswith("ringi "):
            continue
        command, _, comment = line.partition("  #")
        steps.append((shlex.split(command)[1:], comment.strip()))
    return steps


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Installation]:
    inst = Installation(tmp_path / "data", free_port(), free_port())
    inst.up()
    yield inst
    if inst.process is not None:
        inst.down()


def test_the_tour_runs_as_the_readme_says(installation: Installation, tmp_path: Path) -> None:
    steps = tour()
    assert len(steps) > 20, "the tour was not found in the README"
    for args, comment in steps:
        args = [str(tmp_path) if a == "." else a for a in args]  # --output-dir .
        done = installation.ringi(*args)
        refused = re.match(r'refused, exit (\d): "(.*)"', comment)
        if refused:
            assert done.status == int(refused[1]), (args, done.out, done.err)
            assert refused[2] in done.err, (args, done.err)
            continue
        assert done.status == 0, (args, done.out, done.err)
        if comment.startswith("No."):  # the line it prints
            assert comment in done.out, (args, done.out)
        if args[:3] == ["register", "--meeting", "33"]:
            # the meeting is today's: its register has what the tour answered at it
            assert "費用対効果が見込めることから" in done.out and "(第33回)" in done.out
    assert (tmp_path / "ringi-register-33-ja.html").exists()
