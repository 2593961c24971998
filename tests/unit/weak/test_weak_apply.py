"""apply_lfs: items of every shape, fault tolerance, timeouts, executors."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labelloop.data.youtube_spam_lfs import EXAMPLE, LFS
from labelloop.errors import ValidationError
from labelloop.weak import (
    LabelingFunction,
    MajorityVoter,
    apply_lfs,
    keyword_lf,
    labeling_function,
    model_lf,
    regex_lf,
)

DATA = Path(__file__).parents[3] / ".." / "shared" / "data" / "youtube-spam-collection"


@labeling_function()
def is_long(x):
    return 1 if len(x.text) > 10 else -1


@labeling_function(name="fails_on_7s")
def flaky(x):
    if x.n % 100 == 7:  # 1% of items
        raise KeyError("missing field")
    return 0


@labeling_function()
def hangs_on_3(x):
    if x.n == 3:
        time.sleep(30)
    return 1


def items(n=300):
    return [{"text": "short" if i % 2 else "a much longer text", "n": i} for i in range(n)]


def test_items_of_every_shape_give_the_same_matrix():
    pd = pytest.importorskip("pandas")
    rows = items(20)
    a = apply_lfs([is_long], rows).L
    b = apply_lfs([is_long], pd.DataFrame(rows)).L
    c = apply_lfs([is_long], [SimpleNamespace(**r) for r in rows]).L
    d = apply_lfs([is_long], [r["text"] for r in rows]).L
    for other in (b, c, d):
        np.testing.assert_array_equal(a, other)
    assert a[:, 0].tolist() == [1, -1] * 10


def test_rows_read_like_pandas_rows():
    @labeling_function()
    def reads_every_way(x):
        assert x.text == x["text"] == x.get("text")
        return 1 if x.get("missing", "absent") == "absent" else 0

    pd = pytest.importorskip("pandas")
    res = apply_lfs([reads_every_way], pd.DataFrame({"text": ["a", "b"], "n": [1, 2]}))
    assert res.failures == [] and res.L[:, 0].tolist() == [1, 1]


def test_failing_lf_is_recorded_and_other_votes_kept():
    rows = items()
    res = apply_lfs([is_long, flaky], rows)
    assert res.L[:, 0].tolist() == [1, -1] * 150
    failed = sorted(f.item for f in res.failures)
    assert failed == [7, 107, 207]
    assert all(
        f.lf == "fails_on_7s" and f.kind == "error" and "KeyError" in f.error for f in res.failures
    )
    assert (res.L[failed, 1] == -1).all()
    ok = np.setdiff1d(np.arange(300), failed)
    assert (res.L[ok, 1] == 0).all()
    assert res.failure_counts() == {"fails_on_7s": 3}
    assert "fails_on_7s: 3 error" in res.report()


def test_not_fault_tolerant_raises():
    with pytest.raises(KeyError):
        apply_lfs([flaky], items(), fault_tolerant=False)


def test_hanging_lf_times_out_and_batch_goes_on():
    rows = items(40)
    res = apply_lfs([is_long, hangs_on_3, flaky], rows, timeout=1.0)
    # had the 30 s sleep not been interrupted, hangs_on_3 would have voted 1 on item 3
    assert [(f.item, f.lf, f.kind) for f in res.failures] == [
        (3, "hangs_on_3", "timeout"),
        (7, "fails_on_7s", "error"),
    ]
    assert res.L[3, 1] == -1
    assert (np.delete(res.L[:, 1], 3) == 1).all()
    assert res.L[:, 0].tolist() == [1, -1] * 20


def test_always_hanging_lf_is_disabled_after_max_timeouts():
    @labeling_function()
    def stuck(x):
        time.sleep(30)
        return 0

    res = apply_lfs([is_long, stuck], items(50), timeout=0.3, max_timeouts=2)
    kinds = [f.kind for f in res.failures]
    assert kinds == ["timeout", "timeout", "disabled"]
    assert (res.L[:, 1] == -1).all()
    assert res.L[:, 0].tolist() == [1, -1] * 25


def test_invalid_return_is_a_failure():
    @labeling_function()
    def says_word(x):
        return "spam"

    res = apply_lfs([says_word], items(3))
    assert [f.kind for f in res.failures] == ["invalid"] * 3
    with pytest.raises(ValidationError):
        apply_lfs([says_word], items(3), fault_tolerant=False)


@pytest.mark.skipif(os.name != "posix", reason="fork-based worker processes")
def test_process_executor_matches_local_and_records_failures():
    rows = items(400)
    local = apply_lfs([is_long, flaky, hangs_on_3], rows, timeout=1.0)
    procs = apply_lfs(
        [is_long, flaky, hangs_on_3], rows, timeout=1.0, executor="processes", n_jobs=2
    )
    np.testing.assert_array_equal(local.L, procs.L)
    assert local.failures == procs.failures


@pytest.mark.skipif(os.name != "posix", reason="fork-based worker processes")
def test_process_executor_survives_a_dying_worker():
    @labeling_function()
    def kills_worker(x):
        if x.n == 5:
            os._exit(1)
        return 0

    res = apply_lfs(
        [is_long, kills_worker], items(40), executor="processes", n_jobs=2, chunk_size=10
    )
    crashed = {f.item for f in res.failures if f.kind == "crashed"}
    assert 5 in crashed
    assert res.L.shape == (40, 2)


def test_preprocessor_runs_once_per_item_for_lfs_sharing_it():
    calls = []

    def tokens(x):
        calls.append(x.n)
        x.tokens = x.text.split()
        return x

    a = LabelingFunction("a", lambda x: 1 if len(x.tokens) > 1 else -1, pre=[tokens])
    b = LabelingFunction("b", lambda x: 0 if len(x.tokens) == 1 else -1, pre=[tokens])
    res = apply_lfs([a, b], items(10))
    assert len(calls) == 10
    assert res.L.tolist() == [[1, -1], [-1, 0]] * 5


def test_keyword_regex_and_model_lfs():
    kw = keyword_lf(["sub", "check out"], 1, name="kw")
    assert kw(SimpleNamespace(text="pls SUB to me")) == 1
    assert kw(SimpleNamespace(text="subscribe")) == -1  # whole words only
    assert kw({"text": "check out this"}) == 1
    rx = regex_lf(r"\d{3,}", 0, name="digits")
    assert rx(SimpleNamespace(text="call 5551234")) == 0
    assert rx(SimpleNamespace(text="no digits")) == -1
    with pytest.raises(ValidationError):
        regex_lf("(", 1)

    def fake_model(texts):
        return np.array([[0.1, 0.9] if "spam" in t else [0.55, 0.45] for t in texts])

    m = model_lf(fake_model, name="model", min_confidence=0.6)
    res = apply_lfs([m, kw], ["spam here", "fine", "check out spam"])
    assert res.L.tolist() == [[1, -1], [-1, -1], [1, 1]]
    assert m(SimpleNamespace(text="spam")) == 1


def test_bad_arguments():
    with pytest.raises(ValidationError):
        apply_lfs([], items(2))
    with pytest.raises(ValidationError):
        apply_lfs([is_long, is_long], items(2))
    with pytest.raises(ValidationError):
        apply_lfs([is_long], items(2), timeout=0)
    with pytest.raises(ValidationError):
        apply_lfs([is_long], "not items")


def test_sparse_result_round_trips():
    pytest.importorskip("scipy")
    res = apply_lfs([is_long, flaky], items(30))
    S = res.to_sparse()
    np.testing.assert_array_equal(S.toarray() - 1, res.L)


def _youtube_comments():
    rows = []
    for path in sorted(DATA.glob("Youtube0*.csv")):
        with path.open(encoding="utf-8") as fh:
            rows += [{"text": r["CONTENT"], "label": int(r["CLASS"])} for r in csv.DictReader(fh)]
    return rows


@pytest.mark.skipif(not DATA.exists(), reason="shared data not checked out beside the repo")
def test_snorkel_style_youtube_lfs_run_unchanged_and_beat_chance():
    assert LFS[0](EXAMPLE) == 1
    rows = _youtube_comments()
    assert len(rows) > 1900
    y = np.array([r["label"] for r in rows])
    res = apply_lfs(LFS, rows)
    assert res.failures == []
    assert res.L.shape == (len(rows), len(LFS))
    covered = (res.L != -1).any(axis=1)
    assert covered.mean() > 0.6
    pred = MajorityVoter(tie_break="lowest").fit(res.L).predict(res.L)
    assert np.mean(pred[covered] == y[covered]) > 0.75


def test_snorkel_lf_objects_run_unchanged():
    """Snorkel (a dev dependency) is the oracle: same LF objects, same label matrix."""
    import pandas as pd
    import snorkel.labeling as snorkel
    import snorkel.preprocess as preprocess

    @preprocess.preprocessor(memoize=True)
    def lower(x):
        x.low = x.text.lower()
        return x

    @snorkel.labeling_function(pre=[lower], resources={"kw": "subscribe"})
    def sub(x, kw):
        return 1 if kw in x.low else -1

    df = pd.DataFrame({"text": ["Please SUBSCRIBE now", "hi", "nice song here"]})
    res = apply_lfs([sub], df)
    expected = snorkel.PandasLFApplier([sub]).apply(df, progress_bar=False)
    np.testing.assert_array_equal(res.L, expected)
