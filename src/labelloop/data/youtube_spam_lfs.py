"""Snorkel-style labeling functions for the UCI YouTube spam comments (HAM=0, SPAM=1).

Written the way Snorkel users write them (``@labeling_function()``, ``x.text``,
``resources=``, ``pre=[...]``), so they double as a check that such code runs unchanged.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from labelloop.weak import labeling_function

ABSTAIN = -1
HAM = 0
SPAM = 1


def add_words(x: Any) -> Any:
    """Preprocessor: lower-cased word list as ``x.words``."""
    x.words = re.findall(r"[a-z']+", x.text.lower())
    return x


@labeling_function()
def check_out(x: Any) -> int:
    return SPAM if "check" in x.text.lower() and "out" in x.text.lower() else ABSTAIN


@labeling_function()
def has_link(x: Any) -> int:
    return SPAM if re.search(r"https?://|www\.|\.com\b", x.text, flags=re.I) else ABSTAIN


@labeling_function(resources=dict(keywords={"subscribe", "subscribers", "sub"}), pre=[add_words])
def subscribe(x: Any, keywords: set[str]) -> int:
    return SPAM if keywords & set(x.words) else ABSTAIN


@labeling_function(pre=[add_words])
def my_channel(x: Any) -> int:
    return SPAM if "my" in x.words and ("channel" in x.words or "video" in x.words) else ABSTAIN


@labeling_function()
def please(x: Any) -> int:
    return SPAM if re.search(r"\b(please|plz|pls)\b", x.text, flags=re.I) else ABSTAIN


@labeling_function(pre=[add_words])
def song_talk(x: Any) -> int:
    song_words = {"song", "love", "best", "beautiful", "voice", "lyrics"}
    return HAM if song_words & set(x.words) and len(x.words) < 20 else ABSTAIN


@labeling_function()
def short_comment(x: Any) -> int:
    return HAM if len(x.text.split()) < 5 else ABSTAIN


@labeling_function()
def views_and_years(x: Any) -> int:
    return HAM if re.search(r"\b(20\d\d|billion|views)\b", x.text, flags=re.I) else ABSTAIN


LFS = [
    check_out,
    has_link,
    subscribe,
    my_channel,
    please,
    song_talk,
    short_comment,
    views_and_years,
]

# A toy item to show the calling convention: any object with attribute access works.
EXAMPLE = SimpleNamespace(text="Check out my channel please! http://spam.example")
