"""The branches of the Kubernetes pricing rules the golden cases do not take: EKS support tiers by
version, date and upgrade policy; node groups and pools without a size, a type or zones; GKE's
free-tier, Autopilot and default-pool notes; AKS tiers; the EKS release calendar's refusals."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from core.errors import CatalogError
from planner.cost.context import PricingContext
from planner.cost.plan_resources import PlannedInfrastructure, PlannedResource
from planner.cost.pricing import price_resource
from planner.cost.report import ResourceCost
from planner.optimizer import HOURS_PER_MONTH
from providers.aws import eks_versions
from tests.pricing_golden_cases import REGIONS, catalog, service_prices


def priced(cloud: str, *resources: PlannedResource) -> ResourceCost:
    context = PricingContext(
        infrastructure=PlannedInfrastructure(resources, {}),
        cloud=cloud,
        region=REGIONS[cloud],
        catalog=catalog(),
        prices=service_prices(cloud),
        load=None,
        hours_per_month=HOURS_PER_MONTH,
    )
    return price_resource(resources[0], context)


def resource(address: str, values: dict[str, Any], *references: str) -> PlannedResource:
    return PlannedResource(address, address.split(".", 1)[0], values, frozenset(references))


def on(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    from planner.cost.resources.aws import eks_cluster

    monkeypatch.setattr(eks_cluster, "today", lambda: datetime.date.fromisoformat(day))


# --- aws_eks_cluster -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "day", "rate", "note"),
    [
        ({}, "2026-12-03", 0.10, "version not known from the plan"),
        ({"version": "1.35"}, "2026-12-03", 0.10, None),
        ({"version": "1.35"}, "2027-03-28", 0.60, "past the end of standard support"),
        ({"version": "1.34"}, "2026-12-02", 0.10, None),
        ({"version": "1.34"}, "2026-12-03", 0.60, "past the end of standard support"),
        ({"version": "1.27"}, "2026-12-03", 0.60, "past the end of standard support"),
        ({"version": "1.40"}, "2026-12-03", 0.10, None),
        ({"version": "latest"}, "2026-12-03", 0.10, "is not a Kubernetes version"),
        (
            {"version": "1.32", "upgrade_policy": [{"support_type": "STANDARD"}]},
            "2026-12-03",
            0.10,
            "EKS upgrades the cluster",
        ),
    ],
)
def test_eks_support_tier(
    monkeypatch: pytest.MonkeyPatch,
    values: dict[str, Any],
    day: str,
    rate: float,
    note: str | None,
) -> None:
    on(monkeypatch, day)
    cost = priced("aws", resource("aws_eks_cluster.c", values))
    (component,) = cost.components
    assert component.unit_price == rate
    assert component.category == "control plane"
    if note is None:
        assert component.note is None
    else:
        assert note in (component.note or "")


def test_eks_calendar_refuses_a_malformed_file(tmp_path: Path) -> None:
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("version,end\n1.30,2025-07-23\n")
    with pytest.raises(CatalogError, match="unexpected header"):
        eks_versions.read_calendar(bad_header)
    bad_row = tmp_path / "row.csv"
    bad_row.write_text(",".join(eks_versions.COLUMNS) + "\n1.30,July 2025,src,2026-12-03\n")
    with pytest.raises(CatalogError, match="line 2: expected a minor version and an ISO date"):
        eks_versions.read_calendar(bad_row)


def test_the_shipped_calendar_reads() -> None:
    calendar = eks_versions.standard_support_ends()
    assert calendar[(1, 34)] == datetime.date(2026, 12, 2)
    assert eks_versions.minor_version("1.33.4") == (1, 33)


# --- aws_eks_node_group ----------------------------------------------------------------------


def test_eks_on_demand_group_with_several_types_says_which_it_priced() -> None:
    cost = priced(
        "aws",
        resource(
            "aws_eks_node_group.g",
            {
                "instance_types": ["g6.xlarge", "g5.xlarge"],
                "capacity_type": "ON_DEMAND",
                "scaling_config": [{"desired_size": 2}],
            },
        ),
    )
    (nodes,) = cost.components
    assert nodes.category == "compute (on-demand)"
    assert nodes.unit_price == 0.80
    assert (nodes.quantity.min, nodes.quantity.max) == (2 * 730, 2 * 730)
    assert "priced as g6.xlarge, the first of g6.xlarge, g5.xlarge" in (nodes.note or "")
    assert "root volumes not included" in (nodes.note or "")


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"scaling_config": [{"desired_size": 1}]}, "the instance type is not known"),
        ({"instance_types": ["g5.xlarge"]}, "the node group's size is not known"),
    ],
)
def test_eks_node_group_unpriceable(values: dict[str, Any], reason: str) -> None:
    cost = priced("aws", resource("aws_eks_node_group.g", values))
    assert cost.status == "unpriced"
    assert reason in (cost.reason or "")


# --- google_container_cluster / google_container_node_pool -----------------------------------


def test_gke_zonal_cluster_with_its_default_pool_says_what_it_leaves_out() -> None:
    cost = priced(
        "gcp",
        resource(
            "google_container_cluster.c", {"location": "us-central1-a", "initial_node_count": 3}
        ),
    )
    note = cost.components[0].note or ""
    assert "free tier credit" in note
    assert "the default node pool of 3 nodes is kept and not priced" in note


def test_gke_autopilot_cluster_pods_are_not_priced() -> None:
    cost = priced(
        "gcp",
        resource(
            "google_container_cluster.c", {"location": "us-central1", "enable_autopilot": True}
        ),
    )
    assert cost.monthly_usd.expected == 73.0
    assert "Autopilot pods" in (cost.components[0].note or "")


def _pool(**values: Any) -> PlannedResource:
    config = {"machine_type": "n1-standard-8", "guest_accelerator": [{"type": "nvidia-tesla-t4"}]}
    return resource("google_container_node_pool.p", {"node_config": [config], **values})


def test_gke_pool_totals_and_a_zonal_location() -> None:
    cost = priced(
        "gcp",
        _pool(
            location="us-central1-b",
            node_count=1,
            autoscaling=[{"total_min_node_count": 1, "total_max_node_count": 5}],
        ),
    )
    (nodes,) = cost.components
    assert nodes.category == "compute (on-demand)"
    assert nodes.unit_price == 0.90
    assert (nodes.quantity.min, nodes.quantity.expected, nodes.quantity.max) == (730, 730, 3650)
    assert "boot disks not included" in (nodes.note or "")


@pytest.mark.parametrize(
    ("pool", "reason"),
    [
        (_pool(location="us-central1", node_count=1), "its zones are not known"),
        (_pool(node_locations=["us-central1-a"]), "the pool's size is not known"),
        (
            resource(
                "google_container_node_pool.p",
                {
                    "node_locations": ["us-central1-a"],
                    "node_count": 1,
                    "node_config": [
                        {"machine_type": "n1-standard-8", "guest_accelerator": [{"type": "x"}]}
                    ],
                },
            ),
            "no catalog name for the x accelerator",
        ),
        (
            resource("google_container_node_pool.p", {"node_config": [{}]}),
            "the machine type is not known",
        ),
    ],
)
def test_gke_pool_unpriceable(pool: PlannedResource, reason: str) -> None:
    cost = priced("gcp", pool)
    assert cost.status == "unpriced"
    assert reason in (cost.reason or "")


# --- azurerm_kubernetes_cluster / _node_pool -------------------------------------------------


@pytest.mark.parametrize(("tier", "rate"), [(None, 0.0), ("Free", 0.0), ("Premium", 0.60)])
def test_aks_tiers(tier: str | None, rate: float) -> None:
    values: dict[str, Any] = {
        "default_node_pool": [{"vm_size": "Standard_NC24ads_A100_v4", "node_count": 1}]
    }
    if tier:
        values["sku_tier"] = tier
    cost = priced("azure", resource("azurerm_kubernetes_cluster.c", values))
    management, pool = cost.components
    assert management.unit_price == rate
    assert pool.name == "on-demand default node pool (Standard_NC24ads_A100_v4)"
    assert pool.unit_price == 3.5


def test_aks_unknown_tier_is_unpriced() -> None:
    cost = priced("azure", resource("azurerm_kubernetes_cluster.c", {"sku_tier": "Paid"}))
    assert cost.status == "unpriced"
    assert "no price rule for the Paid tier" in (cost.reason or "")


def test_aks_pool_without_a_count_is_unpriced() -> None:
    cost = priced(
        "azure",
        resource("azurerm_kubernetes_cluster_node_pool.p", {"vm_size": "Standard_NC24ads_A100_v4"}),
    )
    assert cost.status == "unpriced"
    assert "the node count is not known" in (cost.reason or "")


def test_aks_system_pool_of_a_size_priced_nowhere_is_left_out_and_said() -> None:
    values = {
        "sku_tier": "Standard",
        "default_node_pool": [{"vm_size": "Standard_D2s_v5", "node_count": 2}],
    }
    cost = priced("azure", resource("azurerm_kubernetes_cluster.c", values))
    (management,) = cost.components
    assert cost.status == "priced"
    assert "default node pool not included: Standard_D2s_v5 has no fleet price" in (
        management.note or ""
    )


def test_aks_system_pool_elsewhere_is_priced_at_the_reference_region_and_says_so() -> None:
    """A region without its own vm.<size>.hour row: eastus's price, with the note."""
    values = {"default_node_pool": [{"vm_size": "Standard_D4s_v5", "node_count": 2}]}
    cluster = resource("azurerm_kubernetes_cluster.c", values)
    context = PricingContext(
        infrastructure=PlannedInfrastructure((cluster,), {}),
        cloud="azure",
        region="westus3",
        catalog=catalog(),
        prices=service_prices("azure"),
        load=None,
        hours_per_month=HOURS_PER_MONTH,
    )
    _, pool = price_resource(cluster, context).components
    assert pool.unit_price == 0.192
    assert pool.quantity.expected == 2 * HOURS_PER_MONTH
    assert pool.note == "OS disks not included; eastus price; no westus3 price in the catalog"
