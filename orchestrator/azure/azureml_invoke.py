"""`infra bench` on an Azure ML managed online endpoint, with a Microsoft Entra token.

The endpoint's scoring URI (https://ENDPOINT.REGION.inference.ml.azure.com/score) forwards the
body to the deployment's scoring route, which orchestrator/azureml_endpoint.py sets to the
engine's OpenAI completions route, and streams its answer back: bench sends completions. The
endpoint takes Entra tokens only (its auth mode is `aad_token`; no key exists), for the
https://ml.azure.com scope, from azure-identity's DefaultAzureCredential (`az login`, a managed
identity, environment variables); the caller needs the endpoint's score action. The token is
refreshed before it expires and never logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.loadtest.inputs import BenchError
from orchestrator.loadtest.transport import BearerHttp, output

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

SCORING_URI = "https://{endpoint}.{region}.inference.ml.azure.com/score"
SCOPE = "https://ml.azure.com/.default"
REFRESH_BEFORE_S = 300
"""A token this close to its expiry is replaced: a request must not carry one that lapses."""


def _credential() -> Any:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise BenchError(
            "benching an Azure ML endpoint needs azure-identity for its token: "
            "pip install azure-identity."
        ) from None
    return DefaultAzureCredential()


def _token_source(credential: Any) -> Callable[[], str]:
    from azure.core.exceptions import ClientAuthenticationError

    held: list[Any] = []

    def token() -> str:
        if not held or held[0].expires_on - time.time() < REFRESH_BEFORE_S:
            try:
                held[:] = [credential.get_token(SCOPE)]
            except ClientAuthenticationError:
                raise BenchError(
                    "no Microsoft Entra token for the Azure ML endpoint: run `az login` or set "
                    "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (the caller needs "
                    "the endpoint's score action)."
                ) from None
        return str(held[0].token)

    return token


def transport(spec: DeploymentSpec, outputs: Mapping[str, object]) -> BearerHttp:
    """The endpoint's scoring URI and an Entra token for it."""
    name = output(spec, outputs, "online_endpoint_name")
    region = output(spec, outputs, "region")
    token = _token_source(_credential())
    token()  # no credential is one sentence now, not an error on every request
    return BearerHttp(SCORING_URI.format(endpoint=name, region=region), "completions", token)
