"""What was lately read, kept up to a bound, the least lately used let go first.

For values that never change under their key (a state by its number and
version, a file by its tag), so that a hit is never stale. Thread-safe: the
API reads the store in worker threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _one(_value: object) -> int:
    return 1


class Recent(Generic[K, V]):
    """Up to ``limit`` in all, each value weighing ``weigh(value)`` (1 by default);
    a value heavier than the whole limit is not kept."""

    def __init__(self, limit: int, weigh: Callable[[V], int] = _one) -> None:
        self.limit = limit
        self.weigh = weigh
        self.size = 0
        self._values: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._values.get(key)
            if found is not None:
                self._values.move_to_end(key)
            return found

    def __contains__(self, key: K) -> bool:
        return key in self._values

    def put(self, key: K, value: V) -> None:
        weight = self.weigh(value)
        if weight > self.limit:
            return
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return
            self._values[key] = value
            self.size += weight
            while self.size > self.limit:
                self.size -= self.weigh(self._values.popitem(last=False)[1])
