"""EC2 user data that turns a fresh GPU instance into the serving replicas of a DeploymentSpec.

The script lives in templates/user_data/ (serve.sh.j2 plus one partial per engine). Every value
interpolated from the spec goes through shlex.quote (the environment's `finalize`), so a profile
cannot inject shell; secrets are never rendered, only the name of the SSM parameter holding them.
"""

from __future__ import annotations

import re
import shlex
from importlib.resources import files
from typing import TYPE_CHECKING, NamedTuple

from planner.errors import InfraError

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

USER_DATA_LIMIT_BYTES = 16 * 1024
"""EC2 refuses user data larger than 16 KB (counted before base64 encoding)."""

_ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?)/"
)


class UserDataError(InfraError):
    """The deployment spec cannot be turned into EC2 user data for a serving instance."""


PROXY_IMAGE = "public.ecr.aws/nginx/nginx:1.27-alpine"
"""With several replicas per instance, nginx on the serving port spreads requests over them
(least connections), so the load balancer's one target port reaches every replica."""


class Replica(NamedTuple):
    name: str
    gpus: str
    """`docker run --gpus`: `all` or `"device=0,1"` (quoted, as docker splits on commas)."""
    host_port: int
    bind: str
    """Host address the port is published on: loopback when the proxy fronts the replicas."""


def render_user_data(spec: DeploymentSpec) -> str:
    """The bash script (EC2 user data) that starts `spec`'s serving containers on an instance."""
    import jinja2  # ~90 ms to import: only commands that render pay for it

    _check(spec)
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
    ecr = _ECR_IMAGE.match(runtime.image)
    script = environment.get_template("serve.sh.j2").render(
        spec=spec,
        runtime=runtime,
        replicas=_replicas(spec),
        gpus_needed=runtime.replicas_per_instance * runtime.tensor_parallel,
        proxy_image=PROXY_IMAGE,
        ecr_registry=ecr["registry"] if ecr else None,
        ecr_region=ecr["region"] if ecr else None,
    )
    size = len(script.encode())
    if size > USER_DATA_LIMIT_BYTES:
        raise UserDataError(
            f"{spec.stack_name}: the user data is {size} bytes, over EC2's limit of "
            f"{USER_DATA_LIMIT_BYTES}; shorten runtime.extra_args."
        )
    return script


def _template_source(name: str) -> str:
    return (files("templates") / "user_data" / name).read_text(encoding="utf-8")


NEURON_ACCELERATORS = frozenset({"Inferentia2"})


def _check(spec: DeploymentSpec) -> None:
    runtime = spec.runtime
    gpus = runtime.replicas_per_instance * runtime.tensor_parallel
    last_port = runtime.port + (
        runtime.replicas_per_instance if runtime.replicas_per_instance > 1 else 0
    )
    problem = None
    if spec.cloud != "aws" or spec.kind != "fleet":
        problem = f"EC2 user data is for AWS fleets, not a {spec.cloud} {spec.kind} deployment"
    elif spec.accelerator in NEURON_ACCELERATORS:
        problem = (
            f"{spec.instance_type} has {spec.accelerator} chips, which need the Neuron runtime "
            "and images; the boot script drives NVIDIA GPUs only"
        )
    elif runtime.engine == "triton" and runtime.model_s3_uri is None:
        problem = (
            "Triton serves a prebuilt TensorRT-LLM model repository and cannot download a model: "
            "build the engine for this GPU and tensor parallel size, upload the repository to S3 "
            "and set deploy.model_s3_uri to it"
        )
    elif runtime.engine == "tgi" and runtime.precision == "fp32":
        problem = "TGI does not serve fp32 models: use bf16 or fp16, or the vllm engine"
    elif gpus > spec.accelerators_per_instance:
        problem = (
            f"{runtime.replicas_per_instance} replica(s) of tensor parallel "
            f"{runtime.tensor_parallel} need {gpus} GPUs but {spec.instance_type} has "
            f"{spec.accelerators_per_instance}"
        )
    elif last_port > 65535:
        problem = f"replica ports {runtime.port}-{last_port} go past 65535: lower runtime.port"
    elif not runtime.health_path.startswith("/"):
        problem = f"the health path {runtime.health_path!r} must start with '/'"
    if problem:
        raise UserDataError(f"{spec.stack_name}: {problem}.")


def _replicas(spec: DeploymentSpec) -> list[Replica]:
    """One container per replica on disjoint GPUs. A lone replica takes the serving port; several
    take the ports above it on loopback, behind the proxy on the serving port."""
    runtime = spec.runtime
    if runtime.replicas_per_instance == 1:
        return [Replica("serving-0", "all", runtime.port, "0.0.0.0")]
    width = runtime.tensor_parallel
    replicas = []
    for index in range(runtime.replicas_per_instance):
        devices = ",".join(str(gpu) for gpu in range(index * width, (index + 1) * width))
        replicas.append(
            Replica(
                f"serving-{index}", f'"device={devices}"', runtime.port + 1 + index, "127.0.0.1"
            )
        )
    return replicas
