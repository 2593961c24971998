"""Chat completions from any OpenAI-compatible endpoint: concurrent, retried, budgeted, cached.

:meth:`LLMClient.run` answers a batch of :class:`ChatRequest` s. Answers already in the
cache cost nothing; the others are sent by a bounded thread pool through the ``openai``
SDK (which retries 408/409/429/5xx and lost connections with exponential backoff, or as
the server's ``Retry-After`` says). Each answer is written to the cache as it arrives (in
the calling thread), so an interrupted run resumes where it stopped. The budget is checked
before each request is sent: past it, the remaining requests are left unsent (``None``).
A request that fails for good is an exception in its slot, never raised.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from labelloop._deps import require
from labelloop.errors import LabelloopError, UserInputError
from labelloop.prelabel.base import progress_bar
from labelloop.prelabel.llm.config import API_KEY_ENVS, Budget, LLMConfig, Usage, api_key

FLUSH_EVERY = 64
"""Answers gathered before they are written to the cache."""


class LLMRequestError(LabelloopError):
    """A request the endpoint did not answer, after the retries (an item-level error).

    ``status`` is the HTTP status of the last answer, if there was one; ``unreachable``
    says no connection could be made (or kept) at all.
    """

    def __init__(self, message: str, *, status: int | None = None,
                 unreachable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.unreachable = unreachable


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to ask: its cache key, messages and answer schema."""

    key: str
    messages: tuple[tuple[str, str], ...]
    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Answer:
    """The endpoint's answer to one request.

    ``tokens`` are the answer's ``(token, logprob)`` pairs when the endpoint returned
    logprobs, else ``None``.
    """

    content: str
    tokens: tuple[tuple[str, float], ...] | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the cache stores it."""
        return {"content": self.content,
                "tokens": None if self.tokens is None else [list(t) for t in self.tokens],
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "finish_reason": self.finish_reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Answer:
        """The answer :meth:`to_dict` wrote."""
        tokens = d.get("tokens")
        return cls(str(d["content"]),
                   None if tokens is None else tuple((str(t), float(lp)) for t, lp in tokens),
                   int(d.get("prompt_tokens", 0)), int(d.get("completion_tokens", 0)),
                   d.get("finish_reason"))


class AnswerCache(Protocol):
    """Where answers are kept between runs (the project store, or memory)."""

    def get_answers(self, keys: Sequence[str]) -> dict[str, Answer]:
        """The cached answers of those keys that have one."""
        ...

    def put_answers(self, answers: Mapping[str, Answer]) -> None:
        """Keep these answers under their keys."""
        ...


class MemoryCache:
    """An :class:`AnswerCache` in a dict (the default outside a project)."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}

    def get_answers(self, keys: Sequence[str]) -> dict[str, Answer]:
        return {k: self.answers[k] for k in keys if k in self.answers}

    def put_answers(self, answers: Mapping[str, Answer]) -> None:
        self.answers.update(answers)


def cache_key(model: str, template_hash: str, content: str, sampling: Mapping[str, Any],
              **extra: Any) -> str:
    """SHA-256 of (model, template hash, content hash, sampling options and ``extra``)."""
    content_hash = hashlib.sha256(content.encode("utf-8")).hexdigest()
    blob = json.dumps([model, template_hash, content_hash, dict(sampling), extra],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


Outcome = Answer | Exception | None
"""An answer, the error of a request that failed for good, or ``None``: left unsent."""


class LLMClient:
    """Send chat requests to one endpoint and model (see the module docstring).

    Parameters
    ----------
    config:
        The endpoint, model, sampling and budget (:class:`LLMConfig`).
    cache:
        Where answers are looked up and kept (default: in memory).
    """

    def __init__(self, config: LLMConfig, *, cache: AnswerCache | None = None) -> None:
        self.config = config.resolved()
        self.cache: AnswerCache = cache if cache is not None else MemoryCache()
        self.usage = Usage(price_in=self.config.price_in, price_out=self.config.price_out)
        self._sdk: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:  # the SDK client (and its key) never pickles
        return {**self.__dict__, "_sdk": None, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def new_run(self) -> Usage:
        """Start counting a new run (the budget applies per run); returns the old counts."""
        old = self.usage
        self.usage = Usage(price_in=self.config.price_in, price_out=self.config.price_out)
        return old

    def _client(self) -> Any:
        with self._lock:
            if self._sdk is None:
                openai = require("llm", "openai", feature="LLM pre-labeling")
                self._sdk = openai.OpenAI(
                    api_key=api_key(self.config.base_url), base_url=self.config.base_url,
                    max_retries=self.config.max_retries, timeout=self.config.timeout,
                )
            return self._sdk

    def run(self, requests: Sequence[ChatRequest], *, progress: bool = False,
            description: str = "asking the LLM") -> list[Outcome]:
        """Answer ``requests`` (aligned outcomes; see :data:`Outcome`).

        Raises
        ------
        UserInputError
            If the endpoint refuses the key (HTTP 401/403): the run stops at once, the
            answers it got are cached.
        ValidationError
            If no key is set for OpenAI's own endpoint.
        """
        out: list[Outcome] = [None] * len(requests)
        slots: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            slots.setdefault(r.key, []).append(i)
        cached = self.cache.get_answers(list(slots)) if slots else {}
        for key, answer in cached.items():
            for i in slots.pop(key):
                out[i] = answer
        self.usage.cached += len(cached)
        todo = [requests[v[0]] for v in slots.values()]
        if todo:
            self._client()  # a missing key or SDK fails the run here, not item by item
        with progress_bar(len(todo), description, enabled=progress) as advance:
            sent = self._send(todo, slots, out, advance)
        self.usage.unsent += len(todo) - sent
        return out

    def _send(self, todo: list[ChatRequest], slots: dict[str, list[int]],
              out: list[Outcome], advance: Any) -> int:
        """Send ``todo`` within the budget, ``concurrency`` at a time; fill ``out`` and the
        cache as answers arrive; return how many were sent."""
        budget = Budget(self.config.max_requests, self.config.max_total_tokens)
        pool = ThreadPoolExecutor(self.config.concurrency, "labelloop-llm")
        pending: dict[Future[Answer], ChatRequest] = {}
        fresh: dict[str, Answer] = {}
        sent = 0
        answered = False
        refused: UserInputError | None = None
        try:
            while refused is None:
                while sent < len(todo) and len(pending) < self.config.concurrency:
                    reason = budget.stop_reason(self.usage)
                    if reason is not None:
                        self.usage.budget_stop = reason
                        break
                    self.usage.requests += 1
                    pending[pool.submit(self._ask, todo[sent])] = todo[sent]
                    sent += 1
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    request = pending.pop(future)
                    outcome = _outcome(future)
                    if isinstance(outcome, Answer):
                        answered = True
                        fresh[request.key] = outcome
                        self.usage.add_tokens(outcome.prompt_tokens, outcome.completion_tokens)
                    else:
                        self.usage.errors += 1
                        refused = refused or self._fatal(outcome, answered)
                    for i in slots[request.key]:
                        out[i] = outcome
                advance(len(done))
                if len(fresh) >= FLUSH_EVERY:
                    self.cache.put_answers(fresh)
                    fresh = {}
        finally:  # Ctrl-C too: keep what arrived, wait for no request in flight
            pool.shutdown(wait=refused is None and not pending, cancel_futures=True)
            if fresh:
                self.cache.put_answers(fresh)
        if refused is not None:
            raise refused
        return sent

    def _fatal(self, error: LLMRequestError, answered: bool) -> UserInputError | None:
        """The error that stops the run: a refused key, or an endpoint never reached."""
        if error.status in (401, 403):
            return UserInputError(
                f"the LLM endpoint refused the API key ({error}); set "
                f"{' or '.join(API_KEY_ENVS)} to a key it accepts")
        if error.unreachable and not answered:
            return UserInputError(
                f"could not reach the LLM endpoint at {_public(self.config.base_url)} ({error}): "
                "is the server running, and is --llm-base-url (or LABELLOOP_LLM_BASE_URL) "
                "right, e.g. http://localhost:8000/v1?")
        return None

    def _ask(self, request: ChatRequest) -> Answer:
        """One request (in a worker thread); errors come back scrubbed of the key."""
        openai = require("llm", "openai", feature="LLM pre-labeling")
        cfg = self.config
        options: dict[str, Any] = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
        if cfg.logprobs:
            options["logprobs"] = True
        if cfg.structured and request.schema is not None:
            options["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "strict": True, "schema": dict(request.schema)}}
        messages = [{"role": role, "content": text} for role, text in request.messages]
        try:
            response = self._client().chat.completions.create(
                model=cfg.model, messages=messages, **options)
        except openai.APIStatusError as exc:
            status = exc.status_code
            retried = status in (408, 409, 429) or status >= 500
            after = f" after {cfg.max_retries} retries" if retried else ""
            hint = (" (a server that rejects JSON-schema output or logprobs: try "
                    "--no-structured or --no-logprobs)" if status == 400 else "")
            raise LLMRequestError(_scrub(
                f"the endpoint answered HTTP {status}{after}: {str(exc)[:300]}{hint}"),
                status=status) from None
        except openai.APITimeoutError:
            raise LLMRequestError(f"no answer within {cfg.timeout} s after "
                                  f"{cfg.max_retries} retries") from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise LLMRequestError(_scrub(
                f"the endpoint could not be reached or broke off its answer after "
                f"{cfg.max_retries} retries ({type(cause).__name__})"),
                unreachable="connect" in type(cause).__name__.lower()) from None
        except openai.OpenAIError as exc:  # e.g. a body that is not a chat completion
            raise LLMRequestError(_scrub(f"unusable response: {str(exc)[:300]}")) from None
        return _answer(response)


def _outcome(future: Future[Answer]) -> Answer | LLMRequestError:
    try:
        return future.result()
    except Exception as exc:
        return exc if isinstance(exc, LLMRequestError) else LLMRequestError(
            _scrub(f"{type(exc).__name__}: {str(exc)[:300]}"))


def _answer(response: Any) -> Answer:
    """The first choice of a chat completion as an :class:`Answer`."""
    if not getattr(response, "choices", None):
        raise LLMRequestError("the endpoint returned no choices")
    choice = response.choices[0]
    content = (choice.message.content if choice.message is not None else None) or ""
    tokens = None
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is not None and getattr(logprobs, "content", None):
        tokens = tuple((str(t.token), float(t.logprob)) for t in logprobs.content)
    usage = getattr(response, "usage", None)
    return Answer(
        content=content, tokens=tokens,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        finish_reason=getattr(choice, "finish_reason", None),
    )


def _public(url: str | None) -> str:
    """``url`` without any user or password in it (OpenAI's endpoint when ``None``)."""
    if url is None:
        return "OpenAI's default endpoint"
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_KEYLIKE = re.compile(r"\b(sk|key|token)[-_][A-Za-z0-9_*\-.]{6,}", re.IGNORECASE)


def _scrub(message: str) -> str:
    """``message`` with the environment's API keys, and anything shaped like a key (a
    server may echo part of one: ``sk-abc***wxyz``), masked."""
    for name in API_KEY_ENVS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            message = message.replace(value, "***")
    return _KEYLIKE.sub(lambda m: f"{m.group(1)}-***", message)
