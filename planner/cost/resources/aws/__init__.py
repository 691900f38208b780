"""AWS pricing rules: one module per priced resource type, listed in this table (what the
instances launch with, e.g. their volumes, is priced by `volumes.py` for the rules that need it).
Traffic-driven charges (capacity units, NAT data, KMS requests) are listed with their unit
prices as usage-based, never as zero."""

from __future__ import annotations

from planner.cost.context import Rule
from planner.cost.resources.aws import (
    autoscaling_group,
    cloudwatch_dashboard,
    cloudwatch_metric_alarm,
    eip,
    eks_cluster,
    eks_node_group,
    instance,
    kms_key,
    lb,
    nat_gateway,
    sagemaker_endpoint,
)
from planner.cost.resources.table import rules_of

RULES: dict[str, Rule] = rules_of(
    autoscaling_group,
    instance,
    eks_cluster,
    eks_node_group,
    sagemaker_endpoint,
    lb,
    nat_gateway,
    eip,
    kms_key,
    cloudwatch_dashboard,
    cloudwatch_metric_alarm,
)
