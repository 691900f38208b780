"""What the planner needs to know of `kind: kubernetes` (providers/targets.py KUBERNETES): whether
a profile says which cluster, and what a cluster the toolkit creates costs by the hour (control
plane and system pool)."""

from __future__ import annotations

from core.errors import CatalogError
from planner.profile import Profile
from providers.service_prices import load_service_prices
from providers.targets import Cloud, Target


def not_configured(profile: Profile) -> str | None:
    """Why the profile cannot use the kind, or None: the kind needs to know which cluster."""
    if profile.deploy.kubernetes.configured:
        return None
    return (
        "kubernetes needs a cluster: set deploy.kubernetes.cluster to an existing one, or "
        "deploy.kubernetes.create_cluster: true"
    )


def created_cluster_hourly(profile: Profile, cloud: Cloud, target: Target, region: str) -> float:
    """What a cluster the toolkit creates costs by the hour whatever serves on it: its control
    plane and its system pool's nodes, if the target has one (each the region's price, else the
    reference region's). Nothing for a cluster that already exists, paid whatever this
    deployment does."""
    if not profile.deploy.kubernetes.create_cluster:
        return 0.0
    prices = load_service_prices(cloud.name)
    hourly = 0.0
    if target.control_plane_item is not None:
        price = prices.find(target.control_plane_item, region)
        hourly += price.usd_per_unit if price is not None else 0.0
    pool = target.system_pool
    if pool is not None:
        price = prices.find(pool.item, region)
        if price is None:
            raise CatalogError(
                f"{cloud.display_name}'s service prices have no {pool.item} row for a created "
                "cluster's system pool."
            )
        hourly += pool.nodes * price.usd_per_unit
    return hourly
