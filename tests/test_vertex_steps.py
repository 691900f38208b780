"""Vertex AI SDK steps against a fake at the SDK boundary (tests/sdk_fakes.py): the exact calls
and their order for a first deploy, a re-run, a canary, a rollback, a failed call and destroy;
the real SDK wrapper's signatures, credentials and error translation without any cloud call."""

from __future__ import annotations

import csv
import inspect
from pathlib import Path
from typing import Any

import pytest

from core.errors import InfraError
from orchestrator import sdk_steps
from orchestrator.managed_container import ManagedContainerError
from orchestrator.rollout import CanaryRolledBack, NothingToRollBack
from orchestrator.vertex_endpoint import (
    ACCELERATOR_TYPES,
    MACHINE_ACCELERATORS,
    VertexEndpoint,
    VertexOutputs,
    check_vertex,
)
from planner.deployment import DeploymentSpec
from planner.images import VERTEX_IMAGES
from planner.profile import GcpOptions
from providers.gcp.labels import LabelError, gcp_labels
from providers.gcp.vertex_api import GoogleVertexApi, ModelDeployment, ModelUpload
from providers.sdk_errors import CloudCallFailed, MissingCredentials
from tests.conftest import REPO
from tests.sdk_fakes import (
    MODEL_ID,
    VERTEX_ENDPOINT,
    VERTEX_IMAGE,
    VERTEX_OUTPUTS,
    FakeVertexApi,
    Steps,
    deployment_of,
    vertex_spec,
    with_runtime,
)

SERVICE_ACCOUNT = str(VERTEX_OUTPUTS["service_account_email"])
KMS_KEY = str(VERTEX_OUTPUTS["kms_key_name"])


class Run:
    """The SDK steps of one spec against one fake, as `infra deploy|rollback|status|destroy`
    would run them after Terraform, with the bake's sleeps recorded."""

    def __init__(self, api: FakeVertexApi, spec: DeploymentSpec, tmp_path: Path) -> None:
        self.api = api
        self.steps = Steps()
        self.deployment = deployment_of(spec, tmp_path, self.steps)
        self.slept: list[float] = []

    def driver(self, spec: DeploymentSpec, outputs: Any) -> VertexEndpoint:
        return VertexEndpoint(spec, VertexOutputs.read(spec.stack_name, outputs), self.api)

    def deploy(self, sleep: Any = None) -> dict[str, Any]:
        result = sdk_steps.after_apply(
            self.deployment, VERTEX_OUTPUTS, self.driver, sleep or self.slept.append
        )
        assert result is not None
        return result

    def rollback(self) -> dict[str, Any]:
        return sdk_steps.rollback(self.deployment, lambda _: VERTEX_OUTPUTS, self.driver)

    def status(self) -> dict[str, Any]:
        result = sdk_steps.live_status(self.deployment, VERTEX_OUTPUTS, self.driver)
        assert result is not None
        return result


SPEC_A = vertex_spec()
SPEC_A_UPLOAD = VertexEndpoint(
    SPEC_A, VertexOutputs.read("x", VERTEX_OUTPUTS), FakeVertexApi()
).upload
SPEC_B = with_runtime(SPEC_A, max_batch=96)


def deployed_a(api: FakeVertexApi, tmp_path: Path) -> str:
    """Spec A live with all the traffic; its revision name."""
    revision = Run(api, SPEC_A, tmp_path).deploy()["revision"]
    api.calls.clear()
    return revision


def interrupted_canary(api: FakeVertexApi, tmp_path: Path) -> tuple[str, str]:
    """A live, B's canary baking when the run was interrupted (Ctrl-C)."""
    a = deployed_a(api, tmp_path)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Run(api, SPEC_B, tmp_path).deploy(sleep=interrupt)
    b = next(name for name in api.serving() if name != a)
    assert api.serving() == {a: 90, b: 10}
    api.calls.clear()
    return a, b


# --- deploy ---------------------------------------------------------------------------------------


def test_first_deploy_uploads_the_model_and_deploys_it_with_all_the_traffic(
    tmp_path: Path,
) -> None:
    api = FakeVertexApi()
    run = Run(api, SPEC_A, tmp_path)
    result = run.deploy()
    revision = result["revision"]
    assert api.names() == [
        "read_endpoint",
        "find_models",
        "upload_model",
        "deploy_model",
        "read_endpoint",
        "read_endpoint",
    ]
    config = revision.removeprefix("rev-")
    assert api.calls[1] == ("find_models", {"infra_stack": "chat-prod", "infra_config": config})
    assert api.calls[2][1] == ModelUpload(
        display_name=f"chat-prod-{revision}",
        serving_container_image_uri=VERTEX_IMAGE,
        serving_container_predict_route="/v1/completions",
        serving_container_health_route="/health",
        serving_container_ports=[8080],
        serving_container_args=[
            "--model",
            MODEL_ID,
            "--port",
            "8080",
            "--tensor-parallel-size",
            "2",
            "--max-num-seqs",
            "128",
            "--max-model-len",
            "8192",
            "--dtype",
            "bfloat16",
        ],
        labels={
            "team": "assistant",
            "cost-center": "cc_1234",
            "env": "prod",
            "infra_stack": "chat-prod",
            "infra_config": config,
        },
        serving_container_shared_memory_size_mb=16384,
        encryption_spec_key_name=KMS_KEY,
    )
    (model_name,) = api.models
    assert api.calls[3][1] == (
        model_name,
        ModelDeployment(
            deployed_model_display_name=revision,
            machine_type="g2-standard-24",
            accelerator_type="NVIDIA_L4",
            accelerator_count=2,
            min_replica_count=1,
            max_replica_count=4,
            autoscaling_target_request_count_per_minute=372,
            service_account=SERVICE_ACCOUNT,
        ),
        {"0": 100},
    )
    assert result == {
        "endpoint": VERTEX_ENDPOINT,
        "revision": revision,
        "changed": True,
        "actions": [f"deployed {revision} with 100% of the traffic"],
        "traffic": {revision: 100},
    }
    assert run.slept == []
    assert run.steps.started == [
        f"Vertex AI: read {VERTEX_ENDPOINT}",
        f"Vertex AI: deploy {revision}: 1-4× g2-standard-24 (2× NVIDIA_L4), 100% of the traffic",
    ]
    assert run.steps.finished == run.steps.started


def test_a_re_run_with_the_same_spec_only_reads(tmp_path: Path) -> None:
    api = FakeVertexApi()
    revision = deployed_a(api, tmp_path)
    run = Run(api, SPEC_A, tmp_path)
    result = run.deploy()
    assert api.names() == ["read_endpoint"]
    assert result["changed"] is False and result["actions"] == []
    assert result["traffic"] == {revision: 100}
    assert len(api.models) == 1 and run.slept == []


def test_a_week_keeps_its_quietest_hour_as_the_minimum_and_scales_on_requests(
    tmp_path: Path,
) -> None:
    """Vertex has no scheduled scaling: the request-count autoscaler carries the deployment
    between the week's quietest hour and the plan's maximum, at the planner's target."""
    import msgspec

    from planner.hourly import hourly_sizes

    sizes = [4 if hour // 24 < 5 and 9 <= hour % 24 < 18 else 2 for hour in range(168)]
    week = hourly_sizes("Europe/Berlin", [(n, n) for n in sizes], [1.0] * 168, 1.0)
    spec = msgspec.structs.replace(SPEC_A, hourly=week)
    api = FakeVertexApi()
    Run(api, spec, tmp_path).deploy()
    ((_, deployment, _),) = [payload for name, payload in api.calls if name == "deploy_model"]
    assert deployment.min_replica_count == 2 == min(sizes)
    assert deployment.max_replica_count == spec.capacity.max_size
    assert deployment.autoscaling_target_request_count_per_minute == round(spec.scaling.target)


def test_tags_alone_do_not_make_a_new_revision(tmp_path: Path) -> None:
    import msgspec

    api = FakeVertexApi()
    deployed_a(api, tmp_path)
    retagged = msgspec.structs.replace(SPEC_A, tags={**SPEC_A.tags, "owner": "ml-platform"})
    assert Run(api, retagged, tmp_path).deploy()["changed"] is False


def test_a_changed_configuration_goes_live_as_a_canary_then_replaces_the_old_model(
    tmp_path: Path,
) -> None:
    api = FakeVertexApi()
    a = deployed_a(api, tmp_path)
    (a_id,) = [m.id for m in api.deployed]
    run = Run(api, SPEC_B, tmp_path)
    result = run.deploy()
    b = result["revision"]
    (b_id,) = [m.id for m in api.deployed if m.display_name == b]
    assert api.changing() == ["upload_model", "deploy_model", "set_traffic", "undeploy_model"]
    deploy = next(payload for name, payload in api.calls if name == "deploy_model")
    assert deploy[1].deployed_model_display_name == b
    assert deploy[2] == {"0": 10, a_id: 90}
    changes = [payload for name, payload in api.calls if name in {"set_traffic", "undeploy_model"}]
    assert changes == [{b_id: 100, a_id: 0}, a_id]
    assert run.slept == [600]
    assert run.steps.started[-3:] == [
        f"Vertex AI: bake {b} for 600 s",
        f"Vertex AI: all traffic to {b}",
        f"Vertex AI: remove {a}",
    ]
    assert api.serving() == {b: 100}
    assert result["actions"] == [
        f"deployed {b} with 10% of the traffic",
        f"promoted {b} to all of the traffic",
        f"removed {a}",
    ]
    assert len(api.models) == 2, "the old model stays in the registry for a re-deploy"


def test_an_interrupted_bake_is_baked_again_and_promoted_by_the_next_run(tmp_path: Path) -> None:
    api = FakeVertexApi()
    _, b = interrupted_canary(api, tmp_path)
    run = Run(api, SPEC_B, tmp_path)
    run.deploy()
    assert api.changing() == ["set_traffic", "undeploy_model"]
    assert run.slept == [600]
    assert api.serving() == {b: 100}


def test_redeploying_the_previous_spec_reuses_its_uploaded_model(tmp_path: Path) -> None:
    api = FakeVertexApi()
    deployed_a(api, tmp_path)
    Run(api, SPEC_B, tmp_path).deploy()
    api.calls.clear()
    Run(api, SPEC_A, tmp_path).deploy()
    assert "upload_model" not in api.names()
    assert api.changing() == ["deploy_model", "set_traffic", "undeploy_model"]


# --- a failed call leaves a state the next run continues from ------------------------------------


@pytest.mark.parametrize(
    "failing", ["upload_model", "deploy_model", "set_traffic", "undeploy_model"]
)
def test_a_failed_call_is_finished_by_the_next_run(tmp_path: Path, failing: str) -> None:
    api = FakeVertexApi()
    a = deployed_a(api, tmp_path)
    api.fail_next(failing)
    with pytest.raises(CloudCallFailed, match=f"the {failing} call failed"):
        Run(api, SPEC_B, tmp_path).deploy()
    assert a in [m.display_name for m in api.deployed], "the old model stays until the end"
    if failing != "undeploy_model":
        assert a in api.serving(), "the old model serves until the new one is promoted"
    result = Run(api, SPEC_B, tmp_path).deploy()
    b = result["revision"]
    assert result["changed"] is True
    assert api.serving() == {b: 100}
    assert Run(api, SPEC_B, tmp_path).deploy()["changed"] is False
    assert [m.display_name for m in api.deployed] == [b]
    assert api.changing().count("upload_model") == 1 + (failing == "upload_model")
    deploys = [p for n, p in api.calls if n == "deploy_model"]
    assert len(deploys) == 1 + (failing == "deploy_model")


def test_a_failed_first_deploy_keeps_the_upload_for_the_next_run(tmp_path: Path) -> None:
    api = FakeVertexApi()
    api.fail_next("deploy_model")
    with pytest.raises(CloudCallFailed):
        Run(api, SPEC_A, tmp_path).deploy()
    assert len(api.models) == 1 and api.deployed == []
    api.calls.clear()
    revision = Run(api, SPEC_A, tmp_path).deploy()["revision"]
    assert api.changing() == ["deploy_model"]
    assert api.serving() == {revision: 100}


# --- rollback -------------------------------------------------------------------------------------


def test_rollback_sends_the_traffic_back_and_undeploys_the_canary(tmp_path: Path) -> None:
    api = FakeVertexApi()
    a, b = interrupted_canary(api, tmp_path)
    ids = {m.display_name: m.id for m in api.deployed}
    run = Run(api, SPEC_B, tmp_path)
    result = run.rollback()
    assert [(n, p) for n, p in api.calls if n != "read_endpoint"] == [
        ("set_traffic", {ids[a]: 100, ids[b]: 0}),
        ("undeploy_model", ids[b]),
    ]
    assert result == {
        "endpoint": VERTEX_ENDPOINT,
        "rolled_back": b,
        "serving": a,
        "traffic": {a: 100},
    }
    assert run.steps.started[1:] == [
        f"Vertex AI: all traffic back to {a}",
        f"Vertex AI: remove {b}",
    ]
    with pytest.raises(NothingToRollBack, match="roll back with the profile that was deployed"):
        run.rollback()


def test_rollback_during_the_bake_stops_the_promotion(tmp_path: Path) -> None:
    api = FakeVertexApi()
    a = deployed_a(api, tmp_path)
    run = Run(api, SPEC_B, tmp_path)
    with pytest.raises(CanaryRolledBack, match="nothing was promoted"):
        run.deploy(sleep=lambda seconds: Run(api, SPEC_B, tmp_path).rollback())
    assert api.serving() == {a: 100}
    assert [m.display_name for m in api.deployed] == [a]


def test_after_promotion_there_is_nothing_to_roll_back_to(tmp_path: Path) -> None:
    api = FakeVertexApi()
    deployed_a(api, tmp_path)
    Run(api, SPEC_B, tmp_path).deploy()
    with pytest.raises(NothingToRollBack, match="re-deploy the previous profile"):
        Run(api, SPEC_B, tmp_path).rollback()


# --- status and destroy ---------------------------------------------------------------------------


def test_status_reads_the_deployed_models_their_traffic_and_replicas(tmp_path: Path) -> None:
    api = FakeVertexApi()
    a, b = interrupted_canary(api, tmp_path)
    status = Run(api, SPEC_B, tmp_path).status()
    assert status["in_sync"] is False and status["revision"] == b
    rows = {row["name"]: row for row in status["revisions"]}
    assert rows[a]["traffic"] == 90 and rows[a]["this_spec"] is False
    assert rows[b]["traffic"] == 10 and rows[b]["this_spec"] is True
    assert rows[b]["replicas"] == {"min": 1, "max": 4, "available": 1}
    assert rows[b]["machine_type"] == "g2-standard-24"
    assert rows[b]["accelerator"] == "2× NVIDIA_L4"
    Run(api, SPEC_B, tmp_path).deploy()
    assert Run(api, SPEC_B, tmp_path).status()["in_sync"] is True


def test_destroy_undeploys_every_model_then_deletes_the_stacks_models(tmp_path: Path) -> None:
    api = FakeVertexApi()
    a, b = interrupted_canary(api, tmp_path)
    ids = {m.display_name: m.id for m in api.deployed}
    models = list(api.models)
    run = Run(api, SPEC_B, tmp_path)
    removed = sdk_steps.before_destroy(run.deployment, VERTEX_OUTPUTS, run.driver)
    assert [(n, p) for n, p in api.calls if n in {"undeploy_model", "delete_model"}] == [
        ("undeploy_model", ids[b]),
        ("undeploy_model", ids[a]),
        *[("delete_model", name) for name in models],
    ]
    assert api.deployed == [] and api.models == {}
    assert removed == [
        f"deployed model {b} ({ids[b]})",
        f"deployed model {a} ({ids[a]})",
        *[f"model {name}" for name in models],
    ]
    assert run.steps.started == [f"Vertex AI: remove what the SDK created on {VERTEX_ENDPOINT}"]


def test_without_outputs_destroy_and_status_leave_the_sdk_alone(tmp_path: Path) -> None:
    deployment = deployment_of(SPEC_A, tmp_path)

    def no_driver(spec: DeploymentSpec, outputs: Any) -> VertexEndpoint:
        raise AssertionError("no SDK call without an applied stack")

    assert sdk_steps.before_destroy(deployment, {}, no_driver) is None
    assert sdk_steps.live_status(deployment, {}, no_driver) is None


def test_missing_outputs_are_named(tmp_path: Path) -> None:
    outputs = {k: v for k, v in VERTEX_OUTPUTS.items() if k != "service_account_email"}
    with pytest.raises(InfraError, match="outputs lack service_account_email; apply the Vertex"):
        VertexOutputs.read("chat-prod", outputs)


def test_without_a_kms_key_the_model_names_none() -> None:
    outputs = VertexOutputs.read("chat-prod", {**VERTEX_OUTPUTS, "kms_key_name": ""})
    driver = VertexEndpoint(SPEC_A, outputs, FakeVertexApi())
    assert "encryption_spec_key_name" not in driver.upload.arguments()


def test_one_gpu_needs_no_shared_memory_and_a_long_stack_name_fits_a_label() -> None:
    import msgspec

    spec = msgspec.structs.replace(
        with_runtime(SPEC_A, tensor_parallel=1), name="a" * 40, env="b" * 40
    )
    driver = VertexEndpoint(spec, VertexOutputs.read("x", VERTEX_OUTPUTS), FakeVertexApi())
    assert "serving_container_shared_memory_size_mb" not in driver.upload.arguments()
    stack_label = driver.upload.labels["infra_stack"]
    assert len(stack_label) <= 63 and stack_label.startswith("a" * 40)


MODEL_GARDEN_SPEC = vertex_spec(image=VERTEX_IMAGES["vllm"], health_path="/ping")


def test_googles_model_garden_image_is_started_as_google_documents_it(tmp_path: Path) -> None:
    api = FakeVertexApi()
    Run(api, MODEL_GARDEN_SPEC, tmp_path).deploy()
    (upload,) = [arguments for name, arguments in api.calls if name == "upload_model"]
    assert upload.serving_container_image_uri == VERTEX_IMAGES["vllm"]
    assert upload.serving_container_args[:4] == [
        "python",
        "-m",
        "vllm.entrypoints.api_server",
        "--host=0.0.0.0",
    ]
    # then the same engine flags as any other vLLM image
    assert upload.serving_container_args[4:] == SPEC_A_UPLOAD.serving_container_args
    assert upload.serving_container_predict_route == "/generate"
    assert upload.serving_container_health_route == "/ping"
    assert upload.serving_container_ports == [8080]
    assert upload.serving_container_environment_variables == {"MODEL_ID": MODEL_ID}


def test_a_tag_of_the_model_garden_image_chosen_in_the_profile_gets_the_same_contract() -> None:
    image = VERTEX_IMAGES["vllm"].rsplit(":", 1)[0] + ":20250312_0916_RC01"
    spec = vertex_spec(image=image, health_path="/ping")
    upload = VertexEndpoint(spec, VertexOutputs.read("x", VERTEX_OUTPUTS), FakeVertexApi()).upload
    assert upload.serving_container_args[2] == "vllm.entrypoints.api_server"
    assert upload.serving_container_predict_route == "/generate"


def test_a_model_garden_spec_with_another_health_path_is_refused_in_one_sentence() -> None:
    spec = vertex_spec(image=VERTEX_IMAGES["vllm"], health_path="/health")
    with pytest.raises(ManagedContainerError) as caught:
        check_vertex(spec)
    message = str(caught.value)
    assert "Model Garden vLLM image answers health checks on /ping, not /health" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_an_image_of_your_own_gets_no_model_garden_command_or_environment() -> None:
    assert SPEC_A_UPLOAD.serving_container_args[0] == "--model"
    assert "serving_container_environment_variables" not in SPEC_A_UPLOAD.arguments()


# --- what is refused before anything is applied ---------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"runtime": {"engine": "triton"}}, "triton serves a prebuilt model repository"),
        ({"gcp": GcpOptions(model_gcs_uri="gs://models/qwen")}, "no boot step to copy them"),
        ({"gcp": GcpOptions(hf_token_secret="hf-token")}, "model hub token cannot be passed"),
        (
            {"runtime": {"replicas_per_instance": 2, "tensor_parallel": 1}},
            "one Vertex AI container",
        ),
        ({"runtime": {"tensor_parallel": 4}}, "needs more GPUs than g2-standard-24 has (2)"),
        ({"accelerator": "A10G"}, "no accelerator type for A10G"),
        ({"tags": {"Team": "a", "team": "b"}}, "both become the Google Cloud label 'team'"),
        ({"runtime": {"health_path": "health"}}, "the health path 'health' must start with '/'"),
    ],
)
def test_what_vertex_cannot_serve_is_refused_in_one_sentence(
    change: dict[str, Any], message: str
) -> None:
    import msgspec

    runtime = change.pop("runtime", {})
    spec = msgspec.structs.replace(with_runtime(SPEC_A, **runtime), **change)
    with pytest.raises((ManagedContainerError, LabelError)) as caught:
        check_vertex(spec)
    assert message in str(caught.value)
    assert str(caught.value).count(". ") == 0 and str(caught.value).endswith(".")


def test_the_h100_mega_machines_have_their_own_accelerator_type() -> None:
    import msgspec

    spec = msgspec.structs.replace(
        SPEC_A, instance_type="a3-megagpu-8g", accelerator="H100", accelerators_per_instance=8
    )
    driver = VertexEndpoint(spec, VertexOutputs.read("x", VERTEX_OUTPUTS), FakeVertexApi())
    assert driver.deployment.accelerator_type == "NVIDIA_H100_MEGA_80GB"


def test_every_catalog_accelerator_maps_to_a_vertex_accelerator_type() -> None:
    from google.cloud.aiplatform_v1.types import AcceleratorType

    names = {*ACCELERATOR_TYPES.values(), *MACHINE_ACCELERATORS.values()}
    assert names <= set(AcceleratorType.__members__)
    catalog = set()
    for path in (REPO / "providers" / "gcp" / "data").glob("*.csv"):
        with path.open() as rows:
            catalog |= {row["accelerator"] for row in csv.DictReader(rows) if "accelerator" in row}
    assert {"L4", "T4", "A100", "H100"} <= catalog
    assert catalog <= set(ACCELERATOR_TYPES)


def test_labels_follow_the_google_cloud_rules() -> None:
    labels = gcp_labels({"Cost Center": "CC/1234", "1st": "x" * 70, "team": "ML Platform"})
    assert labels == {"cost_center": "cc_1234", "t1st": "x" * 63, "team": "ml_platform"}


# --- the real SDK wrapper, without a cloud --------------------------------------------------------


@pytest.mark.parametrize("spec", [SPEC_A, MODEL_GARDEN_SPEC], ids=["own-image", "model-garden"])
def test_upload_and_deploy_arguments_bind_to_the_sdk_signatures(spec: DeploymentSpec) -> None:
    from google.cloud import aiplatform

    driver = VertexEndpoint(spec, VertexOutputs.read("x", VERTEX_OUTPUTS), FakeVertexApi())
    scope = {"project": "p", "location": "l", "credentials": None}
    inspect.signature(aiplatform.Model.upload).bind(**driver.upload.arguments(), **scope, sync=True)
    inspect.signature(aiplatform.Endpoint.deploy).bind(
        None, model=None, traffic_split={"0": 100}, sync=True, **driver.deployment.arguments()
    )


def test_missing_google_credentials_are_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(**kwargs: Any) -> Any:
        raise DefaultCredentialsError("Your default credentials were not found. To set up ...")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    with pytest.raises(MissingCredentials) as caught:
        GoogleVertexApi("my-project", "us-central1")
    assert str(caught.value).startswith("no Google Cloud credentials found: run `gcloud auth")
    assert "\n" not in str(caught.value)


def test_sdk_errors_become_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.api_core.exceptions import PermissionDenied
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    monkeypatch.setattr(google.auth, "default", lambda **_: (AnonymousCredentials(), "p"))

    def refused(**kwargs: Any) -> Any:
        raise PermissionDenied("Permission 'aiplatform.models.list' denied on resource.\nmore")

    monkeypatch.setattr(aiplatform.Model, "list", refused)
    api = GoogleVertexApi("my-project", "us-central1")
    with pytest.raises(CloudCallFailed) as caught:
        api.find_models({"infra_stack": "chat-prod"})
    assert str(caught.value) == (
        "Vertex AI could not list the models: Permission 'aiplatform.models.list' denied on "
        "resource."
    )


def test_sign_in_refused_during_a_call_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import RefreshError
    from google.cloud import aiplatform

    monkeypatch.setattr(google.auth, "default", lambda **_: (AnonymousCredentials(), "p"))

    def expired(**kwargs: Any) -> Any:
        raise RefreshError("Reauthentication is needed.\nPlease run gcloud auth login")

    monkeypatch.setattr(aiplatform.Model, "list", expired)
    with pytest.raises(MissingCredentials) as caught:
        GoogleVertexApi("my-project", "us-central1").find_models({})
    assert str(caught.value) == (
        "Google Cloud refused the credentials while trying to list the models "
        "(Reauthentication is needed); sign in again with `gcloud auth application-default "
        "login`."
    )


@pytest.mark.parametrize("refusals", [2, 6])
def test_a_model_still_held_by_its_last_deployment_is_deleted_after_retries(
    monkeypatch: pytest.MonkeyPatch, refusals: int
) -> None:
    import google.auth
    from google.api_core.exceptions import FailedPrecondition
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    monkeypatch.setattr(google.auth, "default", lambda **_: (AnonymousCredentials(), "p"))
    attempts: list[str] = []

    class Model:
        def __init__(self, name: str, **scope: Any) -> None:
            self.name = name

        def delete(self, sync: bool) -> None:
            attempts.append(self.name)
            if len(attempts) <= refusals:
                raise FailedPrecondition("The model is deployed to an endpoint.")

    monkeypatch.setattr(aiplatform, "Model", Model)
    waits: list[float] = []
    api = GoogleVertexApi("my-project", "us-central1", sleep=waits.append)
    if refusals < 6:
        api.delete_model("projects/p/locations/l/models/1")
        assert len(attempts) == 3 and waits == [5, 10]
    else:
        with pytest.raises(CloudCallFailed, match=r"could not delete the model .*is deployed"):
            api.delete_model("projects/p/locations/l/models/1")
        assert len(attempts) == 6 and waits == [5, 10, 20, 40, 80]
