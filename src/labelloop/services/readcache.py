"""Whole-project quality results, kept until the project's votes change.

Scorecards, automated checks and the review count read every human answer of a project.
They are kept here under the project's votes version (:meth:`votes_version` of the store:
a write counter per source, bumped by database triggers in the writing transaction, and
the review decisions), so a dashboard refreshed while nobody labels costs two small
queries. Any write of a vote or a decision changes the version and the next read
computes afresh; entries of old versions fall out of the bounded cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class VersionedCache:
    """A small thread-safe LRU map from keys (which hold the version) to results."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The result under ``key``, computed (outside the lock) when absent."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


RESULTS = VersionedCache()
