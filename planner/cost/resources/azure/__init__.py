"""Azure (azurerm) pricing rules: one module per priced resource type, listed in this table.
Services around the VMs are priced from providers/azure/data/services.csv when it has a row for
them; without one the resource is unpriced with that reason. Azure ML online deployments are
created by the SDK after apply (see `resources/managed`)."""

from __future__ import annotations

from planner.cost.context import Rule
from planner.cost.resources.azure import (
    kubernetes_cluster,
    kubernetes_cluster_node_pool,
    lb,
    linux_virtual_machine_scale_set,
    monitor_metric_alert,
    nat_gateway,
    private_endpoint,
    public_ip,
)
from planner.cost.resources.table import rules_of

RULES: dict[str, Rule] = rules_of(
    linux_virtual_machine_scale_set,
    kubernetes_cluster,
    kubernetes_cluster_node_pool,
    lb,
    nat_gateway,
    public_ip,
    private_endpoint,
    monitor_metric_alert,
)
