"""The serving engines' Prometheus names every fleet and the Kubernetes workload read, in one
place, so that the clouds agree on what "requests in flight", "time to first token" and "time per
output token" are.

Gauges (requests a replica is running and holding in its queue):
- vLLM (docs.vllm.ai, "Production Metrics"): vllm:num_requests_running, vllm:num_requests_waiting.
- TGI (huggingface.co/docs/text-generation-inference/reference/metrics): tgi_batch_current_size,
  tgi_queue_size.
- Triton (triton-inference-server/server docs/user_guide/metrics.md):
  nv_inference_pending_request_count (waiting only; the fleets turn Triton's metrics port off,
  so only Kubernetes reads it).

Histograms (seconds):
- Time to first token: vLLM vllm:time_to_first_token_seconds. TGI and Triton have none.
- Time per output token, the decode step between two tokens of a request: vLLM's
  vllm:time_per_output_token_seconds, renamed vllm:inter_token_latency_seconds in 0.11 with the
  old name kept until 0.13 (vllm-project/vllm#23919, #24015); TGI's
  tgi_request_mean_time_per_token_duration ("mean time per token per request (inter-token
  latency)"). vLLM 0.11 also added vllm:request_time_per_output_token_seconds, one observation per
  request; it is not read: it is absent from the toolkit's vLLM image (v0.10.2), and mixing
  per-request and per-token observations would change the figure with the image.
The names of one histogram are the same observations under the names a release exposes: a reader
takes the first present (the AWS exporter) or adds them (PromQL over both names: every bucket
doubles where a release exposes both, which leaves quantiles and means unchanged).
"""

from __future__ import annotations

RUNNING_GAUGE: dict[str, str] = {
    "vllm": "vllm:num_requests_running",
    "tgi": "tgi_batch_current_size",
}
WAITING_GAUGE: dict[str, str] = {
    "vllm": "vllm:num_requests_waiting",
    "tgi": "tgi_queue_size",
    "triton": "nv_inference_pending_request_count",
}
TTFT_HISTOGRAMS: dict[str, tuple[str, ...]] = {"vllm": ("vllm:time_to_first_token_seconds",)}
TPOT_HISTOGRAMS: dict[str, tuple[str, ...]] = {
    "vllm": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    "tgi": ("tgi_request_mean_time_per_token_duration",),
}
"""Engine -> the histogram's names, newest release's first."""


def queue_gauges(running: str, waiting: str) -> dict[str, dict[str, str]]:
    """Engine -> {its gauge: the published name}, for the engines exposing both gauges (what a
    fleet adds up to requests in flight per replica)."""
    return {
        engine: {RUNNING_GAUGE[engine]: running, WAITING_GAUGE[engine]: waiting}
        for engine in RUNNING_GAUGE
        if engine in WAITING_GAUGE
    }
