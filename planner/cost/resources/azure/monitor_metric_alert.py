"""azurerm_monitor_metric_alert: Azure Monitor bills a metric alert rule per time series it
monitors a month: one per condition (static or dynamic) on each resource in its scopes; a
condition split by dimension values monitors one series per value, which the plan cannot count
when it names them by wildcard."""

from __future__ import annotations

from planner.cost.context import PricingContext, with_note
from planner.cost.plan_resources import PlannedResource, blocks
from planner.cost.report import CostComponent, Span

TYPES = ("azurerm_monitor_metric_alert",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    scopes = resource.values.get("scopes")
    resources = len(scopes) if isinstance(scopes, list) and scopes else 1
    conditions = blocks(resource.values.get("criteria")) + blocks(
        resource.values.get("dynamic_criteria")
    )
    split = any(blocks(condition.get("dimension")) for condition in conditions)
    component = context.service_component(
        "monitor.metric_alert.time_series",
        "metric alert (time series monitored)",
        Span.fixed(max(1, len(conditions)) * resources),
    )
    note = "a condition split by dimension counted once (each value is its own series)"
    return [with_note(component, note if split else None)]
