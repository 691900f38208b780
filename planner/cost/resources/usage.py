"""Resources billed only by the traffic or data they see, declared in one place: each is listed
with its unit prices as usage-based components, never as zero and never in the totals."""

from __future__ import annotations

from collections.abc import Mapping

from planner.cost.context import PricingContext, Rule
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent

USAGE_ONLY: Mapping[str, tuple[tuple[str, str], ...]] = {
    # resource type: ((service price item, component name), ...)
    "aws_cloudwatch_log_group": (
        ("cloudwatch.logs.ingest", "log ingestion"),
        ("cloudwatch.logs.storage", "log storage"),
    ),
    "aws_s3_bucket": (("s3.standard.storage", "storage (standard)"),),
    # Cloud NAT bills per VM using it and per GB processed: both follow the fleet's size and
    # traffic (the instance groups carry the VM count).
    "google_compute_router_nat": (
        ("nat.vm_hour", "VMs using the gateway"),
        ("nat.data", "data processed"),
    ),
    # A Cloud KMS key bills per active version (rotation adds one each period) and per operation.
    "google_kms_crypto_key": (
        ("kms.key_version", "key versions"),
        ("kms.operations", "operations"),
    ),
    "azurerm_log_analytics_workspace": (("log_analytics.ingestion", "log ingestion"),),
    "azurerm_key_vault": (("key_vault.operations", "secret and key operations"),),
    "azurerm_storage_account": (("blob.hot_lrs.storage", "storage (hot, LRS)"),),
}


def _rule(charges: tuple[tuple[str, str], ...]) -> Rule:
    def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
        return [context.usage_component(item, name) for item, name in charges]

    return price


RULES: dict[str, Rule] = {
    resource_type: _rule(charges) for resource_type, charges in USAGE_ONLY.items()
}
