"""Draft a class per text with an LLM: the :class:`~labelloop.prelabel.Prelabeler` protocol.

Each item is asked ``samples`` times with the project's template; an answer must be JSON
naming one class (:func:`~labelloop.prelabel.llm.prompt.parse_choice`). Each parsed answer
gives a probability vector: the chosen class gets the probability of its tokens when the
endpoint returned logprobs (the rest shared evenly by the other classes), else all of it.
The item's probabilities are the mean over its answers, so with several samples and no
logprobs the confidence is the samples' agreement (self-consistency). An item none of whose
answers parses is an item-level error; one whose requests the budget left unsent is
neither drafted nor failed (``unsent``) and is asked on the next run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.schema import LabelClass, LabelSchema
from labelloop.errors import ValidationError
from labelloop.prelabel.base import Draft, ItemError, ItemLike, PrelabelResult, item_id, item_text
from labelloop.prelabel.calibrate import Calibration, uncalibrated
from labelloop.prelabel.llm.client import (
    Answer,
    AnswerCache,
    ChatRequest,
    LLMClient,
    Outcome,
    cache_key,
)
from labelloop.prelabel.llm.config import LLMConfig
from labelloop.prelabel.llm.fewshot import Example, ExamplePool
from labelloop.prelabel.llm.prompt import (
    AnswerError,
    PromptTemplate,
    choice_probability,
    enum_schema,
    parse_choice,
)

FIELD = "label"


@dataclass
class LLMResult(PrelabelResult):
    """Drafts and errors, plus the items the budget left unsent (no draft, no error)."""

    unsent: list[int] = field(default_factory=list)


class LLMClassifier:
    """Zero- or few-shot classification by an LLM behind an OpenAI-compatible endpoint.

    Parameters
    ----------
    classes:
        A :class:`LabelSchema`, class names, :class:`LabelClass` es, or a mapping of name
        to description (descriptions go into the prompt).
    config:
        Endpoint, model, sampling and budget (:class:`LLMConfig`).
    template:
        The prompt (default: the built-in ``classify`` template).
    instructions:
        The annotators' instructions, put into the prompt's ``{{instructions}}``.
    shots:
        Labelled examples shown per item (chosen by :meth:`predict`'s ``pool``).
    cache:
        Where answers are kept between runs (default: memory).
    calibration:
        Per-class auto-accept thresholds; without one every draft needs review.
    """

    def __init__(self, classes: LabelSchema | Sequence[LabelClass | str] | Mapping[str, str],
                 config: LLMConfig, *, template: PromptTemplate | None = None,
                 instructions: str = "", shots: int = 0, cache: AnswerCache | None = None,
                 calibration: Calibration | None = None) -> None:
        self.classes = _classes(classes)
        self.client = LLMClient(config, cache=cache)
        cfg = self.client.config
        if cfg.samples > 1 and cfg.temperature == 0:
            raise ValidationError(
                f"{cfg.samples} samples at temperature 0 would repeat one answer: pass a "
                "temperature > 0 (e.g. --temperature 0.7) or --samples 1"
            )
        if shots < 0:
            raise ValidationError(f"shots must be >= 0, got {shots}")
        self.template = template or PromptTemplate.builtin("classify")
        self.instructions = instructions.strip()
        self.shots = shots
        self.calibration = calibration or uncalibrated(len(self.classes))
        self.names = [c.name for c in self.classes]
        self.name = f"llm:{cfg.model}"
        prompt = json.dumps([self.template.hash, self.instructions,
                             [[c.name, c.description] for c in self.classes]])
        self.prompt_hash = hashlib.sha256(prompt.encode()).hexdigest()
        lp = "lp" if cfg.logprobs else "nolp"
        self.version = (f"{self.prompt_hash[:12]}-{shots}shot-{cfg.samples}x-"
                        f"t{cfg.temperature:g}-{lp}")

    def messages(self, text: str, examples: Sequence[Example] = ()) -> tuple[tuple[str, str], ...]:
        """The chat messages asking for the class of ``text``."""
        classes = "\n".join(f"- {c.name}" + (f": {c.description}" if c.description else "")
                            for c in self.classes)
        shown = "".join(f"Text:\n{e.text}\nAnswer: {json.dumps({FIELD: self.names[e.label]})}"
                        "\n\n" for e in examples)
        return self.template.render({
            "classes": classes, "class_names": ", ".join(self.names),
            "instructions": f"\nInstructions:\n{self.instructions}\n" if self.instructions else "",
            "examples": f"Examples:\n\n{shown}" if shown else "", "text": text,
        })

    def predict(self, items: Sequence[ItemLike], *, pool: ExamplePool | None = None,
                vectors: npt.NDArray[np.float32] | None = None,
                progress: bool = False) -> LLMResult:
        """Draft every item (see the module docstring); nothing is raised per item.

        Parameters
        ----------
        items:
            Items or bare texts.
        pool, vectors:
            With ``shots > 0``: the labelled examples and the items' embeddings
            (``(n, dim)``, aligned with ``items``) to pick each item's examples.
        progress:
            Draw a progress bar of the requests.
        """
        cfg = self.client.config
        result = LLMResult(self.name, self.version, [None] * len(items))
        texts: list[str | None] = []
        for i, it in enumerate(items):
            try:
                texts.append(item_text(it))
            except ValueError as exc:
                texts.append(None)
                result.errors.append(ItemError(i, item_id(it), str(exc)))
        chosen = self._examples(items, pool, vectors)
        schema = enum_schema(FIELD, self.names)
        requests, owner = [], []
        for i, text in enumerate(texts):
            if text is None:
                continue
            messages = self.messages(text, chosen[i])
            content = json.dumps(messages)
            for s in range(cfg.samples):
                key = cache_key(cfg.model, self.template.hash, content, cfg.sampling(),
                                sample=s, schema=schema)
                requests.append(ChatRequest(key, messages, schema))
                owner.append(i)
        outcomes = self.client.run(requests, progress=progress,
                                   description=f"pre-labeling with {self.name}")
        per_item: dict[int, list[Outcome]] = {}
        for i, outcome in zip(owner, outcomes, strict=True):
            per_item.setdefault(i, []).append(outcome)
        for i, answers in per_item.items():
            self._draft(result, i, item_id(items[i]), answers)
        result.errors.sort(key=lambda e: e.index)
        return result

    def _examples(self, items: Sequence[ItemLike], pool: ExamplePool | None,
                  vectors: npt.NDArray[np.float32] | None) -> list[list[Example]]:
        if self.shots == 0 or pool is None:
            return [[] for _ in items]
        if vectors is None or len(vectors) != len(items):
            raise ValidationError("few-shot needs one embedding per item (vectors)")
        return pool.nearest(vectors, [item_id(it) for it in items], self.shots)

    def _draft(self, result: LLMResult, i: int, ident: int | None,
               answers: list[Outcome]) -> None:
        if any(a is None for a in answers):
            result.unsent.append(i)
            return
        k = len(self.names)
        probs, errors = np.zeros(k), []
        for a in answers:
            if not isinstance(a, Answer):
                errors.append(str(a))
                continue
            try:
                c, raw = parse_choice(a.content, FIELD, self.names)
            except AnswerError as exc:
                cut = " (cut at max_tokens)" if a.finish_reason == "length" else ""
                errors.append(f"{exc}{cut}")
                continue
            p = choice_probability(a.content, raw, a.tokens)
            vote = np.full(k, 0.0 if p is None or k == 1 else (1 - p) / (k - 1))
            vote[c] = 1.0 if p is None else p
            probs += vote
        parsed = len(answers) - len(errors)
        if parsed == 0:
            result.errors.append(ItemError(i, ident, f"LLM: {errors[0]}"))
            return
        probs /= probs.sum()
        label = int(np.argmax(probs))
        score = float(probs[label])
        accept = bool(self.calibration.accept([score], [label])[0])
        result.drafts[i] = Draft(i, ident, label, None, score, tuple(float(p) for p in probs),
                                 not accept, self.name, self.version)


def _classes(classes: Any) -> list[LabelClass]:
    if isinstance(classes, LabelSchema):
        return list(classes.classes)
    if isinstance(classes, Mapping):
        return [LabelClass(name=str(n), description=str(d or "")) for n, d in classes.items()]
    out = [c if isinstance(c, LabelClass) else LabelClass(name=str(c)) for c in classes]
    if len(out) < 2:
        raise ValidationError(f"an LLM classifier needs at least 2 classes, got {len(out)}")
    return out
