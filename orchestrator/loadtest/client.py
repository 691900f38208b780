"""One load step: open-loop streaming chat completions against an OpenAI-compatible endpoint.

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
    url: str
    """The chat completions URL."""
    model: str
    extra_body: dict[str, object]
    """Engine-specific request fields (vLLM's ignore_eos, so answers run to max_tokens)."""
    timeout_s: float


def _body(endpoint: Endpoint, shape: RequestShape) -> dict[str, object]:
    return {
        "model": endpoint.model,
        "messages": [{"role": "user", "content": prompt_of(shape.prompt_tokens)}],
        "max_tokens": shape.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        **endpoint.extra_body,
    }


async def _one(
    client: httpx.AsyncClient, endpoint: Endpoint, shape: RequestShape, sent: float
) -> RequestResult:
    first: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    try:
        async with asyncio.timeout(endpoint.timeout_s):
            async with client.stream("POST", endpoint.url, json=_body(endpoint, shape)) as answer:
                if answer.status_code != 200:
                    await answer.aread()
                    return RequestResult(False, f"HTTP {answer.status_code}")
                async for line in answer.aiter_lines():
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
                        if (choice.get("delta") or {}).get("content"):
                            chunks += 1
                            if first is None:
                                first = time.perf_counter() - sent
        return RequestResult(False, "dropped")
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
            sent = time.perf_counter()
            result = await _one(client, endpoint, shape, sent)
            return dataclasses.replace(result, lag_s=sent - start - offset)

        results = await asyncio.gather(*(at(t, s) for t, s in zip(arrivals, shapes, strict=True)))
        return StepRun(arrivals, list(results), time.perf_counter() - start)


def run_step(endpoint: Endpoint, arrivals: list[float], shapes: list[RequestShape]) -> StepRun:
    """Send one request per arrival time (seconds from now) and wait for every answer."""
    return asyncio.run(_step(endpoint, arrivals, shapes))
