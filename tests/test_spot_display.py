"""Where a recommendation uses spot, it says how old the spot prices are and how often the cloud
reports such spot capacity interrupted (table and --json of `infra recommend`)."""

from __future__ import annotations

import datetime

import pytest

from providers import price_freshness
from tests.conftest import EXAMPLES, Cli


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_freshness, "today", lambda: datetime.date(2026, 12, 3))


def test_recommend_json_dates_every_candidates_spot_prices(cli: Cli) -> None:
    result, data = cli.json("recommend", EXAMPLES / "chat-8b.yaml", "--cloud", "aws")
    assert result.exit_code == 0, result.output
    chosen = data["chosen"]
    assert chosen["spot_replicas"] > 0
    assert chosen["spot_prices_retrieved"] == "2026-11-23"
    assert chosen["spot_price_age_days"] == 10
    assert chosen["spot_interruption"] in {"<5%", "5-10%", "10-15%", "15-20%", ">20%"}
    assert "Spot Instance Advisor" in chosen["spot_interruption_source"]
    assert chosen["spot_interruption_retrieved"] == "2025-06-28"
    for row in [chosen, *data["alternatives"]]:
        if row["spot_replicas"] == 0:
            assert row["spot_prices_retrieved"] is None and row["spot_price_age_days"] is None


def test_recommend_json_gcp_and_azure_publish_no_interruption_band(cli: Cli) -> None:
    for cloud in ("gcp", "azure"):
        result, data = cli.json("recommend", EXAMPLES / "chat-8b.yaml", "--cloud", cloud)
        assert result.exit_code == 0, result.output
        assert data["chosen"]["spot_prices_retrieved"] == "2026-11-23"
        assert data["chosen"]["spot_interruption"] is None


def test_recommend_table_shows_the_spot_age_and_band(cli: Cli) -> None:
    result = cli("recommend", EXAMPLES / "chat-8b.yaml", "--cloud", "aws")
    assert result.exit_code == 0, result.output
    assert "spot age/int." in result.stdout
    assert "Spot prices retrieved 2026-11-23 (10 days old); aws reports " in result.stdout
    assert "(data of 2025-06-28)" in result.stdout


def test_all_on_demand_recommendation_shows_no_spot_age(cli: Cli) -> None:
    result = cli("recommend", EXAMPLES / "moe-mixtral.yaml")
    assert result.exit_code == 0, result.output
    assert "Spot prices retrieved" not in result.stdout


def test_catalog_show_lists_a_refused_spot_price_with_its_rule_band_and_date(cli: Cli) -> None:
    result, rows = cli.json("catalog", "show", "g4dn.xlarge")
    assert result.exit_code == 0, result.output
    (stale,) = [
        r for r in rows if (r["cloud"], r["kind"], r["region"]) == ("aws", "fleet", "eu-south-1")
    ]
    assert stale["spot_interruption"]["band"] in {"<5%", "5-10%", "10-15%", "15-20%", ">20%"}
    for price in stale["prices"]:
        assert price["spot_usd_per_hour"] is None and price["listed_spot_usd_per_hour"]
        assert "a stale region, not used" in price["spot_note"]
        assert price["retrieved"] == "2026-11-23"
    table = cli("catalog", "show", "g4dn.xlarge")
    assert "interruption" in table.stdout and "g4dn T4 in eu-south-1 lists a median" in table.stdout
