"""Live price refresh: recorded API answers drive the real clients, parsing, merge and cache.

AWS spot price history and availability zones come from moto; the Price List Query API, which
moto does not emulate, answers through botocore's Stubber (which checks every request against the
service model and the exact parameters expected). Azure and GCP answer through a fake HTTP
transport serving the JSON documents under tests/data/prices/ (see its README).
"""

from __future__ import annotations

import copy
import datetime
import json
import urllib.error
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import moto
import msgspec
import pytest
import yaml
from botocore.exceptions import DataNotFoundError, EndpointConnectionError, PartialCredentialsError
from botocore.stub import ANY, Stubber

from planner import service
from providers import price_refresh as refresh_module
from providers import targets
from providers.aws import price_refresh as aws
from providers.aws import savings_plan_refresh
from providers.aws.interruption_refresh import ADVISOR_URL
from providers.aws.interruption_refresh import SOURCE as ADVISOR_SOURCE
from providers.azure import price_refresh as azure
from providers.catalog import Catalog, Offering, load_catalog, shipped_cloud_files
from providers.commitments import commitment_rate, read_commitments
from providers.gcp import price_refresh as gcp
from providers.price_freshness import (
    catalog_status,
    stale_catalog_warning,
    stale_offering_warning,
)
from providers.price_http import HttpResponse
from providers.price_quotes import PriceSourceError
from providers.price_refresh import RefreshReport, machines_of, read_rows, refresh_prices
from providers.price_retry import Backoff
from providers.spot_interruption import InterruptionBand
from tests.conftest import EXAMPLES, Cli

DATA = Path(__file__).parent / "data" / "prices"
NOW = datetime.datetime(2026, 11, 23, 15, 0, tzinfo=datetime.UTC)
TODAY = NOW.date().isoformat()
NO_SLEEP = Backoff(sleep=lambda seconds: None)


def recorded(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def answer(document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Any:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return HttpResponse(status, dict(headers or {}), body)


class FakeWeb:
    """Answers GETs from recorded documents by URL (in turn when a URL has several answers, the
    last one repeating) and records every request made."""

    def __init__(self, answers: Mapping[str, list[Any]], default: Any = None) -> None:
        self.answers = {url: list(queue) for url, queue in answers.items()}
        self.default = default
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, headers: Mapping[str, str]) -> HttpResponse:
        self.calls.append((url, dict(headers)))
        queue = self.answers.get(url)
        if queue:
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        elif self.default is not None:
            reply = self.default
        else:
            raise AssertionError(f"unexpected GET {url}")
        if isinstance(reply, Exception):
            raise reply
        return reply


ADVISOR_FEED = {  # the Spot Instance Advisor feed's shape, with made-up bands for two types
    "ranges": [
        {"index": 0, "label": "<5%", "dots": 0, "max": 5},
        {"index": 1, "label": "5-10%", "dots": 1, "max": 11},
        {"index": 2, "label": "10-15%", "dots": 2, "max": 16},
        {"index": 3, "label": "15-20%", "dots": 3, "max": 22},
        {"index": 4, "label": ">20%", "dots": 4, "max": 100},
    ],
    "spot_advisor": {
        "us-east-1": {
            "Linux": {"g5.xlarge": {"s": 60, "r": 4}, "m5.large": {"s": 50, "r": 0}},
            "Windows": {"g5.xlarge": {"s": 40, "r": 0}},
        },
        "ap-northeast-1": {"Linux": {"g5.xlarge": {"s": 55, "r": 1}}},
    },
}


def refresh(
    clouds: list[str], regions: list[str] | None, *, backoff: Backoff = NO_SLEEP, **options: Any
) -> RefreshReport:
    """Refresh at NOW; AWS reads the advisor feed above unless a test gives its own transport."""
    if "aws" in clouds:
        aws_options = options.setdefault("aws", {})
        aws_options.setdefault("transport", FakeWeb({ADVISOR_URL: [answer(ADVISOR_FEED)]}))
    return refresh_prices(clouds, regions, backoff=backoff, options=options, now=NOW)


def found(
    cloud: str, kind: str, instance_type: str, region: str, accelerator: str = ""
) -> Offering:
    matches = [
        o
        for o in load_catalog().offerings
        if (o.cloud, o.kind, o.instance_type, o.region) == (cloud, kind, instance_type, region)
        and accelerator in ("", o.accelerator)
    ]
    assert len(matches) == 1, matches
    return matches[0]


def ondemand(offering: Offering) -> set[float | None]:
    return {zone.ondemand_usd for zone in offering.zones}


def the_ondemand(offering: Offering) -> float | None:
    """The one on-demand price of an offering, the same in all its zones."""
    (price,) = ondemand(offering)
    return price


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("INFRA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INFRA_GCP_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    load_catalog.cache_clear()
    yield tmp_path / "home"
    load_catalog.cache_clear()


# --- AWS ----------------------------------------------------------------------------------------

EMPTY_PRICE_LIST = {"FormatVersion": "aws_v1", "PriceList": []}
AWS_DOCUMENTS = {
    "g5.xlarge": ["aws/ec2-g5.xlarge.json"],
    "g6e.xlarge": ["aws/ec2-g6e.xlarge.page1.json", "aws/ec2-g6e.xlarge.page2.json"],
    "ml.g5.xlarge": ["aws/sagemaker-ml.g5.xlarge.json"],
}


def shipped_file(cloud: str, kind: str) -> Path:
    return next(path for k, path, _ in shipped_cloud_files(cloud) if k == kind)


def stubbed(service: str, region: str = "us-east-1") -> tuple[Any, Stubber]:
    """A boto3 client of `service` with test credentials, and its Stubber."""
    client = boto3.client(
        service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return client, Stubber(client)


def pricing_stub(documents: Mapping[str, list[Any]]) -> tuple[Any, Stubber]:
    """A pricing client answering one get_products query per shipped instance type, in the order
    the refresh asks, with the exact filters it must send; types without a document get none."""
    client, stubber = stubbed("pricing")
    for kind, code, name, filters in (
        ("fleet", "AmazonEC2", "instanceType", aws.EC2_FILTERS),
        ("sagemaker", "AmazonSageMaker", "instanceName", aws.SAGEMAKER_FILTERS),
    ):
        for machine in machines_of(read_rows(shipped_file("aws", kind))):
            token = None
            for page in documents.get(machine.instance_type, [EMPTY_PRICE_LIST]):
                page = recorded(page) if isinstance(page, str) else page
                terms = {name: machine.instance_type, **filters}
                params: dict[str, Any] = {
                    "ServiceCode": code,
                    "FormatVersion": "aws_v1",
                    "Filters": [
                        {"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()
                    ],
                }
                if token:
                    params["NextToken"] = token
                stubber.add_response("get_products", page, params)
                token = page.get("NextToken")
    stubber.activate()
    return client, stubber


def stubbed_ec2(region: str) -> tuple[Any, Stubber]:
    return stubbed("ec2", region)


@pytest.fixture
def emulated_ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        yield


SAVINGS_PLAN_PAGES = (
    "aws/savingsplans-ec2instance.page1.json",
    "aws/savingsplans-ec2instance.page2.json",
)


def savings_plans_stub(
    pages: tuple[Any, ...] = SAVINGS_PLAN_PAGES, regions: list[str] | None = None
) -> tuple[Any, Stubber]:
    """A Savings Plans client answering the recorded pages in turn; with `regions`, each request
    must be the refresh's exact query for the shipped EC2 types in those regions."""
    client, stubber = stubbed("savingsplans")
    types = {m.instance_type for m in machines_of(read_rows(shipped_file("aws", "fleet")))}
    token = None
    for page in pages:
        page = recorded(page) if isinstance(page, str) else page
        expected = None
        if regions is not None:
            expected = savings_plan_refresh.request(types, regions)
            if token:
                expected["nextToken"] = token
        stubber.add_response("describe_savings_plans_offering_rates", page, expected)
        token = page.get("nextToken")
    stubber.activate()
    return client, stubber


def clients(pricing: Any, savingsplans: Any = None, **ec2: Any) -> Callable[[str, str], Any]:
    """The pricing client given, the Savings Plans client given (else one answering the recorded
    pages), a given EC2 client per region, else moto's."""

    def make(service_name: str, region: str) -> Any:
        if service_name == "pricing":
            return pricing
        if service_name == "savingsplans":
            return savingsplans or savings_plans_stub()[0]
        return ec2.get(region) or boto3.client(service_name, region_name=region)

    return make


def test_aws_refresh_writes_the_cache_that_load_catalog_then_uses(
    home: Path, emulated_ec2: None
) -> None:
    pricing, stubber = pricing_stub(AWS_DOCUMENTS)
    hong_kong, refused = stubbed_ec2("ap-east-1")
    refused.add_client_error("describe_availability_zones", "AuthFailure", "not enabled")
    refused.activate()
    regions = ["us-east-1", "ap-northeast-1", "ap-east-1"]
    plans, plans_stubber = savings_plans_stub(regions=regions)

    report = refresh(
        ["aws"], regions, aws={"clients": clients(pricing, plans, **{"ap-east-1": hong_kong})}
    )

    stubber.assert_no_pending_responses()
    plans_stubber.assert_no_pending_responses()
    assert report.exit_code == 0, report.to_dict()
    outcome = report.outcomes[0]
    folder = home / "catalog" / "aws"
    assert outcome.folder == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "ec2_commitments.csv",
        "fleet.csv",
        "refresh.json",
        "sagemaker.csv",
        "spot_interruption.csv",
    ]
    record = json.loads((folder / "refresh.json").read_text())
    assert record["regions"] == regions and record["sources"] == aws.SOURCES
    assert record["refreshed_at"] == "2026-11-23T15:00:00+00:00"
    assert (folder / "fleet.csv").read_text().startswith("instance_type,accelerator,")

    g5 = found("aws", "fleet", "g5.xlarge", "us-east-1")
    assert (g5.source, g5.retrieved) == (aws.SOURCES["fleet"], TODAY)
    assert ondemand(g5) == {0.986}
    shipped_zones = {"use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az6"}
    assert shipped_zones <= {zone.zone for zone in g5.zones}
    # moto lists every spot price as 0.00001: kept in the cache, then refused on load (deeper than
    # the 90% maximum discount AWS documents)
    assert "fleet.csv" in snapshot(folder) and b"0.00001" in snapshot(folder)["fleet.csv"]
    assert all(z.spot_usd is None and "maximum discount" in (z.spot_note or "") for z in g5.zones)
    assert ondemand(found("aws", "fleet", "g6e.xlarge", "ap-northeast-1")) == {2.699}  # page 2
    # interruption bands from the advisor feed, Linux, dated today (not the Windows band)
    assert g5.spot_interruption == InterruptionBand(">20%", ADVISOR_SOURCE, TODAY)
    tokyo_g5 = found("aws", "fleet", "g5.xlarge", "ap-northeast-1")
    assert tokyo_g5.spot_interruption is not None and tokyo_g5.spot_interruption.band == "5-10%"

    assert ondemand(found("aws", "sagemaker", "ml.g5.xlarge", "us-east-1")) == {1.408}
    tokyo = found("aws", "sagemaker", "ml.g5.xlarge", "ap-northeast-1")  # a region gained
    assert (ondemand(tokyo), tokyo.accelerator_count, tokyo.vcpus) == ({1.826}, 1, 4)
    ireland = found("aws", "sagemaker", "ml.g4dn.xlarge", "eu-west-1")  # not asked for: kept
    assert ireland.source.startswith("aws-samples/") and ireland.retrieved == "2023-12-31"

    p5 = found("aws", "fleet", "p5.48xlarge", "us-east-1")  # not returned: kept and reported
    assert p5.source.startswith("skypilot-catalog") and p5.retrieved == "2026-11-23"
    assert any(n.startswith("fleet p5.48xlarge: no price returned in ") for n in outcome.notes)
    assert (
        "fleet ap-east-1: the region is not enabled for this account; "
        "its EC2 rows keep their previous prices" in outcome.notes
    )
    assert found("aws", "fleet", "g4dn.xlarge", "ap-east-1").source.startswith("skypilot")

    # the standard no-upfront reserved rates of the same answers, for the regions asked
    rate = commitment_rate("aws", "fleet", "g5.xlarge", "us-east-1", "reserved", "1y")
    assert rate is not None
    assert (rate.usd_per_hour, rate.ondemand_usd_per_hour) == (0.61132, 0.986)
    assert (rate.source, rate.retrieved) == (aws.RESERVED_SOURCE, TODAY)
    tokyo_rate = commitment_rate(
        "aws", "kubernetes", "g5.xlarge", "ap-northeast-1", "reserved", "1y"
    )
    assert tokyo_rate is not None and tokyo_rate.usd_per_hour == 0.90458
    ireland = commitment_rate("aws", "fleet", "g5.xlarge", "eu-west-1", "reserved", "1y")
    assert ireland is not None and ireland.retrieved == "2025-11-30"  # not asked for: kept
    kept = commitment_rate("aws", "fleet", "g6.xlarge", "us-east-1", "reserved", "3y")
    assert kept is not None and kept.usd_per_hour == 0.3694  # not priced by the answers: kept

    # EC2 Instance Savings Plans rates from the Savings Plans API (both pages), beside them
    def plan(instance_type: str, region: str, term: str = "1y") -> Any:
        return commitment_rate("aws", "fleet", instance_type, region, "savings_plan", term)

    g5_plan = plan("g5.xlarge", "us-east-1")
    assert g5_plan is not None
    assert (g5_plan.usd_per_hour, g5_plan.ondemand_usd_per_hour) == (0.6334, 0.986)
    assert (g5_plan.source, g5_plan.retrieved) == (savings_plan_refresh.SOURCE, TODAY)
    # (the plan's UnusedBox and dedicated-tenancy rates of the same key are not instance-hours)
    assert plan("g5.xlarge", "us-east-1", "3y").usd_per_hour == 0.4343  # type: ignore[union-attr]
    tokyo_plan = commitment_rate(
        "aws", "kubernetes", "g5.xlarge", "ap-northeast-1", "savings_plan", "1y"
    )
    assert tokyo_plan is not None and tokyo_plan.usd_per_hour == 0.9341
    g6e_plan = plan("g6e.xlarge", "us-east-1")
    assert g6e_plan is not None and (g6e_plan.usd_per_hour, g6e_plan.ondemand_usd_per_hour) == (
        1.2105,
        1.861,
    )
    assert plan("g6e.xlarge", "ap-northeast-1") is None  # Windows (RunInstances:0002)
    assert plan("g6e.xlarge", "eu-west-1") is None  # a region not asked for
    assert plan("g6.xlarge", "us-east-1") is None  # a Compute Savings Plan rate


def test_a_malformed_reserved_term_is_one_sentence() -> None:
    product = {
        "product": {"attributes": {"regionCode": "us-east-1"}},
        "terms": {
            "Reserved": {
                "X.Y": {
                    "termAttributes": {
                        "LeaseContractLength": "1yr",
                        "OfferingClass": "standard",
                        "PurchaseOption": "No Upfront",
                    },
                    "priceDimensions": {"X.Y.Z": {"unit": "Hrs", "pricePerUnit": {"USD": "-1"}}},
                }
            }
        },
    }
    with pytest.raises(PriceSourceError, match="reserved") as error:
        aws.reserved_prices([json.dumps(product)], "AmazonEC2 g5.xlarge")
    assert "\n" not in str(error.value)
    product["terms"]["Reserved"]["X.Y"]["termAttributes"]["PurchaseOption"] = "All Upfront"
    assert aws.reserved_prices([json.dumps(product)], "AmazonEC2 g5.xlarge") == {}
    with pytest.raises(PriceSourceError, match="malformed"):
        aws.reserved_prices(["{"], "AmazonEC2 g5.xlarge")


def _plan_rate(**changes: Any) -> dict[str, Any]:
    """The first recorded savings plan rate (g5.xlarge, us-east-1, 1 year), changed."""
    result = copy.deepcopy(recorded(SAVINGS_PLAN_PAGES[0])["searchResults"][0])
    result.update(changes)
    return result


def test_savings_plan_rates_that_disagree_are_not_guessed() -> None:
    rates = savings_plan_refresh.parse_rates([_plan_rate(), _plan_rate(rate="0.7001")])
    assert rates == {}
    assert savings_plan_refresh.parse_rates([_plan_rate(), _plan_rate()]) == {
        ("g5.xlarge", "us-east-1", "1y"): 0.6334
    }


@pytest.mark.parametrize(
    ("result", "error"),
    [
        (
            _plan_rate(rate="0"),
            "the 1y EC2 Instance Savings Plan rate of g5.xlarge in us-east-1 is '0', "
            "not a positive price.",
        ),
        (
            _plan_rate(rate="n/a"),
            "the 1y EC2 Instance Savings Plan rate of g5.xlarge in us-east-1 is not a number "
            "('n/a').",
        ),
        (
            _plan_rate(properties=[{"name": "region", "value": "us-east-1"}]),
            "the AWS Savings Plans API returned a malformed offering rate (no "
            "savingsPlanOffering, rate, unit, usageType, operation or instanceType and region "
            "properties).",
        ),
        (
            {"rate": "0.6334"},
            "the AWS Savings Plans API returned a malformed offering rate (no "
            "savingsPlanOffering, rate, unit, usageType, operation or instanceType and region "
            "properties).",
        ),
    ],
    ids=["zero", "text", "no-instance-type", "no-offering"],
)
def test_a_malformed_savings_plan_rate_is_one_sentence(result: Any, error: str) -> None:
    with pytest.raises(PriceSourceError) as raised:
        savings_plan_refresh.parse_rates([result])
    assert str(raised.value) == error


def test_a_savings_plans_page_without_results_is_one_sentence() -> None:
    def call(api: Callable[[], Any], what: str) -> Any:
        return {"searchResults": "none"}

    with pytest.raises(PriceSourceError) as raised:
        savings_plan_refresh.savings_plan_rates(None, ["g5.xlarge"], ["us-east-1"], call)
    assert str(raised.value) == (
        "the AWS Savings Plans API returned a malformed page (no searchResults list)."
    )


def test_savings_plans_api_denied_keeps_the_previous_rates_and_says_why(
    home: Path, emulated_ec2: None
) -> None:
    pricing, _ = pricing_stub(AWS_DOCUMENTS)
    plans, denied = stubbed("savingsplans")
    denied.add_client_error(
        "describe_savings_plans_offering_rates", "AccessDeniedException", "not authorized"
    )
    denied.activate()

    report = refresh(["aws"], ["us-east-1"], aws={"clients": clients(pricing, plans)})

    assert report.exit_code == 0, report.to_dict()
    assert (
        "savings plan rates: AWS denied DescribeSavingsPlansOfferingRates (AccessDeniedException); "
        "the credentials need pricing:GetProducts, ec2:DescribeSpotPriceHistory, "
        "ec2:DescribeAvailabilityZones and savingsplans:DescribeSavingsPlansOfferingRates. "
        "The previous rates stay in use." in report.outcomes[0].notes
    )
    # the prices and the reserved rates are refreshed all the same
    assert ondemand(found("aws", "fleet", "g5.xlarge", "us-east-1")) == {0.986}
    rate = commitment_rate("aws", "fleet", "g5.xlarge", "us-east-1", "reserved", "1y")
    assert rate is not None and rate.retrieved == TODAY
    assert commitment_rate("aws", "fleet", "g5.xlarge", "us-east-1", "savings_plan", "1y") is None


def test_recommend_commits_on_refreshed_savings_plan_rates(
    cli: Cli, home: Path, emulated_ec2: None, tmp_path: Path
) -> None:
    pricing, _ = pricing_stub(AWS_DOCUMENTS)
    assert refresh(["aws"], ["us-east-1"], aws={"clients": clients(pricing)}).exit_code == 0
    profile = yaml.safe_load((EXAMPLES / "chat-8b-committed.yaml").read_text())
    profile["pricing"]["commitments"] = {"kind": "savings_plan", "term": "1y", "may_buy": True}
    profile["placement"]["regions"] = ["us-east-1"]  # the region refreshed
    path = tmp_path / "savings-plan.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))

    result, data = cli.json("recommend", path)

    assert result.exit_code == 0, result.output
    chosen = data["chosen"]
    assert (chosen["instance_type"], chosen["region"]) == ("g6e.xlarge", "us-east-1")
    plan = chosen["commitment"]
    assert (plan["kind"], plan["rate_usd_per_hour"]) == ("savings_plan", 1.2105)
    assert plan["rate_source"] == f"{savings_plan_refresh.SOURCE}, retrieved {TODAY}"
    # The week: weekdays 09:00-18:00 (45 h) 14 g6e.xlarge, the other 123 h 3, all on-demand (the
    # refreshed spot prices are moto's, refused on load).
    changes = {
        (c["instances"], c["on_demand_instances"]) for c in chosen["hourly_sizes"]["changes"]
    }
    assert changes == {(14, 14), (3, 3)}
    # Each of the 3 always-on instances saves 168 h x 1.861 = 312.648 a week against 168 h x
    # 1.2105 = 203.364 committed; a 4th runs 45 h: 45 x 1.861 = 83.745 < 203.364. So: 3.
    assert plan["buy_instances"] == 3
    # 3 x 1.2105 x 168 = 610.092 a week x 730/168 = 2,650.995 (2,650.99 in binary floating point)
    assert plan["committed_monthly_usd"] == 2650.99
    # beyond the 3 in the busy hours: 45 h x 11 x 1.861 = 921.195 a week x 730/168 = 4,002.81
    assert plan["on_demand_monthly_usd"] == 4002.81
    # (45 x 14 + 123 x 3) x 1.861 = 1,859.139 a week x 730/168 = 8,078.40
    assert plan["uncommitted_monthly_usd"] == 8078.4
    # (1,859.139 - 921.195 - 610.092) = 327.852 a week x 730/168 = 1,424.59
    assert plan["saving_monthly_usd"] == 1424.59
    assert "Commitments (savings_plan, 1y, no upfront): commit 3× g6e.xlarge" in " ".join(
        cli("recommend", path).output.split()
    )


def test_spot_history_throttled_twice_then_answered() -> None:
    ec2, stubber = stubbed_ec2("us-east-1")
    stubber.add_response(
        "describe_availability_zones", recorded("aws/describe-availability-zones-us-east-1.json")
    )
    for _ in range(2):
        stubber.add_client_error("describe_spot_price_history", "RequestLimitExceeded")
    history = recorded("aws/describe-spot-price-history-us-east-1.json")
    for entry in history["SpotPriceHistory"]:
        entry["Timestamp"] = datetime.datetime.fromisoformat(entry["Timestamp"])
    expected = {
        "InstanceTypes": ["g5.xlarge"],
        "ProductDescriptions": ["Linux/UNIX"],
        "StartTime": ANY,
        "MaxResults": 1000,
    }
    stubber.add_response("describe_spot_price_history", history, expected)
    waits: list[float] = []
    with stubber:
        prices = aws.spot_prices(ec2, ["g5.xlarge"], Backoff(sleep=waits.append))
    assert waits == [1.0, 2.0]
    # the newest price per zone (us-east-1b had an older one); the Local Zone is not opted into
    assert prices == {
        "g5.xlarge": {
            "use1-az6": 0.4402,
            "use1-az1": 0.4519,
            "use1-az2": 0.4318,
            "use1-az4": 0.4377,
            "use1-az5": 0.4266,
        }
    }


def test_price_list_throttled_past_the_retries_keeps_the_shipped_prices(home: Path) -> None:
    pricing, stubber = stubbed("pricing")
    for _ in range(5):
        stubber.add_client_error("get_products", "ThrottlingException", "Rate exceeded")
    stubber.activate()
    waits: list[float] = []

    report = refresh(
        ["aws"],
        ["us-east-1"],
        backoff=Backoff(sleep=waits.append),
        aws={"clients": clients(pricing)},
    )

    assert report.exit_code == 1
    assert report.outcomes[0].error == (
        "aws: AWS kept throttling pricing:GetProducts (ThrottlingException) after 5 attempts; "
        "try again later."
    )
    assert report.outcomes[0].kept == "shipped"
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert not (home / "catalog" / "aws").exists()
    assert found("aws", "fleet", "g5.xlarge", "us-east-1").source.startswith("skypilot")


def test_missing_aws_credentials_is_one_sentence(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    report = refresh(["aws"], ["us-east-1"])  # boto3's own session and credential chain

    assert report.outcomes[0].error == (
        "aws: no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or run where an instance or task role is available."
    )
    assert found("aws", "sagemaker", "ml.g5.xlarge", "us-east-1").source.startswith("aws-samples")


def test_an_unknown_aws_profile_is_one_sentence(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_PROFILE", "nightly")
    report = refresh(["aws"], ["us-east-1"])
    assert (
        report.outcomes[0].error
        == "aws: the AWS profile 'nightly' (AWS_PROFILE) is not configured."
    )


def test_price_list_access_denied_names_the_permissions(home: Path) -> None:
    pricing, stubber = stubbed("pricing")
    stubber.add_client_error("get_products", "AccessDeniedException", "not authorized")
    stubber.activate()
    report = refresh(["aws"], ["us-east-1"], aws={"clients": clients(pricing)})
    assert report.outcomes[0].error == (
        "aws: AWS denied GetProducts (AccessDeniedException); the credentials need "
        "pricing:GetProducts, ec2:DescribeSpotPriceHistory, ec2:DescribeAvailabilityZones and "
        "savingsplans:DescribeSavingsPlansOfferingRates."
    )


def test_truncated_aws_product_is_rejected_and_the_cache_kept(
    home: Path, emulated_ec2: None
) -> None:
    pricing, _ = pricing_stub(AWS_DOCUMENTS)
    assert refresh(["aws"], ["us-east-1"], aws={"clients": clients(pricing)}).exit_code == 0
    before = snapshot(home / "catalog" / "aws")

    pricing, _ = pricing_stub({"g5.xlarge": ["aws/ec2-g5.xlarge.truncated.json"]})
    report = refresh(["aws"], ["us-east-1"], aws={"clients": clients(pricing)})

    assert report.outcomes[0].error == (
        "aws: the AWS Price List Query API returned a malformed AmazonEC2 g5.xlarge product "
        "(invalid JSON, or no regionCode, terms or priceDimensions)."
    )
    assert report.outcomes[0].kept == "cached"
    assert snapshot(home / "catalog" / "aws") == before
    assert ondemand(found("aws", "fleet", "g5.xlarge", "us-east-1")) == {0.986}


def test_a_zero_price_is_rejected(home: Path) -> None:
    document = recorded("aws/ec2-g5.xlarge.json")
    document["PriceList"] = [
        item.replace("0.9860000000", "0.0000000000") for item in document["PriceList"]
    ]
    pricing, _ = pricing_stub({"g5.xlarge": [document]})
    report = refresh(["aws"], ["us-east-1"], aws={"clients": clients(pricing)})
    assert report.outcomes[0].error == (
        "aws: the AmazonEC2 g5.xlarge price in us-east-1 is '0.0000000000', not a positive price."
    )


class RaisingPricing:
    """A pricing client whose call fails below the API: network, credentials files."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_products(self, **request: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (
            ("InvalidClientTokenId", "The security token included in the request is invalid."),
            "aws: AWS refused the credentials (InvalidClientTokenId: The security token "
            "included in the request is invalid).",
        ),
        (
            ("InternalErrorException", "An internal error occurred."),
            "aws: AWS answered InternalErrorException to GetProducts: An internal error occurred.",
        ),
        (
            EndpointConnectionError(endpoint_url="https://api.pricing.us-east-1.amazonaws.com/"),
            "aws: cannot reach AWS (Could not connect to the endpoint URL: "
            '"https://api.pricing.us-east-1.amazonaws.com/").',
        ),
        (
            PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            "aws: the AWS credentials are incomplete (Partial credentials found in env, missing: "
            "AWS_SECRET_ACCESS_KEY).",
        ),
        (
            DataNotFoundError(data_path="pricing"),
            "aws: the AWS SDK failed: Unable to load data for: pricing.",
        ),
    ],
    ids=["refused", "server-error", "unreachable", "partial-credentials", "sdk"],
)
def test_an_aws_failure_is_one_sentence(home: Path, failure: Any, error: str) -> None:
    if isinstance(failure, tuple):
        pricing, stubber = stubbed("pricing")
        stubber.add_client_error("get_products", *failure)
        stubber.activate()
    else:
        pricing = RaisingPricing(failure)
    report = refresh(["aws"], ["us-east-1"], aws={"clients": clients(pricing)})
    assert report.outcomes[0].error == error


@pytest.mark.parametrize(
    ("zones", "history", "error"),
    [
        (
            {"AvailabilityZones": [{"ZoneName": "us-east-1a"}]},
            None,
            "EC2 returned a malformed list of availability zones.",
        ),
        (
            {"AvailabilityZones": [{"ZoneName": "us-east-1a", "ZoneId": "use1-az6"}]},
            {"SpotPriceHistory": [{"AvailabilityZone": "us-east-1a", "InstanceType": "g5.xlarge"}]},
            "EC2 returned a malformed spot price history entry.",
        ),
    ],
    ids=["zones", "history"],
)
def test_a_malformed_ec2_answer_is_rejected(zones: Any, history: Any, error: str) -> None:
    ec2, stubber = stubbed_ec2("us-east-1")
    stubber.add_response("describe_availability_zones", zones)
    if history is not None:
        stubber.add_response("describe_spot_price_history", history)
    with stubber, pytest.raises(PriceSourceError) as raised:
        aws.spot_prices(ec2, ["g5.xlarge"], NO_SLEEP)
    assert str(raised.value) == error


def test_disagreeing_aws_products_are_not_guessed(home: Path, emulated_ec2: None) -> None:
    document = recorded("aws/ec2-g5.xlarge.json")
    twin = document["PriceList"][0].replace("0.9860000000", "1.2070000000")
    document["PriceList"].append(twin)
    pricing, _ = pricing_stub({**AWS_DOCUMENTS, "g5.xlarge": [document]})
    report = refresh(["aws"], ["us-east-1"], aws={"clients": clients(pricing)})
    assert report.exit_code == 0
    assert (
        "fleet g5.xlarge us-east-1: several different on-demand prices listed; kept the "
        "previous prices" in report.outcomes[0].notes
    )
    assert found("aws", "fleet", "g5.xlarge", "us-east-1").source.startswith("skypilot")


# --- Azure --------------------------------------------------------------------------------------

A100 = "Standard_NC24ads_A100_v4"
A10 = "Standard_NV36ads_A10_v5"
EMPTY_RETAIL = {"BillingCurrency": "USD", "Items": [], "NextPageLink": None, "Count": 0}


def azure_web(reservations: list[Any] | None = None, **replies: list[Any]) -> FakeWeb:
    """The recorded Retail Prices pages: NC24ads A100 v4 (two pages, and its reservations),
    NV36ads A10 v5 (one); every other size has no meters. `replies` replaces a size's
    pay-as-you-go answers (key: the size), `reservations` the A100's reservation answers."""
    first = recorded("azure/nc24ads-a100-v4.page1.json")
    answers = {
        azure.query_url(A100): [answer(first)],
        first["NextPageLink"]: [answer(recorded("azure/nc24ads-a100-v4.page2.json"))],
        azure.query_url(A10): [answer(recorded("azure/nv36ads-a10-v5.json"))],
        azure.query_url(A100, "Reservation"): reservations
        or [answer(recorded("azure/nc24ads-a100-v4.reservations.json"))],
    }
    answers.update({azure.query_url(size): queue for size, queue in replies.items()})
    return FakeWeb(answers, default=answer(EMPTY_RETAIL))


def test_azure_refresh_follows_pages_and_keeps_linux_pay_as_you_go_and_spot(home: Path) -> None:
    web = azure_web()
    report = refresh(["azure"], ["eastus", "southcentralus"], azure={"transport": web})

    assert report.exit_code == 0, report.to_dict()
    a100 = found("azure", "fleet", A100, "eastus")
    # newest meter (3.55 from 2026-11 over 3.673 from 2025-06); not Windows, DevTest, Low Priority
    assert [(z.ondemand_usd, z.spot_usd) for z in a100.zones] == [(3.55, 0.7346)]
    assert (a100.source, a100.retrieved) == (azure.SOURCES["fleet"], TODAY)
    south = found("azure", "fleet", A100, "southcentralus")  # from page 2; non-primary ignored
    assert [(z.ondemand_usd, z.spot_usd) for z in south.zones] == [(4.408, 0.8816)]
    endpoint = found("azure", "azureml", A100, "eastus")  # endpoints bill the VM, no spot
    assert [(z.ondemand_usd, z.spot_usd) for z in endpoint.zones] == [(3.55, None)]
    assert endpoint.source == azure.SOURCES["azureml"]
    assert found("azure", "fleet", A100, "westus3").source.startswith("skypilot")  # not asked
    assert not [o for o in load_catalog().offerings if o.region == "westeurope"]
    t4 = found("azure", "fleet", "Standard_NC4as_T4_v3", "eastus")  # no meters: kept
    assert t4.source.startswith("skypilot")
    assert any(
        n.startswith("fleet Standard_NC4as_T4_v3: no price") for n in report.outcomes[0].notes
    )

    rows = {kind: read_rows(path) for kind, path, _ in shipped_cloud_files("azure")}
    sizes = sorted({row[0] for kind_rows in rows.values() for row in kind_rows})
    vm_sizes = {row[0] for row in rows["fleet"]}
    first = recorded("azure/nc24ads-a100-v4.page1.json")["NextPageLink"]
    expected = []
    for size in sizes:  # pay-as-you-go (page 2 for the A100), then a VM size's reservations
        expected += [azure.query_url(size), *([first] if size == A100 else [])]
        expected += [azure.query_url(size, "Reservation")] if size in vm_sizes else []
    assert [url for url, _ in web.calls] == expected
    assert A100 in vm_sizes
    assert azure.query_url(A100) == (
        "https://prices.azure.com/api/retail/prices?api-version=2023-01-01-preview&$filter="
        "serviceName%20eq%20%27Virtual%20Machines%27%20and%20priceType%20eq%20%27Consumption%27"
        "%20and%20armSkuName%20eq%20%27Standard_NC24ads_A100_v4%27"
    )


def test_azure_refresh_writes_reservation_and_savings_plan_rates(home: Path) -> None:
    report = refresh(["azure"], ["eastus", "southcentralus"], azure={"transport": azure_web()})
    assert report.exit_code == 0, report.to_dict()

    def rate(instance_type: str, region: str, kind: str, term: str) -> float | None:
        found_rate = commitment_rate("azure", "fleet", instance_type, region, kind, term)
        same = commitment_rate("azure", "kubernetes", instance_type, region, kind, term)
        assert found_rate == same  # one file for both VM targets
        if found_rate is None:
            return None
        assert found_rate.retrieved == TODAY
        assert found_rate.source == azure.COMMITMENT_SOURCES[kind]
        assert found_rate.payment == "no_upfront"
        return found_rate.usd_per_hour

    # the newest reservation items over the term's hours: 18396 / 8760 and 35478 / 26280
    assert rate(A100, "eastus", "reservation", "1y") == 2.1
    assert rate(A100, "eastus", "reservation", "3y") == 1.35
    assert rate(A100, "southcentralus", "reservation", "3y") == 1.6  # 42048 / 26280
    assert rate(A100, "southcentralus", "reservation", "1y") is None  # non-primary meter only
    # the savingsPlan of the newest Linux meter (not Windows', not the 2025 meter's)
    assert rate(A100, "eastus", "savings_plan", "1y") == 2.55271
    assert rate(A100, "eastus", "savings_plan", "3y") == 1.6052
    assert rate(A100, "southcentralus", "savings_plan", "1y") == 3.17376
    assert rate(A100, "southcentralus", "savings_plan", "3y") is None  # not listed
    assert rate(A10, "eastus", "savings_plan", "3y") == 1.44
    assert rate(A10, "eastus", "reservation", "1y") is None  # no reservation items
    listed = commitment_rate("azure", "fleet", A100, "eastus", "reservation", "1y")
    assert listed is not None and listed.ondemand_usd_per_hour == 3.55
    written = (home / "catalog" / "azure" / "vms_commitments.csv").read_text().splitlines()
    assert len(written) == 1 + 8 and not any("westeurope" in line for line in written)


def test_the_azure_example_commits_the_refreshed_reservation_by_hand(home: Path, cli: Cli) -> None:
    example = EXAMPLES / "azure-committed.yaml"
    result, doc = cli.json("recommend", example)  # no Azure rate ships: nothing to commit
    assert result.exit_code == 0, result.output
    assert doc["chosen"]["commitment"] is None

    refresh(["azure"], ["eastus", "southcentralus"], azure={"transport": azure_web()})
    result, doc = cli.json("recommend", example)
    assert result.exit_code == 0, result.output
    assert doc["chosen"]["instance_type"] == A100
    changes = doc["chosen"]["hourly_sizes"]["changes"]
    assert {(c["at"][4:], c["on_demand_instances"]) for c in changes} == {
        ("00:00", 3),
        ("09:00", 6),
        ("18:00", 3),
    }
    plan = doc["chosen"]["commitment"]
    # 45 weekday office hours with 6 on-demand VMs, 123 with 3; on demand $3.55, reserved $2.10
    # (18396 / 8760). The 3 VMs that run all 168 hours pay off (168 x 3.55 > 168 x 2.10), the
    # 4th runs 45 (45 x 3.55 = 159.75 < 352.80): commit 3.
    assert (plan["kind"], plan["rate_usd_per_hour"], plan["ondemand_usd_per_hour"]) == (
        "reservation",
        2.1,
        3.55,
    )
    assert plan["buy_instances"] == 3
    month = 730 / 168
    assert plan["committed_monthly_usd"] == round(3 * 2.1 * 730, 2) == 4599.0
    assert plan["uncommitted_monthly_usd"] == round((45 * 6 + 123 * 3) * 3.55 * month, 2)
    assert plan["on_demand_monthly_usd"] == round(45 * 3 * 3.55 * month, 2) == 2082.46
    assert plan["saving_monthly_usd"] == 3175.5  # 9856.96 - 2082.46 - 4599.00
    assert (
        "Commitments (reservation, 1y, no upfront): commit 3×" in cli("recommend", example).output
    )


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            {
                **EMPTY_RETAIL,
                "Count": 1,
                "Items": [{"type": "Reservation", "reservationTerm": "1 Year"}],
            },
            "azure: the Azure Retail Prices API returned an item without the usual fields.",
        ),
        (
            {
                **EMPTY_RETAIL,
                "Count": 1,
                "Items": [
                    {
                        **recorded("azure/nc24ads-a100-v4.reservations.json")["Items"][0],
                        "unitPrice": "call us",
                    }
                ],
            },
            "azure: the 1y reservation price of Standard_NC24ads_A100_v4 in eastus is not a "
            "number ('call us').",
        ),
    ],
    ids=["missing-fields", "not-a-price"],
)
def test_a_bad_reservation_answer_is_one_sentence(home: Path, reply: Any, error: str) -> None:
    report = refresh(
        ["azure"], ["eastus"], azure={"transport": azure_web(reservations=[answer(reply)])}
    )
    assert report.outcomes[0].error == error
    assert not (home / "catalog" / "azure").exists()


def test_a_savings_plan_without_a_term_is_one_sentence(home: Path) -> None:
    page = recorded("azure/nv36ads-a10-v5.json")
    page["Items"][0]["savingsPlan"] = [{"retailPrice": 2.304}]
    report = refresh(["azure"], ["eastus"], azure={"transport": azure_web(**{A10: [answer(page)]})})
    assert report.outcomes[0].error == (
        "azure: the Azure Retail Prices API returned a savingsPlan without a term and unitPrice."
    )


def test_azure_throttling_honours_retry_after(home: Path) -> None:
    waits: list[float] = []
    web = azure_web(
        **{
            A10: [
                answer(b"", 429, {"retry-after": "7"}),
                answer(recorded("azure/nv36ads-a10-v5.json")),
            ]
        }
    )
    report = refresh(
        ["azure"], ["eastus"], backoff=Backoff(sleep=waits.append), azure={"transport": web}
    )
    assert report.exit_code == 0
    assert waits == [7.0]
    assert ondemand(found("azure", "fleet", A10, "eastus")) == {3.2}


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            answer({**recorded("azure/nv36ads-a10-v5.json"), "Count": 9}),
            "azure: the Azure Retail Prices API answered Standard_NV36ads_A10_v5 with a truncated "
            "page (4 of 9 items).",
        ),
        (
            answer(json.dumps(recorded("azure/nv36ads-a10-v5.json")).encode()[:700]),
            "azure: the Azure Retail Prices API answered with a body that is not valid JSON "
            "(truncated or not JSON).",
        ),
        (
            answer({"Items": [{"armSkuName": A10}], "NextPageLink": None}),
            "azure: the Azure Retail Prices API returned an item without the usual fields.",
        ),
        (
            answer({"Items": []}),
            "azure: the Azure Retail Prices API answered Standard_NV36ads_A10_v5 with a page that "
            "lacks Items or NextPageLink.",
        ),
        (
            answer({**EMPTY_RETAIL, "NextPageLink": "https://elsewhere.example/page2"}),
            "azure: the Azure Retail Prices API answered Standard_NV36ads_A10_v5 with an "
            "unexpected NextPageLink.",
        ),
        (
            answer({"Error": {"Code": "BadRequest", "Message": "Invalid OData parameters."}}, 400),
            "azure: the Azure Retail Prices API refused the request (HTTP 400: BadRequest Invalid "
            "OData parameters).",
        ),
        (
            urllib.error.URLError("Name or service not known"),
            "azure: cannot reach prices.azure.com (Name or service not known).",
        ),
    ],
    ids=["count", "invalid-json", "missing-fields", "not-a-page", "foreign-link", "400", "down"],
)
def test_a_bad_azure_answer_is_rejected_and_the_cache_kept(
    home: Path, reply: Any, error: str
) -> None:
    assert refresh(["azure"], ["eastus"], azure={"transport": azure_web()}).exit_code == 0
    before = snapshot(home / "catalog" / "azure")

    report = refresh(["azure"], ["eastus"], azure={"transport": azure_web(**{A10: [reply]})})

    assert report.outcomes[0].error == error
    assert report.exit_code == 1
    assert snapshot(home / "catalog" / "azure") == before


def test_an_azure_page_chain_that_breaks_keeps_the_cache(home: Path) -> None:
    """Page 1 names a next page that never comes (5xx until the retries run out)."""
    first = recorded("azure/nc24ads-a100-v4.page1.json")
    web = azure_web()
    web.answers[first["NextPageLink"]] = [answer(b"upstream timeout", 503)]
    waits: list[float] = []
    report = refresh(
        ["azure"], ["eastus"], backoff=Backoff(sleep=waits.append), azure={"transport": web}
    )
    assert report.outcomes[0].error == (
        "azure: the Azure Retail Prices API kept answering HTTP 503 after 5 attempts; "
        "try again later."
    )
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert not (home / "catalog" / "azure").exists()


def test_an_api_that_prices_nothing_replaces_nothing(home: Path) -> None:
    report = refresh(["azure"], ["eastus"], azure={"transport": FakeWeb({}, answer(EMPTY_RETAIL))})
    assert report.outcomes[0].error == (
        "azure: Azure Retail Prices API (Virtual Machines, Linux, pay-as-you-go and Spot) priced "
        "none of the fleet instance types in eastus; nothing of azure was replaced."
    )
    assert not (home / "catalog" / "azure").exists()


def test_disagreeing_azure_meters_are_not_guessed() -> None:
    items = recorded("azure/nv36ads-a10-v5.json")["Items"]
    twin = {**items[0], "unitPrice": 3.9, "retailPrice": 3.9}
    prices, ambiguous = azure.hourly_linux_prices([*items, twin], {"eastus", "southcentralus"})
    assert ambiguous == {(A10, "eastus", False)}
    assert prices == {(A10, "eastus", True): 0.64, (A10, "southcentralus", False): 3.84}


def test_an_endless_azure_page_chain_is_cut(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azure, "MAX_PAGES", 1)
    report = refresh(["azure"], ["eastus"], azure={"transport": azure_web()})
    assert report.outcomes[0].error == (
        "azure: the Azure Retail Prices API answered Standard_NC24ads_A100_v4 with more than 1 "
        "pages."
    )


# --- GCP ----------------------------------------------------------------------------------------

COMPUTE, VERTEX = gcp.SERVICES["fleet"], gcp.SERVICES["vertex"]


def skus_url(service_id: str, token: str = "") -> str:
    url = f"https://cloudbilling.googleapis.com/v1/services/{service_id}/skus?currencyCode=USD&pageSize=5000"
    return url + (f"&pageToken={token}" if token else "")


def gcp_web(**replies: list[Any]) -> FakeWeb:
    answers = {
        skus_url(COMPUTE): [answer(recorded("gcp/compute-skus.page1.json"))],
        skus_url(COMPUTE, "CgRDb21wdXRlLTI"): [answer(recorded("gcp/compute-skus.page2.json"))],
        skus_url(VERTEX): [answer(recorded("gcp/vertex-skus.json"))],
    }
    answers.update({skus_url(service_id): queue for service_id, queue in replies.items()})
    return FakeWeb(answers)


def test_gcp_refresh_sums_core_ram_and_gpu_skus(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFRA_GCP_API_KEY", "test-key-123")
    web = gcp_web()
    report = refresh(["gcp"], ["us-central1"], gcp={"transport": web})

    assert report.exit_code == 0, report.to_dict()
    n1 = found("gcp", "fleet", "n1-standard-8", "us-central1", "T4")
    assert {z.zone for z in n1.zones} == {f"us-central1-{z}" for z in "abcf"}
    for zone in n1.zones:  # 8 vCPU, 30 GiB, 1 T4; spot from the Spot Preemptible SKUs
        assert zone.ondemand_usd == pytest.approx(8 * 0.031611 + 30 * 0.004237 + 0.35, abs=1e-6)
        assert zone.spot_usd == pytest.approx(8 * 0.00698 + 30 * 0.000936 + 0.14, abs=1e-6)
    v100 = found("gcp", "fleet", "n1-standard-16", "us-central1", "V100")
    assert the_ondemand(v100) == pytest.approx(16 * 0.031611 + 60 * 0.004237 + 2 * 2.48, abs=1e-6)
    a2 = found("gcp", "fleet", "a2-ultragpu-1g", "us-central1")
    assert the_ondemand(a2) == pytest.approx(12 * 0.031611 + 170 * 0.004237 + 3.92808, abs=1e-6)
    assert {z.spot_usd for z in a2.zones} == {None}  # no A2 spot SKUs recorded
    a3 = found("gcp", "fleet", "a3-highgpu-8g", "us-central1")  # DWS H100 SKU ignored
    assert the_ondemand(a3) == pytest.approx(208 * 0.03222 + 1872 * 0.002817 + 8 * 11.06, abs=1e-6)
    l4 = found("gcp", "fleet", "g2-standard-8", "us-central1")
    assert the_ondemand(l4) == pytest.approx(8 * 0.024988 + 32 * 0.002927 + 0.560631, abs=1e-6)
    node = found("gcp", "vertex", "a3-highgpu-1g", "us-central1")
    assert the_ondemand(node) == pytest.approx(26 * 0.0293227 + 234 * 0.0025534 + 11.0592, abs=1e-6)
    assert (node.source, node.retrieved) == (gcp.SOURCES["vertex"], TODAY)

    mega = found("gcp", "fleet", "a3-megagpu-8g", "us-central1")
    assert mega.source.startswith("skypilot")
    assert report.outcomes[0].notes[0] == (
        "fleet a3-megagpu-8g, a3-ultragpu-8g: not priced from the API (no confirmed SKU names "
        "for their parts); kept the previous prices"
    )
    assert [url for url, _ in web.calls] == [
        skus_url(COMPUTE),
        skus_url(COMPUTE, "CgRDb21wdXRlLTI"),
        skus_url(VERTEX),
    ]
    assert all(headers["X-Goog-Api-Key"] == "test-key-123" for _, headers in web.calls)
    assert not any("test-key-123" in url for url, _ in web.calls)


def test_gcp_refresh_writes_the_cud_rates_from_the_commitment_skus(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFRA_GCP_API_KEY", "test-key-123")
    report = refresh(["gcp"], ["us-central1"], gcp={"transport": gcp_web()})

    assert report.exit_code == 0, report.to_dict()
    assert (home / "catalog" / "gcp" / "gce_commitments.csv").exists()

    def approx5(usd: float) -> Any:
        """Written to 5 decimals."""
        return pytest.approx(usd, abs=1e-5)

    def cud(instance_type: str, term: str, region: str = "us-central1") -> Any:
        rate = commitment_rate("gcp", "fleet", instance_type, region, "cud", term)
        assert rate is not None, (instance_type, term, region)
        return rate

    # the machine's vCPUs, GiB and GPUs at the recorded 'Commitment v1' SKUs, beside the
    # on-demand price of the same answer (both to 5 decimals, as in the shipped file)
    a2 = cud("a2-highgpu-1g", "1y")
    assert a2.usd_per_hour == approx5(12 * 0.019915 + 85 * 0.002669 + 1.84836204) == 2.31421
    assert a2.ondemand_usd_per_hour == approx5(12 * 0.031611 + 85 * 0.004237 + 2.933908)
    assert (a2.source, a2.retrieved) == (gcp.CUD_SOURCE, TODAY)
    mega = cud("a2-megagpu-16g", "3y")  # "for 3 Year"
    assert mega.usd_per_hour == approx5(96 * 0.011064 + 1360 * 0.0014832 + 16 * 1.02686833)
    l4 = commitment_rate("gcp", "kubernetes", "g2-standard-8", "us-central1", "cud", "1y")
    assert l4 is not None
    assert l4.usd_per_hour == approx5(8 * 0.015742 + 32 * 0.00184443 + 0.35282538)
    two_l4 = cud("g2-standard-24", "3y")  # "for 3 Years"
    assert two_l4.usd_per_hour == approx5(24 * 0.011245 + 96 * 0.00131728 + 2 * 0.2520181)
    # the recorded unit rates are those of the shipped file's us-central1 rows (Cyclenerd's copy
    # of the catalog): the same rule gives back every one of its 26 rows, 13 machines x 2 terms
    shipped = read_commitments(targets.cloud("gcp").data_dir / "gce_commitments.csv")
    central = [rate for rate in shipped.values() if rate.region == "us-central1"]
    assert len(central) == 26
    for rate in central:
        assert cud(rate.instance_type, rate.term).usd_per_hour == pytest.approx(
            rate.usd_per_hour, abs=2e-5
        )
    # no commitment SKU for a part (A100 80GB, A3, H100): no rate; n1's SKUs name no family
    for instance_type in ("a2-ultragpu-1g", "a3-highgpu-8g", "n1-standard-8"):
        assert commitment_rate("gcp", "fleet", instance_type, "us-central1", "cud", "1y") is None
    # a region not asked for keeps the shipped rows
    kept = cud("a2-highgpu-1g", "1y", region="me-west1")
    assert kept.retrieved == "2026-07-30" and kept.source.startswith("Cyclenerd/")


@pytest.mark.parametrize(
    ("description", "part"),
    [
        ("Commitment v1: A2 Cpu in Americas for 1 Year", ("a2", "core")),
        ("Commitment v1: G2 Ram in Americas for 3 Years", ("g2", "ram")),
        (
            "Commitment v1: Nvidia Tesla A100 80GB GPU running in EMEA for 1 Year",
            ("a100 80gb", "gpu"),
        ),
        ("Commitment v1: Nvidia L4 GPU running in Americas for 3 Years", ("l4", "gpu")),
        ("Commitment v1: Cpu in Americas for 1 Year", None),
        ("Commitment v1: Local SSD In Americas for 1 Year", None),
        ("Commitment - dollar based v1: GCE for 1 Year", None),
        ("A2 Instance Core running in Americas", None),
    ],
)
def test_a_commitment_sku_names_the_part_it_commits(
    description: str, part: tuple[str, str] | None
) -> None:
    assert gcp.committed_part(description) == part


def test_gcp_without_an_api_key_keeps_the_shipped_prices(home: Path) -> None:
    report = refresh(["gcp"], ["us-central1"], gcp={"transport": FakeWeb({})})
    assert report.outcomes[0].error == (
        "gcp: no GCP API key: set INFRA_GCP_API_KEY (or GOOGLE_API_KEY) to an API key of a "
        "project with the Cloud Billing API enabled."
    )
    assert found("gcp", "vertex", "a3-highgpu-1g", "us-central1").retrieved == "2025-08-15"


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            answer(
                {
                    "error": {
                        "code": 403,
                        "message": "Cloud Billing API has not been used in project 42 before "
                        "or it is disabled.",
                        "status": "PERMISSION_DENIED",
                    }
                },
                403,
            ),
            "gcp: the Cloud Billing Catalog API refused the request (HTTP 403: PERMISSION_DENIED "
            "Cloud Billing API has not been used in project 42 before or it is disabled).",
        ),
        (
            answer({"services": []}),
            "gcp: the Cloud Billing Catalog API answered service 6F81-5844-456A with a page "
            "without skus.",
        ),
        (
            answer({"skus": [{"description": "N1 Predefined Instance Core running in Americas"}]}),
            "gcp: the Cloud Billing Catalog API returned a SKU without the usual fields.",
        ),
        (
            answer({"skus": [], "nextPageToken": 42}),
            "gcp: the Cloud Billing Catalog API answered service 6F81-5844-456A with a bad "
            "nextPageToken.",
        ),
    ],
    ids=["403", "no-skus", "missing-fields", "bad-token"],
)
def test_a_bad_gcp_answer_is_one_sentence(
    home: Path, monkeypatch: pytest.MonkeyPatch, reply: Any, error: str
) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    report = refresh(["gcp"], ["us-central1"], gcp={"transport": gcp_web(**{COMPUTE: [reply]})})
    assert report.outcomes[0].error == error
    assert not (home / "catalog" / "gcp").exists()


def test_an_endless_gcp_page_chain_is_cut(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    monkeypatch.setattr(gcp, "MAX_PAGES", 1)
    report = refresh(["gcp"], ["us-central1"], gcp={"transport": gcp_web()})
    assert report.outcomes[0].error == (
        "gcp: the Cloud Billing Catalog API answered service 6F81-5844-456A with more than 1 pages."
    )


# --- across clouds: partial failure, status, staleness, cache validity -------------------------


def test_partial_failure_keeps_the_cloud_that_succeeded(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "7")
    report = refresh(
        ["azure", "gcp"],
        ["eastus", "us-central1"],
        azure={"transport": azure_web()},
        gcp={"transport": FakeWeb({})},
    )
    assert report.exit_code == refresh_module.EXIT_PARTIAL == 6
    outcomes = report.to_dict()["clouds"]
    assert (outcomes["azure"]["status"], outcomes["gcp"]["status"]) == ("refreshed", "failed")
    assert (home / "catalog" / "azure" / "refresh.json").exists()
    assert not (home / "catalog" / "gcp").exists()
    assert found("azure", "fleet", A100, "eastus").retrieved == TODAY

    status = catalog_status(on=datetime.date(2026, 12, 5))
    azure_status, gcp_status = status["clouds"]["azure"], status["clouds"]["gcp"]
    assert (azure_status["source"], azure_status["date"], azure_status["age_days"]) == (
        "refreshed",
        TODAY,
        12,
    )
    assert azure_status["stale"] and azure_status["refreshed_regions"] == ["eastus"]
    assert azure_status["sources"] == azure.SOURCES
    # AKS nodes are offered on the fleet's rows: the same 114.
    assert azure_status["rows"] == {"fleet": 114, "azureml": 117, "kubernetes": 114}
    assert gcp_status["source"] == "shipped" and gcp_status["cache"] is None
    assert gcp_status["last_refresh"]["status"] == "failed"
    assert gcp_status["last_refresh"]["error"].startswith("gcp: no GCP API key")


def test_a_cache_built_on_other_shipped_files_is_not_used(home: Path) -> None:
    assert refresh(["azure"], ["eastus"], azure={"transport": azure_web()}).exit_code == 0
    record_path = home / "catalog" / "azure" / "refresh.json"
    record = json.loads(record_path.read_text())
    record["shipped"]["fleet"] = "sha256:0"
    record_path.write_text(json.dumps(record))
    load_catalog.cache_clear()

    assert found("azure", "fleet", A100, "eastus").source.startswith("skypilot")
    problem = catalog_status()["clouds"]["azure"]["cache_problem"]
    assert problem == "it was built on an older shipped catalog (toolkit upgraded)"


def test_an_unreadable_cached_file_falls_back_to_the_shipped_prices(home: Path) -> None:
    assert refresh(["azure"], ["eastus"], azure={"transport": azure_web()}).exit_code == 0
    (home / "catalog" / "azure" / "azureml.csv").write_text("instance_type\nnot a catalog\n")
    load_catalog.cache_clear()

    assert found("azure", "azureml", A100, "eastus").source.startswith("skypilot")
    assert found("azure", "fleet", A100, "eastus").source.startswith("skypilot")
    status = catalog_status()["clouds"]["azure"]
    assert status["source"] == "shipped" and "unexpected header" in status["cache_problem"]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (
            lambda folder: (folder / "refresh.json").write_text("{"),
            "is unreadable or of another format",
        ),
        (lambda folder: (folder / "fleet.csv").unlink(), "lacks fleet.csv"),
    ],
    ids=["record", "missing-file"],
)
def test_a_damaged_cache_is_not_used(
    home: Path, damage: Callable[[Path], None], problem: str
) -> None:
    assert refresh(["azure"], ["eastus"], azure={"transport": azure_web()}).exit_code == 0
    damage(home / "catalog" / "azure")
    load_catalog.cache_clear()
    assert found("azure", "fleet", A100, "eastus").source.startswith("skypilot")
    assert problem in catalog_status()["clouds"]["azure"]["cache_problem"]


def test_an_unwritable_cache_is_one_sentence(home: Path) -> None:
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("a file where the folder should be")
    report = refresh(["azure"], ["eastus"], azure={"transport": azure_web()})
    assert report.outcomes[0].error.startswith("azure: cannot write the price cache (")


def stale_copy(catalog: Catalog, retrieved: str) -> Catalog:
    return Catalog(
        tuple(msgspec.structs.replace(o, retrieved=retrieved) for o in catalog.offerings)
    )


def test_stale_prices_warn_past_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "7")
    catalog = stale_copy(load_catalog(), "2026-11-01")
    assert stale_catalog_warning(catalog, on=datetime.date(2026, 11, 8)) is None
    assert stale_catalog_warning(catalog, ["gcp"], on=datetime.date(2026, 11, 9)) == (
        "prices older than 7 days: gcp 2026-11-01 (8 days); run `infra catalog refresh` for "
        "current prices (INFRA_CATALOG_MAX_AGE_DAYS sets the threshold)."
    )
    old = catalog.offerings[0]
    assert stale_offering_warning(old, on=datetime.date(2026, 11, 20)) == (
        f"the prices of {old.display_name} in {old.region} date from 2026-11-01 (19 days old); "
        "`infra catalog refresh` may update them."
    )
    monkeypatch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "off")
    assert stale_catalog_warning(catalog, on=datetime.date(2030, 1, 1)) is None


def test_recommend_warns_about_stale_prices(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "7")
    monkeypatch.setattr(service, "load_catalog", lambda: stale_copy(load_catalog(), "2020-01-01"))

    result, data = cli.json("recommend", EXAMPLES / "chat-8b.yaml")
    assert result.exit_code == 0
    assert data["catalog_date"] == "2020-01-01"
    assert [
        w for w in data["warnings"] if w.startswith("prices older than 7 days: aws 2020-01-01 (")
    ]

    table = cli("recommend", EXAMPLES / "chat-8b.yaml")
    assert table.exit_code == 0 and "catalog 2020-01-01" in table.stdout
    assert "warning: prices older than 7 days" in table.stderr
    assert "prices older than" not in table.stdout


def test_recommend_on_todays_prices_does_not_warn(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "7")
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    monkeypatch.setattr(service, "load_catalog", lambda: stale_copy(load_catalog(), today))
    _, data = cli.json("recommend", EXAMPLES / "chat-8b.yaml")
    # Only the Inferentia2 choice's compile-time note remains: nothing about prices.
    assert [w for w in data["warnings"] if not w.startswith("Neuron: ")] == []


def test_a_bad_threshold_is_one_sentence(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "a week")
    result = cli("recommend", EXAMPLES / "chat-8b.yaml")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "error: INFRA_CATALOG_MAX_AGE_DAYS must be a whole number of days (1 or more) or 'off', "
        "not 'a week'.\n"
    )


def test_backoff_caps_the_servers_hint() -> None:
    backoff = Backoff(first_wait_s=1, longest_wait_s=30)
    assert [backoff.wait_before(n, None) for n in (1, 2, 3, 6)] == [1, 2, 4, 30]
    assert backoff.wait_before(1, 120) == 30


# --- the commands -------------------------------------------------------------------------------


@pytest.fixture
def recorded_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    """`infra catalog refresh` answered by the recorded Azure pages; GCP has no key."""
    monkeypatch.setattr(
        refresh_module,
        "refresh_prices",
        partial(refresh_prices, options={"azure": {"transport": azure_web()}}, now=NOW),
    )


AZURE_AND_GCP = [
    "catalog",
    "refresh",
    "--cloud",
    "azure",
    "--cloud",
    "gcp",
    "--region",
    "eastus",
    "--region",
    "us-central1",
]


def test_cli_refresh_json_partial(cli: Cli, home: Path, recorded_apis: None) -> None:
    result, data = cli.json(*AZURE_AND_GCP)
    assert result.exit_code == 6
    assert data["exit_code"] == 6 and "error" not in data
    assert data["clouds"]["azure"]["status"] == "refreshed"
    assert data["clouds"]["azure"]["cache"] == str(home / "catalog" / "azure")
    assert data["clouds"]["gcp"]["error"].startswith("gcp: no GCP API key")
    assert data["clouds"]["gcp"]["kept"] == "shipped"
    assert result.stderr == ""


def test_cli_refresh_table_progress_and_failures_on_stderr(
    cli: Cli, home: Path, recorded_apis: None
) -> None:
    result = cli(*AZURE_AND_GCP)
    assert result.exit_code == 6
    assert "Price refresh" in result.stdout and "refreshed" in result.stdout
    assert "azure" in result.stderr and "done" in result.stderr  # the progress bars
    assert (
        "warning: gcp not refreshed, the shipped prices stay in use: no GCP API key: set "
        "INFRA_GCP_API_KEY" in " ".join(result.stderr.split())
    )


def test_cli_refresh_when_every_cloud_fails(cli: Cli, home: Path) -> None:
    result, data = cli.json("catalog", "refresh", "--cloud", "gcp", "--region", "us-central1")
    assert result.exit_code == data["exit_code"] == 1
    assert data["error"] == (
        "no cloud's prices were refreshed; the cached or shipped prices stay in use."
    )
    table = cli("catalog", "refresh", "--cloud", "gcp", "--region", "us-central1")
    assert table.exit_code == 1
    assert "error: gcp not refreshed, the shipped prices stay in use: no GCP API key" in " ".join(
        table.stderr.split()
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("--cloud", "aws", "--region", "europe-west4"),
            "error: region 'europe-west4' is a gcp region, not one of aws; add --cloud gcp.",
        ),
        (
            ("--region", "us-centrl1"),
            "error: unknown region 'us-centrl1' for aws, gcp, azure (did you mean 'us-central1'?); "
            "`infra catalog list` shows the regions each cloud offers.",
        ),
        (("--cloud", "ibm"), "error: unknown cloud 'ibm'; choose from aws, gcp, azure."),
    ],
    ids=["region-of-another-cloud", "typo", "cloud"],
)
def test_cli_refresh_bad_options(cli: Cli, home: Path, args: tuple[str, ...], error: str) -> None:
    result = cli("catalog", "refresh", *args)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == error + "\n"
    assert not (home / "catalog").exists()


def test_cli_status(cli: Cli, home: Path) -> None:
    assert refresh(["azure"], ["eastus"], azure={"transport": azure_web()}).exit_code == 0
    result, data = cli.json("catalog", "status")
    assert result.exit_code == 0
    assert set(data["clouds"]) == {"aws", "gcp", "azure"}
    assert data["clouds"]["azure"]["source"] == "refreshed"
    assert data["clouds"]["azure"]["last_refresh"]["status"] == "refreshed"
    assert data["clouds"]["aws"]["source"] == "shipped"
    assert data["max_age_days"] is None  # tests turn the threshold off (conftest)

    table = cli("catalog", "status")
    assert table.exit_code == 0
    assert "azure" in table.stdout and "refreshed" in table.stdout and "shipped" in table.stdout
    assert f"azure/fleet: {azure.SOURCES['fleet']}" in " ".join(table.stdout.split())
