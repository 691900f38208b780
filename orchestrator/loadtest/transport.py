"""How bench reaches an endpoint: its URL, the request format it takes, the headers each request
carries (its credentials) and how the server-sent events are read out of its answer.

A deployment's kind names the factory of its transport (`Kind.invoke_transport` in
providers/targets.py, `(spec, outputs) -> Transport`): an OpenAI-compatible endpoint the toolkit
runs is plain HTTP; a managed endpoint is called through its cloud's invoke API, which forwards
the body to the serving container and its answer back (orchestrator/*_invoke.py). The load
generator (client.py) knows only this interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import httpx

from orchestrator.loadtest.inputs import BenchError, chat_url

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

Api = Literal["chat", "completions"]
"""The OpenAI request the container behind the URL takes: chat completions (`messages`, events
with `delta.content`) or completions (`prompt`, events with `text`)."""


class StreamError(Exception):
    """The endpoint reported an error inside an answer it had begun (its message is the error
    bench counts, e.g. `model stream error`)."""


class Transport(Protocol):
    url: str
    """Where requests go (shown in the report)."""
    api: Api

    def headers(self, body: bytes) -> dict[str, str]:
        """The headers of one request carrying `body`: content type and credentials. Never
        logged: they may hold a token or a signature."""
        ...

    def lines(self, answer: httpx.Response) -> AsyncIterator[str]:
        """The server-sent-event lines of a streamed answer (`data: {...}`)."""
        ...


@dataclass(frozen=True)
class OpenAiHttp:
    """An OpenAI-compatible endpoint over plain HTTP(S), with whatever headers it needs."""

    url: str
    api: Api = "chat"
    auth: Mapping[str, str] = field(default_factory=dict, repr=False)

    def headers(self, body: bytes) -> dict[str, str]:
        del body
        return {"Content-Type": "application/json", **self.auth}

    def lines(self, answer: httpx.Response) -> AsyncIterator[str]:
        return answer.aiter_lines()


ENDPOINT_OUTPUT = "endpoint_url"
"""The stack output a fleet's load balancer address is read from."""


def load_balancer(spec: DeploymentSpec, outputs: Mapping[str, object]) -> Transport:
    """A fleet's load balancer, from its stack's `endpoint_url` output."""
    url = outputs.get(ENDPOINT_OUTPUT)
    if not isinstance(url, str) or not url:
        raise BenchError(
            f"{spec.stack_name} has no {ENDPOINT_OUTPUT} output to bench (its {spec.kind} stack "
            "does not publish one): give --url."
        )
    return OpenAiHttp(chat_url(url))


def output(spec: DeploymentSpec, outputs: Mapping[str, object], name: str) -> str:
    """A stack output an invoke API needs, or one sentence when the stack has none."""
    value = outputs.get(name)
    if not isinstance(value, str) or not value:
        raise BenchError(
            f"{spec.stack_name} has no {name} output: deploy it with `infra deploy` before "
            "benching it, or give --url of an OpenAI-compatible endpoint serving the model."
        )
    return value


@dataclass(frozen=True)
class BearerHttp:
    """An endpoint taking an OAuth bearer token (Vertex AI, Azure ML): `token()` gives a valid
    one each time, refreshing it when it is about to expire."""

    url: str
    api: Api
    token: Callable[[], str] = field(repr=False)

    def headers(self, body: bytes) -> dict[str, str]:
        del body
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"}

    def lines(self, answer: httpx.Response) -> AsyncIterator[str]:
        return answer.aiter_lines()
