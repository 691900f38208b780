"""The boot script that turns a fresh GPU or Inferentia instance into the serving replicas of a
DeploymentSpec: EC2 user data on AWS, the startup-script metadata on Compute Engine.

The script lives in templates/user_data/: a cloud-neutral core (serve.sh.j2), one partial per cloud
that extends it (cloud_<cloud>.j2: instance metadata, secrets, registry login, weights; its values
and size limit from the cloud's `boot_target`, modules/<cloud>/boot.py) and one per
engine (engine_<engine>_neuron.j2 on Inferentia, AWS only). Every value interpolated from the spec
goes through shlex.quote (the environment's `finalize`), so a profile cannot inject shell; secrets
are never rendered, only the name of the parameter or secret holding them.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from importlib.resources import files
from typing import TYPE_CHECKING, NamedTuple

from core.errors import InfraError
from modules.readiness import refuse_to_serve
from providers import targets
from providers.aws.neuron import is_neuron, neuron_cores, neuron_problem

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec


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
    """What differs between clouds: the partial, its template values, and the size limit. Each
    cloud's `boot_target` (modules/<cloud>/boot.py) makes one from a spec."""

    template: str
    values: dict[str, object]
    limit_bytes: int
    limit_name: str


def boot_target(spec: DeploymentSpec) -> BootTarget:
    make: Callable[[DeploymentSpec], BootTarget] = targets.resolve(
        targets.cloud(spec.cloud).boot_target
    )
    return make(spec)


def either(names: list[str]) -> str:
    """'A, B and C'."""
    return f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]


def render_user_data(spec: DeploymentSpec) -> str:
    """The bash script (EC2 user data, GCE startup-script) that starts `spec`'s serving
    containers on an instance."""
    import jinja2  # ~90 ms to import: only commands that render pay for it

    _check(spec)
    target = boot_target(spec)
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
    cloud = targets.cloud(spec.cloud)
    if cloud.boot_target is None or not targets.kind(spec.kind).runs_instances:
        booted = [c.display_name for c in targets.clouds() if c.boot_target is not None]
        problem = (
            f"boot scripts are for {either(booted)} fleets, not a {spec.cloud} {spec.kind} "
            "deployment"
        )
    elif is_neuron(spec.accelerator) and not cloud.serves_neuron:
        problem = f"{spec.accelerator} chips are on AWS only, not {cloud.display_name}"
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
                f"{targets.cloud(spec.cloud).weights_setting} to it."
            )
        )


def replica_ports(spec: DeploymentSpec) -> list[int]:
    """The host ports the instance's replicas serve on (where the metric agents scrape them)."""
    return [replica.host_port for replica in _replicas(spec)]


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
