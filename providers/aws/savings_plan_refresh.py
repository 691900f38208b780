"""EC2 Instance Savings Plans rates (1- and 3-year, no upfront) from the Savings Plans API.

`savingsplans.describe_savings_plans_offering_rates` (a global endpoint) answers what one
instance-hour costs under a plan. The query asks for EC2 Instance Savings Plans only
(savingsPlanTypes `EC2Instance`, payment `No Upfront`, product `EC2`, service `AmazonEC2`,
operation `RunInstances`: Linux) and filters on the catalog's instance types, the regions refreshed,
tenancy `shared` and product description `Linux/UNIX`. A rate is kept when its usage type is an
instance-hour of shared tenancy of the type its properties name (`BoxUsage:<type>`, with the
region's prefix outside us-east-1); the plans' other usage types (`UnusedBox`, dedicated and host
usage) are left out.

Why EC2 Instance and not Compute Savings Plans: the planner commits one instance type in one
region, which is what an EC2 Instance Savings Plan covers (one family in one region) at the lower
rate; a Compute Savings Plan pays for the freedom to move across families and regions, which a
plan for one instance type does not use. The commitments file keys a rate by instance type,
region, kind and term, so one `savings_plan` kind cannot hold both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from providers.price_quotes import PriceSourceError, positive_price

SOURCE = (
    "AWS Savings Plans API DescribeSavingsPlansOfferingRates "
    "(EC2 Instance Savings Plan, Linux/UNIX, shared tenancy, No Upfront)"
)
TERMS = {365 * 24 * 3600: "1y", 3 * 365 * 24 * 3600: "3y"}
"""durationSeconds of the plans' offerings -> the commitments file's term."""
QUERY: dict[str, Any] = {
    "savingsPlanTypes": ["EC2Instance"],
    "savingsPlanPaymentOptions": ["No Upfront"],
    "products": ["EC2"],
    "serviceCodes": ["AmazonEC2"],
    "operations": ["RunInstances"],
    "maxResults": 1000,
}
SHARED_USAGE = "BoxUsage"
"""The usage type of a shared-tenancy instance-hour (`BoxUsage:g5.xlarge`, `USE2-BoxUsage:...`)."""
API = "the AWS Savings Plans API"

Call = Callable[[Callable[[], Any], str], Any]
"""(the API call, what it is) -> its answer, retried while AWS throttles it."""


def request(instance_types: Iterable[str], regions: Iterable[str]) -> dict[str, Any]:
    """The first page's parameters for the rates of these types in these regions."""
    return {
        **QUERY,
        "filters": [
            {"name": "instanceType", "values": sorted(set(instance_types))},
            {"name": "region", "values": sorted(set(regions))},
            {"name": "tenancy", "values": ["shared"]},
            {"name": "productDescription", "values": ["Linux/UNIX"]},
        ],
    }


def _rate(result: Any) -> tuple[str, str, str, float] | None:
    """(instance type, region, term, USD/hour) of one search result, or None when it is not an
    EC2 Instance, no-upfront, Linux, shared-tenancy instance-hour in USD of a known term."""
    offering = result["savingsPlanOffering"]
    term = TERMS.get(offering["durationSeconds"])
    if (
        term is None
        or offering["planType"] != "EC2Instance"
        or offering["paymentOption"] != "No Upfront"
        or offering.get("currency", "USD") != "USD"
        or result["unit"] != "Hrs"
        or result["operation"] != "RunInstances"
    ):
        return None
    properties = {p["name"]: p["value"] for p in result["properties"]}
    instance_type, region = properties["instanceType"], properties["region"]
    usage, _, usage_type = result["usageType"].partition(":")
    if usage.rsplit("-", 1)[-1] != SHARED_USAGE or usage_type != instance_type:
        return None
    where = f"the {term} EC2 Instance Savings Plan rate of {instance_type} in {region}"
    return instance_type, region, term, positive_price(result["rate"], where)


def parse_rates(results: Iterable[Any]) -> dict[tuple[str, str, str], float]:
    """(instance type, region, term) -> USD per instance-hour; a key the answer prices twice,
    differently, is left out rather than guessed."""
    found: dict[tuple[str, str, str], set[float]] = defaultdict(set)
    for result in results:
        try:
            rate = _rate(result)
        except (AttributeError, KeyError, TypeError):
            raise PriceSourceError(
                f"{API} returned a malformed offering rate (no savingsPlanOffering, rate, unit, "
                "usageType, operation or instanceType and region properties)."
            ) from None
        if rate is not None:
            instance_type, region, term, usd = rate
            found[instance_type, region, term].add(usd)
    return {key: next(iter(values)) for key, values in found.items() if len(values) == 1}


def savings_plan_rates(
    client: Any, instance_types: Iterable[str], regions: Iterable[str], call: Call
) -> dict[tuple[str, str, str], float]:
    """Every page of the query for these types and regions, parsed; a rate of another type or
    region (the filters should return none) is left out."""
    types, asked = set(instance_types), set(regions)
    parameters = request(types, asked)
    results: list[Any] = []
    while True:
        page = call(
            lambda: client.describe_savings_plans_offering_rates(**parameters),
            "savingsplans:DescribeSavingsPlansOfferingRates",
        )
        if not isinstance(page, dict) or not isinstance(page.get("searchResults", []), list):
            raise PriceSourceError(f"{API} returned a malformed page (no searchResults list).")
        results.extend(page.get("searchResults", []))
        token = page.get("nextToken")
        if not token:
            rates = parse_rates(results)
            return {key: usd for key, usd in rates.items() if key[0] in types and key[1] in asked}
        parameters["nextToken"] = token
