"""How old the prices are, and the warning when they are older than the user accepts.

Prices change weekly and spot prices hourly, so a choice made on old prices may no longer be the
cheapest. The threshold is `INFRA_CATALOG_MAX_AGE_DAYS` (default 7; `off` disables the warning).
Shipped and refreshed prices are judged alike, by the retrieval date of their rows: the shipped
snapshot is dated when the toolkit's catalog was built, so it turns stale a week after that, and
the warning says to run `infra catalog refresh`.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from typing import Any

from core.errors import InfraError
from providers import targets
from providers.catalog import Catalog, Offering, read_cloud_catalog, shipped_cloud_files
from providers.price_cache import read_attempt

MAX_AGE_VARIABLE = "INFRA_CATALOG_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 7


def max_age_days() -> int | None:
    """The configured threshold in days, or None when the warning is turned off."""
    raw = os.environ.get(MAX_AGE_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    if raw.lower() == "off":
        return None
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    raise InfraError(
        f"{MAX_AGE_VARIABLE} must be a whole number of days (1 or more) or 'off', not '{raw}'."
    )


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def age_days(date: str, on: datetime.date | None = None) -> int | None:
    """Whole days from an ISO date to `on` (today); None when the date is not a date."""
    try:
        return ((on or today()) - datetime.date.fromisoformat(date[:10])).days
    except ValueError:
        return None


def cloud_dates(catalog: Catalog, clouds: Iterable[str] | None = None) -> dict[str, str]:
    """Per cloud, the date of its newest prices: when that cloud was last refreshed or built."""
    wanted = set(clouds) if clouds is not None else None
    dates: dict[str, str] = {}
    for offering in catalog.offerings:
        if wanted is None or offering.cloud in wanted:
            dates[offering.cloud] = max(dates.get(offering.cloud, ""), offering.retrieved)
    return dates


def stale_catalog_warning(
    catalog: Catalog, clouds: Iterable[str] | None = None, *, on: datetime.date | None = None
) -> str | None:
    """One sentence naming the clouds whose prices are older than the threshold, else None.

    `clouds` limits the check to the clouds a command looked at (all by default).
    """
    limit = max_age_days()
    if limit is None:
        return None
    old = []
    for cloud, date in sorted(cloud_dates(catalog, clouds).items()):
        days = age_days(date, on)
        if days is not None and days > limit:
            old.append(f"{cloud} {date} ({days} days)")
    if not old:
        return None
    return (
        f"prices older than {limit} days: {', '.join(old)}; run `infra catalog refresh` for "
        f"current prices ({MAX_AGE_VARIABLE} sets the threshold)."
    )


def stale_offering_warning(offering: Offering, *, on: datetime.date | None = None) -> str | None:
    """One sentence when one offering's own prices are older than the threshold, else None.

    A catalog can be fresh while a single row is not (a region the last refresh skipped, a
    managed price only found in an older source), so the chosen offering is checked on its own.
    """
    limit = max_age_days()
    days = age_days(offering.retrieved, on)
    if limit is None or days is None or days <= limit:
        return None
    return (
        f"the prices of {offering.display_name} in {offering.region} date from "
        f"{offering.retrieved} ({days} days old); `infra catalog refresh` may update them."
    )


def catalog_status(on: datetime.date | None = None) -> dict[str, Any]:
    """Per cloud: where its prices come from, how old they are, and how the last refresh went.

    The same numbers feed `infra catalog status` as a table and as JSON.
    """
    limit = max_age_days()
    clouds = {}
    for cloud in targets.cloud_names():
        current = read_cloud_catalog(cloud)
        date = max((o.retrieved for o in current.offerings), default="")
        days = age_days(date, on) if date else None
        record = current.cache.record if current.refreshed and current.cache else None
        rows: dict[str, int] = {}
        for offering in current.offerings:
            rows[offering.kind] = rows.get(offering.kind, 0) + len(offering.zones)
        clouds[cloud] = {
            "source": "refreshed" if record else "shipped",
            "sources": (record or {}).get("sources")
            or {kind: str(path) for kind, path, _ in shipped_cloud_files(cloud)},
            "date": date,
            "age_days": days,
            "stale": limit is not None and days is not None and days > limit,
            "refreshed_at": (record or {}).get("refreshed_at"),
            "refreshed_regions": (record or {}).get("regions", []),
            "rows": rows,
            "regions": sorted({o.region for o in current.offerings}),
            "cache": str(current.cache.folder) if current.cache else None,
            "cache_problem": current.cache_problem,
            "last_refresh": read_attempt(cloud),
        }
    return {"max_age_days": limit, "clouds": clouds}
