"""Google Cloud (google) pricing rules: one module per priced resource type, listed in this
table. Forwarding rules and disks are priced from providers/gcp/data/services.csv; without a price
row a resource is unpriced with that reason. A Vertex AI endpoint costs nothing itself: its
deployed models are created by the SDK steps after apply (see `resources/managed`)."""

from __future__ import annotations

from planner.cost.context import Rule
from planner.cost.resources.gcp import (
    compute_forwarding_rule,
    compute_region_instance_group_manager,
    compute_security_policy,
    container_cluster,
    container_node_pool,
    monitoring_alert_policy,
)
from planner.cost.resources.table import rules_of

RULES: dict[str, Rule] = rules_of(
    compute_region_instance_group_manager,
    compute_forwarding_rule,
    compute_security_policy,
    container_cluster,
    container_node_pool,
    monitoring_alert_policy,
)
