"""Pricing Azure plans (planner/cost/resources/azure/) from the synthesized configuration of the
Azure stacks, with the shipped catalog: scale sets over their autoscale range at spot or on-demand
prices, services without a price row unpriced with the reason, Azure ML's SDK-made instances
named as outside the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.synth import synthesize
from planner.cost.plan_resources import PlannedInfrastructure, from_configuration
from planner.cost.pricing import RegionUnknown, price_plan
from planner.cost.report import CostReport, ResourceCost, Span
from providers.catalog import Catalog, load_catalog
from providers.service_prices import ServicePrice, ServicePrices
from tests.conftest import catalog_of, offering, zone
from tests.test_azure_stacks import MIXED, ML_PRIVATE, REGULAR

HOURS = 730


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("azure-cost")
    specs = [MIXED, REGULAR, ML_PRIVATE]
    synthesize([(spec, root / "state" / spec.name) for spec in specs], root / "out", emulated=False)
    return {
        spec.name: json.loads(
            (root / "out" / "stacks" / spec.stack_name / "cdk.tf.json").read_text()
        )
        for spec in specs
    }


def price(
    config: dict[str, Any],
    *,
    catalog: Catalog | None = None,
    region: str | None = "eastus",
    prices: ServicePrices | None = None,
) -> CostReport:
    return price_plan(
        from_configuration(config),
        catalog or load_catalog(),
        source="test",
        region=region,
        service_prices=prices or ServicePrices("azure", {}),
    )


def of_type(report: CostReport, rtype: str) -> list[ResourceCost]:
    return [r for r in report.resources if r.type == rtype]


SPOT_CATALOG = catalog_of(
    offering(
        MIXED.instance_type,
        "A100-80GB",
        1,
        80,
        [zone("", 3.5, 1.25)],
        cloud="azure",
        region="eastus",
    )
)


def test_spot_set_over_its_autoscale_range_and_the_on_demand_base(
    configs: dict[str, dict[str, Any]],
) -> None:
    report = price(configs["mixed"], catalog=SPOT_CATALOG)
    assert report.cloud == "azure" and report.region == "eastus"
    sets = {
        r.components[0].category: r
        for r in of_type(report, "azurerm_linux_virtual_machine_scale_set")
    }
    base = sets["compute (on-demand)"].components[0]
    assert base.unit_price == 3.5
    assert base.quantity == Span.fixed(MIXED.capacity.on_demand_base * HOURS)
    above = sets["compute (spot)"].components[0]
    assert (above.unit_price, above.ondemand_unit_price) == (1.25, 3.5)
    capacity = MIXED.capacity
    base_count = capacity.on_demand_base
    assert above.quantity == Span(
        (capacity.min_size - base_count) * HOURS,
        (capacity.desired - base_count) * HOURS,
        (capacity.max_size - base_count) * HOURS,
    )
    for resource in sets.values():
        assert resource.status == "priced"
        assert "OS disks (Premium SSD P15) not included: no managed_disk.premium_ssd.p15" in (
            resource.components[0].note or ""
        )


def test_shipped_catalog_spot_price_stands_against_its_family(
    configs: dict[str, dict[str, Any]],
) -> None:
    """Azure lists NC A100 v4 spot at 11-17% of pay-as-you-go in every region and size: the
    eastus price is in line with its family, so the spot set is priced at it."""
    (found,) = [
        o
        for o in load_catalog().offerings
        if (o.cloud, o.kind, o.region, o.instance_type)
        == ("azure", "fleet", "eastus", MIXED.instance_type)
    ]
    (listed,) = found.zones
    assert listed.spot_usd is not None and listed.spot_note is None
    report = price(configs["mixed"])
    (component,) = [
        r.components[0]
        for r in of_type(report, "azurerm_linux_virtual_machine_scale_set")
        if r.components[0].category == "compute (spot)"
    ]
    assert component.unit_price == round(listed.spot_usd, 6)
    assert component.price_retrieved == listed.retrieved == "2026-11-23"


def test_refused_spot_price_prices_the_spot_set_at_on_demand(
    configs: dict[str, dict[str, Any]],
) -> None:
    """A listed spot price the loader refused (here: deeper than Azure's 90% maximum discount)
    prices the spot set at on-demand, saying why."""
    listed = zone("", 3.673, 0.2)
    assert listed.spot_usd is None and listed.spot_note
    catalog = catalog_of(
        offering(MIXED.instance_type, "A100-80GB", 1, 80, [listed], cloud="azure", region="eastus")
    )
    report = price(configs["mixed"], catalog=catalog)
    (component,) = [
        r.components[0]
        for r in of_type(report, "azurerm_linux_virtual_machine_scale_set")
        if r.components[0].category == "compute (spot)"
    ]
    assert component.unit_price == 3.673 and component.price_retrieved is None
    assert f"({listed.spot_note}): priced at on-demand" in (component.note or "")


def test_services_without_a_price_row_are_unpriced_with_the_reason(
    configs: dict[str, dict[str, Any]],
) -> None:
    report = price(configs["mixed"])
    (lb,) = of_type(report, "azurerm_lb")
    assert lb.status == "unpriced"
    assert lb.reason == "no load_balancer.standard.rules.hour price for eastus in the catalog"
    (nat,) = of_type(report, "azurerm_nat_gateway")
    assert nat.status == "unpriced" and "nat_gateway.hour" in (nat.reason or "")
    (address,) = of_type(report, "azurerm_public_ip")
    assert address.status == "unpriced" and "public_ip.standard.static.hour" in (
        address.reason or ""
    )
    for rtype in ("azurerm_network_security_rule", "azurerm_role_assignment", "azurerm_subnet"):
        assert {r.status for r in of_type(report, rtype)} == {"free"}
    (rule,) = of_type(report, "azurerm_lb_rule")
    assert rule.status == "free" and "load balancer" in (rule.reason or "")


def test_service_prices_price_disks_and_network(configs: dict[str, dict[str, Any]]) -> None:
    rows = {
        (item, "eastus"): ServicePrice(item, unit, "eastus", usd, "test", "2026-11-23")
        for item, unit, usd in (
            ("managed_disk.premium_ssd.p15.storage", "disk-month", 38.0),
            ("load_balancer.standard.rules.hour", "hours", 0.025),
            ("nat_gateway.hour", "hours", 0.045),
            ("public_ip.standard.static.hour", "hours", 0.005),
        )
    }
    report = price(configs["mixed"], prices=ServicePrices("azure", rows))
    (lb,) = of_type(report, "azurerm_lb")
    assert lb.status == "priced" and lb.monthly_usd == Span.fixed(round(0.025 * HOURS, 2))
    disks = [
        c
        for r in of_type(report, "azurerm_linux_virtual_machine_scale_set")
        for c in r.components
        if c.category == "storage"
    ]
    assert sum(c.monthly_usd.max for c in disks) == 38.0 * MIXED.capacity.max_size
    for resource in of_type(report, "azurerm_linux_virtual_machine_scale_set"):
        assert "OS disks" not in (resource.components[0].note or "")


def test_regular_set_at_on_demand_over_its_range(configs: dict[str, dict[str, Any]]) -> None:
    report = price(configs["regular"])
    (fleet,) = of_type(report, "azurerm_linux_virtual_machine_scale_set")
    (found,) = [
        o
        for o in load_catalog().offerings
        if (o.cloud, o.kind, o.region, o.instance_type)
        == ("azure", "fleet", "eastus", REGULAR.instance_type)
    ]
    ondemand = found.zones[0].ondemand_usd
    assert ondemand is not None
    (compute, *_) = fleet.components
    assert compute.category == "compute (on-demand)" and compute.unit_price == round(ondemand, 6)
    assert compute.quantity == Span(2 * HOURS, 2 * HOURS, 3 * HOURS)


def test_workspace_instances_are_outside_the_plan(configs: dict[str, dict[str, Any]]) -> None:
    report = price(configs["mlpriv"])
    (workspace,) = of_type(report, "azurerm_machine_learning_workspace")
    assert workspace.status == "free" and "Azure ML SDK after apply" in (workspace.reason or "")
    for rtype in (
        "azurerm_key_vault",
        "azurerm_storage_account",
        "azurerm_log_analytics_workspace",
    ):
        (resource,) = of_type(report, rtype)
        assert resource.status == "usage-based"
    (endpoint,) = of_type(report, "azurerm_private_endpoint")
    assert endpoint.status == "unpriced" and "private_endpoint.hour" in (endpoint.reason or "")
    (insights,) = of_type(report, "azurerm_application_insights")
    assert insights.status == "free" and "Log Analytics" in (insights.reason or "")


def test_region_read_from_the_resources_locations(configs: dict[str, dict[str, Any]]) -> None:
    assert price(configs["mixed"], region=None).region == "eastus"


def test_region_unknown_when_resources_disagree() -> None:
    planned = PlannedInfrastructure(
        tuple(
            from_configuration(
                {
                    "resource": {
                        "azurerm_resource_group": {
                            "a": {"name": "a", "location": "eastus"},
                            "b": {"name": "b", "location": "westus2"},
                        }
                    }
                }
            ).resources
        )
    )
    with pytest.raises(RegionUnknown, match="azure region"):
        price_plan(
            planned, load_catalog(), source="test", service_prices=ServicePrices("azure", {})
        )


def _one_scale_set(**values: Any) -> dict[str, Any]:
    body = {"sku": "Standard_NC4as_T4_v3", "priority": "Spot", "instances": 3, **values}
    return {"resource": {"azurerm_linux_virtual_machine_scale_set": {"fleet": body}}}


def test_spot_without_a_spot_price_is_priced_on_demand_and_says_so(tmp_path: Path) -> None:
    catalog = catalog_of(
        offering(
            "Standard_NC4as_T4_v3",
            "T4",
            1,
            16,
            [zone("", 0.5, None)],
            cloud="azure",
            region="eastus",
        )
    )
    (fleet,) = price(_one_scale_set(), catalog=catalog).resources
    (compute,) = fleet.components
    assert compute.unit_price == 0.5 and compute.quantity == Span.fixed(3 * HOURS)
    assert "no spot price for Standard_NC4as_T4_v3" in (compute.note or "")
    assert "OS disks not included" in (compute.note or "")


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"sku": "Standard_Unknown_v9"}, "Standard_Unknown_v9 has no fleet price for eastus"),
        ({"sku": "${var.sku}"}, "the VM size is not known from the plan"),
        ({"instances": "${var.count}"}, "the instance count is not known from the plan"),
    ],
)
def test_unpriceable_scale_sets_say_why(values: dict[str, Any], reason: str) -> None:
    (fleet,) = price(_one_scale_set(**values)).resources
    assert fleet.status == "unpriced" and reason in (fleet.reason or "")


def test_load_balancer_sku_without_a_rule_is_unpriced() -> None:
    config = {"resource": {"azurerm_lb": {"lb": {"sku": "Gateway", "location": "eastus"}}}}
    (lb,) = price(config).resources
    assert lb.status == "unpriced" and lb.reason == "no price rule for Gateway load balancers"
