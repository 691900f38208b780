"""google_monitoring_alert_policy: a monthly fee per condition. The second part of alerting's
price, $0.35 per million time series a condition returns, is left out: each of the fleet's
conditions aggregates to one series, evaluated once a minute (about 44,000 a month, $0.02)."""

from __future__ import annotations

from planner.cost.context import PricingContext
from planner.cost.plan_resources import PlannedResource, blocks
from planner.cost.report import CostComponent, Span

TYPES = ("google_monitoring_alert_policy",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    count = max(1, len(blocks(resource.values.get("conditions"))))
    label = "alerting condition" + (f"s ({count})" if count > 1 else "")
    return [context.service_component("monitoring.alert_condition", label, Span.fixed(count))]
