"""A deterministic fake pre-labeler for tests of code that consumes drafts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from labelloop.prelabel.base import Draft, ItemLike, PrelabelResult, item_id, item_text, run_batches


class FakePrelabeler:
    """Drafts a class from a hash of each text; texts containing ``fail_on`` raise.

    Parameters
    ----------
    n_classes:
        Number of classes to draft among.
    fail_on:
        Substring that makes an item fail (to exercise per-item error handling).
    review_below:
        Drafts scoring below this need review.
    """

    name = "fake"
    version = "1"

    def __init__(self, n_classes: int = 2, *, fail_on: str = "FAIL", review_below: float = 0.8):
        self.n_classes = n_classes
        self.fail_on = fail_on
        self.review_below = review_below

    def predict(self, items: Sequence[ItemLike], *, progress: bool = False) -> PrelabelResult:
        """Draft every item; items whose text contains ``fail_on`` are recorded errors."""
        return run_batches(
            items,
            lambda batch: [self._draft(it) for it in batch],
            batch_size=16,
            model=self.name,
            version=self.version,
            item_ids=[item_id(it) for it in items],
            progress=progress,
        )

    def _draft(self, item: ItemLike) -> Draft | Exception:
        text = item_text(item)
        if self.fail_on and self.fail_on in text:
            return ValueError(f"fake failure on {text[:30]!r}")
        h = hashlib.sha256(text.encode()).digest()
        label = h[0] % self.n_classes
        score = 0.5 + (h[1] / 255) / 2
        probs = [(1 - score) / (self.n_classes - 1)] * self.n_classes
        probs[label] = score
        return Draft(0, None, label, None, score, tuple(probs), score < self.review_below,
                     self.name, self.version)
