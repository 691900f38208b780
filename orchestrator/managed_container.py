"""What a Vertex AI or Azure ML endpoint's container can be given, checked before anything is
applied.

Both clouds run the image with settings from the model resource (Vertex) or the deployment (Azure
ML), stored by the cloud in plain text, and without the fleet's boot script. So the container
downloads its weights from the model hub itself; weights in object storage and hub tokens are
refused here with the reason, instead of failing after `terraform apply`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import InfraError
from modules.engine_flags import FLAG_ENGINES

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec


class ManagedContainerError(InfraError):
    """The spec cannot be served by a managed endpoint's container."""


def check_managed_container(spec: DeploymentSpec, cloud_name: str) -> None:
    runtime = spec.runtime
    weights = runtime.model_s3_uri or spec.gcp.model_gcs_uri or spec.azure.model_blob_container_id
    token = (
        runtime.hf_token_ssm_parameter or spec.gcp.hf_token_secret or spec.azure.hf_token_secret_id
    )
    problem = None
    if runtime.engine not in FLAG_ENGINES:
        problem = (
            f"{runtime.engine} serves a prebuilt model repository, and {cloud_name} endpoints "
            "here load weights from the model hub only; use engine vllm or tgi, or --kind fleet"
        )
    elif weights:
        problem = (
            f"{cloud_name} endpoints here load weights from the model hub (runtime model "
            f"{runtime.model_id}), with no boot step to copy them from {weights}; remove the "
            "weights location or deploy --kind fleet"
        )
    elif token:
        problem = (
            f"{cloud_name} stores a container's settings in plain text, so a model hub token "
            "cannot be passed safely; serve a model that needs no token, or deploy --kind fleet"
        )
    elif runtime.engine == "tgi" and runtime.precision == "fp32":
        problem = "TGI does not serve fp32 models: use bf16 or fp16, or the vllm engine"
    elif runtime.replicas_per_instance > 1:
        problem = (
            f"the plan runs {runtime.replicas_per_instance} replicas on each "
            f"{spec.instance_type}, and one {cloud_name} container serves one replica; pin "
            "--instance-type to a size the model fills, or deploy --kind fleet"
        )
    elif runtime.tensor_parallel > spec.accelerators_per_instance:
        problem = (
            f"tensor parallel {runtime.tensor_parallel} needs more GPUs than "
            f"{spec.instance_type} has ({spec.accelerators_per_instance})"
        )
    elif not runtime.health_path.startswith("/"):
        problem = f"the health path {runtime.health_path!r} must start with '/'"
    if problem:
        raise ManagedContainerError(f"{spec.stack_name}: {problem}.")
