"""Which listed spot prices are real: the rules the catalog loader applies to every spot price.

A spot price in a snapshot is the price of one moment; some are stale (a pool nobody bid on for
months, a region at the price floor) and would be chosen exactly because they are the cheapest.
A listed price is judged, in this order:

1. on its own row: empty, or not below on-demand, means no spot offer; deeper than the cloud's
   documented maximum discount (`spot_max_discount` of its cloud's declaration) is not a price;
2. against its family in its region (the other zones of the same type and the other sizes of the
   family, e.g. every g5 in us-east-1), as a share of on-demand: under `OUTLIER_FACTOR` of the
   median share is an outlier;
3. the family's region against the same family in the cloud's other regions: a region whose median
   share is under `OUTLIER_FACTOR` of the family's median everywhere is stale as a whole (every zone
   and size of it at the floor, as g6 in eu-south-2 lists).

Shares of on-demand, not prices per accelerator: sizes of one family carry different CPU, memory
and disk per accelerator, and their spot prices follow their own on-demand prices. The medians
count every listed spot price below on-demand (with an on-demand price to compare with), used or
not. A refused price stays on the row (`listed_spot_usd`) with the rule that refused it
(`spot_note`), so `infra catalog show` lists it; the planner never uses it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import msgspec

from providers import targets

if TYPE_CHECKING:
    from providers.catalog import Offering, ZonePrice

OUTLIER_FACTOR = 0.5
"""A spot share under half the median of its peers is not trusted."""
DEFAULT_MAX_DISCOUNT = 0.90


def spot_max_discount(cloud: str) -> float:
    """The deepest spot discount the cloud documents (its declaration says where)."""
    return targets.cloud(cloud).spot_max_discount


def family_of(offering: Offering) -> str:
    """The cloud's own family name of the instance type, with the accelerator (GCP N1 machines
    carry T4s or V100s, which are priced apart)."""
    return _family(offering.cloud, offering.instance_type, offering.accelerator)


@cache
def _family(cloud: str, instance_type: str, accelerator: str) -> str:
    return f"{targets.cloud(cloud).instance_family(instance_type)} {accelerator}"


def judge_spot(
    ondemand: float | None, spot: float | None, max_discount: float = DEFAULT_MAX_DISCOUNT
) -> tuple[float | None, str | None]:
    """Rule 1: the spot price to use (or None) and, when a listed price is not used, why."""
    if spot is None:
        return None, None
    if ondemand is not None and spot >= ondemand:
        return None, f"listed spot {spot:.4f} is not below on-demand {ondemand:.4f}: no spot offer"
    # Sources round to 4-6 decimals: 0.0999936 of on-demand is the 90% floor, not below it.
    if ondemand is not None and round(spot / ondemand, 3) < round(1 - max_discount, 3):
        return None, (
            f"listed spot {spot:.4f} is {spot / ondemand:.1%} of on-demand, deeper than the "
            f"{max_discount:.0%} maximum discount the cloud documents: not a price, not used"
        )
    return spot, None


def spot_share(zone: ZonePrice) -> float | None:
    """The listed spot price as a share of on-demand, when it is a spot offer at all."""
    listed, ondemand = zone.listed_spot_usd, zone.ondemand_usd
    if listed is None or not ondemand or listed >= ondemand:
        return None
    return listed / ondemand


def median(values: list[float]) -> float:
    """The median of a non-empty list (statistics.median without importing statistics, whose
    fractions and decimal imports every `infra recommend` would pay)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class PeerMedians(msgspec.Struct, frozen=True):
    """Median spot shares of a family: per region (with how many prices), and everywhere."""

    by_region: dict[str, tuple[float, int]]
    everywhere: float
    regions: int


def peer_medians(offerings: Sequence[Offering]) -> dict[str, PeerMedians]:
    """Family -> its median spot shares, over every listed spot offer of `offerings`."""
    shares: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for offering in offerings:
        family = family_of(offering)
        for zone in offering.zones:
            share = spot_share(zone)
            if share is not None:
                shares[family][offering.region].append(share)
    result = {}
    for family, regions in shares.items():
        every = [share for values in regions.values() for share in values]
        result[family] = PeerMedians(
            by_region={r: (median(v), len(v)) for r, v in regions.items()},
            everywhere=median(every),
            regions=len(regions),
        )
    return result


def peer_note(zone: ZonePrice, family: str, region: str, medians: PeerMedians) -> str | None:
    """Rules 2 and 3 for one zone's listed spot price; None when it stands."""
    share = spot_share(zone)
    if share is None or zone.listed_spot_usd is None:
        return None
    local, count = medians.by_region[region]
    listed = f"listed spot {zone.listed_spot_usd:.4f} is {share:.1%} of on-demand"
    if share < OUTLIER_FACTOR * local:
        return (
            f"{listed}, under half the {local:.1%} median of {family} in {region} "
            f"({count} listed prices): an outlier, not used"
        )
    if local < OUTLIER_FACTOR * medians.everywhere:
        return (
            f"{listed}; {family} in {region} lists a median {local:.1%}, under half its "
            f"{medians.everywhere:.1%} median across {medians.regions} regions: a stale region, "
            "not used"
        )
    return None


def judge_spot_against_peers(offerings: list[Offering]) -> list[Offering]:
    """Rules 2 and 3 over one cloud's offerings of one kind: usable spot prices that fail them
    are dropped (kept as listed, with the note)."""
    medians = peer_medians(offerings)
    judged = []
    for offering in offerings:
        family = family_of(offering)
        zones = []
        for zone in offering.zones:
            note = None
            if zone.spot_usd is not None and family in medians:
                note = peer_note(zone, family, offering.region, medians[family])
            zones.append(
                msgspec.structs.replace(zone, spot_usd=None, spot_note=note) if note else zone
            )
        changed = any(new is not old for new, old in zip(zones, offering.zones, strict=True))
        judged.append(
            msgspec.structs.replace(offering, zones=tuple(zones)) if changed else offering
        )
    return judged
