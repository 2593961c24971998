"""Small statistics shared by the engines (no I/O, numpy only)."""

from __future__ import annotations

from statistics import NormalDist
from typing import overload

import numpy as np
import numpy.typing as npt

from labelloop.errors import ValidationError


@overload
def wilson_interval(  # type: ignore[overload-overlap]  # scalars in, floats out
    successes: int | float, n: int | float, *, confidence: float = ...
) -> tuple[float, float]: ...


@overload
def wilson_interval(
    successes: npt.ArrayLike, n: npt.ArrayLike, *, confidence: float = ...
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...


def wilson_interval(
    successes: npt.ArrayLike, n: npt.ArrayLike, *, confidence: float = 0.95
) -> tuple[float, float] | tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wilson score interval of a binomial proportion, element-wise.

    Parameters
    ----------
    successes, n:
        Numbers of successes and of trials (scalars or arrays of the same shape).
    confidence:
        Coverage of the interval, in (0, 1).

    Returns
    -------
    (low, high)
        Floats for scalar input, else arrays; within [0, 1], NaN where ``n == 0``.
    """
    if not 0 < confidence < 1:
        raise ValidationError(f"confidence must be in (0, 1), got {confidence}")
    s, m = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / m
        denom = 1 + z * z / m
        centre = (p + z * z / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / denom
    low = np.where(m > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(m > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high
