"""One load step: open-loop streaming chat completions (or completions) against an endpoint,
reached through its transport (transport.py: plain HTTP, or a cloud's invoke API).

Latency is measured from when each request is sent; how late that was against its scheduled
arrival (the client falling behind, on a busy machine) is kept apart as `lag_s`, so it is
neither hidden nor counted as the endpoint's. Connections are not capped below MAX_CONNECTIONS, so
an overloaded endpoint queues the requests itself (open loop) instead of the client doing it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from dataclasses import dataclass

import httpx

from orchestrator.loadtest.traffic import RequestShape, prompt_of
from orchestrator.loadtest.transport import StreamError, Transport

MAX_CONNECTIONS = 1024


@dataclass(frozen=True)
class RequestResult:
    """One request: its times in seconds from when it was sent, or what went wrong."""

    ok: bool
    error: str = ""
    """`HTTP 500`, `dropped` (the stream ended before [DONE]), `refused`, `timeout`, ..."""
    ttft_s: float | None = None
    e2e_s: float | None = None
    output_tokens: int = 0
    lag_s: float = 0.0
    """How late it was sent against its scheduled arrival."""

    @property
    def tpot_s(self) -> float | None:
        """Time per output token after the first."""
        if self.ttft_s is None or self.e2e_s is None or self.output_tokens < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)


@dataclass(frozen=True)
class Endpoint:
    transport: Transport
    model: str
    extra_body: dict[str, object]
    """Engine-specific request fields (vLLM's ignore_eos, so answers run to max_tokens)."""
    timeout_s: float


def _body(endpoint: Endpoint, shape: RequestShape) -> bytes:
    prompt = prompt_of(shape.prompt_tokens)
    asked: dict[str, object] = (
        {"messages": [{"role": "user", "content": prompt}]}
        if endpoint.transport.api == "chat"
        else {"prompt": prompt}
    )
    body = {
        "model": endpoint.model,
        **asked,
        "max_tokens": shape.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        **endpoint.extra_body,
    }
    return json.dumps(body).encode()


def _text(choice: dict[str, object]) -> object:
    """A streamed choice's new text: a chat delta's content, or a completion's text."""
    delta = choice.get("delta")
    return delta.get("content") if isinstance(delta, dict) else choice.get("text")


def _request(client: httpx.AsyncClient, endpoint: Endpoint, shape: RequestShape) -> httpx.Request:
    """The request with its credentials (a signature, a token): made before its clock starts,
    so signing is not counted as the endpoint's latency."""
    body = _body(endpoint, shape)
    transport = endpoint.transport
    return client.build_request(
        "POST", transport.url, content=body, headers=transport.headers(body)
    )


async def _one(
    client: httpx.AsyncClient, endpoint: Endpoint, request: httpx.Request, sent: float
) -> RequestResult:
    first: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    finished = False
    transport = endpoint.transport
    try:
        async with asyncio.timeout(endpoint.timeout_s):
            answer = await client.send(request, stream=True)
            try:
                if answer.status_code != 200:
                    await answer.aread()
                    return RequestResult(False, f"HTTP {answer.status_code}")
                async for line in transport.lines(answer):
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        end = time.perf_counter() - sent
                        tokens = usage_tokens if usage_tokens is not None else chunks
                        if first is None:
                            return RequestResult(False, "no tokens")
                        return RequestResult(True, "", first, end, tokens)
                    event = json.loads(data)
                    if event.get("usage"):
                        usage_tokens = event["usage"].get("completion_tokens", usage_tokens)
                    for choice in event.get("choices") or ():
                        finished = finished or bool(choice.get("finish_reason"))
                        if _text(choice):
                            chunks += 1
                            if first is None:
                                first = time.perf_counter() - sent
                if finished and first is not None:  # an engine that sends no [DONE]
                    end = time.perf_counter() - sent
                    tokens = usage_tokens if usage_tokens is not None else chunks
                    return RequestResult(True, "", first, end, tokens)
            finally:
                await answer.aclose()
        return RequestResult(False, "dropped")
    except StreamError as error:
        return RequestResult(False, str(error))
    except TimeoutError:
        return RequestResult(False, "timeout")
    except httpx.ConnectError:
        return RequestResult(False, "refused")
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return RequestResult(False, "dropped")
    except json.JSONDecodeError:
        return RequestResult(False, "bad event")
    except httpx.HTTPError as error:
        return RequestResult(False, type(error).__name__)


@dataclass(frozen=True)
class StepRun:
    arrivals: list[float]
    """Each request's scheduled send time, seconds from the step's start."""
    results: list[RequestResult]
    elapsed_s: float
    """From the step's start until its last answer."""


async def _step(endpoint: Endpoint, arrivals: list[float], shapes: list[RequestShape]) -> StepRun:
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=64)
    timeout = httpx.Timeout(endpoint.timeout_s)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        start = time.perf_counter()

        async def at(offset: float, shape: RequestShape) -> RequestResult:
            await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
            request = _request(client, endpoint, shape)
            sent = time.perf_counter()
            result = await _one(client, endpoint, request, sent)
            return dataclasses.replace(result, lag_s=sent - start - offset)

        results = await asyncio.gather(*(at(t, s) for t, s in zip(arrivals, shapes, strict=True)))
        return StepRun(arrivals, list(results), time.perf_counter() - start)


def run_step(endpoint: Endpoint, arrivals: list[float], shapes: list[RequestShape]) -> StepRun:
    """Send one request per arrival time (seconds from now) and wait for every answer."""
    return asyncio.run(_step(endpoint, arrivals, shapes))
