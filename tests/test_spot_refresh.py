"""`infra catalog refresh` and spot: refreshed spot prices carry their own date and supersede the
snapshot's, and the AWS interruption bands are refreshed from the Spot Instance Advisor feed (or
kept when the feed cannot be read). Same fake HTTP transport and recorded answers as
tests/test_price_refresh.py."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest

from planner.optimizer import Filters, recommend
from planner.serialize import recommendation_to_dict
from providers import price_freshness
from providers.aws.interruption_refresh import ADVISOR_URL, SOURCE, interruption_rows
from providers.catalog import load_catalog, read_cloud_catalog
from providers.price_quotes import PriceSourceError
from providers.price_refresh import refresh_prices
from providers.spot_interruption import InterruptionBand
from tests.conftest import make_profile
from tests.test_price_refresh import (
    A10,
    A100,
    ADVISOR_FEED,
    AWS_DOCUMENTS,
    NO_SLEEP,
    FakeWeb,
    answer,
    azure_web,
    clients,
    found,
    home,  # noqa: F401  (the fixture)
    pricing_stub,
    recorded,
)

LATER = datetime.datetime(2026, 12, 2, 9, 0, tzinfo=datetime.UTC)


def refresh_azure_later(web: FakeWeb) -> None:
    report = refresh_prices(
        ["azure"], ["eastus"], backoff=NO_SLEEP, options={"azure": {"transport": web}}, now=LATER
    )
    assert report.exit_code == 0, report.to_dict()


def test_refreshed_spot_prices_carry_their_own_date_and_supersede_the_snapshot(
    home: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = found("azure", "fleet", A10, "eastus")
    assert [(z.spot_usd, z.retrieved) for z in shipped.zones] == [(0.8, "2026-11-23")]
    without_spot = copy.deepcopy(recorded("azure/nv36ads-a10-v5.json"))
    without_spot["Items"] = [i for i in without_spot["Items"] if "Spot" not in i["skuName"]]
    without_spot["Count"] = len(without_spot["Items"])

    refresh_azure_later(azure_web(**{A10: [answer(without_spot)]}))

    a100 = found("azure", "fleet", A100, "eastus")
    assert [(z.spot_usd, z.listed_spot_usd, z.retrieved) for z in a100.zones] == [
        (0.7346, 0.7346, "2026-12-02")
    ]
    a10 = found("azure", "fleet", A10, "eastus")  # the API lists no spot meter today: none
    assert [(z.ondemand_usd, z.listed_spot_usd, z.spot_usd) for z in a10.zones] == [
        (3.2, None, None)
    ]
    untouched = found("azure", "fleet", A100, "westus3")  # a region not refreshed keeps its date
    assert {z.retrieved for z in untouched.zones} == {"2026-11-23"}

    monkeypatch.setattr(price_freshness, "today", lambda: datetime.date(2026, 12, 3))
    profile = make_profile(placement={"zones": 1, "spot": {"policy": "preferred"}})
    pinned = Filters(
        clouds=frozenset({"azure"}),
        regions=frozenset({"eastus"}),
        kinds=frozenset({"fleet"}),
        instance_types=frozenset({A100.lower()}),
    )
    chosen = recommendation_to_dict(recommend(profile, load_catalog(), pinned))["chosen"]
    assert chosen["spot_replicas"] > 0
    assert (chosen["spot_prices_retrieved"], chosen["spot_price_age_days"]) == ("2026-12-02", 1)


def test_interruption_rows_keep_linux_bands_of_the_catalog_types() -> None:
    text = interruption_rows(ADVISOR_FEED, ["g5.xlarge", "p5.48xlarge"], "2026-12-02")
    assert text.splitlines() == [
        "instance_type,region,interruption,source,retrieved",
        f'g5.xlarge,ap-northeast-1,5-10%,"{SOURCE}",2026-12-02',
        f'g5.xlarge,us-east-1,>20%,"{SOURCE}",2026-12-02',
    ]


def broken(**changes: Any) -> dict[str, Any]:
    feed = copy.deepcopy(ADVISOR_FEED)
    feed.update(changes)
    return feed


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        (broken(ranges=None), "has no readable 'ranges' list"),
        (
            broken(ranges=[{"index": 0, "label": "<3%"}]),
            "names interruption bands the toolkit does not know (<3%)",
        ),
        (broken(spot_advisor=[]), "has no 'spot_advisor' table"),
        (
            broken(spot_advisor={"us-east-1": {"Linux": {"g5.xlarge": {"r": 9}}}}),
            "gives g5.xlarge in us-east-1 no known interruption band",
        ),
    ],
)
def test_a_malformed_advisor_feed_is_one_sentence(feed: dict[str, Any], message: str) -> None:
    with pytest.raises(PriceSourceError) as caught:
        interruption_rows(feed, ["g5.xlarge"], "2026-12-02")
    assert str(caught.value) == f"the AWS Spot Instance Advisor feed {message}."


def refresh_aws(web: FakeWeb, now: datetime.datetime) -> Any:
    pricing, _ = pricing_stub(AWS_DOCUMENTS)
    return refresh_prices(
        ["aws"],
        ["us-east-1"],
        backoff=NO_SLEEP,
        options={"aws": {"clients": clients(pricing), "transport": web}},
        now=now,
    )


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch) -> Any:
    import moto

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        yield


def test_a_feed_that_fails_keeps_the_previous_bands_and_says_so(
    home: Path,  # noqa: F811
    emulated: None,
) -> None:
    first = refresh_aws(FakeWeb({ADVISOR_URL: [answer(ADVISOR_FEED)]}), LATER)
    assert first.exit_code == 0, first.to_dict()
    expected = InterruptionBand(">20%", SOURCE, "2026-12-02")
    assert found("aws", "fleet", "g5.xlarge", "us-east-1").spot_interruption == expected

    down = FakeWeb({ADVISOR_URL: [answer({"error": "busy"}, status=503)]})
    second = refresh_aws(down, LATER + datetime.timedelta(days=1))
    assert second.exit_code == 0, "the prices are refreshed all the same"
    (note,) = [n for n in second.outcomes[0].notes if n.startswith("spot interruption bands")]
    assert note == (
        "spot interruption bands: the AWS Spot Instance Advisor feed kept answering HTTP 503 "
        "after 5 attempts; try again later. The previous bands stay in use."
    )
    g5 = found("aws", "fleet", "g5.xlarge", "us-east-1")
    assert g5.retrieved == "2026-12-03" and g5.spot_interruption == expected


def test_a_feed_that_fails_on_the_first_refresh_leaves_the_shipped_bands(
    home: Path,  # noqa: F811
    emulated: None,
) -> None:
    report = refresh_aws(FakeWeb({ADVISOR_URL: [answer(b"<html>")]}), LATER)
    assert report.exit_code == 0, report.to_dict()
    assert any("is not valid JSON" in n for n in report.outcomes[0].notes)
    assert not (home / "catalog" / "aws" / "spot_interruption.csv").exists()
    band = found("aws", "fleet", "g5.xlarge", "us-east-1").spot_interruption
    assert band is not None and band.retrieved == "2025-06-28", "the shipped file"


def test_a_damaged_cached_band_file_makes_the_cache_unusable_and_says_why(
    home: Path,  # noqa: F811
    emulated: None,
) -> None:
    assert refresh_aws(FakeWeb({ADVISOR_URL: [answer(ADVISOR_FEED)]}), LATER).exit_code == 0
    cached = home / "catalog" / "aws" / "spot_interruption.csv"
    cached.write_text("instance_type,region\n")
    load_catalog.cache_clear()
    catalog = read_cloud_catalog("aws")
    assert not catalog.refreshed
    assert catalog.cache_problem == (
        f"{cached}: unexpected header; expected instance_type,region,interruption,source,retrieved."
    )
    g5 = [o for o in catalog.offerings if (o.instance_type, o.region) == ("g5.xlarge", "us-east-1")]
    assert all(o.retrieved == "2026-11-23" for o in g5), "the shipped prices and bands"
