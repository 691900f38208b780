"""Google Cloud prices from the Cloud Billing Catalog API.

    GET https://cloudbilling.googleapis.com/v1/services/{service}/skus?currencyCode=USD

with an API key (sent as the X-Goog-Api-Key header, never in the URL) from `INFRA_GCP_API_KEY`,
else `GOOGLE_API_KEY`; the key's project must have the Cloud Billing API enabled.

Google bills a GPU machine as parts, each a SKU priced per region: its vCPUs ("A2 Instance Core",
per hour), its memory ("A2 Instance Ram", per GiB-hour) and its GPUs ("Nvidia Tesla A100 GPU",
per hour); spot uses the "Spot Preemptible ..." SKUs of usageType Preemptible. The catalog's row
for a machine is the sum, as in the shipped gce.csv (CATALOG_FORMAT.md): vCPUs x core + GiB x RAM
+ GPUs x GPU, with the vCPUs, memory and GPU count of the shipped row. Bundled local SSD is not
included, as in the shipped rows.

- Compute Engine, service 6F81-5844-456A: N1 (+T4/V100), G2 (L4), A2 high/mega/ultra (A100,
  A100 80GB), A3 high (H100 80GB).
- Vertex AI, service C7E2-9256-1C43: the same parts under "Vertex AI: Online/Batch Prediction
  ..." (the basis of the shipped vertex.csv row).
- Not priced, and reported: A3 Mega and A3 Ultra machines, whose core and memory SKUs are not
  named in a way this module can match with confidence; their rows keep their previous prices.

A SKU whose description marks another way of buying (commitments, sole tenancy, custom shapes,
DWS / calendar-mode reservations, management fees) is ignored, as are SKUs in other units.

Resource-based committed-use discounts (gce_commitments.csv) follow the shipped file's rule: a
machine's 1- or 3-year rate is its vCPUs x the family's "Commitment v1: <family> Cpu" SKU + GiB x
its "Commitment v1: <family> Ram" SKU + GPUs x its "Commitment v1: <GPU> ... running" SKU (usage
types Commit1Yr and Commit3Yr), in each region asked where all three have one rate. N1 types get
none, as in the shipped file (gce.csv prices one n1 type with several GPU models, and a rate is
keyed by type and region): their commitment SKUs ("Commitment v1: Cpu in ...") name no family.
The rates of pairs the answer does not price stay as they were (cached, else shipped).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from providers.commitments import commitments_text
from providers.price_http import Transport, get_json, urllib_transport
from providers.price_quotes import (
    CloudPrices,
    Machine,
    PriceQuote,
    PriceSourceError,
    RefreshProgress,
    RefreshRequest,
    positive_price,
)
from providers.price_retry import Backoff

API = "the Cloud Billing Catalog API"
API_URL = "https://cloudbilling.googleapis.com/v1"
KEY_VARIABLES = ("INFRA_GCP_API_KEY", "GOOGLE_API_KEY")
SERVICES = {"fleet": "6F81-5844-456A", "vertex": "C7E2-9256-1C43"}
SOURCES = {
    "fleet": "Cloud Billing Catalog API (Compute Engine 6F81-5844-456A: core + RAM + GPU SKUs)",
    "vertex": "Cloud Billing Catalog API (Vertex AI C7E2-9256-1C43: Online/Batch Prediction "
    "core + RAM + GPU SKUs)",
}
COMMITMENTS_FILE = "gce_commitments"
"""The Compute Engine committed-use rates (providers/commitments.py), rewritten by a refresh."""
CUD_SOURCE = (
    "Cloud Billing Catalog API (Compute Engine 6F81-5844-456A: 'Commitment v1' core + RAM + GPU "
    "SKUs, resource-based)"
)
COMMITMENT = "commitment v1: "
COMMIT_TERMS = {"Commit1Yr": "1y", "Commit3Yr": "3y"}
"""The usage types of resource-based commitment SKUs -> the term they price."""
ON_DEMAND, SPOT = "OnDemand", "Preemptible"
PREDICTION = "vertex ai: online/batch prediction "
MACHINE_FAMILIES = (
    ("n1-", "n1"),
    ("g2-", "g2"),
    ("a2-highgpu-", "a2"),
    ("a2-megagpu-", "a2"),
    ("a2-ultragpu-", "a2"),
    ("a3-highgpu-", "a3"),
)
"""Machine type prefix -> the family its core and RAM SKUs are described under."""
GPU_PARTS = {
    "T4": "t4",
    "V100": "v100",
    "L4": "l4",
    "A100": "a100",
    "A100-80GB": "a100 80gb",
    "H100": "h100 80gb",
}
"""Canonical accelerator -> its GPU SKU, described without the Nvidia/Tesla words."""
OTHER_WAYS_OF_BUYING = (
    "commitment",
    "committed",
    "sole tenancy",
    "custom",
    "extended",
    "dws",
    "defined duration",
    "calendar",
    "reserved",
    "capacity optimized",
    "flex",
    "management fee",
    "premium",
)
UNITS = {"core": "h", "gpu": "h", "ram": "GiBy.h"}
COMMITTED_UNITS = {"cpu": "core", "ram": "ram", "gpu": "gpu"}
"""A commitment SKU's last word -> the part it commits (its descriptions say Cpu, not Core)."""
MAX_PAGES = 100


def api_key() -> str:
    for variable in KEY_VARIABLES:
        if os.environ.get(variable, "").strip():
            return os.environ[variable].strip()
    raise PriceSourceError(
        "no GCP API key: set INFRA_GCP_API_KEY (or GOOGLE_API_KEY) to an API key of a project "
        "with the Cloud Billing API enabled."
    )


def service_skus(
    service: str, key: str, transport: Transport, backoff: Backoff, progress: RefreshProgress
) -> list[dict[str, Any]]:
    """Every SKU of a service, following nextPageToken."""
    skus: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_PAGES):
        url = f"{API_URL}/services/{service}/skus?currencyCode=USD&pageSize=5000"
        page = get_json(
            url + (f"&pageToken={quote(token)}" if token else ""),
            api=API,
            transport=transport,
            backoff=backoff,
            headers={"X-Goog-Api-Key": key},
        )
        if not isinstance(page, dict) or not isinstance(page.get("skus"), list):
            raise PriceSourceError(f"{API} answered service {service} with a page without skus.")
        skus.extend(page["skus"])
        progress.step("gcp", f"{service}: {len(skus)} SKUs")
        token = page.get("nextPageToken") or ""
        if not isinstance(token, str):
            raise PriceSourceError(f"{API} answered service {service} with a bad nextPageToken.")
        if not token:
            return skus
    raise PriceSourceError(f"{API} answered service {service} with more than {MAX_PAGES} pages.")


def committed_part(description: str) -> tuple[str, str] | None:
    """What a resource-based commitment SKU commits, as (part, unit): "Commitment v1: A2 Cpu in
    Americas for 1 Year" -> ("a2", "core"), "Commitment v1: Nvidia L4 GPU running in Americas for
    3 Years" -> ("l4", "gpu"); None for any other SKU (Local SSD, licences, spend-based CUDs)."""
    text = description.lower()
    if not text.startswith(COMMITMENT):
        return None
    text = text.removeprefix(COMMITMENT).split(" running in ")[0].split(" in ")[0]
    words = [w for w in text.split() if w not in {"nvidia", "tesla"}]
    if len(words) < 2 or words[-1] not in COMMITTED_UNITS:
        return None
    return " ".join(words[:-1]), COMMITTED_UNITS[words[-1]]


def sku_part(description: str, vertex: bool) -> tuple[str, str] | None:
    """What a SKU prices, as (part, unit): ("n1", "core"), ("a100 80gb", "gpu"); None for a SKU
    that is not a plain pay-as-you-go VM part (or, for Vertex AI, not an online prediction part)."""
    text = description.lower()
    if vertex:
        if not text.startswith(PREDICTION):
            return None
        text = text.removeprefix(PREDICTION)
    text = text.split(" running in ")[0].removesuffix(" attached to spot preemptible vms")
    text = text.removeprefix("spot ").removeprefix("preemptible ")
    if any(words in text for words in OTHER_WAYS_OF_BUYING):
        return None
    words = [w for w in text.split() if w not in {"nvidia", "tesla", "predefined", "instance"}]
    if len(words) < 2 or words[-1] not in UNITS:
        return None
    return " ".join(words[:-1]), words[-1]


Rates = dict[tuple[str, str, str, str], set[float]]
"""(region, part, unit, usage type) -> the USD rates listed for it."""


def unit_rates(skus: list[dict[str, Any]], regions: set[str], vertex: bool) -> Rates:
    """The rates of the pay-as-you-go, spot and (Compute Engine) commitment SKUs by part."""
    rates: Rates = defaultdict(set)
    for sku in skus:
        try:
            category = sku["category"]
            usage = category.get("usageType")
            if usage in (ON_DEMAND, SPOT):
                part = sku_part(sku["description"], vertex)
            elif usage in COMMIT_TERMS and not vertex:
                part = committed_part(sku["description"])
            else:
                continue
            if part is None:
                continue
            expression = sku["pricingInfo"][0]["pricingExpression"]
            if expression.get("usageUnit") != UNITS[part[1]]:
                continue
            price = expression["tieredRates"][-1]["unitPrice"]
            if price.get("currencyCode", "USD") != "USD":
                continue
            rate = positive_price(
                int(price.get("units") or 0) + price.get("nanos", 0) / 1e9,
                f"the GCP rate of '{sku['description']}'",
            )
            for region in set(sku["serviceRegions"]) & regions:
                rates[region, part[0], part[1], usage].add(rate)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            raise PriceSourceError(f"{API} returned a SKU without the usual fields.") from None
    return rates


def machine_family(machine: Machine) -> str | None:
    for prefix, family in MACHINE_FAMILIES:
        if machine.instance_type.startswith(prefix):
            return family
    return None


def machine_price(machine: Machine, region: str, usage: str, rates: Rates) -> float | None:
    """vCPUs x core + GiB x RAM + GPUs x GPU at the `usage` type's rates (OnDemand, Preemptible,
    Commit1Yr, Commit3Yr), or None when a part has no single listed rate."""
    family = machine_family(machine)
    gpu = GPU_PARTS.get(machine.accelerator)
    if family is None or gpu is None:
        return None
    parts = (
        (machine.vcpus, (region, family, "core", usage)),
        (machine.memory_gib, (region, family, "ram", usage)),
        (machine.accelerator_count, (region, gpu, "gpu", usage)),
    )
    total = 0.0
    for quantity, key in parts:
        listed = rates.get(key)
        if not listed or len(listed) > 1:
            return None
        total += quantity * next(iter(listed))
    return total


def cud_rates(
    machines: list[Machine], regions: tuple[str, ...], rates: Rates
) -> dict[tuple[str, str, str], float]:
    """(instance type, region, term) -> the machine's committed rate per hour."""
    found: dict[tuple[str, str, str], float] = {}
    for machine in machines:
        for region in regions:
            for usage, term in COMMIT_TERMS.items():
                usd = machine_price(machine, region, usage, rates)
                if usd is not None:
                    found[machine.instance_type, region, term] = usd
    return found


def commitments_csv(
    committed: Mapping[tuple[str, str, str], float],
    ondemand: Mapping[tuple[str, str], float],
    previous: list[list[str]],
    day: str,
) -> str:
    """The gce_commitments file: the rates just computed, beside the on-demand price of the same
    answer, and the previous rows of every pair the answer did not price."""
    rates = {(m, region, "cud", term): usd for (m, region, term), usd in committed.items()}
    return commitments_text(rates, ondemand, {"cud": CUD_SOURCE}, previous, day)


def fetch_prices(
    request: RefreshRequest,
    *,
    progress: RefreshProgress,
    backoff: Backoff,
    transport: Transport = urllib_transport,
) -> CloudPrices:
    progress.begin("gcp", None)
    key = api_key()
    regions = set(request.regions)
    quotes: list[PriceQuote] = []
    notes = []
    files: dict[str, str] = {}
    for kind, machines in request.machines.items():
        priceable = [m for m in machines if machine_family(m) and m.accelerator in GPU_PARTS]
        unpriceable = sorted(
            {m.instance_type for m in machines} - {m.instance_type for m in priceable}
        )
        if unpriceable:
            notes.append(
                f"{kind} {', '.join(unpriceable)}: not priced from the API (no confirmed SKU "
                "names for their parts); kept the previous prices"
            )
        if not priceable:
            continue
        skus = service_skus(SERVICES[kind], key, transport, backoff, progress)
        rates = unit_rates(skus, regions, vertex=kind == "vertex")
        for machine in priceable:
            for region in request.regions:
                ondemand = machine_price(machine, region, ON_DEMAND, rates)
                if ondemand is not None:
                    spot = machine_price(machine, region, SPOT, rates)
                    quotes.append(PriceQuote(kind, machine, region, ondemand, spot_usd=spot))
        if kind == "fleet":
            listed = {
                (q.machine.instance_type, q.region): q.ondemand_usd
                for q in quotes
                if q.kind == kind and q.ondemand_usd is not None
            }
            files[COMMITMENTS_FILE] = commitments_csv(
                cud_rates(priceable, request.regions, rates),
                listed,
                list(request.previous.get(COMMITMENTS_FILE, [])),
                request.day,
            )
    return CloudPrices(quotes, SOURCES, notes, files=files)
