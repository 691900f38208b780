"""AWS prices: on-demand from the Price List Query API, spot from EC2's spot price history.

- EC2 on-demand: `pricing.get_products` (endpoint us-east-1), ServiceCode AmazonEC2, one query per
  instance type for every region at once, Linux, shared tenancy, no pre-installed software,
  capacitystatus Used, locationType "AWS Region" (Local and Wavelength Zones excluded).
- SageMaker: ServiceCode AmazonSageMaker, component Hosting (real-time inference), by instanceName.
- EC2 spot: `ec2.describe_spot_price_history` per region for Linux/UNIX from now, which gives the
  current price per instance type and zone; zone names (us-east-1a) are mapped to the zone IDs the
  catalog uses (use1-az1) with `ec2.describe_availability_zones`, since names differ by account.

Credentials come from boto3's standard chain. A region the account has not enabled (opt-in
regions) is skipped for spot and its EC2 rows keep their previous prices.

The EC2 commitment rates are rewritten from the same answers (standard no-upfront reserved
instances, the Reserved terms of `get_products`) and from the Savings Plans API (EC2 Instance
Savings Plans, no upfront: providers/aws/savings_plan_refresh.py); when the Savings Plans API
cannot be read, the prices are still refreshed and the previous savings plan rates stay (a note
says why).

With the prices, the spot interruption bands of the EC2 types are fetched from the public Spot
Instance Advisor feed (providers/aws/interruption_refresh.py); when that feed cannot be read, the
prices are still refreshed and the previous bands stay in use (a note says why).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from providers.aws import savings_plan_refresh
from providers.aws.interruption_refresh import fetch_interruption
from providers.price_http import Transport, urllib_transport
from providers.price_quotes import (
    CloudPrices,
    Machine,
    PriceQuote,
    PriceSourceError,
    RefreshProgress,
    RefreshRequest,
    one_line,
    positive_price,
)
from providers.price_retry import Backoff, RetryableError

PRICING_REGION = "us-east-1"
COMMITMENTS_FILE = "ec2_commitments"
"""The EC2 commitment rates (providers/commitments.py), rewritten by a refresh."""
SOURCES = {
    "fleet": "AWS Price List Query API (AmazonEC2, Linux, shared tenancy, on-demand) "
    "+ EC2 DescribeSpotPriceHistory (Linux/UNIX)",
    "sagemaker": "AWS Price List Query API (AmazonSageMaker, Hosting, on-demand)",
}
EC2_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "locationType": "AWS Region",
}
SAGEMAKER_FILTERS = {"component": "Hosting", "locationType": "AWS Region"}
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)
CREDENTIALS_REFUSED = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
REGION_NOT_ENABLED = frozenset({"OptInRequired", "AuthFailure"})
API = "the AWS Price List Query API"

ClientFactory = Callable[[str, str], Any]
"""(service, region) -> a boto3 client."""


def default_clients() -> ClientFactory:
    """Clients from boto3's default session, with botocore's standard retries for transient
    network and server errors; throttling is retried on top of that by `Backoff`."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(
        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=60
    )
    made: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in made:
            made[service, region] = session.client(service, region_name=region, config=config)
        return made[service, region]

    return client


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn the SDK's exceptions into one sentence each."""
    try:
        yield
    except NoCredentialsError:
        raise PriceSourceError(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an instance or task role is available."
        ) from None
    except PartialCredentialsError as error:
        raise PriceSourceError(f"the AWS credentials are incomplete ({one_line(error)}).") from None
    except ProfileNotFound as error:
        raise PriceSourceError(
            f"the AWS profile '{error.kwargs.get('profile')}' (AWS_PROFILE) is not configured."
        ) from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as error:
        raise PriceSourceError(f"cannot reach AWS ({one_line(error)}).") from None
    except ClientError as error:
        raise PriceSourceError(_client_error_sentence(error)) from None
    except BotoCoreError as error:
        raise PriceSourceError(f"the AWS SDK failed: {one_line(error)}.") from None


def _client_error_sentence(error: ClientError) -> str:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    message = one_line(error.response.get("Error", {}).get("Message", ""))
    if code in CREDENTIALS_REFUSED:
        return f"AWS refused the credentials ({code}: {message})."
    if code.startswith("AccessDenied") or code == "UnauthorizedOperation":
        return (
            f"AWS denied {error.operation_name} ({code}); the credentials need "
            "pricing:GetProducts, ec2:DescribeSpotPriceHistory, ec2:DescribeAvailabilityZones and "
            "savingsplans:DescribeSavingsPlansOfferingRates."
        )
    return f"AWS answered {code} to {error.operation_name}: {message}."


def _call(call: Callable[[], Any], what: str, backoff: Backoff) -> Any:
    """One API call, retried with backoff while AWS throttles it."""

    def attempt() -> Any:
        try:
            return call()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in THROTTLED:
                raise RetryableError(code) from error
            raise

    try:
        return backoff.run(attempt)
    except RetryableError as error:
        raise PriceSourceError(
            f"AWS kept throttling {what} ({error}) after {backoff.attempts} attempts; "
            "try again later."
        ) from None


def _products(
    pricing: Any, service_code: str, filters: Mapping[str, str], backoff: Backoff
) -> list[str]:
    """Every PriceList item of a get_products query, following NextToken."""
    request: dict[str, Any] = {
        "ServiceCode": service_code,
        "FormatVersion": "aws_v1",
        "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()],
    }
    items: list[str] = []
    while True:
        page = _call(lambda: pricing.get_products(**request), "pricing:GetProducts", backoff)
        items.extend(page.get("PriceList", []))
        token = page.get("NextToken")
        if not token:
            return items
        request["NextToken"] = token


def hourly_prices(items: list[str], what: str) -> tuple[dict[str, float], set[str]]:
    """Per region, the on-demand USD hourly price of the products in `items`; and the regions
    where several products disagree (those are not priced rather than guessed)."""
    found: dict[str, set[float]] = defaultdict(set)
    for text in items:
        try:
            product = json.loads(text)
            region = product["product"]["attributes"]["regionCode"]
            for term in (product["terms"].get("OnDemand") or {}).values():
                for dimension in term["priceDimensions"].values():
                    usd = dimension.get("pricePerUnit", {}).get("USD")
                    if dimension.get("unit") == "Hrs" and usd is not None:
                        found[region].add(positive_price(usd, f"the {what} price in {region}"))
        except (AttributeError, ValueError, KeyError, TypeError):
            raise PriceSourceError(
                f"{API} returned a malformed {what} product (invalid JSON, or no regionCode, "
                "terms or priceDimensions)."
            ) from None
    prices = {region: next(iter(values)) for region, values in found.items() if len(values) == 1}
    return prices, {region for region, values in found.items() if len(values) > 1}


RESERVED_TERMS = {"1yr": "1y", "3yr": "3y"}
RESERVED_SOURCE = (
    "AWS Price List Query API (AmazonEC2, Linux, shared tenancy, Reserved standard No Upfront)"
)


def reserved_prices(items: list[str], what: str) -> dict[tuple[str, str], float]:
    """(region, term) -> the hourly rate of a standard, no-upfront reserved instance (the terms
    `get_products` returns beside on-demand); a region whose products disagree is left out."""
    found: dict[tuple[str, str], set[float]] = defaultdict(set)
    for text in items:
        try:
            product = json.loads(text)
            region = product["product"]["attributes"]["regionCode"]
            for term in (product["terms"].get("Reserved") or {}).values():
                attributes = term.get("termAttributes", {})
                length = RESERVED_TERMS.get(attributes.get("LeaseContractLength", ""))
                if (
                    length is None
                    or attributes.get("OfferingClass") != "standard"
                    or attributes.get("PurchaseOption") != "No Upfront"
                ):
                    continue
                for dimension in term["priceDimensions"].values():
                    usd = dimension.get("pricePerUnit", {}).get("USD")
                    if dimension.get("unit") == "Hrs" and usd is not None:
                        where = f"the {length} reserved {what} rate in {region}"
                        found[region, length].add(positive_price(usd, where))
        except (AttributeError, ValueError, KeyError, TypeError):
            raise PriceSourceError(
                f"{API} returned a malformed {what} product (invalid JSON, or no regionCode, "
                "terms or priceDimensions)."
            ) from None
    return {key: next(iter(values)) for key, values in found.items() if len(values) == 1}


COMMITMENT_SOURCES = {
    "reserved": RESERVED_SOURCE,
    "savings_plan": savings_plan_refresh.SOURCE,
}
"""The source of each kind of commitment rate a refresh writes."""


def commitments_csv(
    fetched: Mapping[tuple[str, str, str, str], float],
    ondemand: Mapping[tuple[str, str], float],
    previous: list[list[str]],
    day: str,
) -> str:
    """The EC2 commitment rates file: the rates just fetched ((type, region, commitment, term)
    -> USD/hour), and the previous rows of every key the answers did not price."""
    from providers.commitments import COLUMNS

    rows = {(r[0], r[1], r[2], r[3]): r for r in previous}
    for (instance_type, region, commitment, term), usd in fetched.items():
        listed = ondemand.get((instance_type, region))
        rows[instance_type, region, commitment, term] = [
            instance_type,
            region,
            commitment,
            term,
            "no_upfront",
            f"{usd:g}",
            f"{listed:g}" if listed is not None else "",
            COMMITMENT_SOURCES[commitment],
            day,
        ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows[key] for key in sorted(rows))
    return buffer.getvalue()


def _zone_ids(ec2: Any, backoff: Backoff) -> dict[str, str]:
    answer = _call(ec2.describe_availability_zones, "ec2:DescribeAvailabilityZones", backoff)
    try:
        return {zone["ZoneName"]: zone["ZoneId"] for zone in answer["AvailabilityZones"]}
    except (AttributeError, KeyError, TypeError):
        raise PriceSourceError("EC2 returned a malformed list of availability zones.") from None


def spot_prices(
    ec2: Any, instance_types: list[str], backoff: Backoff
) -> dict[str, dict[str, float]]:
    """The current Linux/UNIX spot price per instance type and zone ID in the client's region."""
    zone_ids = _zone_ids(ec2, backoff)
    request: dict[str, Any] = {
        "InstanceTypes": instance_types,
        "ProductDescriptions": ["Linux/UNIX"],
        "StartTime": datetime.datetime.now(datetime.UTC),
        "MaxResults": 1000,
    }
    latest: dict[tuple[str, str], tuple[datetime.datetime, float]] = {}
    while True:
        page = _call(
            lambda: ec2.describe_spot_price_history(**request),
            "ec2:DescribeSpotPriceHistory",
            backoff,
        )
        try:
            for entry in page.get("SpotPriceHistory", []):
                zone = zone_ids.get(entry["AvailabilityZone"])
                if zone is None:  # a Local Zone the account has not opted into
                    continue
                key = (entry["InstanceType"], zone)
                price = positive_price(entry["SpotPrice"], f"the spot price of {key[0]} in {zone}")
                if key not in latest or entry["Timestamp"] > latest[key][0]:
                    latest[key] = (entry["Timestamp"], price)
        except (AttributeError, KeyError, TypeError):
            raise PriceSourceError("EC2 returned a malformed spot price history entry.") from None
        token = page.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    prices: dict[str, dict[str, float]] = defaultdict(dict)
    for (instance_type, zone), (_, price) in latest.items():
        prices[instance_type][zone] = price
    return prices


def _ondemand(
    pricing: Any,
    kind: str,
    machines: tuple[Machine, ...],
    regions: tuple[str, ...],
    progress: RefreshProgress,
    backoff: Backoff,
    reserved: dict[tuple[str, str, str], float] | None = None,
) -> tuple[dict[tuple[str, str], float], list[str]]:
    """(instance type, region) -> on-demand price for one kind, and notes on ambiguous answers;
    the standard no-upfront reserved rates of the same answers into `reserved` when given."""
    service, filters, name_field = (
        ("AmazonEC2", EC2_FILTERS, "instanceType")
        if kind == "fleet"
        else ("AmazonSageMaker", SAGEMAKER_FILTERS, "instanceName")
    )
    prices: dict[tuple[str, str], float] = {}
    notes = []
    for machine in machines:
        items = _products(pricing, service, {name_field: machine.instance_type, **filters}, backoff)
        by_region, ambiguous = hourly_prices(items, f"{service} {machine.instance_type}")
        for region in regions:
            if region in by_region:
                prices[machine.instance_type, region] = by_region[region]
        if reserved is not None:
            rates = reserved_prices(items, f"{service} {machine.instance_type}")
            for (region, term), usd in rates.items():
                if region in regions:
                    reserved[machine.instance_type, region, term] = usd
        for region in sorted(ambiguous & set(regions)):
            notes.append(
                f"{kind} {machine.instance_type} {region}: several different on-demand prices "
                "listed; kept the previous prices"
            )
        progress.step("aws", f"{service} {machine.instance_type}")
    return prices, notes


def fetch_prices(
    request: RefreshRequest,
    *,
    progress: RefreshProgress,
    backoff: Backoff,
    clients: ClientFactory | None = None,
    transport: Transport = urllib_transport,
) -> CloudPrices:
    fleet = request.machines.get("fleet", ())
    sagemaker = request.machines.get("sagemaker", ())
    progress.begin("aws", len(fleet) + len(sagemaker) + (len(request.regions) + 1 if fleet else 0))
    with aws_errors():
        make = clients or default_clients()
        pricing = make("pricing", PRICING_REGION)
        reserved: dict[tuple[str, str, str], float] = {}
        ec2_ondemand, notes = _ondemand(
            pricing, "fleet", fleet, request.regions, progress, backoff, reserved
        )
        sm_ondemand, sm_notes = _ondemand(
            pricing, "sagemaker", sagemaker, request.regions, progress, backoff
        )
        notes += sm_notes
        spot: dict[str, dict[str, dict[str, float]]] = {}
        skipped: set[str] = set()
        for region in request.regions if fleet else ():
            try:
                spot[region] = spot_prices(
                    make("ec2", region), sorted({m.instance_type for m in fleet}), backoff
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in REGION_NOT_ENABLED:
                    raise
                skipped.add(region)
                notes.append(
                    f"fleet {region}: the region is not enabled for this account; "
                    "its EC2 rows keep their previous prices"
                )
            progress.step("aws", f"EC2 spot {region}")
    quotes = []
    for region in request.regions:
        for machine in fleet:
            price = ec2_ondemand.get((machine.instance_type, region))
            if price is not None and region not in skipped:
                zones = spot[region].get(machine.instance_type, {})
                quotes.append(PriceQuote("fleet", machine, region, price, zone_spot_usd=zones))
        for machine in sagemaker:
            price = sm_ondemand.get((machine.instance_type, region))
            if price is not None:
                quotes.append(PriceQuote("sagemaker", machine, region, price))
    files = {}
    if fleet:
        fetched = {(t, r, "reserved", term): usd for (t, r, term), usd in reserved.items()}
        try:
            with aws_errors():
                plans = savings_plan_refresh.savings_plan_rates(
                    make("savingsplans", PRICING_REGION),
                    (m.instance_type for m in fleet),
                    request.regions,
                    lambda call, what: _call(call, what, backoff),
                )
            fetched |= {(t, r, "savings_plan", term): usd for (t, r, term), usd in plans.items()}
        except PriceSourceError as error:
            notes.append(f"savings plan rates: {error} The previous rates stay in use.")
        progress.step("aws", "EC2 Instance Savings Plans")
        files[COMMITMENTS_FILE] = commitments_csv(
            fetched, ec2_ondemand, list(request.previous.get(COMMITMENTS_FILE, [])), request.day
        )
        try:
            files["spot_interruption"] = fetch_interruption(
                (m.instance_type for m in fleet),
                transport=transport,
                backoff=backoff,
                retrieved=request.day,
            )
        except PriceSourceError as error:
            notes.append(f"spot interruption bands: {error} The previous bands stay in use.")
    return CloudPrices(quotes, SOURCES, notes, {"fleet": frozenset(skipped)}, files)
