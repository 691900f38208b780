"""`infra catalog refresh`: today's prices of the catalog's machines from each cloud's pricing API,
written to the user's cache (providers/price_cache.py); the shipped files are never changed.

What is refreshed: per cloud and kind, the instance types of the shipped catalog, in the regions
asked for (default: every region the shipped catalog lists for that cloud). The GPU facts
(accelerator, counts, memory, vCPUs, RAM) stay those of the shipped rows; the API gives the prices,
the row's `source` names the API and `retrieved` is today. A row the API does not price keeps its
previous prices (cached, else shipped) and is reported. A machine priced in a region where the
catalog has no row gains one when the kind is priced per region (SageMaker, Vertex AI, Azure) or
the API names its zones (EC2 spot history); zone rows are never invented.

Each cloud stands alone: its files are built and checked completely before its cache folder is
swapped in, so a cloud whose API is down, refuses the credentials, throttles past the retries or
answers something malformed keeps its cached (else shipped) prices, while the other clouds are
written. `RefreshReport.exit_code` is 0 when every cloud was refreshed, 1 when none was, and
`EXIT_PARTIAL` (6) when some were and some were not.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import difflib
import importlib
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import CatalogError, InfraError
from providers import targets
from providers.catalog import (
    COLUMNS,
    load_catalog,
    read_catalog_file,
    shipped_cloud_files,
)
from providers.commitments import commitment_files, current_file, read_commitments
from providers.price_cache import FORMAT, find_cached, fingerprint, write_attempt, write_cloud
from providers.price_quotes import (
    Machine,
    NoProgress,
    PriceQuote,
    PriceSourceError,
    RefreshProgress,
    RefreshRequest,
)
from providers.price_retry import Backoff
from providers.spot_interruption import interruption_file, read_interruption

EXIT_PARTIAL = 6
Row = list[str]
TYPE = COLUMNS.index("instance_type")
ACCELERATOR = COLUMNS.index("accelerator")
COUNT = COLUMNS.index("accelerator_count")
ACCELERATOR_MEMORY = COLUMNS.index("accelerator_memory_gib")
VCPUS = COLUMNS.index("vcpus")
MEMORY = COLUMNS.index("memory_gib")
REGION = COLUMNS.index("region")
ZONE = COLUMNS.index("zone")


@dataclass
class CloudOutcome:
    cloud: str
    regions: tuple[str, ...]
    at: str
    error: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    refreshed_rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    folder: str | None = None
    kept: str | None = None
    """After a failure, the prices that stay in use: "cached" or "shipped"."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud,
            "status": "failed" if self.error else "refreshed",
            "at": self.at,
            "regions": list(self.regions),
            "error": self.error,
            "rows": self.rows,
            "refreshed_rows": self.refreshed_rows,
            "notes": self.notes,
            "cache": self.folder,
            "kept": self.kept,
        }


@dataclass
class RefreshReport:
    outcomes: list[CloudOutcome]

    @property
    def exit_code(self) -> int:
        failed = sum(1 for outcome in self.outcomes if outcome.error)
        if not failed:
            return 0
        return 1 if failed == len(self.outcomes) else EXIT_PARTIAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "clouds": {outcome.cloud: outcome.to_dict() for outcome in self.outcomes},
            "exit_code": self.exit_code,
        }


def read_rows(path: Path) -> list[Row]:
    """The data rows of a catalog CSV, as text, after checking its header."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            if tuple(next(reader, ())) != COLUMNS:
                raise CatalogError(f"{path}: unexpected header; expected {','.join(COLUMNS)}.")
            rows = list(reader)
    except OSError as error:
        raise CatalogError(f"cannot read catalog file {path} ({error.strerror}).") from None
    if any(len(row) != len(COLUMNS) for row in rows):
        raise CatalogError(f"{path}: a row does not have {len(COLUMNS)} columns.")
    return rows


def shipped_regions(cloud: str) -> set[str]:
    return {row[REGION] for _, path, _ in shipped_cloud_files(cloud) for row in read_rows(path)}


def plan_regions(
    clouds: Sequence[str] | None, regions: Sequence[str] | None
) -> dict[str, tuple[str, ...]]:
    """Cloud -> the regions to refresh, from the options of `infra catalog refresh`."""
    registered = targets.cloud_names()
    chosen = list(dict.fromkeys(c.lower() for c in clouds)) if clouds else list(registered)
    for cloud in chosen:
        if cloud not in registered:
            raise InfraError(f"unknown cloud '{cloud}'; choose from {', '.join(registered)}.")
    known = {cloud: shipped_regions(cloud) for cloud in chosen}
    if not regions:
        return {cloud: tuple(sorted(known[cloud])) for cloud in chosen}
    every = set().union(*known.values())
    for region in regions:
        owners = [c for c in registered if c not in known and region in shipped_regions(c)]
        if region not in every and owners:
            raise InfraError(
                f"region '{region}' is a {owners[0]} region, not one of {', '.join(chosen)}; "
                f"add --cloud {owners[0]}."
            )
        if region not in every:
            close = difflib.get_close_matches(region, sorted(every), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InfraError(
                f"unknown region '{region}' for {', '.join(chosen)}{hint}; "
                "`infra catalog list` shows the regions each cloud offers."
            )
    plan = {c: tuple(r for r in dict.fromkeys(regions) if r in known[c]) for c in chosen}
    return {cloud: wanted for cloud, wanted in plan.items() if wanted}


def machines_of(rows: list[Row]) -> tuple[Machine, ...]:
    seen: dict[tuple[str, str, int], Machine] = {}
    for row in rows:
        count = int(float(row[COUNT]))
        seen.setdefault(
            (row[TYPE], row[ACCELERATOR], count),
            Machine(
                instance_type=row[TYPE],
                accelerator=row[ACCELERATOR],
                accelerator_count=count,
                accelerator_memory_gib=float(row[ACCELERATOR_MEMORY]),
                vcpus=float(row[VCPUS] or 0),
                memory_gib=float(row[MEMORY] or 0),
            ),
        )
    return tuple(seen.values())


def price_text(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class KindUpdate:
    """How one kind's rows are rewritten: the quotes, and what the rows record about them."""

    kind: str
    quotes: list[PriceQuote]
    regions: frozenset[str]
    spot_capable: bool
    source: str
    retrieved: str


def merge_rows(base: list[Row], update: KindUpdate) -> tuple[list[Row], int, list[str]]:
    """The kind's rows with the quoted prices applied: (rows, how many were refreshed, notes)."""
    quotes = {
        (q.machine.instance_type, q.machine.accelerator, q.machine.accelerator_count, q.region): q
        for q in update.quotes
        if q.region in update.regions
    }

    def priced(facts: Row, quote: PriceQuote, zone: str) -> Row:
        spot = quote.zone_spot_usd.get(zone) if quote.zone_spot_usd else quote.spot_usd
        row = [*facts[:REGION], quote.region, zone, price_text(quote.ondemand_usd)]
        return [*row, price_text(spot if update.spot_capable else None), update.source]

    kept: list[Row] = []
    fresh: list[Row] = []
    written: dict[tuple[str, str, int, str], set[str]] = defaultdict(set)
    missing: dict[str, set[str]] = defaultdict(set)
    for row in base:
        key = (row[TYPE], row[ACCELERATOR], int(float(row[COUNT])), row[REGION])
        quote = quotes.get(key)
        if row[REGION] in update.regions and quote is not None:
            fresh.append([*priced(row, quote, row[ZONE]), update.retrieved])
            written[key].add(row[ZONE])
        else:
            kept.append(row)
            if row[REGION] in update.regions:
                missing[row[TYPE]].add(row[REGION])
    per_region = bool(base) and all(row[ZONE] == "" for row in base)
    for key, quote in quotes.items():
        zones = set(quote.zone_spot_usd) - written.get(key, set())
        if per_region and key not in written:
            zones = {""}
        facts = _facts(quote.machine)
        fresh += [[*priced(facts, quote, zone), update.retrieved] for zone in sorted(zones)]
    notes = [
        f"{update.kind} {instance_type}: no price returned in {', '.join(sorted(regions))}; "
        "kept the previous prices"
        for instance_type, regions in sorted(missing.items())
    ]
    rows = sorted(
        kept + fresh, key=lambda r: (r[TYPE], r[REGION], r[ZONE], r[ACCELERATOR], r[COUNT])
    )
    return rows, len(fresh), notes


def _facts(machine: Machine) -> Row:
    """The leading columns of a new row, up to (not including) the region."""
    return [
        machine.instance_type,
        machine.accelerator,
        str(machine.accelerator_count),
        f"{machine.accelerator_memory_gib:g}",
        f"{machine.vcpus:g}",
        f"{machine.memory_gib:g}",
    ]


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def _base_rows(cloud: str, shipped: dict[str, Path]) -> dict[str, list[Row]]:
    """The rows a refresh starts from: the usable cache, else the shipped files."""
    cached = find_cached(cloud, shipped)
    if cached is not None and cached.files is not None:
        try:
            return {kind: read_rows(path) for kind, path in cached.files.items()}
        except CatalogError:
            pass  # an unreadable cache is rebuilt from the shipped rows
    return {kind: read_rows(path) for kind, path in shipped.items()}


def _data_files(cloud: str, fetched: Mapping[str, str], shipped: dict[str, Path]) -> dict[str, str]:
    """The cloud's other data files for the new cache (name without .csv -> text): what the
    client fetched, else the previous cache's copy, so a feed that failed loses nothing."""
    bands = interruption_file(cloud)
    texts = {}
    for path in [*([bands] if bands is not None else []), *commitment_files(cloud)]:
        name = path.stem
        if name in fetched:
            texts[name] = fetched[name]
            continue
        cached = find_cached(cloud, shipped)
        previous = cached.folder / path.name if cached is not None else None
        if cached is not None and cached.files is not None and previous and previous.exists():
            texts[name] = previous.read_text(encoding="utf-8")
    return texts


def _previous_rows(cloud: str, shipped: Path) -> list[list[str]]:
    """A commitment file's rows (no header) as the loader reads them now."""
    path = current_file(cloud, shipped)
    read_commitments(path)  # a malformed file is refused here, not carried forward
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[1:]


def refresh_cloud(
    cloud: str,
    regions: tuple[str, ...],
    *,
    progress: RefreshProgress,
    backoff: Backoff,
    options: Mapping[str, Any],
    now: datetime.datetime,
) -> CloudOutcome:
    """Refresh one cloud; an API or cache problem becomes the outcome's one-sentence `error`."""
    outcome = CloudOutcome(cloud, regions, now.isoformat(timespec="seconds"))
    try:
        _refresh(outcome, progress=progress, backoff=backoff, options=options, now=now)
    except (PriceSourceError, CatalogError) as error:
        outcome.error = f"{cloud}: {error}"
    except OSError as error:
        outcome.error = (
            f"{cloud}: cannot write the price cache ({error.strerror}: {error.filename})."
        )
    if outcome.error:
        shipped = {kind: path for kind, path, _ in shipped_cloud_files(cloud)}
        cached = find_cached(cloud, shipped)
        outcome.kept = "cached" if cached is not None and cached.files is not None else "shipped"
    progress.end(cloud, outcome.error)
    with contextlib.suppress(OSError):  # the record of the attempt is informative only
        write_attempt(cloud, outcome.to_dict())
    return outcome


def _refresh(
    outcome: CloudOutcome,
    *,
    progress: RefreshProgress,
    backoff: Backoff,
    options: Mapping[str, Any],
    now: datetime.datetime,
) -> None:
    cloud = outcome.cloud
    shipped_files = shipped_cloud_files(cloud)
    shipped = {kind: path for kind, path, _ in shipped_files}
    shipped_rows = {kind: read_rows(path) for kind, path in shipped.items()}
    request = RefreshRequest(
        cloud,
        outcome.regions,
        {kind: machines_of(rows) for kind, rows in shipped_rows.items()},
        now.date().isoformat(),
        previous={path.stem: _previous_rows(cloud, path) for path in commitment_files(cloud)},
    )
    client = importlib.import_module(f"providers.{cloud}.price_refresh")
    prices = client.fetch_prices(request, progress=progress, backoff=backoff, **options)
    base = _base_rows(cloud, shipped)
    texts = {}
    outcome.notes = list(prices.notes)
    for kind, _, spot_capable in shipped_files:
        skipped = prices.skipped_regions.get(kind, frozenset())
        update = KindUpdate(
            kind=kind,
            quotes=[q for q in prices.quotes if q.kind == kind],
            regions=frozenset(outcome.regions) - skipped,
            spot_capable=spot_capable,
            source=prices.sources[kind],
            retrieved=now.date().isoformat(),
        )
        if not update.quotes and any(row[REGION] in update.regions for row in base[kind]):
            raise PriceSourceError(
                f"{update.source} priced none of the {kind} instance types in "
                f"{', '.join(sorted(update.regions))}; nothing of {cloud} was replaced."
            )
        rows, refreshed, notes = merge_rows(base[kind], update)
        texts[kind] = csv_text(rows)
        outcome.rows[kind] = len(rows)
        outcome.refreshed_rows[kind] = refreshed
        outcome.notes += notes
    texts.update(_data_files(cloud, prices.files, shipped))
    record = {
        "format": FORMAT,
        "cloud": cloud,
        "refreshed_at": outcome.at,
        "regions": list(outcome.regions),
        "sources": dict(prices.sources),
        "rows": outcome.rows,
        "refreshed_rows": outcome.refreshed_rows,
        "notes": outcome.notes,
        "shipped": {kind: fingerprint(path) for kind, path in shipped.items()},
    }

    def loadable(folder: Path) -> None:
        for kind, _, spot_capable in shipped_files:
            read_catalog_file(folder / f"{kind}.csv", cloud, kind, spot_capable)
        bands = interruption_file(cloud)
        if bands is not None and (folder / bands.name).exists():
            read_interruption(folder / bands.name)
        for rates in commitment_files(cloud):
            if (folder / rates.name).exists():
                read_commitments(folder / rates.name)

    outcome.folder = str(write_cloud(cloud, texts, record, check=loadable))


def refresh_prices(
    clouds: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    *,
    progress: RefreshProgress | None = None,
    backoff: Backoff | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    now: datetime.datetime | None = None,
) -> RefreshReport:
    """Refresh the chosen clouds (all by default) one after the other.

    `options` passes keyword arguments to a cloud's `fetch_prices` (tests give a fake transport
    or boto3 clients there). Raises `InfraError` only for bad options; a cloud that cannot be
    refreshed is an outcome with an `error`, not an exception.
    """
    plan = plan_regions(clouds, regions)
    moment = now or datetime.datetime.now(datetime.UTC)
    report = RefreshReport(
        [
            refresh_cloud(
                cloud,
                cloud_regions,
                progress=progress or NoProgress(),
                backoff=backoff or Backoff(),
                options=(options or {}).get(cloud, {}),
                now=moment,
            )
            for cloud, cloud_regions in plan.items()
        ]
    )
    load_catalog.cache_clear()
    return report
