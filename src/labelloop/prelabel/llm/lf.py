"""LLM labeling functions: a yes/no question asked of an LLM, voting a class on "yes".

``llm_lf(question="Does the comment ask readers to visit a link?", label=SPAM)`` is an LF
like any other -- ``lf apply`` runs it through the same appliers (it answers whole chunks
through :meth:`LLMLabelingFunction.apply_batch`, the requests in parallel), its votes are a
``labeling_function`` source and ``lf analyze`` reports on it -- and its answers are cached
as pre-labeling's are: asked again, it sends no request. An answer that is not yes/no, or
a request that failed, is that item's error; "no" abstains.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import ValidationError
from labelloop.prelabel.llm.client import AnswerCache, ChatRequest, LLMClient, cache_key
from labelloop.prelabel.llm.config import LLMConfig
from labelloop.prelabel.llm.prompt import AnswerError, PromptTemplate, enum_schema, parse_choice

FIELD = "answer"
CHOICES = ("yes", "no")


class LLMLabelingFunction:
    """An LF that asks an LLM a yes/no question about each item (see the module docstring).

    Build it with :func:`llm_lf`. The client is made on first use, from ``config`` and the
    environment, so an LF file names no endpoint or key.
    """

    def __init__(self, name: str, question: str, label: int, *, config: LLMConfig,
                 field: str = "text", template: PromptTemplate | None = None) -> None:
        if not name:
            raise ValidationError("an LLM labeling function needs a non-empty name")
        if not question.strip():
            raise ValidationError(f"LLM labeling function {name!r} needs a question")
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise ValidationError(f"label must be a class index >= 0, got {label!r}")
        self.name = name
        self.question = question.strip()
        self.label = label
        self.config = config
        self.field = field
        self.template = template or PromptTemplate.builtin("yes_no")
        self.pre: list[Any] = []
        self._client: LLMClient | None = None
        self._cache: AnswerCache | None = None

    @property
    def client(self) -> LLMClient:
        """The client asking the endpoint (made on first use)."""
        if self._client is None:
            self._client = LLMClient(self.config, cache=self._cache)
        return self._client

    def use_cache(self, cache: AnswerCache) -> None:
        """Keep answers in ``cache`` (the project store when applied to a project)."""
        self._cache = cache
        if self._client is not None:
            self._client.cache = cache

    def __call__(self, x: Any) -> int:
        out = self.apply_batch([x])[0]
        if isinstance(out, Exception):
            raise out
        return int(out)

    def apply_batch(self, items: Sequence[Any]) -> list[int | Exception]:
        """One vote per item: ``label`` on "yes", ``ABSTAIN`` on "no", else the error."""
        client = self.client
        cfg = client.config
        schema = enum_schema(FIELD, CHOICES)
        requests = []
        for x in items:
            messages = self.template.render({"question": self.question, "text": self._text(x)})
            key = cache_key(cfg.model, self.template.hash, json.dumps(messages), cfg.sampling(),
                            schema=schema)
            requests.append(ChatRequest(key, messages, schema))
        votes: list[int | Exception] = []
        for outcome in client.run(requests):
            if outcome is None:
                votes.append(ValidationError(
                    f"not asked: {client.usage.budget_stop}; apply again to continue"))
            elif isinstance(outcome, Exception):
                votes.append(outcome)
            else:
                try:
                    c, _ = parse_choice(outcome.content, FIELD, CHOICES)
                except AnswerError as exc:
                    votes.append(exc)
                    continue
                votes.append(self.label if c == 0 else ABSTAIN)
        return votes

    def _text(self, x: Any) -> str:
        if isinstance(x, str):
            return x
        value = x.get(self.field) if isinstance(x, dict) else getattr(x, self.field, None)
        if value is None:
            raise ValidationError(f"item has no {self.field!r} field")
        return str(value)

    def __repr__(self) -> str:  # the job fingerprint of an applied LF: changes with the ask
        digest = hashlib.sha256(json.dumps(
            [self.question, self.label, self.config.model, self.template.hash,
             self.config.sampling()]).encode()).hexdigest()[:12]
        return f"LLMLabelingFunction({self.name!r}, {digest})"


def llm_lf(question: str, label: int, *, name: str | None = None, model: str = "",
           base_url: str | None = None, field: str = "text",
           template: PromptTemplate | None = None, **options: Any) -> LLMLabelingFunction:
    """An LF voting ``label`` when the LLM answers "yes" to ``question`` about an item.

    Parameters
    ----------
    question:
        Asked about each item's text ("Does the comment promote a channel?").
    label:
        Class index voted on "yes" ("no" abstains).
    name:
        The LF's (source's) name; default ``llm_`` and the question's first words.
    model, base_url:
        Default ``$LABELLOOP_LLM_MODEL`` and ``$LABELLOOP_LLM_BASE_URL``; the key comes
        from ``$LABELLOOP_LLM_API_KEY`` (or ``$OPENAI_API_KEY``).
    field:
        The item field asked about.
    template:
        The prompt (default: the built-in ``yes_no`` template, ``{{question}}``/``{{text}}``).
    **options:
        Other :class:`~labelloop.prelabel.llm.LLMConfig` fields (``concurrency``,
        ``max_requests``, ``temperature``...).

    Examples
    --------
    >>> from labelloop.prelabel.llm import llm_lf
    >>> asks_to_visit = llm_lf("Does the comment ask readers to visit a link?", label=1)
    """
    words = re.findall(r"\w+", question.lower())[:5]
    lf_name = name or "llm_" + "_".join(words)
    config = LLMConfig(model=model, base_url=base_url, logprobs=False, **options)
    return LLMLabelingFunction(lf_name, question, label, config=config, field=field,
                               template=template)
