"""What an import remembers of the rows it already read, in bounded memory per row: the
first value seen under a key (:class:`FirstSeen`) and the copies of identical rows
(:class:`Occurrences`)."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.records import occurrence_hash


def _key64(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")


class FirstSeen:
    """The first ``(value, row)`` recorded under each string key of one import.

    Memory stays small for millions of rows: keys are 64-bit hashes, merged every
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
        k = _key64(key)
        hit = self._young.get(k)
        if hit is not None:
            return hit
        if self._keys.size:
            i = int(np.searchsorted(self._keys, np.uint64(k)))
            if i < self._keys.size and int(self._keys[i]) == k:
                return int(self._vals[i]), int(self._rows[i])
        self._young[k] = (value & 0xFFFFFFFFFFFFFFFF, row)
        if len(self._young) >= self._limit:
            self._merge()
        return None

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
        if base in self._repeats or self._seen.first(base) is not None:
            self._repeats[base] += 1
            return occurrence_hash(base, self._repeats[base])
        return base
