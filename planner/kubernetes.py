"""What the planner needs to know of `kind: kubernetes` (providers/targets.py KUBERNETES): whether
a profile says which cluster, and what a cluster the toolkit creates costs by the hour."""

from __future__ import annotations

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


def control_plane_hourly(profile: Profile, cloud: Cloud, target: Target, region: str) -> float:
    """The control plane's price per hour when the toolkit creates the cluster (the region's
    price, else the reference region's); nothing for a cluster that already exists, whose
    control plane is paid whatever this deployment does."""
    if not profile.deploy.kubernetes.create_cluster or target.control_plane_item is None:
        return 0.0
    price = load_service_prices(cloud.name).find(target.control_plane_item, region)
    return price.usd_per_unit if price is not None else 0.0
