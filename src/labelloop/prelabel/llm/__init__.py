"""LLM pre-labeling and LLM labeling functions through any OpenAI-compatible endpoint.

- :class:`LLMClassifier`: drafts a class per text (zero- or few-shot), confidence from the
  answer's logprobs or the agreement of several samples; a pre-labeler like MiniLM.
- :func:`llm_lf`: a yes/no question asked of the LLM, voting a class on "yes".
- :class:`LLMClient`: concurrent, retried, budgeted and cached chat completions
  (``pip install 'labelloop[llm]'``, the ``openai`` SDK).
- :class:`PromptTemplate`: editable prompt files whose hash versions the drafts.

The endpoint is ``base_url`` (or ``$LABELLOOP_LLM_BASE_URL``): OpenAI, or a local vLLM,
llama.cpp server, Ollama or TGI. The key is read from ``$LABELLOOP_LLM_API_KEY`` (or
``$OPENAI_API_KEY``) and never stored, logged or put into an error message.
"""

from labelloop.prelabel.llm.classifier import LLMClassifier, LLMResult
from labelloop.prelabel.llm.client import (
    Answer,
    AnswerCache,
    ChatRequest,
    LLMClient,
    LLMRequestError,
    MemoryCache,
    cache_key,
)
from labelloop.prelabel.llm.config import BASE_URL_ENV, LLMConfig, Usage
from labelloop.prelabel.llm.fewshot import Example, ExamplePool
from labelloop.prelabel.llm.lf import LLMLabelingFunction, llm_lf
from labelloop.prelabel.llm.prompt import AnswerError, PromptTemplate, builtin_text

__all__ = [
    "BASE_URL_ENV",
    "Answer",
    "AnswerCache",
    "AnswerError",
    "ChatRequest",
    "Example",
    "ExamplePool",
    "LLMClassifier",
    "LLMClient",
    "LLMConfig",
    "LLMLabelingFunction",
    "LLMRequestError",
    "LLMResult",
    "MemoryCache",
    "PromptTemplate",
    "Usage",
    "builtin_text",
    "cache_key",
    "llm_lf",
]
