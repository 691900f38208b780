"""Vertex AI: the model and its deployment on the endpoint the Vertex stack created.

Terraform makes the endpoint (encryption, network, service account); this module uploads the
serving container as a Model and deploys it with the plan's machine, GPUs, replicas and
autoscaling target. Each serving configuration is one model, labelled with the hash of its
arguments, and one deployed model named after the hash: the rollout (orchestrator/rollout.py)
finds them on a re-run and changes nothing, or shifts traffic to a new one as a canary.

The DeploymentSpec becomes the SDK's arguments here; the SDK calls themselves sit behind
providers/gcp/vertex_api.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import InfraError
from modules.engine_flags import PREDICT_ROUTES, engine_flags
from orchestrator.managed_container import ManagedContainerError, check_managed_container
from planner.images import (
    MODEL_GARDEN_COMMAND,
    MODEL_GARDEN_HEALTH_PATH,
    MODEL_GARDEN_PREDICT_ROUTE,
    is_model_garden_vllm,
)
from providers.gcp.labels import gcp_labels
from providers.gcp.vertex_api import ModelDeployment, ModelUpload, VertexApi
from providers.managed_endpoint import EndpointRevision, config_hash, revision_name

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

CLOUD_NAME = "Vertex AI"
ACCELERATOR_TYPES = {
    "T4": "NVIDIA_TESLA_T4",
    "V100": "NVIDIA_TESLA_V100",
    "L4": "NVIDIA_L4",
    "A100": "NVIDIA_TESLA_A100",
    "A100-80GB": "NVIDIA_A100_80GB",
    "H100": "NVIDIA_H100_80GB",
    "H200": "NVIDIA_H200_141GB",
}
"""The catalog's accelerator names as Vertex AI's AcceleratorType (google.cloud.aiplatform_v1)."""
MACHINE_ACCELERATORS = {"a3-megagpu": "NVIDIA_H100_MEGA_80GB"}
"""Machine families whose GPUs Vertex names apart from the catalog's accelerator."""
SHARED_MEMORY_MB = {"vllm": 16 * 1024, "tgi": 1024}
"""/dev/shm for the engine's tensor-parallel workers: vLLM runs with --ipc=host on the fleet,
TGI with --shm-size=1g."""
STACK_LABEL = "infra_stack"
CONFIG_LABEL = "infra_config"
OUTPUTS = ("vertex_endpoint_name", "project", "region", "service_account_email", "kms_key_name")


@dataclass(frozen=True)
class VertexOutputs:
    """What the Vertex stack's `terraform output` tells the SDK steps."""

    endpoint_name: str
    project: str
    region: str
    service_account_email: str
    kms_key_name: str

    @classmethod
    def read(cls, stack: str, outputs: Mapping[str, object]) -> VertexOutputs:
        missing = [name for name in OUTPUTS if name not in outputs]
        if missing:
            raise InfraError(
                f"{stack}: the Terraform outputs lack {', '.join(missing)}; apply the Vertex "
                "AI stack with `infra deploy` first."
            )
        values = [str(outputs[name] or "") for name in OUTPUTS]
        return cls(*values)


def accelerator_type(spec: DeploymentSpec) -> str:
    family = spec.instance_type.rsplit("-", 1)[0]
    found = MACHINE_ACCELERATORS.get(family) or ACCELERATOR_TYPES.get(spec.accelerator)
    if found is None:
        raise ManagedContainerError(
            f"{spec.stack_name}: Vertex AI has no accelerator type for {spec.accelerator} "
            f"({spec.instance_type}); known: {', '.join(sorted(ACCELERATOR_TYPES))}."
        )
    return found


def check_vertex(spec: DeploymentSpec) -> None:
    """Before anything is applied: can this spec be uploaded and deployed at all?"""
    check_managed_container(spec, CLOUD_NAME)
    runtime = spec.runtime
    if is_model_garden_vllm(runtime.image) and runtime.health_path != MODEL_GARDEN_HEALTH_PATH:
        raise ManagedContainerError(
            f"{spec.stack_name}: Google's Model Garden vLLM image answers health checks on "
            f"{MODEL_GARDEN_HEALTH_PATH}, not {runtime.health_path}; set runtime.health_path "
            f"to {MODEL_GARDEN_HEALTH_PATH} in the spec."
        )
    accelerator_type(spec)
    gcp_labels(spec.tags)


def _stack_label(stack: str) -> str:
    """Stack names run to 81 characters, labels to 63: a long one keeps a hash of the rest."""
    return stack if len(stack) <= 63 else f"{stack[:50]}-{config_hash(stack)}"


def _model_upload(spec: DeploymentSpec, outputs: VertexOutputs) -> ModelUpload:
    runtime = spec.runtime
    model_garden = is_model_garden_vllm(runtime.image)
    return ModelUpload(
        display_name="",
        serving_container_image_uri=runtime.image,
        # Google's Model Garden image takes the whole command as its args and serves its own
        # routes (planner/images.py); any other image runs the engine's entrypoint.
        serving_container_predict_route=(
            MODEL_GARDEN_PREDICT_ROUTE if model_garden else PREDICT_ROUTES[runtime.engine]
        ),
        serving_container_health_route=runtime.health_path,
        serving_container_ports=[runtime.port],
        serving_container_args=[
            *(MODEL_GARDEN_COMMAND if model_garden else ()),
            *engine_flags(runtime),
        ],
        serving_container_environment_variables=(
            {"MODEL_ID": runtime.model_id} if model_garden else None
        ),
        labels={},
        serving_container_shared_memory_size_mb=(
            SHARED_MEMORY_MB[runtime.engine] if runtime.tensor_parallel > 1 else None
        ),
        encryption_spec_key_name=outputs.kms_key_name or None,
    )


def _model_deployment(spec: DeploymentSpec, outputs: VertexOutputs) -> ModelDeployment:
    """Vertex AI has no scheduled scaling, and a deployed model's replica range changes only
    through the API (mutateDeployedModel), not on a schedule: a deployment that follows the week
    keeps the week's quietest hour as its minimum and lets the request-count autoscaler carry
    it up to the peak and back (the plan's hourly sizes are what that target gives hour by
    hour)."""
    capacity = spec.capacity
    fewest = min(spec.hourly.counts("instances")) if spec.hourly else capacity.min_size
    return ModelDeployment(
        deployed_model_display_name="",
        machine_type=spec.instance_type,
        accelerator_type=accelerator_type(spec),
        accelerator_count=spec.accelerators_per_instance,
        min_replica_count=max(fewest, 1),
        max_replica_count=max(capacity.max_size, capacity.min_size, 1),
        # The spec's target is requests per minute per instance; Vertex's request-count
        # target (metric aiplatform.googleapis.com/prediction/online/request_count) is per
        # replica, and a replica here is one machine. Vertex takes an integer. Its engine
        # metrics (vLLM's requests waiting) have no target the planner derives: requests in
        # flight count running and waiting, and a replica below its batch cap has none waiting.
        autoscaling_target_request_count_per_minute=max(round(spec.scaling.target), 1),
        service_account=outputs.service_account_email,
    )


class VertexEndpoint:
    """The EndpointDriver of a Vertex AI endpoint (providers/managed_endpoint.py)."""

    cloud_name = CLOUD_NAME

    def __init__(self, spec: DeploymentSpec, outputs: VertexOutputs, api: VertexApi) -> None:
        check_vertex(spec)
        self.spec = spec
        self.outputs = outputs
        self.api = api
        self.endpoint_name = outputs.endpoint_name
        upload = _model_upload(spec, outputs)
        deployment = _model_deployment(spec, outputs)
        self._hash = config_hash(
            {"model": upload.arguments(), "deployment": deployment.arguments()}
        )
        name = revision_name(self._hash)
        self.model_labels = {STACK_LABEL: _stack_label(spec.stack_name), CONFIG_LABEL: self._hash}
        self.upload = dataclasses.replace(
            upload,
            display_name=f"{spec.stack_name}-{name}",
            labels={**gcp_labels(spec.tags), **self.model_labels},
        )
        self.deployment = dataclasses.replace(deployment, deployed_model_display_name=name)

    def target_hash(self) -> str:
        return self._hash

    def describe_target(self) -> str:
        d = self.deployment
        return (
            f"{d.deployed_model_display_name}: {d.min_replica_count}-{d.max_replica_count}× "
            f"{d.machine_type} ({d.accelerator_count}× {d.accelerator_type})"
        )

    def prepare_endpoint(self) -> bool:
        """Terraform made the endpoint; nothing to do here."""
        return False

    def revisions(self) -> list[EndpointRevision]:
        state = self.api.read_endpoint(self.endpoint_name)
        return [
            EndpointRevision(
                id=model.id,
                name=model.display_name,
                traffic=state.traffic_split.get(model.id, 0),
                details={
                    "machine_type": model.machine_type,
                    "accelerator": f"{model.accelerator_count}× {model.accelerator_type}",
                    "replicas": {
                        "min": model.min_replica_count,
                        "max": model.max_replica_count,
                        "available": model.available_replica_count,
                    },
                    "model": model.model,
                },
            )
            for model in state.deployed_models
        ]

    def _model_name(self) -> str:
        """The uploaded model of this configuration: found by its labels, else uploaded."""
        found = self.api.find_models(self.model_labels)
        if found:
            return found[0].resource_name
        return self.api.upload_model(self.upload).resource_name

    def create_revision(self, share: int, others: dict[str, int]) -> None:
        """The stack's endpoint is public or Private Service Connect, both of which split
        traffic (a VPC-peered private endpoint would not)."""
        self.api.deploy_model(
            self.endpoint_name, self._model_name(), self.deployment, {"0": share, **others}
        )

    def set_traffic(self, split: dict[str, int]) -> None:
        self.api.set_traffic(self.endpoint_name, split)

    def remove_revision(self, revision_id: str) -> None:
        self.api.undeploy_model(self.endpoint_name, revision_id)

    def remove_everything(self) -> list[str]:
        """Vertex refuses to delete an endpoint with deployed models, so Terraform could not
        destroy it: undeploy them (least traffic first, so the SDK can hand each one's share to
        the rest), then delete this stack's models, which would otherwise outlive the key that
        encrypts them."""
        removed = []
        state = self.api.read_endpoint(self.endpoint_name)
        for model in sorted(state.deployed_models, key=lambda m: state.traffic_split.get(m.id, 0)):
            self.api.undeploy_model(self.endpoint_name, model.id)
            removed.append(f"deployed model {model.display_name} ({model.id})")
        for model in self.api.find_models({STACK_LABEL: self.model_labels[STACK_LABEL]}):
            self.api.delete_model(model.resource_name)
            removed.append(f"model {model.resource_name}")
        return removed


def check(spec: DeploymentSpec) -> None:
    """The target's endpoint steps (providers/targets.py `endpoint_steps`): refuse before
    planning what the steps could not deploy."""
    check_vertex(spec)


def driver(spec: DeploymentSpec, outputs: Mapping[str, object]) -> VertexEndpoint:
    """The endpoint driver over the real SDK, signed in from Google's standard chain."""
    from providers.gcp.vertex_api import GoogleVertexApi

    vertex = VertexOutputs.read(spec.stack_name, outputs)
    return VertexEndpoint(spec, vertex, GoogleVertexApi(vertex.project, vertex.region))
