"""Resources billed only by the traffic or data they see, declared in one place: each is listed
with its unit prices as usage-based components, never as zero and never in the totals, unless
the usage file (`infra cost --usage-file`) gives the quantities."""

from __future__ import annotations

from collections.abc import Mapping

from planner.cost.context import PricingContext, Rule, UsageKey
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent

Charge = tuple[str, str, tuple[UsageKey, ...]]
"""(service price item, component name, the usage file's keys that give its quantity)."""

USAGE_ONLY: Mapping[str, tuple[Charge, ...]] = {
    # The keys are Infracost's for the same resource types.
    "aws_cloudwatch_log_group": (
        ("cloudwatch.logs.ingest", "log ingestion", (UsageKey("monthly_data_ingested_gb"),)),
        ("cloudwatch.logs.storage", "log storage", (UsageKey("storage_gb"),)),
    ),
    "aws_s3_bucket": (
        ("s3.standard.storage", "storage (standard)", (UsageKey("standard.storage_gb"),)),
    ),
    # Cloud NAT bills per VM using it and per GB processed: both follow the fleet's size and
    # traffic (the instance groups carry the VM count).
    "google_compute_router_nat": (
        ("nat.vm_hour", "VMs using the gateway", (UsageKey("assigned_vms", hourly=True),)),
        ("nat.data", "data processed", (UsageKey("monthly_data_processed_gb"),)),
    ),
    # A Cloud KMS key bills per active version (rotation adds one each period) and per operation.
    "google_kms_crypto_key": (
        ("kms.key_version", "key versions", (UsageKey("key_versions"),)),
        ("kms.operations", "operations", (UsageKey("monthly_key_operations", 1e-4),)),
    ),
    "azurerm_log_analytics_workspace": (
        ("log_analytics.ingestion", "log ingestion", (UsageKey("monthly_log_data_ingestion_gb"),)),
    ),
    "azurerm_key_vault": (("key_vault.operations", "secret and key operations", ()),),
    "azurerm_storage_account": (
        ("blob.hot_lrs.storage", "storage (hot, LRS)", (UsageKey("storage_gb"),)),
    ),
}


def _rule(charges: tuple[Charge, ...]) -> Rule:
    def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
        return [
            context.usage_component(item, name, resource, keys=keys) for item, name, keys in charges
        ]

    return price


RULES: dict[str, Rule] = {
    resource_type: _rule(charges) for resource_type, charges in USAGE_ONLY.items()
}
