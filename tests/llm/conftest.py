"""The fake OpenAI-compatible endpoint every LLM test talks to (loopback, a free port).

One server per session (uvicorn in a thread); each test gets it reset, with a known API
key in the environment (to prove it is sent, and stored, logged or raised nowhere).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labelloop.prelabel.llm import LLMConfig

pytest.importorskip("openai")
pytest.importorskip("uvicorn")

from labelloop.prelabel.llm.fake_server import FakeOpenAI

SECRET = "sk-test-SECRET-4f9c1e77b2"
MODEL = "fake-1"


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The fake endpoint, reset; the environment names it and holds :data:`SECRET`."""
    _server.reset()
    monkeypatch.setenv("LABELLOOP_LLM_API_KEY", SECRET)
    monkeypatch.setenv("LABELLOOP_LLM_BASE_URL", _server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("LABELLOOP_LLM_MODEL", raising=False)
    return _server


@pytest.fixture
def secret() -> str:
    """The API key the ``fake`` fixture puts into the environment."""
    return SECRET


@pytest.fixture
def make_config(fake: FakeOpenAI) -> Callable[..., LLMConfig]:
    """``make_config(**options)``: a config for the fake endpoint (few retries, 5 s timeout)."""

    def make(**options: Any) -> LLMConfig:
        base = {"model": MODEL, "base_url": fake.base_url, "max_retries": 2, "timeout": 5.0}
        return LLMConfig(**{**base, **options})

    return make
