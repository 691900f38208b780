"""Azure ML SDK steps against a fake at the SDK boundary (tests/sdk_fakes.py): the exact calls
and their order for a first deploy, a re-run, a canary, a rollback, a failed deployment and
destroy; the SDK entities built from the requests, and credentials, without any cloud call."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import InfraError
from orchestrator import sdk_steps
from orchestrator.azureml_endpoint import AzureMlEndpoint, AzureMlOutputs, check_azureml
from orchestrator.managed_container import ManagedContainerError
from orchestrator.rollout import CanaryRolledBack, NothingToRollBack
from planner.deployment import DeploymentSpec
from planner.images import DEFAULT_IMAGES
from planner.profile import AzureOptions, Network
from providers.azure.azureml_api import (
    AzureMlSdkApi,
    DeploymentSettings,
    EndpointSettings,
    Probe,
    managed_online_deployment,
    managed_online_endpoint,
)
from providers.sdk_errors import CloudCallFailed, MissingCredentials
from tests.sdk_fakes import (
    AZURE_OUTPUTS,
    AZURE_SDK_WARNINGS,
    AZURE_VLLM_IMAGE,
    IDENTITY_ID,
    MODEL_ID,
    TAGS,
    FakeAzureMlApi,
    Steps,
    azureml_spec,
    deployment_of,
    with_runtime,
)

pytestmark = AZURE_SDK_WARNINGS
ENDPOINT = str(AZURE_OUTPUTS["online_endpoint_name"])
SPEC_A = azureml_spec()
SPEC_B = with_runtime(SPEC_A, max_batch=48)
TGI_ENVIRONMENT = {
    "MODEL_ID": MODEL_ID,
    "PORT": "8000",
    "NUM_SHARD": "1",
    "MAX_CONCURRENT_REQUESTS": "64",
    "MAX_TOTAL_TOKENS": "4096",
    "MAX_INPUT_TOKENS": "4095",
    "DTYPE": "bfloat16",
}


class Run:
    def __init__(self, api: FakeAzureMlApi, spec: DeploymentSpec, tmp_path: Path) -> None:
        self.api = api
        self.steps = Steps()
        self.deployment = deployment_of(spec, tmp_path, self.steps)
        self.slept: list[float] = []

    def driver(self, spec: DeploymentSpec, outputs: Any) -> AzureMlEndpoint:
        return AzureMlEndpoint(spec, AzureMlOutputs.read(spec.stack_name, outputs), self.api)

    def deploy(self, sleep: Any = None) -> dict[str, Any]:
        result = sdk_steps.after_apply(
            self.deployment, AZURE_OUTPUTS, self.driver, sleep or self.slept.append
        )
        assert result is not None
        return result

    def rollback(self) -> dict[str, Any]:
        return sdk_steps.rollback(self.deployment, lambda _: AZURE_OUTPUTS, self.driver)

    def status(self) -> dict[str, Any]:
        result = sdk_steps.live_status(self.deployment, AZURE_OUTPUTS, self.driver)
        assert result is not None
        return result


def deployed_a(api: FakeAzureMlApi, tmp_path: Path) -> str:
    revision = Run(api, SPEC_A, tmp_path).deploy()["revision"]
    api.calls.clear()
    return revision


def interrupted_canary(api: FakeAzureMlApi, tmp_path: Path) -> tuple[str, str]:
    a = deployed_a(api, tmp_path)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Run(api, SPEC_B, tmp_path).deploy(sleep=interrupt)
    b = next(name for name in api.deployments if name != a)
    assert api.serving() == {a: 80, b: 20}
    api.calls.clear()
    return a, b


# --- deploy ---------------------------------------------------------------------------------------


def test_first_deploy_creates_the_endpoint_then_the_deployment_with_all_the_traffic(
    tmp_path: Path,
) -> None:
    api = FakeAzureMlApi()
    run = Run(api, SPEC_A, tmp_path)
    result = run.deploy()
    revision = result["revision"]
    assert api.names() == [
        "read_endpoint",
        "create_or_update_endpoint",
        "read_endpoint",
        "list_deployments",
        "create_or_update_deployment",
        "apply_autoscale",
        "set_traffic",
        "read_endpoint",
        "list_deployments",
        "autoscale_exists",
        "read_endpoint",
        "list_deployments",
        "autoscale_exists",
    ]
    assert api.calls[1][1] == (
        EndpointSettings(
            name=ENDPOINT,
            auth_mode="aad_token",
            identity_id=IDENTITY_ID,
            public_network_access="disabled",
            tags=TAGS,
        ),
        {},
    )
    assert api.calls[4][1] == DeploymentSettings(
        name=revision,
        endpoint_name=ENDPOINT,
        image=DEFAULT_IMAGES["tgi"],
        port=8000,
        health_path="/health",
        scoring_path="/v1/completions",
        environment_variables=TGI_ENVIRONMENT,
        instance_type="Standard_NC24ads_A100_v4",
        instance_count=3,
        request_timeout_ms=180_000,
        max_concurrent_requests_per_instance=64,
        liveness_probe=Probe(initial_delay=840, period=10, timeout=5, failure_threshold=3),
        readiness_probe=Probe(initial_delay=10, period=10, timeout=5, failure_threshold=3),
        tags=TAGS,
    )
    assert api.calls[6][1] == {revision: 100}
    assert result["actions"] == [
        f"created or updated the endpoint {ENDPOINT}",
        f"deployed {revision} with 100% of the traffic",
    ]
    assert result["traffic"] == {revision: 100}
    assert run.steps.started == [
        f"Azure ML: read {ENDPOINT}",
        f"Azure ML: deploy {revision}: 3× Standard_NC24ads_A100_v4, 100% of the traffic",
    ]
    assert run.slept == []


def test_a_re_run_with_the_same_spec_only_reads(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    revision = deployed_a(api, tmp_path)
    result = Run(api, SPEC_A, tmp_path).deploy()
    assert api.names() == [
        "read_endpoint",
        "read_endpoint",
        "list_deployments",
        "autoscale_exists",
    ]
    assert result["changed"] is False and result["traffic"] == {revision: 100}


def test_changed_tags_update_the_endpoint_and_keep_its_traffic(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    revision = deployed_a(api, tmp_path)
    retagged = msgspec.structs.replace(SPEC_A, tags={**TAGS, "owner": "ml-platform"})
    result = Run(api, retagged, tmp_path).deploy()
    assert api.changing() == ["create_or_update_endpoint"]
    settings, traffic = api.calls[1][1]
    assert settings.tags["owner"] == "ml-platform" and traffic == {revision: 100}
    assert result["revision"] == revision


def test_a_public_network_opens_the_endpoint(tmp_path: Path) -> None:
    spec = msgspec.structs.replace(SPEC_A, network=Network(public=True))
    api = FakeAzureMlApi()
    Run(api, spec, tmp_path).deploy()
    assert api.endpoint_settings is not None
    assert api.endpoint_settings.public_network_access == "enabled"


def test_a_changed_configuration_goes_live_as_a_canary_then_replaces_the_old_deployment(
    tmp_path: Path,
) -> None:
    api = FakeAzureMlApi()
    a = deployed_a(api, tmp_path)
    run = Run(api, SPEC_B, tmp_path)
    result = run.deploy()
    b = result["revision"]
    assert [
        (n, p if n != "create_or_update_deployment" else p.name)
        for n, p in api.calls
        if n in {"create_or_update_deployment", "set_traffic", "delete_deployment"}
    ] == [
        ("create_or_update_deployment", b),
        ("set_traffic", {b: 20, a: 80}),
        ("set_traffic", {b: 100, a: 0}),
        ("delete_deployment", a),
    ]
    assert api.settings[b].max_concurrent_requests_per_instance == 48
    assert run.slept == [300]
    assert api.serving() == {b: 100} and list(api.deployments) == [b]


def test_an_interrupted_bake_is_baked_again_and_promoted_by_the_next_run(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    _, b = interrupted_canary(api, tmp_path)
    run = Run(api, SPEC_B, tmp_path)
    run.deploy()
    assert api.changing() == ["set_traffic", "delete_deployment", "delete_autoscale"]
    assert run.slept == [300] and api.serving() == {b: 100}


# --- a failed call leaves a state the next run continues from ------------------------------------


def test_a_failed_deployment_is_updated_in_place_by_the_next_run(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    a = deployed_a(api, tmp_path)
    api.fail_deployment_as_failed = True
    with pytest.raises(CloudCallFailed, match="could not create the deployment"):
        Run(api, SPEC_B, tmp_path).deploy()
    (b,) = [name for name in api.deployments if name != a]
    assert api.deployments[b].provisioning_state == "Failed"
    assert api.serving() == {a: 100}
    status = Run(api, SPEC_B, tmp_path).status()
    assert {row["name"]: row["ready"] for row in status["revisions"]} == {a: True, b: False}
    api.calls.clear()
    Run(api, SPEC_B, tmp_path).deploy()
    assert api.changing() == [
        "create_or_update_deployment",
        "apply_autoscale",
        "set_traffic",
        "set_traffic",
        "delete_deployment",
        "delete_autoscale",
    ]
    assert api.serving() == {b: 100}


def test_traffic_that_was_never_set_is_set_by_the_next_run(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    api.fail_next("set_traffic")
    with pytest.raises(CloudCallFailed):
        Run(api, SPEC_A, tmp_path).deploy()
    api.calls.clear()
    revision = Run(api, SPEC_A, tmp_path).deploy()["revision"]
    assert api.changing() == ["set_traffic"]
    assert api.serving() == {revision: 100}


@pytest.mark.parametrize(
    ("failing", "prior"),
    [("create_or_update_endpoint", False), ("set_traffic", True), ("delete_deployment", True)],
)
def test_other_failed_calls_are_finished_by_the_next_run(
    tmp_path: Path, failing: str, prior: bool
) -> None:
    api = FakeAzureMlApi()
    if prior:
        deployed_a(api, tmp_path)
    api.fail_next(failing)
    with pytest.raises(CloudCallFailed):
        Run(api, SPEC_B, tmp_path).deploy()
    b = Run(api, SPEC_B, tmp_path).deploy()["revision"]
    assert api.serving() == {b: 100} and list(api.deployments) == [b]
    assert Run(api, SPEC_B, tmp_path).deploy()["changed"] is False


# --- rollback, status, destroy --------------------------------------------------------------------


def test_rollback_sends_the_traffic_back_and_deletes_the_canary(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    a, b = interrupted_canary(api, tmp_path)
    result = Run(api, SPEC_B, tmp_path).rollback()
    assert [(n, p) for n, p in api.calls if n in {"set_traffic", "delete_deployment"}] == [
        ("set_traffic", {a: 100, b: 0}),
        ("delete_deployment", b),
    ]
    assert result == {"endpoint": ENDPOINT, "rolled_back": b, "serving": a, "traffic": {a: 100}}


def test_rollback_during_the_bake_stops_the_promotion(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    a = deployed_a(api, tmp_path)
    with pytest.raises(CanaryRolledBack):
        Run(api, SPEC_B, tmp_path).deploy(sleep=lambda s: Run(api, SPEC_B, tmp_path).rollback())
    assert api.serving() == {a: 100} and list(api.deployments) == [a]


def test_nothing_to_roll_back_after_promotion(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    deployed_a(api, tmp_path)
    Run(api, SPEC_B, tmp_path).deploy()
    with pytest.raises(NothingToRollBack, match="re-deploy the previous profile"):
        Run(api, SPEC_B, tmp_path).rollback()


def test_status_reads_the_deployments_their_traffic_and_instances(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    a, b = interrupted_canary(api, tmp_path)
    status = Run(api, SPEC_B, tmp_path).status()
    assert status["cloud"] == "Azure ML" and status["in_sync"] is False
    assert status["revisions"] == [
        {
            "name": a,
            "id": a,
            "traffic": 80,
            "ready": True,
            "this_spec": False,
            "instance_type": "Standard_NC24ads_A100_v4",
            "instances": 3,
            "state": "Succeeded",
        },
        {
            "name": b,
            "id": b,
            "traffic": 20,
            "ready": True,
            "this_spec": True,
            "instance_type": "Standard_NC24ads_A100_v4",
            "instances": 3,
            "state": "Succeeded",
        },
    ]


def test_status_before_the_endpoint_exists_lists_nothing(tmp_path: Path) -> None:
    status = Run(FakeAzureMlApi(), SPEC_A, tmp_path).status()
    assert status["revisions"] == [] and status["in_sync"] is False


def test_destroy_deletes_the_endpoint_the_sdk_created(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    a, b = interrupted_canary(api, tmp_path)
    run = Run(api, SPEC_B, tmp_path)
    removed = sdk_steps.before_destroy(run.deployment, AZURE_OUTPUTS, run.driver)
    assert api.changing() == ["delete_endpoint", "delete_autoscale", "delete_autoscale"]
    assert removed == [
        f"endpoint {ENDPOINT}",
        f"deployment {a}",
        f"deployment {b}",
        f"autoscale setting {ENDPOINT}-{a}-autoscale",
        f"autoscale setting {ENDPOINT}-{b}-autoscale",
    ]
    assert api.autoscale == {}
    api.calls.clear()
    assert sdk_steps.before_destroy(run.deployment, AZURE_OUTPUTS, run.driver) == []
    assert api.changing() == []


def test_missing_outputs_are_named() -> None:
    outputs = {**AZURE_OUTPUTS, "identity_id": ""}
    with pytest.raises(InfraError, match="outputs lack identity_id; apply the Azure ML stack"):
        AzureMlOutputs.read("chat-prod", outputs)


# --- the container Azure ML can run ---------------------------------------------------------------


def test_tgi_extra_args_become_its_environment_variables() -> None:
    spec = with_runtime(
        SPEC_A, extra_args=["--max-waiting-tokens", "20", "--disable-grammar-support", "--x=1"]
    )
    driver = AzureMlEndpoint(spec, AzureMlOutputs.read("x", AZURE_OUTPUTS), FakeAzureMlApi())
    assert driver.deployment.environment_variables == {
        **TGI_ENVIRONMENT,
        "MAX_WAITING_TOKENS": "20",
        "DISABLE_GRAMMAR_SUPPORT": "true",
        "X": "1",
    }


def test_vllm_takes_its_flags_from_engine_args_in_a_derived_image() -> None:
    spec = azureml_spec("vllm", extra_args=["--served-model-name", "chat model"])
    driver = AzureMlEndpoint(spec, AzureMlOutputs.read("x", AZURE_OUTPUTS), FakeAzureMlApi())
    (value,) = driver.deployment.environment_variables.values()
    assert list(driver.deployment.environment_variables) == ["ENGINE_ARGS"]
    assert driver.deployment.image == AZURE_VLLM_IMAGE
    assert shlex.split(value) == [
        "--model",
        MODEL_ID,
        "--port",
        "8000",
        "--tensor-parallel-size",
        "1",
        "--max-num-seqs",
        "64",
        "--max-model-len",
        "4096",
        "--dtype",
        "bfloat16",
        "--served-model-name",
        "chat model",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            azureml_spec("vllm", image="vllm/vllm-openai:v0.11.0"),
            "stock vLLM image (vllm/vllm-openai:v0.11.0) reads its settings from flags only",
        ),
        (
            azureml_spec("vllm", image="docker.io/vllm/vllm-openai@sha256:" + "0" * 64),
            "stock vLLM image",
        ),
        (with_runtime(SPEC_A, extra_args=["-v"]), "cannot become TGI environment variables"),
        (with_runtime(SPEC_A, precision="fp32"), "TGI does not serve fp32"),
        (
            msgspec.structs.replace(
                SPEC_A,
                azure=AzureOptions(
                    hf_token_secret_id="/subscriptions/00000000-0000-0000-0000-000000000001/"
                    "resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-serving/secrets/hf"
                ),
            ),
            "model hub token cannot be passed safely",
        ),
        (with_runtime(SPEC_A, model_s3_uri="s3://models/qwen"), "no boot step to copy them"),
    ],
)
def test_what_azure_ml_cannot_run_is_refused_in_one_sentence(
    spec: DeploymentSpec, message: str
) -> None:
    with pytest.raises(ManagedContainerError) as caught:
        check_azureml(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_derived_vllm_image_is_accepted() -> None:
    check_azureml(azureml_spec("vllm"))
    check_azureml(azureml_spec("vllm", image="docker.io/library/vllm-openai:mine"))


# --- the SDK entities and credentials, without a cloud --------------------------------------------


def test_the_endpoint_entity_uses_entra_tokens_and_the_stacks_identity() -> None:
    driver = AzureMlEndpoint(SPEC_A, AzureMlOutputs.read("x", AZURE_OUTPUTS), FakeAzureMlApi())
    endpoint = managed_online_endpoint(driver.endpoint, {"rev-a": 100})
    assert endpoint.name == ENDPOINT and endpoint.auth_mode == "aad_token"
    assert endpoint.identity.type == "user_assigned"
    assert [i.resource_id for i in endpoint.identity.user_assigned_identities] == [IDENTITY_ID]
    assert (endpoint.public_network_access, endpoint.traffic, endpoint.tags) == (
        "disabled",
        {"rev-a": 100},
        TAGS,
    )
    rest = endpoint._to_rest_online_endpoint("eastus")
    assert rest.properties.auth_mode == "AADToken"
    assert rest.properties.public_network_access == "disabled"


def test_the_deployment_entity_is_a_custom_container_with_probes_and_request_settings() -> None:
    driver = AzureMlEndpoint(SPEC_A, AzureMlOutputs.read("x", AZURE_OUTPUTS), FakeAzureMlApi())
    deployment = managed_online_deployment(driver.deployment)
    assert deployment.environment.image == DEFAULT_IMAGES["tgi"]
    assert deployment.environment.inference_config == {
        "liveness_route": {"path": "/health", "port": 8000},
        "readiness_route": {"path": "/health", "port": 8000},
        "scoring_route": {"path": "/v1/completions", "port": 8000},
    }
    rest = deployment._to_rest_object(location="eastus").as_dict()
    properties = rest["properties"]
    assert rest["sku"] == {"name": "Default", "capacity": 3}
    assert properties["instanceType"] == "Standard_NC24ads_A100_v4"
    assert properties["scaleSettings"] == {"scaleType": "Default"}
    assert properties["environmentVariables"] == TGI_ENVIRONMENT
    assert properties["requestSettings"] == {
        "maxConcurrentRequestsPerInstance": 64,
        "requestTimeout": "PT3M",
    }
    assert properties["livenessProbe"]["initialDelay"] == "PT14M"
    assert properties["readinessProbe"] == {
        "failureThreshold": 3,
        "successThreshold": 1,
        "timeout": "PT5S",
        "period": "PT10S",
        "initialDelay": "PT10S",
    }


def test_missing_azure_credentials_are_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.identity
    from azure.core.exceptions import ClientAuthenticationError

    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError(
                message="DefaultAzureCredential failed to retrieve a token.\nAttempted ..."
            )

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", NoCredential)
    with pytest.raises(MissingCredentials) as caught:
        AzureMlSdkApi("sub", "rg", "ws")
    assert str(caught.value).startswith("no usable Azure credentials: sign in with `az login`")
    assert "\n" not in str(caught.value)


def test_azure_errors_become_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.identity
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import HttpResponseError

    class Credential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("token", 2**31)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Credential)
    api = AzureMlSdkApi("00000000-0000-0000-0000-000000000001", "rg", "ws")

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise HttpResponseError(message="(AuthorizationFailed) The client has no access.\nCode")

    monkeypatch.setattr(api._client.online_deployments, "list", refused)
    with pytest.raises(CloudCallFailed) as caught:
        api.list_deployments(ENDPOINT)
    assert str(caught.value) == (
        f"Azure ML could not list the deployments of {ENDPOINT}: (AuthorizationFailed) The "
        "client has no access."
    )


def test_sign_in_refused_during_a_call_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.identity
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

    class Credential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("token", 2**31)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Credential)
    api = AzureMlSdkApi("00000000-0000-0000-0000-000000000001", "rg", "ws")

    def absent(*args: Any, **kwargs: Any) -> Any:
        raise ResourceNotFoundError(message="not found")

    monkeypatch.setattr(api._client.online_endpoints, "get", absent)
    assert api.read_endpoint(ENDPOINT) is None

    def expired(*args: Any, **kwargs: Any) -> Any:
        raise ClientAuthenticationError(message="AADSTS700082: The refresh token has expired.\nx")

    monkeypatch.setattr(api._client.online_endpoints, "begin_delete", expired)
    with pytest.raises(MissingCredentials) as caught:
        api.delete_endpoint(ENDPOINT)
    assert str(caught.value) == (
        f"Azure refused the credentials while trying to delete the endpoint {ENDPOINT} "
        "(AADSTS700082: The refresh token has expired); sign in again with `az login`."
    )
