"""How often spot capacity is taken back: the bands a cloud publishes per instance type and region.

Only AWS publishes them as data: the Spot Instance Advisor's feed
(https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json) gives, per region and OS, the
"frequency of interruption" of each instance type over the trailing month, in five bands. The
catalog ships the Linux rows of its own EC2 types (providers/aws/data/spot_interruption.csv;
CATALOG_FORMAT.md). Azure shows eviction rates only through Azure Resource Graph (per subscription,
with credentials), Google publishes no preemption rates: their offerings carry no band.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from core.errors import CatalogError
from providers import targets
from providers.csv_file import csv_rows

COLUMNS = ("instance_type", "region", "interruption", "source", "retrieved")
BAND_MAX_PERCENT = {"<5%": 5, "5-10%": 10, "10-15%": 15, "15-20%": 20, ">20%": 100}
"""Each band's upper bound, in percent of spot capacity interrupted over a month."""


class InterruptionBand(msgspec.Struct, frozen=True):
    band: str
    source: str
    retrieved: str


def interruption_file(cloud: str) -> Path | None:
    """The cloud's shipped interruption file, or None when the cloud publishes none."""
    declared = targets.cloud(cloud)
    name = declared.interruption_file
    return declared.data_dir / name if name else None


def read_interruption(path: Path) -> dict[tuple[str, str], InterruptionBand]:
    """(instance type, region) -> band, from one interruption CSV."""
    bands: dict[tuple[str, str], InterruptionBand] = {}
    for line, row in csv_rows(path, COLUMNS, "interruption"):
        instance_type, region, band, source, retrieved = row
        if band not in BAND_MAX_PERCENT:
            raise CatalogError(
                f"{path}, line {line}: interruption '{band}' is not one of "
                f"{', '.join(BAND_MAX_PERCENT)}."
            )
        bands[instance_type, region] = InterruptionBand(band, source, retrieved)
    return bands
