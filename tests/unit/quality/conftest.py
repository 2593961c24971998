"""Fixtures: real crowd labels from Snow et al. (2008) in ``<repo>/../shared/data``."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
SNOW = DATA / "crowd-snow2008" / "all_collected_data"


def load_snow(task: str):
    """The long table ``item, annotator, label`` and ``{item: gold}`` of one Snow task."""
    pd = pytest.importorskip("pandas")
    path = SNOW / f"{task}.standardized.tsv"
    if not path.exists():
        pytest.fail(f"crowd data not found at {path} (../shared/data beside the repo)")
    df = pd.read_csv(path, sep="\t")
    df.columns = ["annotation", "annotator", "item", "label", "gold"]
    gold = dict(df.groupby("item")["gold"].first())
    return df[["item", "annotator", "label"]].reset_index(drop=True), gold


@pytest.fixture(params=["rte", "temp", "wsd", "anger", "valence"])
def snow(request):
    """One Snow task: (name, long table, gold)."""
    table, gold = load_snow(request.param)
    return request.param, table, gold


@pytest.fixture(scope="session")
def rte():
    """Snow RTE: 800 items x 10 labels, binary, with gold for every item."""
    return load_snow("rte")


@pytest.fixture(scope="session")
def snow_loader():
    """:func:`load_snow`, for tests that need another task."""
    return load_snow
