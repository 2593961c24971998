"""Annotator scorecards on Snow RTE."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import ValidationError
from labelloop.quality import aggregate, cohen_kappa, scorecards


def test_scorecards_on_rte(rte):
    table, gold = rte
    honeypots = {i: gold[i] for i in sorted(gold)[::8]}
    seconds = np.full(len(table), 30.0)
    first = table["annotator"].iloc[0]
    mine = np.flatnonzero(table["annotator"].to_numpy() == first)
    seconds[mine[:3]] = 600.0
    cards = {c.annotator: c for c in scorecards(table, gold=honeypots, seconds=seconds)}
    assert set(cards) == set(table["annotator"])
    card = cards[first]
    assert set(card.slow_items) == set(table["item"].iloc[mine[:3]]) and not card.fast_items
    assert card.median_seconds == 30.0
    assert sum(map(sum, card.confusion)) == card.n_labels == len(mine)
    rows = table.iloc[mine]
    on_gold = rows[rows["item"].isin(honeypots)]
    hits = (on_gold["label"] == on_gold["item"].map(honeypots)).sum()
    assert card.gold_n == len(on_gold) and card.gold_accuracy == pytest.approx(hits / len(on_gold))
    consensus = aggregate(table, gold=honeypots).as_dict()
    assert card.consensus_accuracy == pytest.approx(
        (rows["label"] == rows["item"].map(consensus)).mean()
    )
    assert len(card.trend) == -(-card.n_labels // 20)
    # the random labeller has near-zero kappa with peers, the best annotators well above
    assert cards["A11GX90QFWDLMM"].peer_kappa < 0.1
    assert max(c.peer_kappa for c in cards.values() if np.isfinite(c.peer_kappa)) > 0.5


def test_peer_kappa_by_hand():
    a = [0, 1, 1, 0, 1, 0]
    b = [0, 1, 0, 0, 1, 1]
    table = [(i, "a", x) for i, x in enumerate(a)] + [(i, "b", x) for i, x in enumerate(b)]
    cards = scorecards(table, min_overlap=5)
    assert cards[0].peer_kappa == pytest.approx(cohen_kappa(a, b))
    assert np.isnan(scorecards(table, min_overlap=7)[0].peer_kappa)
    with pytest.raises(ValidationError, match="seconds"):
        scorecards(table, seconds=[1.0])
