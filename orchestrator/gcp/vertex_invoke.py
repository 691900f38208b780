"""`infra bench` on a Vertex AI endpoint, with a bearer token from Google's default credentials.

Vertex AI forwards a raw prediction to the deployed container's predict route
(orchestrator/vertex_endpoint.py sets it): `:streamRawPredict` streams the container's answer back
as it comes (REST reference, projects.locations.endpoints.streamRawPredict). The vLLM and TGI
images serve the OpenAI completions route there, so bench sends completions. Google's Model
Garden vLLM image serves its own /generate route instead, and Vertex AI exposes an
OpenAI-compatible chat completions method for it (v1beta1 projects.locations.endpoints.chat/
completions), which bench calls.

The token comes from google-auth's Application Default Credentials (`gcloud auth
application-default login`, a service account key, or the metadata server), with the
cloud-platform scope; the caller needs aiplatform.endpoints.predict. It is refreshed when it
expires and never logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.loadtest.inputs import BenchError
from orchestrator.loadtest.transport import BearerHttp, output
from planner.images import is_model_garden_vllm

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

API_BASE = "https://{region}-aiplatform.googleapis.com"
"""Vertex AI's regional service endpoint."""
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _credentials() -> Any:
    """Application Default Credentials, or one sentence saying what is missing."""
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError:
        raise BenchError(
            "benching a Vertex AI endpoint needs google-auth for its token: "
            "pip install google-auth."
        ) from None
    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
    except DefaultCredentialsError:
        raise BenchError(
            "no Google credentials to call the Vertex AI endpoint: run `gcloud auth "
            "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS."
        ) from None
    return credentials


def _token_source(credentials: Any) -> Callable[[], str]:
    def token() -> str:
        if not credentials.valid:
            from google.auth.exceptions import RefreshError
            from google.auth.transport.requests import Request

            try:
                credentials.refresh(Request())
            except RefreshError as error:
                raise BenchError(
                    f"the Google credentials could not be refreshed: {error}."
                ) from None
        return str(credentials.token)

    return token


def transport(spec: DeploymentSpec, outputs: Mapping[str, object]) -> BearerHttp:
    """The deployed endpoint's streaming method for its container, and a token for it."""
    endpoint = output(spec, outputs, "vertex_endpoint_name")
    region = output(spec, outputs, "region")
    token = _token_source(_credentials())
    token()  # a credential that cannot give a token is one sentence now, not every request
    base = API_BASE.format(region=region)
    if is_model_garden_vllm(spec.runtime.image):
        return BearerHttp(f"{base}/v1beta1/{endpoint}/chat/completions", "chat", token)
    return BearerHttp(f"{base}/v1/{endpoint}:streamRawPredict", "completions", token)
