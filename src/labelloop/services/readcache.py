"""Whole-project quality results, kept until the project's votes change.

Scorecards, automated checks and the review count read every human answer of a project.
They are kept here under the project's votes version (:meth:`votes_version` of the store:
a write counter per source, bumped by database triggers in the writing transaction, and
the review decisions), so a dashboard refreshed while nobody labels costs two small
queries. Any write of a vote or a decision changes the version and the next read
computes afresh; entries of old versions fall out of the bounded cache.

The votes such results are computed from are kept too (:data:`VOTES`), with the version
of each source they were read at: after a write, only the votes of the sources that
changed (an annotator's answers) are read again and merged in, not the whole project.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from labelloop.storage import Vote

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


@dataclass(frozen=True)
class KeptVotes:
    """Votes read by item, the version of each source's votes they were read at (source
    id -> its write counter), and the items each source voted on (so that a merge finds
    the items of a changed source without looking at every item)."""

    versions: dict[int, int]
    by_item: dict[int, list[Vote]]
    items_of: dict[int, frozenset[int]]


class LatestVotes:
    """The latest votes read per key (store, project, what was read), so that the next
    read after a write re-reads only the sources whose votes changed. Entries are
    replaced whole, never changed in place."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, KeptVotes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> KeptVotes | None:
        """The votes kept under ``key``, if any."""
        with self._lock:
            kept = self._items.get(key)
            if kept is not None:
                self._items.move_to_end(key)
            return kept

    def put(self, key: Hashable, kept: KeptVotes) -> None:
        """Keep ``kept`` under ``key`` (the oldest key goes beyond ``size``)."""
        with self._lock:
            self._items[key] = kept
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


VOTES = LatestVotes()
