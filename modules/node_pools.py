"""What the GPU node pools of every cloud share: an autoscaling range, and the check that a
deployment asks for at least one pool with a sensible range."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InfraError

GPU_TAINT_KEY = "nvidia.com/gpu"
"""The taint on every GPU node (NoSchedule): only pods that tolerate it, the serving pods, land
there; it is the key NVIDIA's device plugin and the clouds' GPU pools use."""


class NodePoolsError(InfraError):
    pass


@dataclass(frozen=True, kw_only=True)
class NodeRange:
    """Autoscaling bounds of one pool, in nodes over all its zones."""

    min_nodes: int
    """(Required) The fewest nodes the autoscaler keeps (0 lets a pool scale to nothing)."""
    max_nodes: int
    """(Required) The most nodes the autoscaler adds, above 0."""


def check_ranges(on_demand: NodeRange | None, spot: NodeRange | None, where: str) -> None:
    if on_demand is None and spot is None:
        raise NodePoolsError(f"{where}: neither an on-demand nor a spot node pool is asked.")
    for pool in (on_demand, spot):
        if pool is not None and not (0 <= pool.min_nodes <= pool.max_nodes and pool.max_nodes):
            raise NodePoolsError(
                f"{where}: node pool range {pool.min_nodes}..{pool.max_nodes} is not "
                "0 <= min <= max with max above 0."
            )
