"""What each serving engine needs inside a Kubernetes pod: its arguments, where it reads its
weights, where it publishes its Prometheus metrics, and which of them measure its queue.

The vLLM and TGI flags are the fleet's and the managed endpoints' (modules/engine_flags.py);
Triton's follow the fleet's boot script (templates/user_data/engine_triton.j2) except that its
metrics stay on, since KEDA scales the workload on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec

from modules.engine_flags import engine_flags

if TYPE_CHECKING:
    from planner.deployment import RuntimeSpec

Engine = Literal["vllm", "tgi", "triton"]
ENGINES: tuple[Engine, ...] = ("vllm", "tgi", "triton")

WEIGHTS_DIRS: dict[str, str] = {"vllm": "/model", "tgi": "/model", "triton": "/models"}
"""Where the engine reads the weights the init container downloaded (the fleet's mounts)."""

TRITON_METRICS_PORT = 8002
"""Triton publishes its metrics on their own port, 8002 unless --metrics-port says otherwise
(triton-inference-server/server docs/user_guide/metrics.md); vLLM and TGI publish them at
/metrics on the serving port."""

QUEUE_METRICS: dict[str, tuple[str, ...]] = {
    # vllm-project/vllm vllm/v1/metrics/loggers.py (PrometheusStatLogger): gauges of the requests
    # waiting to be scheduled and of those in the running batch.
    "vllm": ("vllm:num_requests_waiting", "vllm:num_requests_running"),
    # huggingface/text-generation-inference docs/source/reference/metrics.md: "Current queue size"
    # and "Current batch size", both gauges.
    "tgi": ("tgi_queue_size", "tgi_batch_current_size"),
    # triton-inference-server/server docs/user_guide/metrics.md: requests received but not yet
    # executing (Triton's own word: the queue size), a per-model gauge.
    "triton": ("nv_inference_pending_request_count",),
}
"""The gauges whose sum over a workload's pods is its load in requests: queued plus in the batch
for vLLM and TGI, so that a busy replica with an empty queue still counts. Triton publishes no
in-batch gauge of its own (TensorRT-LLM's backend adds nv_trt_llm_request_metrics), so its load
is its queue alone."""


def metrics_port(engine: str, serving_port: int) -> int:
    """The port Prometheus scrapes for the engine's metrics."""
    return TRITON_METRICS_PORT if engine == "triton" else serving_port


def engine_args(runtime: RuntimeSpec, *, weights_downloaded: bool) -> tuple[str, ...]:
    """The container's arguments after the image's entrypoint, for `runtime`.

    With weights downloaded by the init container, vLLM and TGI load them from WEIGHTS_DIRS and
    vLLM still answers to the hub model's name, as on a fleet; otherwise they fetch the hub model
    themselves (engine_flags). Triton always serves a downloaded model repository.
    """
    if runtime.engine == "triton":
        return (
            "tritonserver",
            f"--model-repository={WEIGHTS_DIRS['triton']}",
            f"--http-port={runtime.port}",
            "--allow-grpc=false",
            f"--metrics-port={TRITON_METRICS_PORT}",
            *runtime.extra_args,
        )
    if not weights_downloaded:
        return tuple(engine_flags(runtime))
    local = msgspec.structs.replace(runtime, model_id=WEIGHTS_DIRS[runtime.engine])
    flags = engine_flags(local)
    if runtime.engine == "vllm":
        # `--model /model` comes first: the served name follows it, as in engine_vllm.j2.
        flags[2:2] = ["--served-model-name", runtime.model_id]
    return tuple(flags)
