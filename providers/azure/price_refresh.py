"""Azure prices from the public Retail Prices API (https://prices.azure.com, no credentials).

One query per VM size, every region at once: serviceName 'Virtual Machines', priceType
'Consumption' (pay-as-you-go; Spot meters are Consumption too), following NextPageLink. Kept:
Linux meters (productName without 'Windows'), hourly, USD, primary meter region; dropped: Low
Priority (the retired predecessor of Spot). A meter whose skuName or meterName says 'Spot' is the
spot price.

Azure ML managed online endpoints run each deployment on VMs of the chosen size and are billed
per VM-hour at the VM's price (see MANAGED_PRICES.md); the rows of kind `azureml` therefore take
the same Linux pay-as-you-go VM price, with no spot. The API's serviceName 'Azure Machine
Learning' meters are not endpoint prices: the legacy 'Machine Learning service' vCPU surcharge of
the retired Enterprise edition, and 'Managed Model Hosting Service' (hosted catalog models).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any
from urllib.parse import quote, urlsplit

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
MAX_PAGES = 50
WINDOWS = re.compile(r"\bWin(dows)?\b|Cloud ?Services")


def query_url(vm_size: str) -> str:
    condition = (
        "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' "
        f"and armSkuName eq '{vm_size}'"
    )
    return f"{API_URL}?api-version={API_VERSION}&$filter={quote(condition)}"


def retail_items(vm_size: str, transport: Transport, backoff: Backoff) -> list[dict[str, Any]]:
    """Every item of the query for one VM size, page after page; a page that is not a complete
    Retail Prices document (no Items, no NextPageLink, a Count that does not match) is refused."""
    url: str | None = query_url(vm_size)
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
                continue
            spot = "Spot" in f"{item['skuName']} {item['meterName']}"
            key = (item["armSkuName"], item["armRegionName"], spot)
            price = positive_price(item["unitPrice"], f"the Azure price of {key[0]} in {key[1]}")
            dated[key][str(item.get("effectiveStartDate", ""))].add(price)
        except (AttributeError, KeyError, TypeError):
            raise PriceSourceError(f"{API} returned an item without the usual fields.") from None
    prices: dict[tuple[str, str, bool], float] = {}
    ambiguous = set()
    for key, by_date in dated.items():
        current = by_date[max(by_date)]
        if len(current) == 1:
            prices[key] = next(iter(current))
        else:
            ambiguous.add(key)
    return prices, ambiguous


def fetch_prices(
    request: RefreshRequest,
    *,
    progress: RefreshProgress,
    backoff: Backoff,
    transport: Transport = urllib_transport,
) -> CloudPrices:
    sizes = sorted({m.instance_type for machines in request.machines.values() for m in machines})
    regions = set(request.regions)
    progress.begin("azure", len(sizes))
    prices: dict[tuple[str, str, bool], float] = {}
    notes = []
    for size in sizes:
        found, ambiguous = hourly_linux_prices(retail_items(size, transport, backoff), regions)
        prices.update(found)
        notes += [
            f"{size} {region}: several different {'spot' if spot else 'pay-as-you-go'} prices "
            "listed; kept the previous prices"
            for _, region, spot in sorted(ambiguous)
        ]
        progress.step("azure", size)
    quotes = []
    for kind, machines in request.machines.items():
        for machine in machines:
            for region in request.regions:
                ondemand = prices.get((machine.instance_type, region, False))
                if ondemand is None:
                    continue
                spot = prices.get((machine.instance_type, region, True))
                quotes.append(PriceQuote(kind, machine, region, ondemand, spot_usd=spot))
    return CloudPrices(quotes, SOURCES, notes)
