"""A local OpenAI-compatible chat server for tests and benchmarks, with hidden sharing rules.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) on 127.0.0.1 to serve
``GET /v1/models`` and ``POST /v1/chat/completions`` (with ``usage``) to the real ``openai``
client. Its answers come from *hidden* per-trait sharing probabilities: it reads the agent's
traits ("high in extraversion", ...) from the persona in the system message, whether the news
report is in the prompt, and how many followed people have posted, and then posts with

    P = 1 - (1 - a·o)(1 - b)^m,   logit a = A0 + Σ_t w_t·s_t,   logit b = B0 + Σ_t w_t·s_t

(s_t = +1 high / -1 low). The draw is a hash of the request, so one request always gets one
answer. Faults are injected at set rates: 429 with Retry-After, 500, slow replies, malformed
response bodies, unparseable message content and dropped connections. *Prompt faults* are drawn
from a hash of the prompt instead, so the same prompt always meets the same one: a lone surrogate
or a NUL in the reply, a 100 KB reply, a content-filter 400, empty ``choices``, a refusal. Every
request is counted, with its arrival time.

Run it alone with ``python tests/support/llm_server.py --latency 0.02`` (prints the base URL).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

TRAIT_WORDS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
# Hidden log-odds effects per trait (+1 high, -1 low): extraversion and neuroticism share, the
# conscientious hold back.
HIDDEN_WEIGHTS = {
    "openness": 0.2,
    "conscientiousness": -0.6,
    "extraversion": 1.0,
    "agreeableness": -0.2,
    "neuroticism": 0.5,
}
HIDDEN_A0, HIDDEN_B0 = -0.6, -1.6
FAULTS = ("429", "500", "slow", "malformed", "bad_content", "drop")
PROMPT_FAULTS = ("surrogate", "nul", "huge", "content_filter", "empty_choices", "refusal")


@dataclass
class ServerConfig:
    """What the server accepts and how often it misbehaves (rates are per chat request)."""

    models: tuple[str, ...] = ("sim-1",)
    api_key: str | None = None
    latency: float = 0.0
    faults: dict[str, float] = field(default_factory=dict)
    prompt_faults: dict[str, float] = field(default_factory=dict)
    retry_after: str = "0.01"
    slow_seconds: float = 0.3
    reject_formats: frozenset[str] = frozenset()
    new_token_limit: bool = False  # refuse 'max_tokens' as newer OpenAI models do
    report_usage: bool = True
    reject_logprobs: bool = False  # answer a request for token log-probabilities with a 400
    seed: int = 0


def hidden_probability(traits: dict[str, bool], offline: bool, m: int) -> float:
    """The server's sharing probability for one consultation (see the module docstring)."""
    score = sum(HIDDEN_WEIGHTS[t] * (1 if high else -1) for t, high in traits.items())
    a = 1 / (1 + math.exp(-(HIDDEN_A0 + score)))
    b = 1 / (1 + math.exp(-(HIDDEN_B0 + score)))
    return 1 - (1 - a * offline) * (1 - b) ** m


def read_prompt(messages: list[dict]) -> tuple[dict[str, bool], bool, int]:
    """Traits, offline exposure and number of posting neighbours, read back from the prompt."""
    text = "\n".join(str(m.get("content", "")) for m in messages)
    traits = {w: lvl == "high" for lvl, w in re.findall(r"\b(high|low) in (\w+)", text)}
    traits = {t: traits.get(t, False) for t in TRAIT_WORDS}
    offline = "News report you read today" in text
    found = re.search(r"(\d+) (?:people|person) you follow", text)
    return traits, offline, int(found.group(1)) if found else 0


class LLMServer:
    """The server; ``start()`` runs it on a background thread and returns the base URL."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.counts: Counter[str] = Counter()
        self.keys_seen: set[str] = set()
        self.arrivals: list[tuple[str, float]] = []  # (digest of the chat request, time)
        self._rng = random.Random(self.config.seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.base_url = ""

    @property
    def requests(self) -> int:
        """Every HTTP request received, whatever its path or fate."""
        return self.counts["requests"]

    def start(self) -> str:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            )
            port = self._server.sockets[0].getsockname()[1]
            self.base_url = f"http://127.0.0.1:{port}/v1"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="llm-test-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.base_url

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        loop, server = self._loop, self._server

        async def shutdown() -> None:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                reply = await self._respond(method, path.split("?")[0], headers, body)
                if reply is None:  # injected dropped connection
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> bytes | None:
        self.counts["requests"] += 1
        self.counts[f"{method} {path}"] += 1
        cfg = self.config
        presented = headers.get("authorization", "").removeprefix("Bearer ").strip()
        self.keys_seen.add(presented)
        if cfg.api_key is not None and presented != cfg.api_key:
            # Echo the key back, as some real servers do, so tests prove the client redacts it.
            return _http(
                401,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {presented}",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
        if method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in cfg.models
            ]
            return _http(200, {"object": "list", "data": data})
        if method != "POST" or path != "/v1/chat/completions":
            return _http(404, {"error": {"message": f"no route {method} {path}"}})
        request = json.loads(body)
        self.arrivals.append((hashlib.sha256(body).hexdigest(), time.monotonic()))
        if request.get("model") not in cfg.models:
            return _http(
                404,
                {
                    "error": {
                        "message": f"The model `{request.get('model')}` does not exist",
                        "code": "model_not_found",
                    }
                },
            )
        if cfg.new_token_limit and "max_tokens" in request:
            return _http(
                400,
                {
                    "error": {
                        "message": "Unsupported parameter: 'max_tokens' is not "
                        "supported with this model. Use "
                        "'max_completion_tokens' instead.",
                        "param": "max_tokens",
                    }
                },
            )
        fmt = (request.get("response_format") or {}).get("type", "text")
        if fmt in cfg.reject_formats:
            self.counts["format_rejected"] += 1
            return _http(
                500,
                {
                    "error": {
                        "message": "1 validation error: response_format.type: "
                        "Input should be 'text' or 'json_object'"
                    }
                },
            )
        if cfg.reject_logprobs and request.get("logprobs"):
            self.counts["logprobs_rejected"] += 1
            return _http(
                400,
                {
                    "error": {
                        "message": "logprobs is not supported by this model",
                        "param": "logprobs",
                    }
                },
            )
        fault = self._draw_fault()
        if fault:
            self.counts[f"fault_{fault}"] += 1
        if fault == "429":
            return _http(
                429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": cfg.retry_after}
            )
        if fault == "500":
            return _http(500, {"error": {"message": "internal error (injected)"}})
        if fault == "drop":
            return None
        await asyncio.sleep(cfg.slow_seconds if fault == "slow" else cfg.latency)
        if fault == "malformed":
            return _raw(200, b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [')
        prompt_fault = self._prompt_fault(request)
        if prompt_fault:
            self.counts[f"prompt_{prompt_fault}"] += 1
        if prompt_fault == "content_filter":
            return _http(
                400,
                {
                    "error": {
                        "message": "The response was filtered due to the prompt triggering "
                        "the content management policy.",
                        "param": "prompt",
                        "code": "content_filter",
                    }
                },
            )
        if prompt_fault in ("empty_choices", "refusal"):
            message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
            choices = [{"index": 0, "finish_reason": "stop", "message": message}]
            return _http(
                200,
                {
                    "id": "chatcmpl-x",
                    "object": "chat.completion",
                    "model": request["model"],
                    "choices": [] if prompt_fault == "empty_choices" else choices,
                },
            )
        content = self._content(request, bad=fault == "bad_content", prompt_fault=prompt_fault)
        self.counts["chat_ok"] += 1
        prompt_chars = sum(len(str(m.get("content", ""))) for m in request["messages"])
        usage = {"prompt_tokens": prompt_chars // 4 + 1, "completion_tokens": len(content) // 4 + 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        choice = {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": content},
        }
        if request.get("logprobs") and (logprobs := self._logprobs(request, content)) is not None:
            choice["logprobs"] = logprobs
        return _http(
            200,
            {
                "id": f"chatcmpl-{self.counts['chat_ok']}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request["model"],
                "choices": [choice],
                **({"usage": usage} if cfg.report_usage else {}),
            },
        )

    def _logprobs(self, request: dict, content: str) -> dict | None:
        """Token log-probabilities of ``content``: none here (the request's ``logprobs`` is
        ignored, as by servers that do not implement it); subclasses answer them."""
        return None

    def _draw_fault(self) -> str | None:
        u = self._rng.random()
        for name in FAULTS:
            u -= self.config.faults.get(name, 0.0)
            if u < 0:
                return name
        return None

    def _prompt_fault(self, request: dict) -> str | None:
        """The prompt fault this prompt always meets (agent prompts only, not probes)."""
        if not self.config.prompt_faults or not any(read_prompt(request["messages"])[0].values()):
            return None
        digest = hashlib.sha256(json.dumps(request["messages"]).encode()).digest()
        u = int.from_bytes(digest[8:16], "big") / 2**64
        for name in PROMPT_FAULTS:
            u -= self.config.prompt_faults.get(name, 0.0)
            if u < 0:
                return name
        return None

    def _content(self, request: dict, bad: bool, prompt_fault: str | None = None) -> str:
        if bad:
            return self._rng.choice(["I think I would share it.", '{"post": tru', "", "{}"])
        answer = hidden_answer(request)
        if prompt_fault == "huge":
            answer["text"] = "stay safe " * 10_000
        if prompt_fault == "surrogate":
            answer["text"] += " \ud83d broken emoji"
        reply = json.dumps(answer, ensure_ascii=False)
        if prompt_fault == "nul":
            reply = reply.replace('"text": "', '"text": "\x00NUL\x00 ', 1)
        fmt = (request.get("response_format") or {}).get("type", "text")
        return reply if fmt != "text" else f"Here is my answer:\n```json\n{reply}\n```"


def hidden_answer(request: dict) -> dict:
    """The server's decision for a chat request: a draw against :func:`hidden_probability`
    from a hash of the messages, seed and temperature (one request, one answer)."""
    messages = request["messages"]
    traits, offline, m = read_prompt(messages)
    p = hidden_probability(traits, offline, m)
    digest = hashlib.sha256(
        json.dumps(
            [messages, request.get("seed"), request.get("temperature")], sort_keys=True
        ).encode()
    ).digest()
    post = int.from_bytes(digest[:8], "big") / 2**64 < p
    text = f'Sharing this — "stay safe" ({sum(traits.values())}/5)' if post else ""
    return {"post": post, "text": text}


def _http(status: int, payload: dict, extra: dict[str, str] | None = None) -> bytes:
    return _raw(status, json.dumps(payload).encode(), extra)


def _raw(status: int, body: bytes, extra: dict[str, str] | None = None) -> bytes:
    reason = {
        200: "OK",
        401: "Unauthorized",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
    }.get(status, "Error")
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@contextmanager
def running_server(config: ServerConfig | None = None) -> Iterator[LLMServer]:
    """A started server, stopped on exit."""
    server = LLMServer(config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="llm_server")
def llm_server_fixture() -> Iterator[LLMServer]:
    """A fault-free server; tests change ``llm_server.config`` for faults or keys. Import
    ``llm_server_fixture`` into a test module to use the ``llm_server`` fixture."""
    with running_server() as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per reply")
    parser.add_argument("--model", default="sim-1")
    args = parser.parse_args()
    server = LLMServer(ServerConfig(models=(args.model,), latency=args.latency))
    print(server.start(), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
