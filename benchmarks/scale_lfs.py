"""Ten labeling functions for ``benchmarks/scale.py`` (YouTube comments: HAM=0, SPAM=1).

The bodies are plain functions in ``BODIES`` so the same code runs under Snorkel's
``PandasLFApplier`` (wrapped with Snorkel's decorator) and under ``labelloop lf apply``
(the module-level ``@labeling_function`` objects below).
"""

from __future__ import annotations

import re
from typing import Any

from labelloop.weak import labeling_function

ABSTAIN, HAM, SPAM = -1, 0, 1
LINK = re.compile(r"https?://|www\.|\.com\b", re.IGNORECASE)
PLEASE = re.compile(r"\bplease\b|\bplz\b", re.IGNORECASE)
MONEY = re.compile(r"\$\d|\bmoney\b|\bfree\b|\bwin\b", re.IGNORECASE)


def check_out(x: Any) -> int:
    t = x.text.lower()
    return SPAM if "check" in t and "out" in t else ABSTAIN


def link(x: Any) -> int:
    return SPAM if LINK.search(x.text) else ABSTAIN


def subscribe(x: Any) -> int:
    return SPAM if "subscrib" in x.text.lower() else ABSTAIN


def my_channel(x: Any) -> int:
    t = x.text.lower()
    return SPAM if "my channel" in t or "my video" in t else ABSTAIN


def please(x: Any) -> int:
    return SPAM if PLEASE.search(x.text) else ABSTAIN


def money(x: Any) -> int:
    return SPAM if MONEY.search(x.text) else ABSTAIN


def short(x: Any) -> int:
    return HAM if len(x.text) < 25 else ABSTAIN


def song(x: Any) -> int:
    t = x.text.lower()
    return HAM if "song" in t or "love" in t else ABSTAIN


def views(x: Any) -> int:
    t = x.text.lower()
    return HAM if "views" in t or "billion" in t else ABSTAIN


def shouting(x: Any) -> int:
    letters = [c for c in x.text if c.isalpha()]
    return SPAM if len(letters) > 20 and sum(c.isupper() for c in letters) > 0.6 * len(letters) \
        else ABSTAIN


BODIES = [check_out, link, subscribe, my_channel, please, money, short, song, views, shouting]

lf_check_out = labeling_function(name="check_out")(check_out)
lf_link = labeling_function(name="link")(link)
lf_subscribe = labeling_function(name="subscribe")(subscribe)
lf_my_channel = labeling_function(name="my_channel")(my_channel)
lf_please = labeling_function(name="please")(please)
lf_money = labeling_function(name="money")(money)
lf_short = labeling_function(name="short")(short)
lf_song = labeling_function(name="song")(song)
lf_views = labeling_function(name="views")(views)
lf_shouting = labeling_function(name="shouting")(shouting)

lfs = [lf_check_out, lf_link, lf_subscribe, lf_my_channel, lf_please, lf_money, lf_short,
       lf_song, lf_views, lf_shouting]
