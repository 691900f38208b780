"""`infra bench` through the managed endpoints' invoke APIs, against tests/sse_server.py speaking
each one's path, request format, framing and credentials: SageMaker's response stream (AWS event
stream frames, SigV4), Vertex AI's streamRawPredict and Azure ML's scoring URI (bearer tokens).
The measured latencies are the server's within 10%, the credentials reach the server (it refuses
a request without them) and every missing piece is one sentence. Kubernetes says what --url to
give."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.loadtest.client import Endpoint, run_step
from orchestrator.loadtest.inputs import BenchError
from orchestrator.loadtest.summary import StepSummary, Targets, summarize
from orchestrator.loadtest.traffic import TokenDistribution, arrival_times, shapes
from orchestrator.loadtest.transport import Transport
from planner.images import VERTEX_IMAGES
from planner.profile import TokenStats
from providers import targets
from tests.conftest import Cli
from tests.sse_server import Behaviour, serving

TOKENS = 6
FAST = Behaviour(ttft_s=0.4, tpot_s=0.02, concurrency=16)
ENDPOINT = "chat-endpoint"
KEY_ID = "AKIDBENCHTEST"


def within(measured: float | None, expected: float, share: float = 0.10) -> bool:
    return measured is not None and abs(measured - expected) <= share * expected


def measure(transport: Transport, rate: float = 8, duration_s: float = 1.5) -> StepSummary:
    """One step at `rate` through `transport`, answers of TOKENS tokens."""
    tokens = TokenDistribution.fitted(TokenStats(mean=TOKENS, p95=TOKENS))
    arrivals = arrival_times(rate, duration_s, None, seed=0)
    run = run_step(
        Endpoint(transport, "m", {}, 30.0), arrivals, shapes(len(arrivals), tokens, tokens, 0)
    )
    return summarize(rate, run, Targets(None, None, None))


def assert_the_servers_latencies(step: StepSummary, behaviour: Behaviour = FAST) -> None:
    assert step.errors == {} and step.succeeded == step.requests > 5, step.errors
    assert within(step.ttft_ms.p50, behaviour.ttft_s * 1000), step.ttft_ms
    assert within(step.tpot_ms.p50, behaviour.tpot_s * 1000), step.tpot_ms


def spec(kind: str, **fields: Any) -> Any:
    runtime = SimpleNamespace(image="registry.example/vllm:1", port=8000)
    return SimpleNamespace(
        kind=kind, stack_name="chat-prod", region="us-east-1", runtime=runtime, **fields
    )


# --- SageMaker ---------------------------------------------------------------------------

SAGEMAKER_PROFILE = """\
name: bench-chat
model:
  name: llama-3.1-8b
workload:
  requests_per_second: 8
  input_tokens: {mean: 50, p95: 80}
  output_tokens: {mean: 6, p95: 6}
targets:
  ttft_ms_p95: 600
  tpot_ms: 50
placement: {clouds: [aws], kinds: [sagemaker]}
tags: {team: t, cost-center: c, env: dev}
"""


def sagemaker_server(**changes: Any) -> Behaviour:
    return Behaviour(
        ttft_s=FAST.ttft_s,
        tpot_s=FAST.tpot_s,
        concurrency=FAST.concurrency,
        protocol="eventstream",
        path=f"/endpoints/{ENDPOINT}/invocations-response-stream",
        authorization=f"AWS4-HMAC-SHA256 Credential={KEY_ID}/",
        signed_headers=("X-Amz-Date", "X-Amzn-SageMaker-Accept"),
        **changes,
    )


@pytest.fixture
def aws_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bench-test-secret")
    return monkeypatch


def deployed_with(monkeypatch: pytest.MonkeyPatch, outputs: dict[str, object]) -> None:
    import orchestrator.workflow

    monkeypatch.setattr(orchestrator.workflow, "status", lambda _: {"outputs": outputs})


def test_sagemaker_is_benched_through_its_signed_response_stream(
    cli: Cli, tmp_path: Path, aws_keys: pytest.MonkeyPatch
) -> None:
    """From the CLI, without --url: the kind's transport, the stack's endpoint_name output."""
    profile = tmp_path / "bench-chat.yaml"
    profile.write_text(SAGEMAKER_PROFILE)
    deployed_with(aws_keys, {"endpoint_name": ENDPOINT})
    with serving(sagemaker_server()) as server:
        aws_keys.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        result = cli(
            "bench", profile, "--env", "prod", "--duration", "1.5s", "--replicas", "1", "--json"
        )
        sent = server.bodies
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["url"] == f"{server.url}/endpoints/{ENDPOINT}/invocations-response-stream"
    (step,) = body["steps"]
    assert step["errors"] == {} and step["succeeded"] == step["requests"] > 5
    assert within(step["ttft_ms"]["p50"], 400), step["ttft_ms"]
    assert within(step["tpot_ms"]["p50"], 20), step["tpot_ms"]
    # the container's OpenAI chat body, as LMI and TGI take it on /invocations
    assert all(b["stream"] and b["messages"] for b in sent)
    assert "bench-test-secret" not in result.output and "Signature" not in result.output


def test_sagemaker_stream_error_events_are_counted(aws_keys: pytest.MonkeyPatch) -> None:
    from orchestrator.aws.sagemaker_invoke import transport

    with serving(sagemaker_server(drop_every=3)) as server:
        aws_keys.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        step = measure(transport(spec("sagemaker"), {"endpoint_name": ENDPOINT}))
        count = server.count
    assert step.errors == {"model stream error": count // 3} and count >= 3
    assert step.succeeded == count - count // 3


def test_sagemaker_requests_without_a_signature_are_refused_by_the_server(
    aws_keys: pytest.MonkeyPatch,
) -> None:
    """The server checks the signature's key id: the test would fail with a wrong one."""
    from orchestrator.aws.sagemaker_invoke import transport

    aws_keys.setenv("AWS_ACCESS_KEY_ID", "AKIDSOMEONEELSE")
    with serving(sagemaker_server()) as server:
        aws_keys.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        step = measure(transport(spec("sagemaker"), {"endpoint_name": ENDPOINT}), 4, 0.5)
    assert set(step.errors) == {"HTTP 403"}


def test_credentials_refused_on_every_request_is_one_sentence(
    cli: Cli, tmp_path: Path, aws_keys: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "bench-chat.yaml"
    profile.write_text(SAGEMAKER_PROFILE)
    deployed_with(aws_keys, {"endpoint_name": ENDPOINT})
    aws_keys.setenv("AWS_ACCESS_KEY_ID", "AKIDSOMEONEELSE")
    with serving(sagemaker_server()) as server:
        aws_keys.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        result = cli("bench", profile, "--env", "prod", "--duration", "1s", "--max-requests", "2")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("  ✓")]
    assert "answered HTTP 403 to every request: do your credentials allow invoking it?" in line


def test_sagemaker_without_credentials_or_endpoint_is_one_sentence(
    aws_keys: pytest.MonkeyPatch,
) -> None:
    from orchestrator.aws.sagemaker_invoke import transport

    with pytest.raises(BenchError, match="chat-prod has no endpoint_name output: deploy it"):
        transport(spec("sagemaker"), {})
    aws_keys.delenv("AWS_ACCESS_KEY_ID")
    aws_keys.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(BenchError, match="no AWS credentials to sign requests") as raised:
        transport(spec("sagemaker"), {"endpoint_name": ENDPOINT})
    assert "\n" not in str(raised.value)


# --- Vertex AI ---------------------------------------------------------------------------

VERTEX_ENDPOINT = "projects/p/locations/us-central1/endpoints/42"
VERTEX_OUTPUTS = {"vertex_endpoint_name": VERTEX_ENDPOINT, "region": "us-central1"}
GOOGLE_TOKEN = "vertex-test-token"


class GoogleCredentials:
    """Stands in for google-auth's credentials: invalid until refreshed, like a new one."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.token: str | None = None
        self.refreshed = 0
        self.fail = fail

    @property
    def valid(self) -> bool:
        return self.token is not None

    def refresh(self, request: object) -> None:
        if self.fail:
            raise self.fail
        self.refreshed += 1
        self.token = GOOGLE_TOKEN


def vertex_server(path: str, protocol: str) -> Behaviour:
    return Behaviour(
        ttft_s=FAST.ttft_s,
        tpot_s=FAST.tpot_s,
        concurrency=FAST.concurrency,
        protocol=protocol,
        path=path,
        authorization=f"Bearer {GOOGLE_TOKEN}",
    )


def test_vertex_streams_raw_predictions_to_the_containers_completions_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import orchestrator.gcp.vertex_invoke as vertex

    credentials = GoogleCredentials()
    monkeypatch.setattr(vertex, "_credentials", lambda: credentials)
    with serving(vertex_server(f"/v1/{VERTEX_ENDPOINT}:streamRawPredict", "completions")) as server:
        monkeypatch.setattr(vertex, "API_BASE", server.url)
        step = measure(vertex.transport(spec("vertex"), VERTEX_OUTPUTS))
        sent = server.bodies
    assert_the_servers_latencies(step)
    assert all(b["prompt"] and "messages" not in b for b in sent)
    assert credentials.refreshed == 1  # once, then reused while valid


def test_vertex_model_garden_image_is_called_through_chat_completions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import orchestrator.gcp.vertex_invoke as vertex

    monkeypatch.setattr(vertex, "_credentials", GoogleCredentials)
    garden = spec("vertex")
    garden.runtime.image = next(iter(VERTEX_IMAGES.values()))
    path = f"/v1beta1/{VERTEX_ENDPOINT}/chat/completions"
    with serving(vertex_server(path, "chat")) as server:
        monkeypatch.setattr(vertex, "API_BASE", server.url)
        step = measure(vertex.transport(garden, VERTEX_OUTPUTS), 4, 1.0)
    assert step.errors == {} and step.succeeded == step.requests > 0


def test_vertex_without_credentials_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from google.auth.exceptions import RefreshError

    import orchestrator.gcp.vertex_invoke as vertex

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(BenchError, match="no Google credentials to call the Vertex AI endpoint"):
        vertex.transport(spec("vertex"), VERTEX_OUTPUTS)
    monkeypatch.setattr(vertex, "_credentials", lambda: GoogleCredentials(RefreshError("gone")))
    with pytest.raises(BenchError, match="could not be refreshed: gone"):
        vertex.transport(spec("vertex"), VERTEX_OUTPUTS)
    with pytest.raises(BenchError, match="has no region output"):
        vertex.transport(spec("vertex"), {"vertex_endpoint_name": VERTEX_ENDPOINT})


def test_vertex_without_google_auth_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import orchestrator.gcp.vertex_invoke as vertex

    monkeypatch.setitem(sys.modules, "google.auth", None)
    with pytest.raises(BenchError, match="needs google-auth for its token: pip install"):
        vertex.transport(spec("vertex"), VERTEX_OUTPUTS)


# --- Azure ML ----------------------------------------------------------------------------

AZURE_OUTPUTS = {"online_endpoint_name": "chat-ep", "region": "westeurope"}
AZURE_TOKEN = "azureml-test-token"


class AzureCredential:
    """Stands in for DefaultAzureCredential: tokens living `life_s` seconds."""

    def __init__(self, life_s: float = 3600, fail: Exception | None = None) -> None:
        self.life_s = life_s
        self.scopes: list[str] = []
        self.fail = fail

    def get_token(self, scope: str) -> Any:
        if self.fail:
            raise self.fail
        self.scopes.append(scope)
        return SimpleNamespace(token=AZURE_TOKEN, expires_on=int(time.time() + self.life_s))


def azure_measured(
    monkeypatch: pytest.MonkeyPatch, credential: AzureCredential, step: Callable[..., StepSummary]
) -> tuple[StepSummary, list[dict[str, Any]]]:
    import orchestrator.azure.azureml_invoke as azureml

    monkeypatch.setattr(azureml, "_credential", lambda: credential)
    behaviour = Behaviour(
        ttft_s=FAST.ttft_s,
        tpot_s=FAST.tpot_s,
        concurrency=FAST.concurrency,
        protocol="completions",
        path="/score",
        authorization=f"Bearer {AZURE_TOKEN}",
    )
    with serving(behaviour) as server:
        monkeypatch.setattr(azureml, "SCORING_URI", f"{server.url}/score")
        measured = step(azureml.transport(spec("azureml"), AZURE_OUTPUTS))
        return measured, server.bodies


def test_azureml_scoring_uri_is_benched_with_an_entra_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import orchestrator.azure.azureml_invoke as azureml

    credential = AzureCredential()
    step, sent = azure_measured(monkeypatch, credential, measure)
    assert_the_servers_latencies(step)
    assert all(b["prompt"] and "messages" not in b for b in sent)
    assert credential.scopes == ["https://ml.azure.com/.default"]  # one token, reused
    assert azureml.SCORING_URI != "https://{endpoint}.{region}.inference.ml.azure.com/score"


def test_azureml_token_near_its_expiry_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    credential = AzureCredential(life_s=60)  # inside REFRESH_BEFORE_S: a new one every request
    step, _ = azure_measured(monkeypatch, credential, lambda t: measure(t, 4, 0.5))
    assert len(credential.scopes) == step.requests + 1  # the check at the start, then each


def test_azureml_without_credentials_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    import orchestrator.azure.azureml_invoke as azureml

    own = azureml._credential
    failing = AzureCredential(fail=ClientAuthenticationError("no credential"))
    monkeypatch.setattr(azureml, "_credential", lambda: failing)
    with pytest.raises(BenchError, match="no Microsoft Entra token for the Azure ML endpoint"):
        azureml.transport(spec("azureml"), AZURE_OUTPUTS)
    with pytest.raises(BenchError, match="has no online_endpoint_name output"):
        azureml.transport(spec("azureml"), {"region": "westeurope"})
    monkeypatch.setattr(azureml, "_credential", own)
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(BenchError, match="needs azure-identity for its token: pip install"):
        azureml.transport(spec("azureml"), AZURE_OUTPUTS)


# --- Kubernetes and the registry ---------------------------------------------------------


def kubernetes_spec(kserve: bool) -> Any:
    return spec("kubernetes", kubernetes=SimpleNamespace(namespace="serving", kserve=kserve))


def test_kubernetes_says_what_url_to_give() -> None:
    from orchestrator.kubernetes_invoke import transport

    with pytest.raises(BenchError, match=r"port-forward service/chat-prod 8000:8000` and give"):
        transport(kubernetes_spec(False), {"kubernetes_workload": "applied"})
    with pytest.raises(BenchError, match="get inferenceservice chat-prod"):
        transport(kubernetes_spec(True), {})
    created = {"kubernetes_workload": "not applied: a cluster the toolkit creates has no KEDA."}
    with pytest.raises(BenchError, match="holds no serving workload yet"):
        transport(kubernetes_spec(False), created)


@pytest.mark.parametrize("kind", targets.kinds(), ids=lambda kind: kind.name)
def test_every_kind_names_a_transport(kind: targets.Kind) -> None:
    factory = targets.resolve(kind.invoke_transport)
    assert callable(factory)
    if not kind.runs_instances:  # a managed endpoint is called through its own invoke API
        assert kind.invoke_transport != targets.FLEET.invoke_transport
