"""Interruption risk: the AWS Spot Instance Advisor bands shipped per type and region, the profile's
`placement.spot.max_interruption_percent`, and what the planner does with them."""

from __future__ import annotations

import csv
from pathlib import Path

import msgspec
import pytest

from core.errors import CatalogError
from planner.optimizer import recommend
from planner.profile import Profile, SpotSettings, load_profile
from planner.serialize import recommendation_to_dict
from providers.catalog import Offering, load_catalog, read_cloud_catalog
from providers.spot_interruption import (
    BAND_MAX_PERCENT,
    COLUMNS,
    InterruptionBand,
    interruption_file,
    read_interruption,
)
from tests.conftest import (
    EXAMPLES,
    catalog_of,
    make_profile,
    offering,
    profile_dict,
    write_profile,
    zone,
)
from tests.test_profile import error_for


def write_bands(path: Path, rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- the shipped data ---------------------------------------------------------------------------


def test_shipped_bands_cover_catalog_types_and_say_where_they_come_from() -> None:
    path = interruption_file("aws")
    assert path is not None and interruption_file("gcp") is None
    assert interruption_file("azure") is None
    bands = read_interruption(path)
    with (path.parent / "ec2.csv").open(newline="") as handle:
        catalog_pairs = {(r["instance_type"], r["region"]) for r in csv.DictReader(handle)}
    assert set(bands) <= catalog_pairs
    assert len(bands) >= 0.9 * len(catalog_pairs), "the advisor lists most catalog pools"
    assert {b.band for b in bands.values()} == set(BAND_MAX_PERCENT)
    assert all("spot-advisor-data.json" in b.source and b.retrieved for b in bands.values())


def test_loaded_catalog_carries_bands_on_aws_instances_only() -> None:
    """The AWS fleets' rows, and the EKS nodes offered on them."""
    catalog = load_catalog()
    on_ec2 = {("aws", "fleet"), ("aws", "kubernetes")}
    aws_fleet = [o for o in catalog.offerings if (o.cloud, o.kind) in on_ec2]
    assert sum(o.spot_interruption is not None for o in aws_fleet) >= 0.9 * len(aws_fleet)
    others = [o for o in catalog.offerings if (o.cloud, o.kind) not in on_ec2]
    assert all(o.spot_interruption is None for o in others)


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([["g5.xlarge", "us-east-1", "<5%", "s", "2025-06-28"]], ("a", "b"), "unexpected header"),
        ([["g5.xlarge", "us-east-1", "<5%"]], COLUMNS, "expected 5 columns"),
        ([["g5.xlarge", "us-east-1", "low", "s", "2025-06-28"]], COLUMNS, "'low' is not one of"),
    ],
)
def test_a_malformed_interruption_file_is_one_sentence(
    tmp_path: Path, rows: list[list[str]], header: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        read_interruption(write_bands(tmp_path / "b.csv", rows, header))


def test_a_missing_interruption_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read interruption file"):
        read_interruption(tmp_path / "absent.csv")


def test_a_refreshed_copy_in_the_cache_folder_is_preferred(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from providers import catalog as catalog_module

    folder = tmp_path / "aws"
    folder.mkdir()
    write_bands(
        folder / "spot_interruption.csv",
        [["g5.xlarge", "us-east-1", ">20%", "advisor feed", "2026-12-03"]],
    )
    offerings = list(read_cloud_catalog("aws").offerings)
    g5 = [o for o in offerings if (o.instance_type, o.region) == ("g5.xlarge", "us-east-1")]
    judged = catalog_module.with_interruption("aws", g5, folder)
    fleet = [o for o in judged if o.kind == "fleet"]
    assert fleet and all(
        o.spot_interruption == InterruptionBand(">20%", "advisor feed", "2026-12-03") for o in fleet
    )


# --- the profile field -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "band", "accepted"),
    [
        (None, None, True),
        (None, ">20%", True),
        (10, "<5%", True),
        (10, "5-10%", True),
        (10, "10-15%", False),
        (20, ">20%", False),
        (5, None, False),
    ],
)
def test_the_limit_accepts_bands_up_to_it(
    limit: int | None, band: str | None, accepted: bool
) -> None:
    settings = msgspec.convert({"max_interruption_percent": limit}, SpotSettings)
    assert settings.accepts(band) is accepted


def test_a_limit_outside_the_bands_is_refused_naming_the_field(tmp_path: Path) -> None:
    bad = profile_dict(
        placement={"zones": 1, "spot": {"policy": "allowed", "max_interruption_percent": 7}}
    )
    message = error_for(tmp_path, bad)
    assert "field placement.spot.max_interruption_percent" in message
    assert "7" in message


def test_the_example_profile_uses_the_field() -> None:
    profile = load_profile(EXAMPLES / "steady-spot.yaml").profile
    assert profile.placement.spot.max_interruption_percent == 10


# --- the planner ---------------------------------------------------------------------------------


def banded(band: str | None, cloud: str = "aws", region: str = "us-east-1") -> Offering:
    """A g5.xlarge fleet offering with a spot price and the given interruption band."""
    found = offering(
        "g5.xlarge",
        "A10G",
        1,
        24,
        [zone("use1-az1", 1.0, 0.35), zone("use1-az2", 1.0, 0.35)],
        cloud=cloud,
        region=region,
    )
    return msgspec.structs.replace(
        found,
        spot_interruption=InterruptionBand(band, "advisor", "2025-06-28") if band else None,
    )


def chat(limit: int | None) -> Profile:
    return make_profile(
        placement={
            "zones": 2,
            "clouds": ["aws", "gcp"],
            "spot": {
                "policy": "allowed",
                "on_demand_floor": 0.5,
                "max_interruption_percent": limit,
            },
        }
    )


def test_spot_in_a_band_above_the_limit_stays_on_demand_and_says_why() -> None:
    catalog = catalog_of(banded(">20%"))
    free = recommend(chat(None), catalog)
    assert free.chosen.spot_instances > 0
    limited = recommend(chat(10), catalog)
    assert limited.chosen.spot_instances == 0 and limited.chosen.spot_usd is None
    chosen = recommendation_to_dict(limited)["chosen"]
    assert chosen["spot_not_used"] == (
        "aws reports >20% of g5.xlarge spot capacity in us-east-1 interrupted over a month; "
        "placement.spot.max_interruption_percent is 10"
    )
    assert recommendation_to_dict(free)["chosen"]["spot_not_used"] is None


def test_spot_within_the_limit_is_used() -> None:
    result = recommend(chat(10), catalog_of(banded("5-10%")))
    assert result.chosen.spot_instances > 0


def test_no_published_band_counts_as_above_any_limit() -> None:
    catalog = catalog_of(banded(None, cloud="gcp", region="us-central1"))
    assert recommend(chat(None), catalog).chosen.spot_instances > 0
    limited = recommend(chat(5), catalog)
    assert limited.chosen.spot_instances == 0
    assert (
        "gcp publishes no interruption frequency for g5.xlarge"
        in (recommendation_to_dict(limited)["chosen"]["spot_not_used"])
    )


def test_the_steady_spot_example_uses_spot_only_in_low_bands() -> None:
    profile = load_profile(EXAMPLES / "steady-spot.yaml").profile
    result = recommend(profile, load_catalog())
    with_spot = [c for c in result.candidates if c.spot_instances]
    assert with_spot, "AWS pools under 10% carry spot"
    for candidate in with_spot:
        band = candidate.offering.spot_interruption
        assert band is not None and BAND_MAX_PERCENT[band.band] <= 10
    assert result.chosen.spot_instances > 0


def test_profile_file_with_the_field_loads(tmp_path: Path) -> None:
    data = profile_dict(
        placement={"zones": 1, "spot": {"policy": "preferred", "max_interruption_percent": 15}}
    )
    loaded = load_profile(write_profile(tmp_path, data)).profile
    assert loaded.placement.spot.accepts("10-15%") and not loaded.placement.spot.accepts("15-20%")
