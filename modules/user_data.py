"""The boot script that turns a fresh GPU or Inferentia instance into the serving replicas of a
DeploymentSpec: EC2 user data on AWS, the startup-script metadata on Compute Engine.

The script lives in templates/user_data/: a cloud-neutral core (serve.sh.j2), one partial per cloud
that extends it (cloud_<cloud>.j2: instance metadata, secrets, registry login, weights) and one per
engine (engine_<engine>_neuron.j2 on Inferentia, AWS only). Every value interpolated from the spec
goes through shlex.quote (the environment's `finalize`), so a profile cannot inject shell; secrets
are never rendered, only the name of the parameter or secret holding them.
"""

from __future__ import annotations

import re
import shlex
from importlib.resources import files
from typing import TYPE_CHECKING, NamedTuple

from core.errors import InfraError
from modules.readiness import refuse_to_serve
from providers.aws.neuron import is_neuron, neuron_cores, neuron_problem

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

USER_DATA_LIMIT_BYTES = 16 * 1024
"""EC2 refuses user data larger than 16 KB (counted before base64 encoding)."""
STARTUP_SCRIPT_LIMIT_BYTES = 256 * 1024
"""Compute Engine refuses a metadata value larger than 256 KB."""
CUSTOM_DATA_LIMIT_BYTES = 65535
"""Azure refuses custom data longer than 65535 bytes (before base64 encoding)."""

_ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?)/"
)
_ACR_IMAGE = re.compile(r"^(?P<registry>[A-Za-z0-9]+\.azurecr\.io)/")


class UserDataError(InfraError):
    """The deployment spec cannot be turned into EC2 user data for a serving instance."""


PROXY_IMAGE = "public.ecr.aws/nginx/nginx:1.27-alpine"
"""With several replicas per instance, nginx on the serving port spreads requests over them
(least connections), so the load balancer's one target port reaches every replica."""


class Replica(NamedTuple):
    name: str
    gpus: str
    """`docker run --gpus`: `all` or `"device=0,1"` (quoted, as docker splits on commas); on
    Neuron, the replica's chips as `0,1` (each one a `--device /dev/neuronN`)."""
    host_port: int
    bind: str
    """Host address the port is published on: loopback when the proxy fronts the replicas."""


class BootTarget(NamedTuple):
    """What differs between clouds: the partial, its template values, and the size limit."""

    template: str
    values: dict[str, object]
    limit_bytes: int
    limit_name: str


def _aws_target(spec: DeploymentSpec) -> BootTarget:
    runtime = spec.runtime
    ecr = _ECR_IMAGE.match(runtime.image)
    values = {
        "weights_uri": runtime.model_s3_uri,
        "weights_store": "S3",
        "hf_token_name": runtime.hf_token_ssm_parameter,
        "ecr_registry": ecr["registry"] if ecr else None,
        "ecr_region": ecr["region"] if ecr else None,
    }
    return BootTarget("cloud_aws.j2", values, USER_DATA_LIMIT_BYTES, "EC2's limit")


def _gcp_target(spec: DeploymentSpec) -> BootTarget:
    from modules.gcp.naming import artifact_repository, secret_name

    secret = secret_name(spec.gcp.hf_token_secret) if spec.gcp.hf_token_secret else None
    registry = artifact_repository(spec.runtime.image)
    values = {
        "weights_uri": spec.gcp.model_gcs_uri,
        "weights_store": "GCS",
        "hf_token_name": secret.secret_id if secret else None,
        "hf_token_project": secret.project if secret else None,
        "artifact_registry": registry.host if registry else None,
    }
    return BootTarget(
        "cloud_gcp.j2", values, STARTUP_SCRIPT_LIMIT_BYTES, "Compute Engine's metadata limit"
    )


def _azure_target(spec: DeploymentSpec) -> BootTarget:
    from modules.azure.names import blob_container, key_vault_secret

    options = spec.azure
    weights_uri = None
    if options.model_blob_container_id:
        account, container = blob_container(options.model_blob_container_id)
        prefix = options.model_blob_prefix.strip("/")
        weights_uri = f"https://{account}.blob.core.windows.net/{container}/{prefix}".rstrip("/")
    vault, secret = (
        key_vault_secret(options.hf_token_secret_id) if options.hf_token_secret_id else (None, None)
    )
    registry = _ACR_IMAGE.match(spec.runtime.image)
    values = {
        "weights_uri": weights_uri,
        "weights_store": "Blob Storage",
        "hf_token_name": secret,
        "hf_token_vault": vault,
        "acr_registry": registry["registry"].lower() if registry else None,
    }
    return BootTarget(
        "cloud_azure.j2", values, CUSTOM_DATA_LIMIT_BYTES, "Azure's custom data limit"
    )


BOOT_TARGETS = {"gcp": _gcp_target, "aws": _aws_target, "azure": _azure_target}
"""Clouds whose fleets get a boot script, and how each one's is rendered."""
CLOUD_NAMES = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}

WEIGHTS_SETTINGS = {
    "aws": "deploy.model_s3_uri",
    "gcp": "deploy.gcp.model_gcs_uri",
    "azure": "deploy.azure.model_blob_container_id",
}


def render_user_data(spec: DeploymentSpec) -> str:
    """The bash script (EC2 user data, GCE startup-script) that starts `spec`'s serving
    containers on an instance."""
    import jinja2  # ~90 ms to import: only commands that render pay for it

    _check(spec)
    target = BOOT_TARGETS[spec.cloud](spec)
    _check_weights(spec, target)
    environment = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=lambda value: shlex.quote(str(value)),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    runtime = spec.runtime
    neuron = is_neuron(spec.accelerator)
    script = environment.get_template(target.template).render(
        spec=spec,
        runtime=runtime,
        replicas=_replicas(spec),
        gpus_needed=runtime.replicas_per_instance * runtime.tensor_parallel,
        neuron=neuron,
        neuron_cores=neuron_cores(spec.accelerator, runtime.tensor_parallel) if neuron else None,
        proxy_image=PROXY_IMAGE,
        **target.values,
    )
    size = len(script.encode())
    if size > target.limit_bytes:
        raise UserDataError(
            f"{spec.stack_name}: the user data is {size} bytes, over {target.limit_name} of "
            f"{target.limit_bytes}; shorten runtime.extra_args."
        )
    return script


def _template_source(name: str) -> str:
    return (files("templates") / "user_data" / name).read_text(encoding="utf-8")


def _check(spec: DeploymentSpec) -> None:
    runtime = spec.runtime
    gpus = runtime.replicas_per_instance * runtime.tensor_parallel
    last_port = runtime.port + (
        runtime.replicas_per_instance if runtime.replicas_per_instance > 1 else 0
    )
    problem = None
    if spec.cloud not in BOOT_TARGETS or spec.kind != "fleet":
        others = ", ".join(CLOUD_NAMES[name] for name in BOOT_TARGETS if name != "aws")
        problem = (
            f"boot scripts are for {others} and AWS fleets, not a {spec.cloud} {spec.kind} "
            "deployment"
        )
    elif is_neuron(spec.accelerator) and spec.cloud != "aws":
        problem = f"{spec.accelerator} chips are on AWS only, not {CLOUD_NAMES[spec.cloud]}"
    elif is_neuron(spec.accelerator) and (
        neuron := neuron_problem(
            runtime.engine, runtime.precision, runtime.max_model_len, runtime.kv_cache_dtype
        )
    ):
        problem = f"{spec.instance_type} has {spec.accelerator} chips, and {neuron}"
    elif runtime.engine == "tgi" and runtime.precision == "fp32":
        problem = "TGI does not serve fp32 models: use bf16 or fp16, or the vllm engine"
    elif gpus > spec.accelerators_per_instance:
        unit = f"{spec.accelerator} chips" if is_neuron(spec.accelerator) else "GPUs"
        problem = (
            f"{runtime.replicas_per_instance} replica(s) of tensor parallel "
            f"{runtime.tensor_parallel} need {gpus} {unit} but {spec.instance_type} has "
            f"{spec.accelerators_per_instance}"
        )
    elif last_port > 65535:
        problem = f"replica ports {runtime.port}-{last_port} go past 65535: lower runtime.port"
    elif not runtime.health_path.startswith("/"):
        problem = f"the health path {runtime.health_path!r} must start with '/'"
    if problem:
        raise UserDataError(f"{spec.stack_name}: {problem}.")


def _check_weights(spec: DeploymentSpec, target: BootTarget) -> None:
    if spec.runtime.engine == "triton" and not target.values["weights_uri"]:
        store = target.values["weights_store"]
        refuse_to_serve(
            UserDataError(
                f"{spec.stack_name}: Triton serves a prebuilt model repository and cannot "
                "download a model: build it for this GPU (for an LLM, a TensorRT-LLM engine at "
                f"this tensor parallel size), upload it to {store} and set "
                f"{WEIGHTS_SETTINGS[spec.cloud]} to it."
            )
        )


def _replicas(spec: DeploymentSpec) -> list[Replica]:
    """One container per replica on disjoint accelerators (GPUs, or Neuron chips as
    /dev/neuronN). A lone replica takes the serving port; several
    take the ports above it on loopback, behind the proxy on the serving port."""
    runtime = spec.runtime
    neuron = is_neuron(spec.accelerator)
    width = runtime.tensor_parallel
    if runtime.replicas_per_instance == 1:
        chips = ",".join(str(chip) for chip in range(width)) if neuron else "all"
        return [Replica("serving-0", chips, runtime.port, "0.0.0.0")]
    replicas = []
    for index in range(runtime.replicas_per_instance):
        devices = ",".join(str(gpu) for gpu in range(index * width, (index + 1) * width))
        replicas.append(
            Replica(
                f"serving-{index}",
                devices if neuron else f'"device={devices}"',
                runtime.port + 1 + index,
                "127.0.0.1",
            )
        )
    return replicas
