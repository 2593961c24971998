"""Krippendorff's alpha for nominal, ordinal, interval and ratio data, with missing values.

Alpha is computed from the coincidence matrix (Krippendorff 2011, "Computing Krippendorff's
Alpha-Reliability"): every item with ``m >= 2`` values contributes each ordered pair of its
values with weight ``1/(m-1)``; items with one value contribute nothing, which is how missing
data is handled. ``alpha = 1 - D_observed / D_expected``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.longtable import as_long_table
from labelloop.errors import ValidationError

Level = Literal["nominal", "ordinal", "interval", "ratio"]


def _distance(
    level: Level, values: npt.NDArray[np.float64], n_c: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Squared distance ``delta(c, k)`` between value positions, shape ``(V, V)``."""
    if level == "nominal":
        return 1.0 - np.eye(values.size)
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    if level == "ratio":
        total = values[:, None] + values[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((values[:, None] - values[None, :]) / total) ** 2
        return np.nan_to_num(d)
    cum = np.cumsum(n_c)
    # sum_{g=c}^{k} n_g - (n_c + n_k)/2 for c <= k, symmetric
    between = cum[None, :] - cum[:, None] + n_c[:, None]
    between = np.where(
        np.arange(values.size)[:, None] <= np.arange(values.size)[None, :], between, between.T
    )
    return (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2


def krippendorff_alpha(
    table: object,
    *,
    level: Level = "nominal",
    values: Sequence[Hashable] | None = None,
) -> float:
    """Krippendorff's alpha of a long annotation table.

    Parameters
    ----------
    table:
        A long table ``(item, annotator, value)`` or a 2-D array ``(n_items, n_annotators)``
        with ``NaN`` (float) or ``-1`` (integer label matrix) for missing values; see
        :func:`~labelloop.core.longtable.as_long_table`.
    level:
        ``"nominal"``, ``"ordinal"``, ``"interval"`` or ``"ratio"``. Interval and ratio need
        numeric values; ordinal uses the order of ``values``.
    values:
        The value domain in order (ordinal: the ranks). Default: the sorted distinct values.

    Returns
    -------
    float
        Alpha; equal to the ``krippendorff`` package's ``alpha`` on the transposed matrix.
        1.0 when there is no disagreement at all, NaN when it is undefined.
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValidationError(
            f"level must be 'nominal', 'ordinal', 'interval' or 'ratio', got {level!r}"
        )
    t = as_long_table(table, classes=values)
    counts = t.counts().astype(float)
    m = counts.sum(1)
    counts, m = counts[m >= 2], m[m >= 2]
    if not len(m):
        raise ValidationError("krippendorff_alpha needs at least one item with two or more values")
    coincidence = (counts / (m - 1)[:, None]).T @ counts
    coincidence -= np.diag((counts / (m - 1)[:, None]).sum(0))
    n_c = coincidence.sum(1)
    n: float = n_c.sum()
    if level in ("interval", "ratio"):
        try:
            domain = np.asarray(t.classes, dtype=float)
        except (TypeError, ValueError):
            raise ValidationError(
                f"{level} alpha needs numeric values, got {t.classes[:5]!r}"
            ) from None
    else:
        domain = np.arange(t.n_classes, dtype=float)
    delta = _distance(level, domain, n_c)
    observed = float((coincidence * delta).sum())
    expected = float((np.outer(n_c, n_c) * delta).sum()) / (n - 1)
    if expected == 0:
        return 1.0 if observed == 0 else float("nan")
    return 1.0 - observed / expected
