"""Leave the process with the status we mean, every time.

The Temporal client's Rust runtime can abort the interpreter at exit
(``PyGILState_Release``, temporalio/sdk-python#300), turning a clean 0 into a
134. Once our work is done and the output flushed, nothing useful is left for
interpreter shutdown to do, so we skip it with ``os._exit``.
"""

from __future__ import annotations

import contextlib
import os
import sys


def exit_now(status: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe must not change the status
            stream.flush()
    os._exit(status)
