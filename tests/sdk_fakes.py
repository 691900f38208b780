"""Fakes at the SDK boundary of Vertex AI and Azure ML, plus the specs and Terraform outputs the
SDK-step tests share.

Each fake keeps the cloud's state across runs (a test builds one and runs the steps against it
several times), records every call in order, checks what the real service would refuse (a traffic
split that does not add up to 100, undeploying a model that still takes traffic, deleting a model
still deployed) and fails a chosen call once on request: after such a failure the state is what
the cloud would hold, and the next run must continue from it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from orchestrator.workflow import Deployment
from orchestrator.workspace import Workspace
from planner.deployment import HEALTH_PATHS, CapacitySpec, DeploymentSpec, RuntimeSpec, ScalingSpec
from planner.images import DEFAULT_IMAGES
from planner.profile import Canary
from providers.azure.azureml_api import (
    AutoscaleSettings,
    AzureDeploymentState,
    AzureEndpointState,
    DeploymentSettings,
    EndpointSettings,
)
from providers.gcp.vertex_api import (
    DeployedModel,
    ModelDeployment,
    ModelUpload,
    VertexEndpointState,
    VertexModel,
)
from providers.sdk_errors import CloudCallFailed

AZURE_SDK_WARNINGS = [
    # azure-ai-ml's schemas use marshmallow 3 APIs that marshmallow 4 changes; not ours to fix.
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
]
"""`pytestmark` of the modules that load azure-ai-ml."""
MODEL_ID = "Qwen/Qwen2.5-7B-Instruct"
TAGS = {"team": "assistant", "cost-center": "CC 1234", "env": "prod"}
VERTEX_ENDPOINT = "projects/my-project/locations/us-central1/endpoints/4242"
VERTEX_OUTPUTS: dict[str, object] = {
    "vertex_endpoint_name": VERTEX_ENDPOINT,
    "project": "my-project",
    "region": "us-central1",
    "service_account_email": "chat-prod-serving@my-project.iam.gserviceaccount.com",
    "kms_key_name": "projects/my-project/locations/us-central1/keyRings/chat/cryptoKeys/serving",
}
VERTEX_IMAGE = "us-central1-docker.pkg.dev/my-project/serving/vllm-openai:v0.10.2"
IDENTITY_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-chat-prod/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/chat-prod-endpoint"
)
AZURE_OUTPUTS: dict[str, object] = {
    "subscription_id": "00000000-0000-0000-0000-000000000001",
    "resource_group_name": "rg-chat-prod",
    "workspace_name": "mlw-chat-prod",
    "region": "eastus",
    "online_endpoint_name": "chat-prod",
    "identity_id": IDENTITY_ID,
}
AZURE_VLLM_IMAGE = "myregistry.azurecr.io/serving/vllm-env-args:0.10.2"


def vertex_spec(**runtime: Any) -> DeploymentSpec:
    """Two L4s per g2-standard-24, tensor parallel 2, one to four replicas."""
    fields: dict[str, Any] = {
        "engine": "vllm",
        "image": VERTEX_IMAGE,
        "model_id": MODEL_ID,
        "precision": "bf16",
        "tensor_parallel": 2,
        "max_batch": 128,
        "max_model_len": 8192,
        "port": 8080,
        "health_path": HEALTH_PATHS["vllm"],
    }
    fields.update(runtime)
    return DeploymentSpec(
        name="chat",
        env="prod",
        cloud="gcp",
        kind="vertex",
        region="us-central1",
        instance_type="g2-standard-24",
        accelerator="L4",
        accelerators_per_instance=2,
        root_volume_gib=100,
        capacity=CapacitySpec(
            min_size=1, desired=2, max_size=4, on_demand_base=2, spot_percentage_above_base=0
        ),
        runtime=RuntimeSpec(**fields),
        scaling=ScalingSpec(signal="invocations_per_instance", target=372.4),
        tags=dict(TAGS),
        canary=Canary(percent=10, bake_s=600),
    )


def azureml_spec(engine: str = "tgi", **runtime: Any) -> DeploymentSpec:
    """One A100 80GB per Standard_NC24ads_A100_v4, three instances."""
    fields: dict[str, Any] = {
        "engine": engine,
        "image": DEFAULT_IMAGES["tgi"] if engine == "tgi" else AZURE_VLLM_IMAGE,
        "model_id": MODEL_ID,
        "precision": "bf16",
        "tensor_parallel": 1,
        "max_batch": 64,
        "max_model_len": 4096,
        "health_path": HEALTH_PATHS[engine],
    }
    fields.update(runtime)
    return DeploymentSpec(
        name="chat",
        env="prod",
        cloud="azure",
        kind="azureml",
        region="eastus",
        instance_type="Standard_NC24ads_A100_v4",
        accelerator="A100-80GB",
        accelerators_per_instance=1,
        root_volume_gib=100,
        capacity=CapacitySpec(
            min_size=2,
            desired=3,
            max_size=6,
            on_demand_base=3,
            spot_percentage_above_base=0,
            health_check_grace_s=840,
        ),
        runtime=RuntimeSpec(**fields),
        scaling=ScalingSpec(signal="invocations_per_instance", target=120.0),
        tags=dict(TAGS),
        canary=Canary(percent=20, bake_s=300),
    )


def with_runtime(spec: DeploymentSpec, **runtime: Any) -> DeploymentSpec:
    import msgspec

    return msgspec.structs.replace(spec, runtime=msgspec.structs.replace(spec.runtime, **runtime))


class Steps:
    """Deployment.report: the steps as they ran (start only), so tests can assert progress."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []

    def __call__(self, step: str, seconds: float | None) -> None:
        (self.started if seconds is None else self.finished).append(step)


def deployment_of(spec: DeploymentSpec, tmp_path: Path, steps: Steps | None = None) -> Deployment:
    workspace = Workspace.for_deployment(tmp_path, spec.name, spec.env)
    return Deployment(spec, workspace, steps or Steps())


class Recorder:
    """Call log and one-shot failures shared by both fakes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._failures: dict[str, Exception] = {}

    def fail_next(self, method: str, error: Exception | None = None) -> None:
        self._failures[method] = error or CloudCallFailed(f"the {method} call failed.")

    def _record(self, method: str, payload: Any = None) -> None:
        self.calls.append((method, payload))
        if method in self._failures:
            raise self._failures.pop(method)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def changing(self) -> list[str]:
        """The calls that change something (reads left out)."""
        reads = {"read_endpoint", "find_models", "list_deployments", "autoscale_exists"}
        return [name for name in self.names() if name not in reads]


def _check_split(split: dict[str, int], known: set[str]) -> None:
    if sum(split.values()) != 100:
        raise CloudCallFailed(f"traffic split {split} does not add up to 100.")
    if set(split) - known:
        raise CloudCallFailed(f"traffic split names unknown {sorted(set(split) - known)}.")


class FakeVertexApi(Recorder):
    def __init__(self, endpoint: str = VERTEX_ENDPOINT) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.models: dict[str, VertexModel] = {}
        self.uploads: dict[str, ModelUpload] = {}
        self.deployed: list[DeployedModel] = []
        self.deployments: dict[str, ModelDeployment] = {}
        self.traffic: dict[str, int] = {}
        self._ids = iter(range(1001, 2000))

    def find_models(self, labels: dict[str, str]) -> list[VertexModel]:
        self._record("find_models", dict(labels))
        return [m for m in self.models.values() if labels.items() <= m.labels.items()]

    def upload_model(self, upload: ModelUpload) -> VertexModel:
        self._record("upload_model", upload)
        name = f"projects/my-project/locations/us-central1/models/{next(self._ids)}"
        model = VertexModel(name, dict(upload.labels))
        self.models[name] = model
        self.uploads[name] = upload
        return model

    def read_endpoint(self, endpoint_name: str) -> VertexEndpointState:
        self._record("read_endpoint", endpoint_name)
        assert endpoint_name == self.endpoint
        return VertexEndpointState(endpoint_name, list(self.deployed), dict(self.traffic))

    def deploy_model(
        self,
        endpoint_name: str,
        model_name: str,
        deployment: ModelDeployment,
        traffic_split: dict[str, int],
    ) -> None:
        self._record("deploy_model", (model_name, deployment, dict(traffic_split)))
        assert endpoint_name == self.endpoint and model_name in self.models
        _check_split(traffic_split, {"0", *(m.id for m in self.deployed)})
        deployed_id = str(next(self._ids))
        self.deployed.append(
            DeployedModel(
                id=deployed_id,
                display_name=deployment.deployed_model_display_name,
                model=model_name,
                machine_type=deployment.machine_type,
                accelerator_type=deployment.accelerator_type,
                accelerator_count=deployment.accelerator_count,
                min_replica_count=deployment.min_replica_count,
                max_replica_count=deployment.max_replica_count,
                available_replica_count=deployment.min_replica_count,
            )
        )
        self.deployments[deployed_id] = deployment
        self.traffic = {
            (deployed_id if key == "0" else key): share
            for key, share in traffic_split.items()
            if share
        }

    def set_traffic(self, endpoint_name: str, traffic_split: dict[str, int]) -> None:
        self._record("set_traffic", dict(traffic_split))
        _check_split(traffic_split, {m.id for m in self.deployed})
        self.traffic = {key: share for key, share in traffic_split.items() if share}

    def undeploy_model(self, endpoint_name: str, deployed_model_id: str) -> None:
        """As the SDK does: a share below 100 goes to the rest in proportion; 100% with others
        deployed is refused."""
        self._record("undeploy_model", deployed_model_id)
        share = self.traffic.pop(deployed_model_id, 0)
        if share == 100 and len(self.deployed) > 1:
            raise CloudCallFailed("undeploying it would leave the traffic split at 0%.")
        if share and self.traffic:
            total = sum(self.traffic.values())
            self.traffic = {k: v * 100 // total for k, v in self.traffic.items()}
            first = next(iter(self.traffic))
            self.traffic[first] += 100 - sum(self.traffic.values())
        self.deployed = [m for m in self.deployed if m.id != deployed_model_id]

    def delete_model(self, model_name: str) -> None:
        self._record("delete_model", model_name)
        if any(m.model == model_name for m in self.deployed):
            raise CloudCallFailed(f"{model_name} is still deployed.")
        del self.models[model_name]

    def serving(self) -> dict[str, int]:
        """Traffic by deployed model display name."""
        names = {m.id: m.display_name for m in self.deployed}
        return {names[key]: share for key, share in self.traffic.items()}


class FakeAzureMlApi(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.endpoint: AzureEndpointState | None = None
        self.endpoint_settings: EndpointSettings | None = None
        self.deployments: dict[str, AzureDeploymentState] = {}
        self.settings: dict[str, DeploymentSettings] = {}
        self.fail_deployment_as_failed = False
        """Next deployment ends in the Failed state (Azure ML keeps it) and the call raises."""
        self.autoscale: dict[str, AutoscaleSettings] = {}
        """Azure Monitor's autoscale settings by name (they outlive their deployment)."""

    def read_endpoint(self, name: str) -> AzureEndpointState | None:
        self._record("read_endpoint", name)
        return self.endpoint

    def create_or_update_endpoint(
        self, settings: EndpointSettings, traffic: dict[str, int]
    ) -> None:
        self._record("create_or_update_endpoint", (settings, dict(traffic)))
        self.endpoint_settings = settings
        self.endpoint = AzureEndpointState(
            name=settings.name,
            auth_mode=settings.auth_mode,
            identity_ids=[settings.identity_id.lower()],  # Azure lower-cases resource IDs
            public_network_access=settings.public_network_access.capitalize(),
            tags=dict(settings.tags),
            traffic=dict(traffic),
        )

    def list_deployments(self, endpoint_name: str) -> list[AzureDeploymentState]:
        self._record("list_deployments", endpoint_name)
        return list(self.deployments.values())

    def create_or_update_deployment(self, settings: DeploymentSettings) -> None:
        self._record("create_or_update_deployment", settings)
        assert self.endpoint is not None and settings.endpoint_name == self.endpoint.name
        failed = self.fail_deployment_as_failed
        self.fail_deployment_as_failed = False
        self.settings[settings.name] = settings
        self.deployments[settings.name] = AzureDeploymentState(
            name=settings.name,
            instance_type=settings.instance_type,
            instance_count=settings.instance_count,
            provisioning_state="Failed" if failed else "Succeeded",
        )
        if failed:
            raise CloudCallFailed(f"Azure ML could not create the deployment {settings.name}.")

    def set_traffic(self, endpoint_name: str, traffic: dict[str, int]) -> None:
        self._record("set_traffic", dict(traffic))
        assert self.endpoint is not None
        _check_split(traffic, set(self.deployments))
        self.endpoint = dataclasses.replace(self.endpoint, traffic=dict(traffic))

    def delete_deployment(self, endpoint_name: str, name: str) -> None:
        self._record("delete_deployment", name)
        assert self.endpoint is not None
        if self.endpoint.traffic.get(name):
            raise CloudCallFailed(f"{name} still takes traffic.")
        del self.deployments[name]
        self.settings.pop(name, None)
        traffic = {k: v for k, v in self.endpoint.traffic.items() if k != name}
        self.endpoint = dataclasses.replace(self.endpoint, traffic=traffic)

    def delete_endpoint(self, name: str) -> None:
        self._record("delete_endpoint", name)
        self.endpoint = None
        self.deployments.clear()
        self.settings.clear()

    def apply_autoscale(self, settings: AutoscaleSettings) -> None:
        self._record("apply_autoscale", settings)
        if settings.deployment_name not in self.deployments:
            raise CloudCallFailed(f"no deployment {settings.deployment_name} to autoscale.")
        self.autoscale[settings.name] = settings

    def autoscale_exists(self, name: str) -> bool:
        self._record("autoscale_exists", name)
        return name in self.autoscale

    def delete_autoscale(self, name: str) -> None:
        self._record("delete_autoscale", name)
        self.autoscale.pop(name, None)

    def serving(self) -> dict[str, int]:
        assert self.endpoint is not None
        return {k: v for k, v in self.endpoint.traffic.items() if v}
