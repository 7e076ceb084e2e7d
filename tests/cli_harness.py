"""Drive the `ringi` command as a person would: real processes, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RINGI = [sys.executable, "-m", "ringi.cli"]
READY_LINE = "ringi is up"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Result:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Installation:
    """One `ringi up` with its own data directory and ports."""

    data_dir: Path
    port: int
    ui_port: int
    process: subprocess.Popen[str] | None = None
    #: the HTTP API's port: one of its own, so installations side by side do not collide
    api_port: int = field(default_factory=free_port)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
        env["RINGI_DATA_DIR"] = str(self.data_dir)
        return env

    def ringi(self, *args: str, timeout: float = 90) -> Result:
        done = subprocess.run(
            [*RINGI, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def up(self, timeout: float = 90) -> None:
        log = (self.data_dir.parent / f"up-{self.port}.log").open("a")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                *RINGI,
                "up",
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--api-port",
                str(self.api_port),
            ],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if READY_LINE in line:
                return
            if not line and self.process.poll() is not None:
                break
        raise AssertionError(f"`ringi up` did not come up; see {log.name}")

    def down(self, timeout: float = 60) -> int:
        """Ctrl-C, as a person would; returns `ringi up`'s exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        status = self.process.wait(timeout=timeout)
        self.process = None
        return status
