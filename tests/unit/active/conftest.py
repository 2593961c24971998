"""Run the active-learning unit tests on one BLAS/OpenMP thread.

The fits here are tiny; on a shared 2-core CI runner, multi-threaded BLAS spins and makes
them several times slower.
"""

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield
