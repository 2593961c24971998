"""The LLM engine without a store: parsing, confidence, templates, few-shot, the client."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.errors import NotFoundError, UserInputError, ValidationError
from labelloop.prelabel.llm import (
    AnswerError,
    ChatRequest,
    ExamplePool,
    LLMClassifier,
    LLMClient,
    LLMConfig,
    LLMRequestError,
    MemoryCache,
    PromptTemplate,
    cache_key,
)
from labelloop.prelabel.llm.config import API_KEY_ENVS
from labelloop.prelabel.llm.fake_server import FakeOpenAI
from labelloop.prelabel.llm.prompt import choice_probability, parse_choice

CLASSES = ["sports", "business"]
Make = Callable[..., LLMConfig]


def label(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda body: json.dumps({"label": name})


# -- parsing and templates (no endpoint) ---------------------------------------------------

@pytest.mark.parametrize("content, expected", [
    ('{"label": "sports"}', 0),
    ('  {"label": " Business "}\n', 1),
    ('```json\n{"label": "business"}\n```', 1),
    ('<think>Shares are business.\n</think>\n{"label": "business"}', 1),
])
def test_parse_choice_accepts_a_class_name(content: str, expected: int) -> None:
    assert parse_choice(content, "label", CLASSES)[0] == expected


@pytest.mark.parametrize("content, message", [
    ("sports", "answer is not JSON"),
    ('{"label": "politics"}', "'politics' is not a class; expected one of ['sports', 'business']"),
    ('{"class": "sports"}', "answer has no 'label' field"),
    ('{"label": 1}', "'label' is '1', expected one of"),
    ('["sports"]', "answer has no 'label' field"),
])
def test_parse_choice_rejects_anything_else_with_a_clear_message(content: str,
                                                                 message: str) -> None:
    with pytest.raises(AnswerError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_choice(content, "label", CLASSES)


def test_choice_probability_multiplies_the_value_tokens() -> None:
    tokens = [('{"', 0.0), ("label", -0.01), ('":', 0.0), (' "', 0.0), ("bus", -0.2),
              ("iness", -0.1), ('"}', -0.3)]
    content = "".join(t for t, _ in tokens)
    assert choice_probability(content, "business", tokens) == pytest.approx(math.exp(-0.3))
    assert choice_probability(content, "business", None) is None


def test_template_hash_follows_its_text_and_render_fills_placeholders(tmp_path: Any) -> None:
    path = tmp_path / "t.txt"
    path.write_text("[system]\nClasses: {{class_names}}\n[user]\nText: {{text}}\n")
    t = PromptTemplate.load(path)
    assert t.render({"class_names": "a, b", "text": "hi"}) == (
        ("system", "Classes: a, b"), ("user", "Text: hi"))
    path.write_text("[system]\nClasses:  {{class_names}}\n[user]\nText: {{text}}\n")
    assert PromptTemplate.load(path).hash != t.hash
    with pytest.raises(ValidationError, match=r"no \[user\] section"):
        PromptTemplate.parse("just text")
    with pytest.raises(NotFoundError):
        PromptTemplate.load(tmp_path / "missing.txt")
    with pytest.raises(ValidationError, match=re.escape("no {{text}} placeholder")):
        PromptTemplate.parse("[user]\nnothing").render({})


def test_few_shot_picks_the_nearest_labelled_texts_never_the_item_itself() -> None:
    pool = ExamplePool(ids=[10, 11, 12], texts=["a", "b", "c"], labels=[0, 1, 1],
                       vectors=np.array([[1, 0], [0, 1], [0.9, 0.1]], dtype=np.float32))
    queries = np.array([[1, 0], [1, 0]], dtype=np.float32)
    near = pool.nearest(queries, [None, 10], k=2)
    assert [e.text for e in near[0]] == ["a", "c"]
    assert [e.text for e in near[1]] == ["c", "b"]  # item 10 is not its own example
    assert pool.nearest(queries, [None, None], k=0) == [[], []]


def test_a_classifier_prompt_holds_classes_instructions_and_examples(make_config: Make) -> None:
    from labelloop.prelabel.llm.fewshot import Example

    clf = LLMClassifier({"sports": "games and teams", "business": "markets"}, make_config(),
                        instructions="Ignore adverts.")
    (_, system), (_, user) = clf.messages("The team won", [Example("Shares fell", 1)])
    assert "- sports: games and teams" in system and "Ignore adverts." in system
    assert 'Shares fell\nAnswer: {"label": "business"}' in user and user.endswith("The team won")


# -- the client against the fake endpoint --------------------------------------------------

def requests(n: int) -> list[ChatRequest]:
    return [ChatRequest(cache_key("m", "t", f"text {i}", {}), (("user", f"text {i}"),))
            for i in range(n)]


def test_the_key_is_sent_as_a_bearer_token(fake: FakeOpenAI, make_config: Make,
                                           secret: str) -> None:
    LLMClient(make_config()).run(requests(1))
    assert fake.authorizations == [f"Bearer {secret}"]


def test_a_cache_hit_sends_no_request(fake: FakeOpenAI, make_config: Make) -> None:
    cache = MemoryCache()
    first = LLMClient(make_config(), cache=cache).run(requests(5))
    assert fake.requests == 5 and all(a is not None for a in first)
    client = LLMClient(make_config(), cache=cache)
    again = client.run(requests(5))
    assert fake.requests == 5 and again == first
    assert client.usage.cached == 5 and client.usage.requests == 0


def test_429_and_500_are_retried(fake: FakeOpenAI, make_config: Make) -> None:
    fake.faults = ["429", "500"]
    out = LLMClient(make_config(concurrency=1)).run(requests(3))
    assert all(a is not None and not isinstance(a, Exception) for a in out)
    assert fake.requests == 5


def test_a_request_that_keeps_failing_is_an_item_error(fake: FakeOpenAI,
                                                       make_config: Make) -> None:
    fake.faults = ["500", "500", "500"]
    client = LLMClient(make_config(concurrency=1, max_retries=2))
    out = client.run(requests(2))
    assert isinstance(out[0], LLMRequestError) and "HTTP 500 after 2 retries" in str(out[0])
    assert not isinstance(out[1], Exception) and client.usage.errors == 1


@pytest.mark.parametrize("fault, message", [
    ("truncate", "broke off its answer"),
    ("garbage", ""),
])
def test_truncated_or_garbled_responses_are_item_errors(fake: FakeOpenAI, make_config: Make,
                                                        fault: str, message: str) -> None:
    fake.faults = [fault]
    out = LLMClient(make_config(concurrency=1, max_retries=0)).run(requests(2))
    assert isinstance(out[0], LLMRequestError) and message in str(out[0])
    assert not isinstance(out[1], Exception)


def test_a_truncated_response_is_retried(fake: FakeOpenAI, make_config: Make) -> None:
    fake.faults = ["truncate"]
    out = LLMClient(make_config(concurrency=1, max_retries=1)).run(requests(1))
    assert not isinstance(out[0], Exception) and fake.requests == 2


def test_the_request_budget_stops_exactly_at_the_limit(fake: FakeOpenAI,
                                                       make_config: Make) -> None:
    client = LLMClient(make_config(concurrency=3, max_requests=4))
    out = client.run(requests(10))
    assert fake.requests == 4 and client.usage.requests == 4
    assert sum(a is None for a in out) == 6 and client.usage.unsent == 6
    assert client.usage.budget_stop == "request budget of 4 reached"


def test_the_token_budget_starts_no_request_once_spent(fake: FakeOpenAI,
                                                       make_config: Make) -> None:
    one = LLMClient(make_config())
    one.run(requests(1))
    per_request = one.usage.tokens
    limit = 3 * per_request - 1  # reached during the third request
    client = LLMClient(make_config(concurrency=1, max_total_tokens=limit))
    out = client.run(requests(10))
    assert fake.requests == 1 + 3 and sum(a is not None for a in out) == 3
    assert client.usage.tokens >= limit > client.usage.tokens - per_request
    assert "token budget" in str(client.usage.budget_stop)


def test_openai_itself_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in API_KEY_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LABELLOOP_LLM_BASE_URL", raising=False)
    with pytest.raises(ValidationError, match="LABELLOOP_LLM_API_KEY or OPENAI_API_KEY"):
        LLMClient(LLMConfig(model="gpt")).run(requests(1))


def test_no_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABELLOOP_LLM_MODEL", raising=False)
    with pytest.raises(ValidationError, match="--llm-model"):
        LLMClient(LLMConfig())


# -- the classifier: confidence and per-item errors ----------------------------------------

def test_confidence_from_the_label_tokens_logprob(fake: FakeOpenAI, make_config: Make) -> None:
    fake.reset(label("business"), logprob=-0.2)
    result = LLMClassifier(CLASSES, make_config()).predict(["Shares fell"])
    [draft] = result.ok()
    assert draft.label == 1 and draft.score == pytest.approx(math.exp(-0.2))
    assert sum(draft.probs) == pytest.approx(1.0) and draft.needs_review  # uncalibrated
    assert fake.bodies[0]["logprobs"] is True
    assert fake.bodies[0]["response_format"]["json_schema"]["schema"]["properties"][
        "label"]["enum"] == CLASSES


def test_confidence_from_the_agreement_of_samples(fake: FakeOpenAI, make_config: Make) -> None:
    answers = iter(["sports", "business", "sports", "sports"])
    fake.reset(lambda body: json.dumps({"label": next(answers)}))
    clf = LLMClassifier(CLASSES, make_config(samples=4, temperature=0.7, concurrency=1,
                                             logprobs=False))
    [draft] = clf.predict(["The match"]).ok()
    assert fake.requests == 4
    assert draft.label == 0 and draft.score == pytest.approx(0.75)
    assert draft.probs == pytest.approx((0.75, 0.25))


def test_samples_at_temperature_zero_are_refused(fake: FakeOpenAI, make_config: Make) -> None:
    with pytest.raises(ValidationError, match="temperature > 0"):
        LLMClassifier(CLASSES, make_config(samples=3))


def test_a_malformed_answer_is_an_item_error_never_a_crash(fake: FakeOpenAI,
                                                           make_config: Make) -> None:
    def answer(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        if "odd" in text:
            return '{"label": "weather"}'
        return "not json at all" if "bad" in text else '{"label": "sports"}'

    fake.reset(answer)
    result = LLMClassifier(CLASSES, make_config()).predict(["good", "odd one", "bad one"])
    assert result.drafts[0] is not None and result.drafts[1] is None
    assert [(e.index, e.error) for e in result.errors] == [
        (1, "LLM: 'weather' is not a class; expected one of ['sports', 'business']"),
        (2, "LLM: answer is not JSON: 'not json at all'"),
    ]


def test_a_refused_key_stops_the_run_and_is_never_quoted(fake: FakeOpenAI, make_config: Make,
                                                         secret: str) -> None:
    fake.faults = ["401"]
    cache = MemoryCache()
    client = LLMClient(make_config(concurrency=1), cache=cache)
    with pytest.raises(UserInputError, match="refused the API key") as err:
        client.run(requests(5))
    assert fake.requests == 1  # no request after the refusal
    message = str(err.value)
    assert "HTTP 401" in message and secret[:6] not in message and secret[-4:] not in message
    assert "LABELLOOP_LLM_API_KEY or OPENAI_API_KEY" in message


def test_a_used_llm_lf_pickles_without_the_key(fake: FakeOpenAI, secret: str) -> None:
    import pickle

    from labelloop.prelabel.llm import llm_lf

    fake.reset(lambda body: json.dumps({"answer": "yes"}))
    lf = llm_lf("Is it sport?", label=1, model="fake-1")
    assert lf("The team won") == 1 and fake.requests == 1
    blob = pickle.dumps(lf)
    assert secret.encode() not in blob
    copy = pickle.loads(blob)
    assert copy("The team won") == 1 and fake.requests == 1  # its cache came along
    assert copy("The match") == 1 and fake.requests == 2  # a new SDK client, the key again


@given(st.one_of(st.text(max_size=60),
                 st.builds(lambda v: json.dumps({"label": v}),
                           st.one_of(st.text(max_size=12), st.integers(), st.none(),
                                     st.sampled_from(["sports", "BUSINESS", " sports "])))))
@settings(max_examples=200, deadline=None)
def test_any_answer_parses_to_a_class_or_an_answer_error(content: str) -> None:
    try:
        index, _ = parse_choice(content, "label", CLASSES)
    except AnswerError as exc:
        assert str(exc)  # a message, never another exception
    else:
        assert index in (0, 1)


def test_an_endpoint_never_reached_stops_the_run_naming_it_without_credentials() -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = LLMConfig(model="m", base_url=f"http://user:pw@127.0.0.1:{port}/v1",
                       max_retries=0, concurrency=2)
    with pytest.raises(UserInputError, match="could not reach the LLM endpoint") as err:
        LLMClient(config).run(requests(4))
    assert f"http://127.0.0.1:{port}/v1" in str(err.value) and "pw" not in str(err.value)


def test_ctrl_c_keeps_the_answers_that_arrived(fake: FakeOpenAI, make_config: Make,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import labelloop.prelabel.llm.client as client_module

    real_wait, calls = client_module.wait, []

    def interrupted_wait(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_wait(*args, **kwargs)

    cache = MemoryCache()
    monkeypatch.setattr(client_module, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        LLMClient(make_config(concurrency=1), cache=cache).run(requests(5))
    monkeypatch.undo()
    assert len(cache.answers) == 2  # the two answers that came back before Ctrl-C
    sent_before = fake.requests
    client = LLMClient(make_config(concurrency=1), cache=cache)
    assert all(a is not None for a in client.run(requests(5)))
    assert client.usage.cached == 2 and fake.requests - sent_before == 3
