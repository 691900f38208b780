"""The cold start of one replica: how long a request waits when it arrives at a deployment that
scaled to zero, and the check that a latency target survives it.

A new replica starts in sequence: the instance (a VM, a Kubernetes node) starts, the engine's
image is pulled and extracted, the weights are downloaded to the boot volume, loaded into GPU
memory, and the engine warms up (vLLM: torch.compile and CUDA graph capture). The instance's start
comes from the registry (Kind/Target.instance_start_s), a cap on the download from the cloud's
boot volume (Cloud.disk_write_bytes_per_s); the other figures are published measurements of one
vLLM deployment of Llama 3.1 8B, applied to every engine and scaled by the weights' bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from core.errors import ProfileError
from planner.performance import weight_bytes
from providers import targets

if TYPE_CHECKING:
    from planner.optimizer import Candidate, Recommendation
    from planner.profile import LoadedProfile

LLAMA_8B_BYTES = 8.03e9 * 2
"""Llama 3.1 8B's weights in BF16 (8.03 billion parameters), the model the figures below were
measured with."""

IMAGE_BYTES = 5.2e9
"""A serving image without weights: CUDA 2.8 GB, PyTorch 1.4 GB and other libraries 1 GB
(BentoML, "Cold-Starting LLMs on Kubernetes in Under 30 Seconds", 2025-04-11, its Llama 3.1 8B
container; retrieved 2026-12-03)."""

IMAGE_PULL_BYTES_PER_S = 20.2e9 / (5.5 * 60 + 3.5 * 60)
"""Pull and extraction: the same 20.2 GB container pulled in 5-6 min and extracted in 3-4 min
(BentoML, as above; the middle of each range)."""

WEIGHTS_DOWNLOAD_BYTES_PER_S = LLAMA_8B_BYTES / 61
"""Llama-3.1-8B-Instruct downloaded in 61 s onto an L40S node (Tensorfuse, "Reducing GPU Cold
Start Time when using vLLM", 2025-09-01; retrieved 2026-12-03)."""

LOAD_BYTES_PER_S = LLAMA_8B_BYTES / 33
"""Its weights loaded into GPU memory in 33 s (Tensorfuse, as above, without a cache)."""

WARMUP_S = 10.0 + 42 + 54 + 94
"""vLLM's start after the weights, without caches: Dynamo bytecode transformation 10 s, graph
compilation 42 s, CUDA graph capture 54 s, engine initialisation and imports 94 s (Tensorfuse,
as above)."""


class ColdStart(msgspec.Struct, frozen=True, kw_only=True):
    """Seconds each step of a new replica's start takes, in order."""

    instance_s: float
    image_pull_s: float
    weights_download_s: float
    load_s: float
    warmup_s: float
    weights_gb: float

    @property
    def total_s(self) -> float:
        return (
            self.instance_s + self.image_pull_s + self.weights_download_s + self.load_s
        ) + self.warmup_s

    def as_dict(self) -> dict[str, float]:
        parts = msgspec.to_builtins(self)
        return {key: round(value, 1) for key, value in {**parts, "total_s": self.total_s}.items()}

    def sentence(self) -> str:
        """`about 8.7 minutes (instance 26 s, image 139 s, ...)`."""
        return (
            f"about {self.total_s / 60:.1f} minutes (instance {self.instance_s:.0f} s, image "
            f"{self.image_pull_s:.0f} s, weights download {self.weights_download_s:.0f} s for "
            f"{self.weights_gb:.1f} GB, load into GPU memory {self.load_s:.0f} s, engine warm-up "
            f"{self.warmup_s:.0f} s)"
        )


def cold_start(candidate: Candidate, weights_bytes: float) -> ColdStart | None:
    """The cold start of one replica of `candidate`; None when its kind does not scale to zero
    (a managed endpoint keeps an instance, so no request waits for one)."""
    offering = candidate.offering
    target = targets.target(offering.cloud, offering.kind)
    kind = targets.kind(offering.kind)
    start = target.instance_start if target else None
    if not kind.scales_to_zero or start is None:
        return None
    download = WEIGHTS_DOWNLOAD_BYTES_PER_S
    disk = targets.cloud(offering.cloud).disk_write_bytes_per_s
    if disk is not None:
        download = min(download, disk.value)
    return ColdStart(
        instance_s=start.value,
        image_pull_s=IMAGE_BYTES / IMAGE_PULL_BYTES_PER_S,
        weights_download_s=weights_bytes / download,
        load_s=weights_bytes / LOAD_BYTES_PER_S,
        warmup_s=WARMUP_S,
        weights_gb=weights_bytes / 1e9,
    )


def reaches_zero(recommendation: Recommendation, candidate: Candidate) -> bool:
    """The candidate has no instance in some hour of an environment that scales to zero: the
    next request then waits for a cold start."""
    week = recommendation.week
    if week is None or not week.scale_to_zero or candidate.hours is None:
        return False
    return any(instances == 0 for instances, _ in candidate.hours)


def candidate_cold_start(recommendation: Recommendation, candidate: Candidate) -> ColdStart | None:
    """The cold start a request can meet on `candidate`; None when it never scales to zero."""
    if not reaches_zero(recommendation, candidate):
        return None
    profile = recommendation.profile
    return cold_start(candidate, weight_bytes(recommendation.model, profile.model.precision))


def _latency_target(loaded: LoadedProfile) -> tuple[str, float] | None:
    """The target the first request's latency is held to: time to first token, else end to
    end (a request waiting for a replica has no token before it)."""
    targets_ = loaded.profile.targets
    if targets_.ttft_ms_p95 is not None:
        return "targets.ttft_ms_p95", targets_.ttft_ms_p95
    if targets_.e2e_ms_p95 is not None:
        return "targets.e2e_ms_p95", targets_.e2e_ms_p95
    return None


def check_cold_start(
    loaded: LoadedProfile, recommendation: Recommendation, environment: str | None
) -> None:
    """Refuse scale_to_zero where the chosen replica's cold start exceeds the latency target:
    the first request after an idle hour waits the whole cold start, so the target is broken
    for it. The environment's `allow_cold_start: true` accepts that."""
    if environment is None:
        return
    settings = loaded.profile.deploy.environments.get(environment)
    if settings is None or not settings.scale_to_zero or settings.allow_cold_start:
        return
    start = candidate_cold_start(recommendation, recommendation.chosen)
    target = _latency_target(loaded)
    if start is None or target is None or start.total_s * 1000 <= target[1]:
        return
    name, milliseconds = target
    where = loaded.location_of("deploy", "environments", environment, "scale_to_zero")
    raise ProfileError(
        f"{where}, field deploy.environments.{environment}.scale_to_zero: a replica of "
        f"{recommendation.summary()} starts cold in {start.sentence()}, far above {name} of "
        f"{milliseconds:g} ms, so the first requests after an hour at zero miss it; set "
        f"allow_cold_start: true on the environment to accept that."
    )
