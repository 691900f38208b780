"""List prices of the services around the GPUs (volumes, load balancers, NAT, keys, alarms),
per cloud and region, from each cloud's shipped `data/services.csv` (a source and date per row).

A region without its own row is priced at the cloud's reference region, and the price says so:
those services vary by a few percent between regions, which is worth a note, not a refusal.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import msgspec

from core.errors import CatalogError
from providers import targets

COLUMNS = ("item", "unit", "region", "usd_per_unit", "source", "retrieved")


class ServicePrice(msgspec.Struct, frozen=True):
    item: str
    unit: str
    region: str
    usd_per_unit: float
    source: str
    retrieved: str
    note: str | None = None
    """Set when the price is the reference region's, standing in for the one asked."""


class ServicePrices(msgspec.Struct, frozen=True):
    cloud: str
    rows: dict[tuple[str, str], ServicePrice]

    def find(self, item: str, region: str) -> ServicePrice | None:
        exact = self.rows.get((item, region))
        if exact is not None:
            return exact
        reference = targets.cloud(self.cloud).reference_region
        fallback = self.rows.get((item, reference))
        if fallback is None:
            return None
        return msgspec.structs.replace(
            fallback, note=f"{reference} price; no {region} price in the catalog"
        )

    @property
    def date(self) -> str:
        return max((row.retrieved for row in self.rows.values()), default="unknown")


def read_service_prices(path: Path, cloud: str) -> ServicePrices:
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        return ServicePrices(cloud, {})
    except OSError as error:
        raise CatalogError(f"cannot read service prices {path} ({error.strerror}).") from None
    rows: dict[tuple[str, str], ServicePrice] = {}
    with handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise CatalogError(f"{path}: unexpected header; expected {','.join(COLUMNS)}.")
        for row in reader:
            try:
                price = float(row["usd_per_unit"])
            except (TypeError, ValueError):
                raise CatalogError(
                    f"{path}, line {reader.line_num}: usd_per_unit is not a number."
                ) from None
            if price < 0:
                raise CatalogError(f"{path}, line {reader.line_num}: usd_per_unit is negative.")
            rows[(row["item"], row["region"])] = ServicePrice(
                row["item"], row["unit"], row["region"], price, row["source"], row["retrieved"]
            )
    return ServicePrices(cloud, rows)


@cache
def load_service_prices(cloud: str) -> ServicePrices:
    return read_service_prices(targets.cloud(cloud).data_dir / "services.csv", cloud)
