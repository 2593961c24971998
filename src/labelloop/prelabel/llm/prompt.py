"""Prompt templates, the answer schema, and the strict parsing of an answer into a class.

A template is a text file with a ``[system]`` and a ``[user]`` section and ``{{name}}``
placeholders (``classes``, ``class_names``, ``instructions``, ``examples``, ``text`` for
classification; ``question`` and ``text`` for an LLM labeling function). Users copy and
edit it; its SHA-256 (:attr:`PromptTemplate.hash`) is part of the drafts' source version
and of every cache key, so an edited template is a new source whose answers are asked anew.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from labelloop.errors import NotFoundError, ValidationError

_SECTION = re.compile(r"^\[(system|user)\]\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_THINKING = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


class AnswerError(ValueError):
    """An answer that is not one of the allowed values (an item-level error)."""


@dataclass(frozen=True)
class PromptTemplate:
    """A system and a user message with ``{{name}}`` placeholders.

    Attributes
    ----------
    system, user:
        The two messages' text.
    origin:
        Where it was read from (a path, or ``builtin:NAME``).
    """

    system: str
    user: str
    origin: str = ""

    @property
    def hash(self) -> str:
        """SHA-256 of the two messages (the template's version)."""
        return hashlib.sha256(f"{self.system}\x00{self.user}".encode()).hexdigest()

    @classmethod
    def parse(cls, text: str, *, origin: str = "") -> PromptTemplate:
        """Read a template from its text (``[system]`` and ``[user]`` sections).

        Raises
        ------
        ValidationError
            If the ``[user]`` section is missing.
        """
        parts = _SECTION.split(text)
        sections = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
        if "user" not in sections:
            raise ValidationError(
                f"prompt template {origin or '(text)'} has no [user] section: write a line "
                "'[system]', its text, then a line '[user]' and the text with {{text}}"
            )
        return cls(sections.get("system", ""), sections["user"], origin)

    @classmethod
    def load(cls, path: str | Path) -> PromptTemplate:
        """Read a template file.

        Raises
        ------
        NotFoundError
            If the file does not exist.
        """
        p = Path(path)
        if not p.is_file():
            raise NotFoundError(f"prompt template {str(p)!r} does not exist")
        return cls.parse(p.read_text(encoding="utf-8"), origin=str(p))

    @classmethod
    def builtin(cls, name: str) -> PromptTemplate:
        """A template shipped with labelloop: ``"classify"`` or ``"yes_no"``."""
        return cls.parse(builtin_text(name), origin=f"builtin:{name}")

    def render(self, values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The chat messages with placeholders filled (an unknown one is left empty).

        Raises
        ------
        ValidationError
            If the template lacks the ``{{text}}`` placeholder.
        """
        if "{{text}}" not in self.system + self.user:
            raise ValidationError(f"prompt template {self.origin} has no {{{{text}}}} placeholder")

        def fill(s: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), s)

        system = fill(self.system).strip()
        messages = (("user", fill(self.user).strip()),)
        return ((("system", system),) if system else ()) + messages


def builtin_text(name: str) -> str:
    """The text of a shipped template (to copy into a project and edit)."""
    ref = resources.files("labelloop.prelabel.llm").joinpath("templates", f"{name}.txt")
    return ref.read_text(encoding="utf-8")


def enum_schema(field: str, values: Sequence[str]) -> dict[str, Any]:
    """JSON schema of ``{field: one of values}`` (structured output)."""
    return {"type": "object", "properties": {field: {"type": "string", "enum": list(values)}},
            "required": [field], "additionalProperties": False}


def parse_choice(content: str, field: str, values: Sequence[str]) -> tuple[int, str]:
    """The index of the value an answer chose, and the raw value as written.

    The answer must be a JSON object (optionally in a Markdown code fence, after a
    reasoning model's ``<think>...</think>``) whose ``field`` is one of ``values`` (compared
    after trimming, case-insensitively when that is unambiguous).

    Raises
    ------
    AnswerError
        Naming what was wrong and what was expected.
    """
    text = _THINKING.sub("", content).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise AnswerError(f"answer is not JSON: {_short(content)}") from None
    if not isinstance(data, dict) or field not in data:
        raise AnswerError(f"answer has no {field!r} field: {_short(content)}")
    raw = data[field]
    if not isinstance(raw, str):
        shown = _short(json.dumps(raw, ensure_ascii=False))
        raise AnswerError(f"{field!r} is {shown}, expected one of {list(values)}")
    chosen = raw.strip()
    if chosen in values:
        return list(values).index(chosen), raw
    lowered = [v.lower() for v in values]
    if lowered.count(chosen.lower()) == 1:
        return lowered.index(chosen.lower()), raw
    raise AnswerError(f"{_short(raw)} is not a class; expected one of {list(values)}")


def choice_probability(content: str, raw: str,
                       tokens: Sequence[tuple[str, float]] | None) -> float | None:
    """Probability of the chosen value from the answer's token logprobs (``None``: none).

    The product of the probabilities of the tokens that spell the value (found after the
    first quote that opens it): the chance the model wrote this value, given the text
    before it.
    """
    if not tokens:
        return None
    joined = "".join(t for t, _ in tokens)
    start = joined.find(json.dumps(raw, ensure_ascii=False))
    if start < 0:
        return None
    start += 1  # past the opening quote
    end = start + len(json.dumps(raw, ensure_ascii=False)) - 2
    logp, pos = 0.0, 0
    for token, lp in tokens:
        if pos < end and pos + len(token) > start:
            logp += lp
        pos += len(token)
    return min(1.0, math.exp(logp))


def _short(text: str, limit: int = 120) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")
