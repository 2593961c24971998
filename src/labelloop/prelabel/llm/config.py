"""Settings of an LLM endpoint and what one run may spend and has spent.

The API key is never part of the settings: it is read from the environment
(``LABELLOOP_LLM_API_KEY``, else ``OPENAI_API_KEY``) when a client is made, handed to the
SDK and kept nowhere else, so it cannot reach the project store, a log line or an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from labelloop.errors import ValidationError

BASE_URL_ENV = "LABELLOOP_LLM_BASE_URL"
MODEL_ENV = "LABELLOOP_LLM_MODEL"
API_KEY_ENVS = ("LABELLOOP_LLM_API_KEY", "OPENAI_API_KEY")
NO_KEY = "no-key"
"""Sent as the key to endpoints that need none (vLLM, llama.cpp, Ollama accept anything)."""


@dataclass(frozen=True)
class LLMConfig:
    """Which endpoint and model to ask, how, and what one run may spend.

    Parameters
    ----------
    model:
        The model name the endpoint serves (``"gpt-4o-mini"``, ``"llama3.1:8b"``...);
        default ``$LABELLOOP_LLM_MODEL``.
    base_url:
        The OpenAI-compatible endpoint (``http://localhost:8000/v1``); default
        ``$LABELLOOP_LLM_BASE_URL``, else OpenAI's.
    concurrency:
        Requests in flight at once.
    max_retries:
        Retries of a request answered 408/409/429/5xx or not answered; the SDK backs off
        exponentially (0.5 s doubling to 8 s) or as the server's ``Retry-After`` says.
    timeout:
        Seconds one request may take.
    temperature, max_tokens:
        Sampling temperature and the most tokens of one answer.
    samples:
        Answers asked per item; more than one gives a confidence from their agreement
        (self-consistency) where the endpoint returns no logprobs.
    logprobs:
        Ask for the answer's token logprobs (the confidence of a single answer).
    structured:
        Ask for JSON constrained by a schema (``response_format=json_schema``); turn off
        for servers that reject it (the answer is still parsed strictly).
    max_requests, max_total_tokens:
        Budget of one run: no request is sent past ``max_requests``; none is started once
        ``max_total_tokens`` (prompt + completion) are spent. ``None``: no limit.
    price_in, price_out:
        US dollars per million prompt / completion tokens, for the cost of a run.
    """

    model: str = ""
    base_url: str | None = None
    concurrency: int = 8
    max_retries: int = 4
    timeout: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 32
    samples: int = 1
    logprobs: bool = True
    structured: bool = True
    max_requests: int | None = None
    max_total_tokens: int | None = None
    price_in: float = 0.0
    price_out: float = 0.0

    def resolved(self) -> LLMConfig:
        """This config with the model and base URL filled in from the environment.

        Raises
        ------
        ValidationError
            If no model is named, or an option is out of range.
        """
        model = self.model or os.environ.get(MODEL_ENV, "")
        if not model:
            raise ValidationError(
                f"no LLM model named: pass --llm-model NAME (or set {MODEL_ENV})"
            )
        base_url = self.base_url or os.environ.get(BASE_URL_ENV) or None
        for name in ("concurrency", "samples", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValidationError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_requests", "max_total_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValidationError(f"{name} must be >= 0, got {value}")
        if self.max_retries < 0 or self.timeout <= 0 or self.temperature < 0:
            raise ValidationError("max_retries and temperature must be >= 0, timeout > 0")
        return replace(self, model=model, base_url=base_url)

    def sampling(self) -> dict[str, Any]:
        """The request options an answer depends on (part of every cache key)."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens,
                "logprobs": self.logprobs, "structured": self.structured}


def api_key(base_url: str | None) -> str:
    """The API key from the environment; a placeholder for a custom endpoint without one.

    Raises
    ------
    ValidationError
        If OpenAI's own endpoint is used and no key is set (the message names the
        variables, never a value).
    """
    for name in API_KEY_ENVS:
        value = os.environ.get(name)
        if value:
            return value
    if base_url is None:
        raise ValidationError(
            f"no API key for OpenAI's endpoint: set {' or '.join(API_KEY_ENVS)}, or point "
            f"--llm-base-url (or {BASE_URL_ENV}) at your own server"
        )
    return NO_KEY


@dataclass
class Usage:
    """What one run sent and spent (counted by the thread that runs it).

    ``requests`` were sent to the endpoint; ``cached`` were answered from the cache
    without a request; ``unsent`` were left out because the budget ran out.
    """

    requests: int = 0
    cached: int = 0
    unsent: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    budget_stop: str | None = None
    price_in: float = 0.0
    price_out: float = 0.0

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> float:
        """US dollars at the configured prices."""
        return (self.prompt_tokens * self.price_in + self.completion_tokens * self.price_out) / 1e6

    def add_tokens(self, prompt: int, completion: int) -> None:
        """Count the tokens of one answer."""
        self.prompt_tokens += prompt
        self.completion_tokens += completion

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly counters (what ``labelloop status`` shows of a run)."""
        return {"requests": self.requests, "cached": self.cached, "unsent": self.unsent,
                "errors": self.errors, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost": round(self.cost, 6),
                "budget_stop": self.budget_stop}


class Budget:
    """Whether one more request may be sent, given what the run has spent."""

    def __init__(self, max_requests: int | None, max_total_tokens: int | None) -> None:
        self.max_requests = max_requests
        self.max_total_tokens = max_total_tokens

    def stop_reason(self, usage: Usage) -> str | None:
        """Why no further request may start (``None``: it may)."""
        if self.max_requests is not None and usage.requests >= self.max_requests:
            return f"request budget of {self.max_requests} reached"
        if self.max_total_tokens is not None and usage.tokens >= self.max_total_tokens:
            return f"token budget of {self.max_total_tokens} reached ({usage.tokens} spent)"
        return None
