"""aws_cloudwatch_metric_alarm: billed per metric it evaluates (a metric-math alarm over two
metrics costs two alarms); one on a period under a minute is high resolution."""

from __future__ import annotations

from planner.cost.context import PricingContext
from planner.cost.plan_resources import PlannedResource, blocks, first_block, number
from planner.cost.report import CostComponent, Span

TYPES = ("aws_cloudwatch_metric_alarm",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    queries = blocks(values.get("metric_query"))
    metrics = [first_block(q.get("metric")) for q in queries if q.get("metric")]
    periods = [number(m.get("period")) for m in metrics] or [number(values.get("period"))]
    high_resolution = any(p is not None and p < 60 for p in periods)
    resolution = "high_resolution" if high_resolution else "standard"
    count = max(1, len(metrics))
    label = f"{resolution.replace('_', ' ')} alarm" + (f" ({count} metrics)" if count > 1 else "")
    return [context.service_component(f"cloudwatch.alarm.{resolution}", label, Span.fixed(count))]
