"""A sleep until a deadline that may move (after samples-python's
``updatable_timer``): the workflow sleeps until its earliest timer is due, and
wakes early when the request's state changes, since the change may have moved
or removed that timer."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow


class Wake:
    def __init__(self) -> None:
        self._changed = False

    def changed(self) -> None:
        """The state changed: a sleep in progress ends, to look at the deadlines again."""
        self._changed = True

    async def at(self, due: datetime | None) -> bool:
        """Sleep until ``due`` (with none, until the state changes). True when
        ``due`` came, False when the state changed first."""
        self._changed = False
        if due is None:
            await workflow.wait_condition(lambda: self._changed)
            return False
        wait = (due - workflow.now()).total_seconds()
        if wait <= 0:
            return True
        try:
            await workflow.wait_condition(lambda: self._changed, timeout=timedelta(seconds=wait))
        except TimeoutError:
            return True
        return False
