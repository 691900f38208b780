"""Commitment rates: what an instance costs per hour under a 1- or 3-year commitment (reserved
instances, savings plans, committed-use discounts, reservations), per instance type and region.

A target declares its cloud's file (`Target.commitments_file`, format in CATALOG_FORMAT.md); a
target without one, or an instance type and region without a row, has no commitment option:
the planner never invents a rate.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal

import msgspec

from core.errors import CatalogError
from providers import targets
from providers.csv_file import csv_rows

COLUMNS = (
    "instance_type",
    "region",
    "commitment",
    "term",
    "payment",
    "usd_per_hour",
    "ondemand_usd_per_hour",
    "source",
    "retrieved",
)
COMMITMENT_KINDS = ("savings_plan", "reserved", "cud", "reservation")
"""AWS Savings Plans, AWS reserved instances, GCP committed-use discounts, Azure reservations."""
TERMS = ("1y", "3y")
PAYMENTS = ("no_upfront",)
"""The payment options the planner prices: billed every hour of the term, used or not."""
CommitmentKind = Literal["savings_plan", "reserved", "cud", "reservation"]
Term = Literal["1y", "3y"]


class CommitmentRate(msgspec.Struct, frozen=True, kw_only=True):
    """One sourced rate: `usd_per_hour` is paid for every hour of the term, whether an instance
    runs or not; `ondemand_usd_per_hour` is the on-demand price the source listed beside it."""

    instance_type: str
    region: str
    commitment: str
    term: str
    payment: str
    usd_per_hour: float
    ondemand_usd_per_hour: float | None
    source: str
    retrieved: str


def _price(raw: str, column: str, where: str, *, required: bool) -> float | None:
    if not raw and not required:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise CatalogError(f"{where}: {column} '{raw}' is not a number.") from None
    if not 0 < value < 10_000:
        raise CatalogError(f"{where}: {column} {raw} is not a price per hour.")
    return value


def _choice(raw: str, column: str, allowed: tuple[str, ...], where: str) -> str:
    if raw not in allowed:
        raise CatalogError(f"{where}: {column} '{raw}' is not one of {', '.join(allowed)}.")
    return raw


def read_commitments(file: Path) -> dict[tuple[str, str, str, str], CommitmentRate]:
    """Rates by (instance type, region, commitment, term); a malformed row is one sentence."""
    rates: dict[tuple[str, str, str, str], CommitmentRate] = {}
    for line, row in csv_rows(file, COLUMNS, "commitment"):
        where = f"{file}, line {line}"
        instance_type, region, kind, term, payment, usd, ondemand, source, retrieved = row
        if not instance_type or not region or not source or not retrieved:
            raise CatalogError(
                f"{where}: instance_type, region, source and retrieved are all required."
            )
        rate = CommitmentRate(
            instance_type=instance_type,
            region=region,
            commitment=_choice(kind, "commitment", COMMITMENT_KINDS, where),
            term=_choice(term, "term", TERMS, where),
            payment=_choice(payment, "payment", PAYMENTS, where),
            usd_per_hour=_price(usd, "usd_per_hour", where, required=True) or 0.0,
            ondemand_usd_per_hour=_price(ondemand, "ondemand_usd_per_hour", where, required=False),
            source=source,
            retrieved=retrieved,
        )
        key = (instance_type, region, kind, term)
        if key in rates:
            raise CatalogError(
                f"{where}: a second {kind} {term} rate for {instance_type} in {region}."
            )
        rates[key] = rate
    return rates


def usd_text(value: float) -> str:
    """A rate as the files write it: to 5 decimals, without trailing zeros."""
    return f"{value:.5f}".rstrip("0").rstrip(".")


def commitments_text(
    rates: Mapping[tuple[str, str, str, str], float],
    ondemand: Mapping[tuple[str, str], float],
    sources: Mapping[str, str],
    previous: list[list[str]],
    day: str,
) -> str:
    """A commitment rates file written by a price refresh: the rates just fetched ((instance
    type, region, commitment, term) -> USD per hour, `sources` naming each commitment's API,
    `ondemand` the price listed beside it) over the previous rows, so that a rate the answer
    did not give keeps its previous value and source."""
    rows = {(r[0], r[1], r[2], r[3]): r for r in previous}
    for (instance_type, region, kind, term), usd in rates.items():
        listed = ondemand.get((instance_type, region))
        rows[instance_type, region, kind, term] = [
            instance_type,
            region,
            kind,
            term,
            "no_upfront",
            usd_text(usd),
            usd_text(listed) if listed is not None else "",
            sources[kind],
            day,
        ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows[key] for key in sorted(rows))
    return buffer.getvalue()


def commitment_files(cloud: str) -> list[Path]:
    """The cloud's shipped commitment files (one per file its targets declare)."""
    declared = targets.cloud(cloud)
    names = dict.fromkeys(t.commitments_file for t in declared.targets if t.commitments_file)
    return [declared.data_dir / name for name in names if name]


def current_file(cloud: str, shipped: Path) -> Path:
    """The refreshed copy in the cloud's usable price cache (`infra catalog refresh`), else the
    shipped file."""
    from providers.catalog import shipped_cloud_files
    from providers.price_cache import find_cached

    cached = find_cached(cloud, {kind: path for kind, path, _ in shipped_cloud_files(cloud)})
    if cached is not None and cached.files is not None and (cached.folder / shipped.name).exists():
        return cached.folder / shipped.name
    return shipped


@cache
def _rates_of(path: str, modified_ns: int) -> dict[tuple[str, str, str, str], CommitmentRate]:
    return read_commitments(Path(path))


def target_commitments(cloud: str, kind: str) -> dict[tuple[str, str, str, str], CommitmentRate]:
    """The rates of a target's file (refreshed, else shipped); empty when it declares none."""
    declared = targets.cloud(cloud)
    target = declared.target(kind)
    if target is None or target.commitments_file is None:
        return {}
    path = current_file(cloud, declared.data_dir / target.commitments_file)
    return _rates_of(str(path), path.stat().st_mtime_ns)


def commitment_rate(
    cloud: str, kind: str, instance_type: str, region: str, commitment: str, term: str
) -> CommitmentRate | None:
    """The sourced rate, or None: that instance has no such commitment option."""
    return target_commitments(cloud, kind).get((instance_type, region, commitment, term))
