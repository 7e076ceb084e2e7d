"""`ringi up` owns its Temporal dev server: after `kill -9` of `ringi up` the next
one on the same data directory and ports comes up; a port held by another
process is refused, naming it."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from tests.cli_harness import Installation, free_port

pytestmark = pytest.mark.slow


def test_a_ringi_up_killed_outright_restarts_on_the_same_directory_and_ports(
    tmp_path: Path,
) -> None:
    inst = Installation(tmp_path / "data", free_port(), free_port())
    inst.up()
    assert inst.ringi("file", "--as", "A社", "--target", "API", "--body", "一括").status == 0
    assert inst.process is not None
    os.kill(inst.process.pid, signal.SIGKILL)
    inst.process.wait(timeout=30)
    inst.process = None

    inst.up()  # the same ports: the dead one's dev server is gone, not in the way
    try:
        shown = inst.ringi("show", "1", "--json")
        assert shown.status == 0, shown
        assert inst.ringi("endorse", "1", "--as", "B社").status == 0
    finally:
        assert inst.down() == 0
    assert not (inst.data_dir / "temporal.pid").exists()


def test_a_port_held_by_another_process_is_refused_naming_it(tmp_path: Path) -> None:
    inst = Installation(tmp_path / "data", free_port(), free_port())
    inst.data_dir.mkdir(parents=True)
    with socket.socket() as held:
        held.bind(("127.0.0.1", inst.port))
        held.listen()
        refused = inst.ringi("up", "--port", str(inst.port), "--ui-port", str(inst.ui_port))
    assert refused.status == 3, refused
    assert f"port 127.0.0.1:{inst.port} is held by process {os.getpid()}" in refused.err, refused
