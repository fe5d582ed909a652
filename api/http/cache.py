"""A small thread-safe LRU cache whose entries expire: the hot read paths (key checks, forecast
lookups) answer from memory instead of the database for a few seconds at a time."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["TTLCache"]

V = TypeVar("V")


class TTLCache(Generic[V]):
    """At most ``maxsize`` entries, each kept ``ttl_s`` seconds; the least recently used goes first."""

    def __init__(self, *, maxsize: int, ttl_s: float) -> None:
        self.maxsize = maxsize
        self.ttl_s = ttl_s
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> tuple[bool, V | None]:
        """``(True, value)`` when a fresh entry is cached, else ``(False, None)``."""
        now = time.monotonic()
        with self._lock:
            found = self._data.get(key)
            if found is None or found[0] < now:
                if found is not None:
                    del self._data[key]
                self.misses += 1
                return False, None
            self._data.move_to_end(key)
            self.hits += 1
            return True, found[1]

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
