"""aws_eks_cluster: its control plane by the cluster-hour, at the standard-support rate, or at the
extended-support rate once its Kubernetes version is past the end of standard support on EKS
(the release calendar in providers/aws/data/eks_versions.csv). A cluster whose upgrade policy is
STANDARD never enters extended support: EKS upgrades it instead. Its nodes are billed through
their node groups."""

from __future__ import annotations

from planner.cost.context import PricingContext, with_note
from planner.cost.plan_resources import PlannedResource, first_block, text
from planner.cost.report import CostComponent
from providers.aws.eks_versions import in_extended_support
from providers.price_freshness import today

TYPES = ("aws_eks_cluster",)

STANDARD = "eks.cluster.standard.hour"
EXTENDED = "eks.cluster.extended.hour"


def _support(resource: PlannedResource) -> tuple[str, str | None]:
    """The price item of the cluster's support tier, and a note on how it was decided."""
    version = text(resource.values.get("version"))
    policy = text(first_block(resource.values.get("upgrade_policy")).get("support_type"))
    if version is None:
        return STANDARD, "Kubernetes version not known from the plan (EKS's default is current)"
    extended = in_extended_support(version, today())
    if extended is None:
        return STANDARD, f"version {version!r} is not a Kubernetes version: standard support"
    if extended and policy == "STANDARD":
        return STANDARD, (
            f"Kubernetes {version} is past standard support; upgrade policy STANDARD: EKS "
            "upgrades the cluster rather than extend its support"
        )
    if extended:
        return EXTENDED, f"Kubernetes {version} is past the end of standard support on EKS"
    return STANDARD, None


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    item, why = _support(resource)
    tier = "extended" if item == EXTENDED else "standard"
    component = context.service_component(
        item, f"control plane ({tier} support)", context.month_hours()
    )
    return [with_note(component, why)]
