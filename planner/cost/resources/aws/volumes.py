"""EBS volumes an instance launches with (a launch template's block device mappings, an
instance's root block device): gp3 or gp2 storage per volume, and gp3 IOPS and throughput above
the baseline every gp3 volume includes. A helper of the instance rules, not a rule itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.cost.context import PricingContext, Unpriceable
from planner.cost.plan_resources import first_block, number, text
from planner.cost.report import CostComponent, Span

GP3_FREE_IOPS = 3000
GP3_FREE_THROUGHPUT_MIBPS = 125


def volume_components(
    mappings: list[Mapping[str, Any]], instances: Span, context: PricingContext
) -> list[CostComponent]:
    components = []
    for mapping in mappings:
        ebs = first_block(mapping.get("ebs")) if "ebs" in mapping else mapping
        size = number(ebs.get("volume_size"))
        if size is None:
            continue
        volume_type = text(ebs.get("volume_type")) or "gp3"
        if volume_type not in ("gp3", "gp2"):
            raise Unpriceable(f"no price rule for {volume_type} volumes")
        components.append(
            context.service_component(
                f"ebs.{volume_type}.storage",
                f"volumes ({volume_type}, {size:g} GB each)",
                instances.scaled(size),
            )
        )
        if volume_type != "gp3":
            continue
        for item, argument, free, label in (
            ("ebs.gp3.iops", "iops", GP3_FREE_IOPS, "provisioned IOPS"),
            ("ebs.gp3.throughput", "throughput", GP3_FREE_THROUGHPUT_MIBPS, "throughput MiB/s"),
        ):
            extra = (number(ebs.get(argument)) or 0) - free
            if extra > 0:
                components.append(
                    context.service_component(
                        item, f"{label} above {free} per volume", instances.scaled(extra)
                    )
                )
    return components
