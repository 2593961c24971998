"""A fake OpenAI-compatible endpoint on loopback, for tests and the plumbing benchmark.

``with FakeOpenAI() as fake:`` serves ``POST /v1/chat/completions`` at ``fake.base_url``
(uvicorn in a thread, a free port). Every answer is configurable: its content (a string
or a function of the request), token logprobs, latency, and faults queued in order --
``"429"``/``"500"`` (with ``retry-after-ms``), ``"401"`` (quoting part of the key, as
OpenAI does), ``"garbage"`` (a 200 whose body is not
JSON) and ``"truncate"`` (the connection closes mid-body). Nothing leaves the machine.
Needs ``labelloop[server]`` (FastAPI, uvicorn).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from labelloop._deps import require

Content = str | Callable[[dict[str, Any]], str]
_TOKENS = re.compile(r"\w+|\s+|[^\w\s]")


def first_choice(body: dict[str, Any]) -> str:
    """The default answer: the first value the request's JSON schema allows."""
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or {}
    for name, prop in (schema.get("properties") or {}).items():
        return json.dumps({name: prop["enum"][0]})
    return json.dumps({"label": "unknown"})


class FakeOpenAI:
    """The fake endpoint (see the module docstring).

    Parameters
    ----------
    content:
        The answer's text, or ``f(request_body) -> text``.
    logprob:
        Logprob of each token of the chosen value (``None``: no logprobs returned).
    latency:
        Seconds each answer waits before it is sent.
    """

    def __init__(self, content: Content = first_choice, *, logprob: float | None = None,
                 latency: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.reset(content, logprob=logprob, latency=latency)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def reset(self, content: Content = first_choice, *, logprob: float | None = None,
              latency: float = 0.0) -> None:
        """Answer anew as given, with no faults queued and the counters at zero."""
        with self._lock:
            self.content = content
            self.logprob = logprob
            self.latency = latency
            self.faults: list[str] = []
            self.requests = 0
            self.bodies: list[dict[str, Any]] = []
            self.authorizations: list[str] = []

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _app(self) -> Any:
        fastapi = require("server", "fastapi", feature="the fake OpenAI server")
        responses = require("server", "fastapi.responses", feature="the fake OpenAI server")
        app = fastapi.FastAPI()

        class Truncated(responses.Response):  # type: ignore[misc,name-defined]
            """Promises 1,000 bytes, sends 10 and closes the connection."""

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", b"1000")]})
                await send({"type": "http.response.body", "body": b'{"id": "ch',
                            "more_body": True})
                raise ConnectionAbortedError("fake truncated stream")

        def truncated() -> Any:
            return Truncated()

        async def chat(request: Any) -> Any:  # a plain Starlette route: no injection
            body = json.loads(await request.body())
            with self._lock:
                self.requests += 1
                self.bodies.append(body)
                self.authorizations.append(request.headers.get("authorization", ""))
                fault = self.faults.pop(0) if self.faults else None
            if self.latency:
                await asyncio.sleep(self.latency)
            if fault in ("429", "500"):
                return responses.JSONResponse(
                    {"error": {"message": f"fake {fault}", "type": "fake"}},
                    status_code=int(fault), headers={"retry-after-ms": "1"})
            if fault == "401":  # as OpenAI does: part of the key in the message
                key = request.headers.get("authorization", "").removeprefix("Bearer ")
                return responses.JSONResponse({"error": {
                    "message": f"Incorrect API key provided: {key[:6]}***{key[-4:]}",
                    "type": "invalid_request_error"}}, status_code=401)
            if fault == "garbage":
                return responses.PlainTextResponse("<html>not json", status_code=200,
                                                   media_type="application/json")
            if fault == "truncate":
                return truncated()
            text = self.content(body) if callable(self.content) else self.content
            return responses.JSONResponse(self._completion(body, text))

        app.router.add_route("/v1/chat/completions", chat, methods=["POST"])

        return app

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}
        if body.get("logprobs") and self.logprob is not None:
            tokens, pos, value = [], 0, _value_span(text)
            for piece in _TOKENS.findall(text):
                inside = value is not None and pos < value[1] and pos + len(piece) > value[0]
                tokens.append({"token": piece, "logprob": self.logprob if inside else 0.0,
                               "bytes": None, "top_logprobs": []})
                pos += len(piece)
            choice["logprobs"] = {"content": tokens}
        prompt = sum(len(m.get("content") or "") for m in body.get("messages", [])) // 4
        completion = max(1, len(text) // 4)
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"), "choices": [choice],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion}}

    def start(self) -> FakeOpenAI:
        """Serve in a background thread; returns once it accepts connections."""
        uvicorn = require("server", "uvicorn", feature="the fake OpenAI server")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), log_level="critical", access_log=False,
                                backlog=256, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True, name="fake-openai")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _value_span(text: str) -> tuple[int, int] | None:
    """Character span of the first JSON string value in ``text``."""
    m = re.search(r':\s*"([^"]*)"', text)
    return (m.start(1), m.end(1)) if m else None



def main(argv: list[str] | None = None) -> None:
    """``python -m labelloop.prelabel.llm.fake_server [--latency S] [--logprob LP]``: serve
    until stdin closes, after printing the base URL (for a benchmark in another process)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--logprob", type=float, default=None)
    args = parser.parse_args(argv)
    with FakeOpenAI(logprob=args.logprob, latency=args.latency) as fake:
        print(fake.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
