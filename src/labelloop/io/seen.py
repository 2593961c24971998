"""What an import remembers of the rows it already read, in bounded memory per row: the
first value seen under a key (:class:`FirstSeen`) and the copies of identical rows
(:class:`Occurrences`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.records import occurrence_hash

_MASK = 0xFFFF_FFFF_FFFF_FFFF


class FirstSeen:
    """The first ``(value, row)`` recorded under each string key of one import.

    Memory stays small for millions of rows: keys are 64-bit hashes (Python's string
    hash: stable within the process, which is all one import needs), merged every
    ``young`` keys into sorted NumPy arrays (24 bytes per key). Two keys with the same
    64-bit hash count as one (a chance of about n^2 / 2^65).
    """

    def __init__(self, young: int = 50_000) -> None:
        self._young: dict[int, tuple[int, int]] = {}
        self._limit = young
        self._keys: npt.NDArray[Any] = np.empty(0, dtype=np.uint64)
        self._vals: npt.NDArray[Any] = np.empty(0, dtype=np.uint64)
        self._rows: npt.NDArray[Any] = np.empty(0, dtype=np.int64)

    def first(self, key: str, value: int = 0, row: int = 0) -> tuple[int, int] | None:
        """The earlier ``(value, row)`` under ``key``; None (and ``value, row`` recorded)
        the first time."""
        return self.first_many([key], [value], [row])[0]

    def first_many(self, keys: Sequence[str], values: Sequence[int] | None = None,
                   rows: Sequence[int] | None = None) -> list[tuple[int, int] | None]:
        """:meth:`first` of each key in turn (a key repeated among ``keys`` finds its first
        occurrence there), with one vectorized look-up in the merged keys."""
        codes = [hash(k) & _MASK for k in keys]
        found: list[tuple[int, int] | None] = [None] * len(codes)
        if self._keys.size and codes:
            wanted = np.fromiter(codes, dtype=np.uint64, count=len(codes))
            at = np.minimum(np.searchsorted(self._keys, wanted), self._keys.size - 1)
            for i in np.flatnonzero(self._keys[at] == wanted).tolist():
                found[i] = int(self._vals[at[i]]), int(self._rows[at[i]])
        young = self._young
        for i, k in enumerate(codes):
            if found[i] is None:
                earlier = young.get(k)
                if earlier is None:
                    young[k] = ((values[i] if values else 0) & _MASK, rows[i] if rows else 0)
                found[i] = earlier
        if len(young) >= self._limit:
            self._merge()
        return found

    def _merge(self) -> None:
        keys = np.fromiter(self._young.keys(), dtype=np.uint64, count=len(self._young))
        vals = np.fromiter((v for v, _ in self._young.values()), dtype=np.uint64,
                           count=len(self._young))
        rows = np.fromiter((r for _, r in self._young.values()), dtype=np.int64,
                           count=len(self._young))
        order = np.argsort(np.concatenate([self._keys, keys]), kind="stable")
        self._keys = np.concatenate([self._keys, keys])[order]
        self._vals = np.concatenate([self._vals, vals])[order]
        self._rows = np.concatenate([self._rows, rows])[order]
        self._young.clear()


class Occurrences:
    """Numbers identical rows of one import (0, 1, 2 ...), see
    :func:`~labelloop.core.records.occurrence_hash`, in bounded memory per row."""

    def __init__(self) -> None:
        self._seen = FirstSeen()
        self._repeats: Counter[str] = Counter()

    def hash_of(self, base: str) -> str:
        """The content hash of this copy of an item whose data hashes to ``base``."""
        return self.hashes_of([base])[0]

    def hashes_of(self, bases: Sequence[str]) -> list[str]:
        """:meth:`hash_of` of each base hash in turn."""
        repeats = self._repeats
        earlier = self._seen.first_many(bases)
        out = list(bases)
        for i, base in enumerate(bases):
            if base in repeats or earlier[i] is not None:
                repeats[base] += 1
                out[i] = occurrence_hash(base, repeats[base])
        return out
