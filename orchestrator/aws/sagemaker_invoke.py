"""`infra bench` on a SageMaker endpoint: InvokeEndpointWithResponseStream, signed with SigV4.

The stack's container (modules/aws/sagemaker_container.py) is LMI's vLLM async handler or TGI,
both of which take an OpenAI chat completions body on /invocations and stream it back as
server-sent events when it asks `stream: true`; SageMaker wraps those bytes in the AWS event
stream encoding (`application/vnd.amazon.eventstream`), one `PayloadPart` event per piece, cut
wherever the container flushed (an event's line may span two parts). An error after the answer
began comes as a `ModelStreamError` or `InternalStreamFailure` exception event.

Requests go out over httpx like every other transport, signed one by one with botocore's SigV4
(service `sagemaker`), so time to first token is the endpoint's and not a thread pool's.
Credentials come from botocore's usual chain (environment, profile, instance role) and the
runtime URL from botocore too, so AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME is honoured; neither the
signature nor the keys are ever logged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.eventstream import EventStreamBuffer

from orchestrator.loadtest.inputs import BenchError
from orchestrator.loadtest.transport import Api, StreamError, output

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

SIGNING_NAME = "sagemaker"
RUNTIME_SERVICE = "sagemaker-runtime"
EVENT_STREAM = "application/vnd.amazon.eventstream"
STREAM_ERRORS = {
    "ModelStreamError": "model stream error",
    "InternalStreamFailure": "stream failure",
}
"""The exception events of InvokeEndpointWithResponseStream, as bench counts them."""


@dataclass(frozen=True)
class SagemakerStream:
    url: str
    region: str
    credentials: Any = field(repr=False)
    """botocore credentials (refreshable ones refresh themselves)."""
    api: Api = "chat"

    def headers(self, body: bytes) -> dict[str, str]:
        request = AWSRequest(
            method="POST",
            url=self.url,
            data=body,
            headers={"Content-Type": "application/json", "X-Amzn-SageMaker-Accept": EVENT_STREAM},
        )
        frozen = self.credentials.get_frozen_credentials()
        SigV4Auth(frozen, SIGNING_NAME, self.region).add_auth(request)
        return dict(request.headers.items())

    async def lines(self, answer: httpx.Response) -> AsyncIterator[str]:
        frames = EventStreamBuffer()
        text = ""
        async for chunk in answer.aiter_bytes():
            frames.add_data(chunk)
            for message in frames:
                text += _payload(message.headers, message.payload)
                *complete, text = text.split("\n")
                for line in complete:
                    yield line
        if text:
            yield text


def _payload(headers: Mapping[str, object], payload: bytes) -> str:
    """A PayloadPart's bytes as text; an exception event raised as the error bench counts."""
    if headers.get(":message-type") == "event":
        return payload.decode() if headers.get(":event-type") == "PayloadPart" else ""
    kind = str(headers.get(":exception-type") or headers.get(":error-code") or "")
    raise StreamError(STREAM_ERRORS.get(kind, "stream error"))


def transport(spec: DeploymentSpec, outputs: Mapping[str, object]) -> SagemakerStream:
    """The deployed endpoint's response-stream URL and the caller's AWS credentials."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    name = output(spec, outputs, "endpoint_name")
    try:
        session = botocore.session.get_session()
        credentials = session.get_credentials()
        client = session.create_client(RUNTIME_SERVICE, region_name=spec.region)
    except BotoCoreError as error:
        raise BenchError(f"AWS credentials for bench could not be read: {error}.") from None
    if credentials is None:
        raise BenchError(
            f"no AWS credentials to sign requests to the SageMaker endpoint {name}: set "
            "AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the caller needs "
            "sagemaker:InvokeEndpointWithResponseStream on it)."
        )
    base = client.meta.endpoint_url.rstrip("/")
    url = f"{base}/endpoints/{quote(name, safe='')}/invocations-response-stream"
    return SagemakerStream(url, spec.region, credentials)
