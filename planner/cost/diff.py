"""`diff_costs`: what a change does to the monthly bill, resource by resource (matched by
Terraform address) and in total."""

from __future__ import annotations

from typing import Literal

import msgspec

from planner.cost.report import SCHEMA, CostReport, ResourceCost, Span, cents

Change = Literal["added", "removed", "changed", "unchanged"]


class ResourceDelta(msgspec.Struct, frozen=True, kw_only=True):
    address: str
    type: str
    change: Change
    base_monthly_usd: float | None
    head_monthly_usd: float | None
    priced: bool
    """False when either side could not be priced: the delta then leaves it out, and says so."""

    @property
    def delta_usd(self) -> float:
        if not self.priced:
            return 0.0
        return cents((self.head_monthly_usd or 0.0) - (self.base_monthly_usd or 0.0))


class CostDiff(msgspec.Struct, frozen=True, kw_only=True):
    base: CostReport
    head: CostReport
    resources: tuple[ResourceDelta, ...]

    @property
    def delta_monthly_usd(self) -> Span:
        b, h = self.base.monthly_usd, self.head.monthly_usd
        return Span(cents(h.min - b.min), cents(h.expected - b.expected), cents(h.max - b.max))

    @property
    def changed(self) -> list[ResourceDelta]:
        return [r for r in self.resources if r.change != "unchanged"]

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": f"{SCHEMA}-diff",
            "currency": "USD",
            "base": {"source": self.base.source, "monthly_usd": _span(self.base.monthly_usd)},
            "head": {"source": self.head.source, "monthly_usd": _span(self.head.monthly_usd)},
            "delta_monthly_usd": _span(self.delta_monthly_usd),
            "resources": [
                {
                    "address": r.address,
                    "type": r.type,
                    "change": r.change,
                    "base_monthly_usd": r.base_monthly_usd,
                    "head_monthly_usd": r.head_monthly_usd,
                    "delta_usd": r.delta_usd if r.priced else None,
                    "priced": r.priced,
                }
                for r in self.resources
            ],
            "base_catalog_date": self.base.catalog_date,
            "head_catalog_date": self.head.catalog_date,
            "commitment": {
                "base": commitment_words(self.base),
                "head": commitment_words(self.head),
            },
        }

    @property
    def commitment_changed(self) -> bool:
        return commitment_words(self.base) != commitment_words(self.head)


def commitment_words(report: CostReport) -> str:
    """`1 held + 2 bought reserved 1y g6e.xlarge`, or `none`."""
    plan = report.commitment
    if plan is None:
        return "none"
    return (
        f"{plan.held_instances} held + {plan.buy_instances} bought {plan.kind} {plan.term} "
        f"{plan.instance_type}"
    )


def _span(span: Span) -> dict[str, float]:
    return msgspec.to_builtins(span)


def _monthly(resource: ResourceCost | None) -> float | None:
    if resource is None or not resource.priced:
        return None
    return resource.monthly_usd.expected


def diff_costs(base: CostReport, head: CostReport) -> CostDiff:
    before = {r.address: r for r in base.resources}
    after = {r.address: r for r in head.resources}
    deltas = []
    for address in sorted(before.keys() | after.keys()):
        old, new = before.get(address), after.get(address)
        if old is None:
            change: Change = "added"
        elif new is None:
            change = "removed"
        elif _monthly(old) != _monthly(new) or old.status != new.status:
            change = "changed"
        else:
            change = "unchanged"
        either = new or old
        assert either is not None
        deltas.append(
            ResourceDelta(
                address=address,
                type=either.type,
                change=change,
                base_monthly_usd=_monthly(old),
                head_monthly_usd=_monthly(new),
                priced=(old is None or old.priced) and (new is None or new.priced),
            )
        )
    return CostDiff(base=base, head=head, resources=tuple(deltas))
