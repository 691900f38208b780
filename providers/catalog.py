"""The price catalog: GPU offerings per cloud, kind, region and zone, on-demand and spot prices.

Rows come from each cloud's shipped CSV (see CATALOG_FORMAT.md), or from the user's cache of
prices refreshed from the cloud's pricing API (`infra catalog refresh`, providers/price_cache.py)
when that cloud has a usable one. Spot prices are snapshots, so the loader decides which ones to
trust (providers/spot_judge.py): an empty spot price, or one at or above on-demand, means no spot
offer; one deeper than the cloud's documented maximum discount, or far below what the same family
lists in the region (or the region far below the family elsewhere), is kept for display with the
rule that refused it (`spot_note`) and never used.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import msgspec

from core.errors import CatalogError
from providers import targets
from providers.csv_file import csv_rows
from providers.price_cache import CachedCloud, find_cached
from providers.spot_interruption import InterruptionBand, interruption_file, read_interruption
from providers.spot_judge import judge_spot, judge_spot_against_peers, spot_max_discount

COLUMNS = (
    "instance_type",
    "accelerator",
    "accelerator_count",
    "accelerator_memory_gib",
    "vcpus",
    "memory_gib",
    "region",
    "zone",
    "ondemand_usd_per_hour",
    "spot_usd_per_hour",
    "source",
    "retrieved",
)
(
    _TYPE,
    _ACCELERATOR,
    _COUNT,
    _ACCELERATOR_MEMORY,
    _VCPUS,
    _MEMORY,
    _REGION,
    _ZONE,
    _ONDEMAND,
    _SPOT,
    _SOURCE,
    _RETRIEVED,
) = range(len(COLUMNS))


class ZonePrice(msgspec.Struct, frozen=True):
    """Prices of one instance type in one zone (zone is '' where the cloud prices per region)."""

    zone: str
    ondemand_usd: float | None
    spot_usd: float | None
    spot_note: str | None = None
    """Why the listed spot price is not used, when it is not."""
    listed_spot_usd: float | None = None
    """The spot price as the source lists it, used or not."""
    retrieved: str = ""
    """ISO date of this zone's prices (a refresh dates the rows it rewrote)."""


class Offering(msgspec.Struct, frozen=True):
    """One instance type of one deployment kind in one region, with its per-zone prices."""

    cloud: str
    kind: str
    instance_type: str
    accelerator: str
    accelerator_count: int
    accelerator_memory_gib: float
    vcpus: float
    memory_gib: float
    region: str
    zones: tuple[ZonePrice, ...]
    spot_capable: bool
    source: str
    retrieved: str
    spot_interruption: InterruptionBand | None = None
    """The interruption frequency band the cloud publishes for spot capacity of this type in
    this region (AWS Spot Instance Advisor: `<5%` ... `>20%`); None where none is published."""

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return (self.cloud, self.kind, self.instance_type, self.accelerator, self.accelerator_count)

    @property
    def ondemand_zones(self) -> tuple[ZonePrice, ...]:
        return tuple(z for z in self.zones if z.ondemand_usd is not None)

    @property
    def display_name(self) -> str:
        """What names the offering to a person and a pin (the cloud's choice: on GCP, an N1
        machine's attachable GPUs are part of it)."""
        return targets.cloud(self.cloud).offering_name(
            self.instance_type, self.accelerator, self.accelerator_count
        )


def _number(raw: str, column: str, where: str) -> float | None:
    if raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise CatalogError(f"{where}: column {column} is not a number ({raw!r}).") from None
    if value < 0:
        raise CatalogError(f"{where}: column {column} is negative ({raw}).")
    return value


def read_catalog_file(path: Path, cloud: str, kind: str, spot_capable: bool) -> list[Offering]:
    """Parse one shipped (or cached) catalog CSV into offerings grouped by region, with each
    listed spot price judged on its own and against its family's (providers/spot_judge.py)."""
    groups: dict[tuple[str, str, int, str], list[list[str]]] = {}
    for line, row in csv_rows(path, COLUMNS, "catalog"):
        try:
            count = int(float(row[_COUNT]))
        except ValueError:
            raise CatalogError(f"{path}, line {line}: accelerator_count is not a number.") from None
        groups.setdefault((row[_TYPE], row[_ACCELERATOR], count, row[_REGION]), []).append(row)
    offerings = []
    max_discount = spot_max_discount(cloud)
    for (instance_type, accelerator, count, region), rows in groups.items():
        zones = []
        for row in rows:
            where = f"{path.name}: {instance_type} {region} {row[_ZONE] or '-'}"
            ondemand = _number(row[_ONDEMAND], "ondemand_usd_per_hour", where)
            listed_spot = _number(row[_SPOT], "spot_usd_per_hour", where)
            spot, note = (
                judge_spot(ondemand, listed_spot, max_discount) if spot_capable else (None, None)
            )
            zones.append(
                ZonePrice(
                    row[_ZONE],
                    ondemand,
                    spot,
                    note,
                    listed_spot if spot_capable else None,
                    row[_RETRIEVED],
                )
            )
        first = rows[0]
        offerings.append(
            Offering(
                cloud=cloud,
                kind=kind,
                instance_type=instance_type,
                accelerator=accelerator,
                accelerator_count=count,
                accelerator_memory_gib=float(first[_ACCELERATOR_MEMORY]),
                vcpus=float(first[_VCPUS] or 0),
                memory_gib=float(first[_MEMORY] or 0),
                region=region,
                zones=tuple(sorted(zones, key=lambda z: z.zone)),
                spot_capable=spot_capable,
                source=first[_SOURCE],
                retrieved=min(row[_RETRIEVED] for row in rows),
            )
        )
    return judge_spot_against_peers(offerings) if spot_capable else offerings


def shipped_catalog_files() -> Iterable[tuple[str, str, Path, bool]]:
    """(cloud, kind, path, spot_capable) for every shipped catalog file."""
    for name in targets.cloud_names():
        for kind, path, spot_capable in shipped_cloud_files(name):
            yield name, kind, path, spot_capable


def shipped_cloud_files(name: str) -> list[tuple[str, Path, bool]]:
    """(kind, path, spot_capable) for each shipped catalog file of one cloud, named by the first
    kind that reads it (a kind on the same instances, as Kubernetes nodes on a cloud's fleet rows,
    shares the file: it is read, cached and refreshed once)."""
    declared = targets.cloud(name)
    files: dict[str, tuple[str, Path, bool]] = {}
    for target in declared.targets:
        path = declared.data_dir / target.catalog_file
        files.setdefault(target.catalog_file, (target.kind.name, path, target.kind.runs_instances))
    return list(files.values())


def _sharing_kinds(name: str) -> dict[str, tuple[str, ...]]:
    """The kind each shipped file is named by -> the other kinds offered on its rows."""
    declared = targets.cloud(name)
    owner: dict[str, str] = {}
    sharing: dict[str, list[str]] = {}
    for target in declared.targets:
        first = owner.setdefault(target.catalog_file, target.kind.name)
        if first != target.kind.name:
            sharing.setdefault(first, []).append(target.kind.name)
    return {kind: tuple(others) for kind, others in sharing.items()}


def _offered_as_every_kind(name: str, offerings: list[Offering]) -> list[Offering]:
    """The offerings of each shared file again under every other kind that reads it."""
    sharing = _sharing_kinds(name)
    return offerings + [
        msgspec.structs.replace(offering, kind=other)
        for offering in offerings
        for other in sharing.get(offering.kind, ())
    ]


class CloudCatalog(msgspec.Struct, frozen=True):
    """One cloud's offerings and where they were read from."""

    cloud: str
    offerings: tuple[Offering, ...]
    cache: CachedCloud | None
    """The refreshed cache found on disk, usable or not; None when never refreshed."""
    cache_problem: str | None
    """Why a cache that exists is not used (the shipped prices are used instead)."""

    @property
    def refreshed(self) -> bool:
        return self.cache is not None and self.cache_problem is None


def read_cloud_catalog(cloud: str) -> CloudCatalog:
    """A cloud's offerings from its refreshed cache when usable, else from its shipped files.

    An unusable cache (unreadable, incomplete, or built on other shipped files) is not an error:
    the shipped prices are used, and `infra catalog status` says why.
    """
    shipped = shipped_cloud_files(cloud)
    cached = find_cached(cloud, {kind: path for kind, path, _ in shipped})
    problem = cached.problem if cached else None
    if cached is not None and cached.files is not None:
        try:
            offerings = [
                offering
                for kind, _, spot_capable in shipped
                for offering in read_catalog_file(cached.files[kind], cloud, kind, spot_capable)
            ]
            offerings = _offered_as_every_kind(cloud, offerings)
            return CloudCatalog(
                cloud, with_interruption(cloud, offerings, cached.folder), cached, None
            )
        except CatalogError as error:
            problem = str(error)
    offerings = [
        offering
        for kind, path, spot_capable in shipped
        if path.exists()
        for offering in read_catalog_file(path, cloud, kind, spot_capable)
    ]
    offerings = _offered_as_every_kind(cloud, offerings)
    return CloudCatalog(cloud, with_interruption(cloud, offerings, None), cached, problem)


def with_interruption(
    cloud: str, offerings: list[Offering], cache_folder: Path | None
) -> tuple[Offering, ...]:
    """The spot-capable offerings with the interruption band the cloud publishes for them: from
    the refreshed copy in the cache folder when there is one, else the shipped file."""
    shipped = interruption_file(cloud)
    if shipped is None:
        return tuple(offerings)
    refreshed = cache_folder / shipped.name if cache_folder is not None else None
    bands = read_interruption(refreshed if refreshed and refreshed.exists() else shipped)
    return tuple(
        msgspec.structs.replace(o, spot_interruption=bands.get((o.instance_type, o.region)))
        if o.spot_capable
        else o
        for o in offerings
    )


class Catalog(msgspec.Struct, frozen=True):
    offerings: tuple[Offering, ...]

    @property
    def date(self) -> str:
        """The newest snapshot date among the rows: the catalog's build date. Each offering
        keeps its own `retrieved` date, shown next to every candidate, since a few managed
        prices are older snapshots than the rest."""
        return max((o.retrieved for o in self.offerings), default="unknown")

    def regions(self, cloud: str | None = None) -> set[str]:
        return {o.region for o in self.offerings if cloud is None or o.cloud == cloud}

    def accelerators(self) -> set[str]:
        return {o.accelerator for o in self.offerings}

    def find_instance(self, name: str) -> list[Offering]:
        wanted = name.lower()
        return [
            o
            for o in self.offerings
            if o.instance_type.lower() == wanted or o.display_name.lower() == wanted
        ]


@cache
def load_catalog() -> Catalog:
    offerings = [o for name in targets.cloud_names() for o in read_cloud_catalog(name).offerings]
    if not offerings:
        raise CatalogError("the price catalog is empty: no catalog file could be read.")
    return Catalog(tuple(offerings))
