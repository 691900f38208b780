"""Azure prices from the public Retail Prices API (https://prices.azure.com, no credentials).

One query per VM size, every region at once: serviceName 'Virtual Machines', priceType
'Consumption' (pay-as-you-go; Spot meters are Consumption too), following NextPageLink. Kept:
Linux meters (productName without 'Windows'), hourly, USD, primary meter region; dropped: Low
Priority (the retired predecessor of Spot). A meter whose skuName or meterName says 'Spot' is the
spot price.

Commitment rates (`vms_commitments.csv`, providers/commitments.py) come from the same API:
- savings plan for compute: with api-version 2023-01-01-preview, the Linux pay-as-you-go meter
  carries a `savingsPlan` array, one hourly `unitPrice` per term ("1 Year", "3 Years");
- reservations: a second query per VM size with priceType 'Reservation'. Those items carry the
  whole term's price in `unitPrice` (although `unitOfMeasure` says "1 Hour"); the hourly rate is
  that price over the term's hours (8,760 for "1 Year", 26,280 for "3 Years": 365 days of 24
  hours a year, the 730-hour month Azure bills by). Items of a Windows product name are
  skipped, as for pay-as-you-go.

Azure ML managed online endpoints run each deployment on VMs of the chosen size and are billed
per VM-hour at the VM's price (see MANAGED_PRICES.md); the rows of kind `azureml` therefore take
the same Linux pay-as-you-go VM price, with no spot. The API's serviceName 'Azure Machine
Learning' meters are not endpoint prices: the legacy 'Machine Learning service' vCPU surcharge of
the retired Enterprise edition, and 'Managed Model Hosting Service' (hosted catalog models).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from providers.commitments import commitments_text
from providers.price_http import Transport, get_json, urllib_transport
from providers.price_quotes import (
    CloudPrices,
    PriceQuote,
    PriceSourceError,
    RefreshProgress,
    RefreshRequest,
    positive_price,
)
from providers.price_retry import Backoff

API = "the Azure Retail Prices API"
API_URL = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"
SOURCES = {
    "fleet": "Azure Retail Prices API (Virtual Machines, Linux, pay-as-you-go and Spot)",
    "azureml": "Azure Retail Prices API (Virtual Machines, Linux, pay-as-you-go; "
    "managed online endpoints bill the VM)",
}
COMMITMENTS_FILE = "vms_commitments"
"""The VM commitment rates (providers/commitments.py), rewritten by a refresh."""
COMMITMENT_SOURCES = {
    "reservation": "Azure Retail Prices API (Virtual Machines, Reservation; unitPrice over the "
    "term's hours)",
    "savings_plan": "Azure Retail Prices API 2023-01-01-preview (Virtual Machines, Linux "
    "pay-as-you-go meter's savingsPlan)",
}
TERMS = {"1 Year": "1y", "3 Years": "3y"}
TERM_HOURS = {"1y": 8760, "3y": 26280}
"""Hours of a reservation's term: 365 days of 24 hours a year (Azure's month is 730 hours)."""
MAX_PAGES = 50
K = TypeVar("K")
WINDOWS = re.compile(r"\bWin(dows)?\b|Cloud ?Services")


def query_url(vm_size: str, price_type: str = "Consumption") -> str:
    """The query of one VM size's meters of one price type ('Consumption', 'Reservation')."""
    condition = (
        f"serviceName eq 'Virtual Machines' and priceType eq '{price_type}' "
        f"and armSkuName eq '{vm_size}'"
    )
    return f"{API_URL}?api-version={API_VERSION}&$filter={quote(condition)}"


def retail_items(
    vm_size: str, transport: Transport, backoff: Backoff, price_type: str = "Consumption"
) -> list[dict[str, Any]]:
    """Every item of the query for one VM size, page after page; a page that is not a complete
    Retail Prices document (no Items, no NextPageLink, a Count that does not match) is refused."""
    url: str | None = query_url(vm_size, price_type)
    items: list[dict[str, Any]] = []
    pages = 0
    while url is not None:
        if pages == MAX_PAGES:
            raise PriceSourceError(f"{API} answered {vm_size} with more than {MAX_PAGES} pages.")
        page = get_json(url, api=API, transport=transport, backoff=backoff)
        pages += 1
        if (
            not isinstance(page, dict)
            or not isinstance(page.get("Items"), list)
            or "NextPageLink" not in page
        ):
            raise PriceSourceError(
                f"{API} answered {vm_size} with a page that lacks Items or NextPageLink."
            )
        if isinstance(page.get("Count"), int) and page["Count"] != len(page["Items"]):
            raise PriceSourceError(
                f"{API} answered {vm_size} with a truncated page "
                f"({len(page['Items'])} of {page['Count']} items)."
            )
        items.extend(page["Items"])
        url = page["NextPageLink"]
        if url is not None and (
            not isinstance(url, str) or urlsplit(url).hostname != "prices.azure.com"
        ):
            raise PriceSourceError(f"{API} answered {vm_size} with an unexpected NextPageLink.")
    return items


def _linux_meter(item: dict[str, Any], regions: set[str]) -> tuple[str, str, bool] | None:
    """(VM size, region, is spot) of a Linux, hourly, USD, primary pay-as-you-go or Spot meter
    of a region asked for; None for any other item. A missing field raises KeyError."""
    if (
        item["type"] != "Consumption"
        or item["serviceName"] != "Virtual Machines"
        or item.get("currencyCode", "USD") != "USD"
        or item.get("unitOfMeasure") != "1 Hour"
        or item.get("isPrimaryMeterRegion") is False
        or item["armRegionName"] not in regions
        or WINDOWS.search(item["productName"])
        or "Low Priority" in f"{item['skuName']} {item['meterName']}"
    ):
        return None
    spot = "Spot" in f"{item['skuName']} {item['meterName']}"
    return (item["armSkuName"], item["armRegionName"], spot)


def _start(item: dict[str, Any]) -> str:
    return str(item.get("effectiveStartDate", ""))


def hourly_linux_prices(
    items: list[dict[str, Any]], regions: set[str]
) -> tuple[dict[tuple[str, str, bool], float], set[tuple[str, str, bool]]]:
    """(VM size, region, is spot) -> USD per hour of the Linux meter; and the keys where meters
    of the same start date disagree (not priced rather than guessed)."""
    dated: dict[tuple[str, str, bool], dict[str, set[float]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for item in items:
        try:
            key = _linux_meter(item, regions)
            if key is None:
                continue
            price = positive_price(item["unitPrice"], f"the Azure price of {key[0]} in {key[1]}")
            dated[key][_start(item)].add(price)
        except (AttributeError, KeyError, TypeError):
            raise PriceSourceError(f"{API} returned an item without the usual fields.") from None
    return _current(dated)


def _current(dated: dict[K, dict[str, set[float]]]) -> tuple[dict[K, float], set[K]]:
    """Per key, the one price of the newest start date; and the keys where that date lists
    several different prices."""
    prices: dict[K, float] = {}
    ambiguous = set()
    for key, by_date in dated.items():
        current = by_date[max(by_date)]
        if len(current) == 1:
            prices[key] = next(iter(current))
        else:
            ambiguous.add(key)
    return prices, ambiguous


def savings_plan_rates(
    items: list[dict[str, Any]], regions: set[str]
) -> dict[tuple[str, str, str], float]:
    """(VM size, region, term) -> USD per hour under a savings plan for compute: the
    `savingsPlan` array of the current Linux pay-as-you-go meter (the newest start date, as for
    its price); a term whose current meters disagree, or that they do not list, is left out."""
    meters: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        try:
            key = _linux_meter(item, regions)
            if key is None or key[2]:
                continue
            meters[key[0], key[1]][_start(item)].append(item.get("savingsPlan") or [])
        except (AttributeError, KeyError, TypeError):
            raise PriceSourceError(f"{API} returned an item without the usual fields.") from None
    rates: dict[tuple[str, str, str], float] = {}
    for (size, region), by_date in meters.items():
        found: dict[str, set[float]] = defaultdict(set)
        for plans in by_date[max(by_date)]:
            try:
                for plan in plans:
                    term = TERMS.get(plan["term"])
                    if term is not None:
                        where = f"the {term} savings plan rate of {size} in {region}"
                        found[term].add(positive_price(plan["unitPrice"], where))
            except (AttributeError, KeyError, TypeError):
                raise PriceSourceError(
                    f"{API} returned a savingsPlan without a term and unitPrice."
                ) from None
        rates.update({(size, region, t): next(iter(v)) for t, v in found.items() if len(v) == 1})
    return rates


def reservation_rates(
    items: list[dict[str, Any]], regions: set[str]
) -> dict[tuple[str, str, str], float]:
    """(VM size, region, term) -> USD per hour of a reservation: the item's `unitPrice` (the
    whole term's price) over the term's hours; the newest start date's single price, a key
    whose items disagree is left out."""
    dated: dict[tuple[str, str, str], dict[str, set[float]]] = defaultdict(lambda: defaultdict(set))
    for item in items:
        try:
            term = TERMS.get(item.get("reservationTerm") or "")
            if (
                item["type"] != "Reservation"
                or term is None
                or item["serviceName"] != "Virtual Machines"
                or item.get("currencyCode", "USD") != "USD"
                or item.get("isPrimaryMeterRegion") is False
                or item["armRegionName"] not in regions
                or WINDOWS.search(item["productName"])
            ):
                continue
            key = (item["armSkuName"], item["armRegionName"], term)
            where = f"the {term} reservation price of {key[0]} in {key[1]}"
            total = positive_price(item["unitPrice"], where)
            dated[key][_start(item)].add(round(total / TERM_HOURS[term], 5))
        except (AttributeError, KeyError, TypeError):
            raise PriceSourceError(f"{API} returned an item without the usual fields.") from None
    return _current(dated)[0]


def fetch_prices(
    request: RefreshRequest,
    *,
    progress: RefreshProgress,
    backoff: Backoff,
    transport: Transport = urllib_transport,
) -> CloudPrices:
    sizes = sorted({m.instance_type for machines in request.machines.values() for m in machines})
    fleet_sizes = {m.instance_type for m in request.machines.get("fleet", ())}
    regions = set(request.regions)
    progress.begin("azure", len(sizes) + len(fleet_sizes))
    prices: dict[tuple[str, str, bool], float] = {}
    commitments: dict[tuple[str, str, str, str], float] = {}
    notes = []
    for size in sizes:
        items = retail_items(size, transport, backoff)
        found, ambiguous = hourly_linux_prices(items, regions)
        prices.update(found)
        notes += [
            f"{size} {region}: several different {'spot' if spot else 'pay-as-you-go'} prices "
            "listed; kept the previous prices"
            for _, region, spot in sorted(ambiguous)
        ]
        progress.step("azure", size)
        if size not in fleet_sizes:
            continue
        for (_, region, term), usd in savings_plan_rates(items, regions).items():
            commitments[size, region, "savings_plan", term] = usd
        reserved = retail_items(size, transport, backoff, "Reservation")
        for (_, region, term), usd in reservation_rates(reserved, regions).items():
            commitments[size, region, "reservation", term] = usd
        progress.step("azure", f"{size} reservations")
    quotes = []
    for kind, machines in request.machines.items():
        for machine in machines:
            for region in request.regions:
                ondemand = prices.get((machine.instance_type, region, False))
                if ondemand is None:
                    continue
                spot = prices.get((machine.instance_type, region, True))
                quotes.append(PriceQuote(kind, machine, region, ondemand, spot_usd=spot))
    files = {}
    if fleet_sizes:
        files[COMMITMENTS_FILE] = commitments_text(
            commitments,
            {(size, region): usd for (size, region, spot), usd in prices.items() if not spot},
            COMMITMENT_SOURCES,
            list(request.previous.get(COMMITMENTS_FILE, [])),
            request.day,
        )
    return CloudPrices(quotes, SOURCES, notes, files=files)
