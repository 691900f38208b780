"""google_container_cluster: GKE's cluster management fee by the cluster-hour, the same for
every mode and topology. GKE's free tier (a monthly credit per billing account, for one zonal or
Autopilot cluster) is not deducted: it is per billing account, not per cluster, and does not
apply to regional clusters; a zonal or Autopilot cluster's line says it may. An Autopilot
cluster's pods and a kept default node pool are not priced here, and the line says so; node
pools of their own are priced as google_container_node_pool."""

from __future__ import annotations

import re

from planner.cost.context import PricingContext, with_note
from planner.cost.plan_resources import PlannedResource, flag, number, text
from planner.cost.report import CostComponent

TYPES = ("google_container_cluster",)

ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
"""A Compute Engine zone (us-central1-a), as opposed to a region (us-central1)."""
FREE_TIER = (
    "GKE's free tier credit (one zonal or Autopilot cluster per billing account) is not deducted"
)


def is_zone(location: str | None) -> bool:
    return location is not None and ZONE.match(location) is not None


def _notes(resource: PlannedResource) -> list[str]:
    values = resource.values
    autopilot = flag(values.get("enable_autopilot"))
    notes = []
    if autopilot or is_zone(text(values.get("location"))):
        notes.append(FREE_TIER)
    if autopilot:
        notes.append("Autopilot pods are billed by their requests, not priced here")
    elif not flag(values.get("remove_default_node_pool")):
        count = number(values.get("initial_node_count"))
        size = f" of {count:g} nodes" if count is not None else ""
        notes.append(f"the default node pool{size} is kept and not priced")
    return notes


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    component = context.service_component(
        "gke.cluster_management.hour", "cluster management", context.month_hours()
    )
    return [with_note(component, "; ".join(_notes(resource)) or None)]
