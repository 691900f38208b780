"""Spot prices that are real: each rule of providers/spot_judge.py, and the property the planner
relies on, over the shipped catalogs and through `recommend` for the examples: no spot price under
half the median spot share of its own family and region is ever used."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.optimizer import recommend
from planner.profile import load_profile
from providers import targets
from providers.aws import instance_family as aws_family
from providers.azure import instance_family as azure_family
from providers.catalog import (
    Offering,
    ZonePrice,
    load_catalog,
    read_catalog_file,
    shipped_cloud_files,
)
from providers.gcp import instance_family as gcp_family
from providers.spot_judge import judge_spot, judge_spot_against_peers, median, spot_max_discount
from tests.conftest import EXAMPLES
from tests.test_catalog import write_rows

FamilyRegion = tuple[str, str, str, str]  # cloud, catalog file, family, region


def family(cloud: str, instance_type: str, accelerator: str) -> str:
    named = {"aws": aws_family, "gcp": gcp_family, "azure": azure_family}[cloud]
    return f"{named(instance_type)} {accelerator}"


def shipped_medians() -> dict[FamilyRegion, float]:
    """Straight from the shipped CSVs: the median listed spot share of on-demand per family and
    region, over every row with a spot price below on-demand."""
    shares: dict[FamilyRegion, list[float]] = defaultdict(list)
    for cloud in targets.cloud_names():
        for _, path, spot_capable in shipped_cloud_files(cloud):
            if not spot_capable:
                continue
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    ondemand, spot = row["ondemand_usd_per_hour"], row["spot_usd_per_hour"]
                    if ondemand and spot and float(spot) < float(ondemand):
                        key = (
                            cloud,
                            path.name,
                            family(cloud, row["instance_type"], row["accelerator"]),
                            row["region"],
                        )
                        shares[key].append(float(spot) / float(ondemand))
    return {key: statistics.median(values) for key, values in shares.items()}


MEDIANS = shipped_medians()


def median_of(offering: Offering) -> float:
    """The median of the file the offering's rows are in (kinds on the same instances, as
    Kubernetes nodes on a fleet's rows, share it)."""
    o = offering
    declared = targets.target(o.cloud, o.kind)
    assert declared is not None
    key = (o.cloud, declared.catalog_file, family(o.cloud, o.instance_type, o.accelerator))
    return MEDIANS[(*key, o.region)]


def test_instance_families_follow_each_clouds_naming() -> None:
    assert aws_family("g5.12xlarge") == aws_family("ml.g5.xlarge") == "g5"
    assert gcp_family("a2-highgpu-4g") == "a2-highgpu"
    assert gcp_family("n1-standard-8") == "n1-standard"
    assert azure_family("Standard_NC24ads_A100_v4") == "Standard_NCads_A100_v4"
    assert azure_family("Standard_NC96ads_A100_v4") == "Standard_NCads_A100_v4"
    assert azure_family("Standard_ND96isr_H100_v5") == "Standard_NDisr_H100_v5"


def test_every_used_spot_price_of_the_shipped_catalogs_stands_against_its_family() -> None:
    catalog = load_catalog()
    used = [
        (o, z)
        for o in catalog.offerings
        for z in o.zones
        if z.spot_usd is not None and z.ondemand_usd
    ]
    assert {o.cloud for o, _ in used} == set(targets.cloud_names())
    for o, z in used:
        share = z.spot_usd / z.ondemand_usd
        assert share >= 0.5 * median_of(o), (o.instance_type, o.region, z.zone, share)


def test_the_issue_rows_are_refused_with_the_rule_that_refused_them() -> None:
    """g4dn in eu-south-1 (16% of on-demand, every size) is a stale region against g4dn's 33%
    elsewhere; g5.16xlarge in me-central-1 is an outlier in its region."""
    catalog = load_catalog()
    (g4dn,) = [
        o
        for o in catalog.offerings
        if (o.instance_type, o.region, o.kind) == ("g4dn.xlarge", "eu-south-1", "fleet")
    ]
    assert all(z.spot_usd is None for z in g4dn.zones)
    assert all(z.listed_spot_usd is not None for z in g4dn.zones), "shown, not chosen"
    assert all("g4dn T4 in eu-south-1 lists a median" in (z.spot_note or "") for z in g4dn.zones)
    assert all("a stale region, not used" in (z.spot_note or "") for z in g4dn.zones)
    (g5,) = [
        o
        for o in catalog.offerings
        if (o.instance_type, o.region, o.kind) == ("g5.16xlarge", "me-central-1", "fleet")
    ]
    (outlier,) = [z for z in g5.zones if z.zone == "mec1-az2"]
    assert outlier.spot_usd is None
    assert "under half the" in (outlier.spot_note or "")
    assert "median of g5 A10G in me-central-1" in (outlier.spot_note or "")


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("policy", ["as written", "preferred"])
def test_recommend_never_uses_a_spot_price_under_half_its_family_median(
    example: Path, policy: str
) -> None:
    profile = load_profile(example).profile
    if policy == "preferred":  # spot carries everything it can: the most spot prices in play
        spot = msgspec.structs.replace(
            profile.placement.spot, policy="preferred", on_demand_floor=0.0
        )
        placement = msgspec.structs.replace(profile.placement, spot=spot)
        profile = msgspec.structs.replace(profile, placement=placement)
    result = recommend(profile, load_catalog())
    with_spot = [c for c in result.candidates if c.spot_usd is not None and c.spot_instances]
    if profile.placement.spot.policy == "never":
        assert not with_spot, "spot policy never: no candidate runs spot"
        return
    assert with_spot, "the examples put spot prices in play"
    for candidate in with_spot:
        o = candidate.offering
        zones = [z for z in o.zones if z.zone in candidate.zones or z.zone == ""]
        for z in zones:
            if z.spot_usd is not None and z.ondemand_usd:
                assert z.spot_usd / z.ondemand_usd >= 0.5 * median_of(o), (o.instance_type, z)


# --- the rules one by one -------------------------------------------------------------------------


def test_deeper_than_the_documented_maximum_discount_is_not_a_price() -> None:
    assert spot_max_discount("aws") == 0.90 and spot_max_discount("gcp") == 0.91
    assert judge_spot(1.0, 0.095, 0.90)[0] is None
    assert "deeper than the 90% maximum discount" in (judge_spot(1.0, 0.095, 0.90)[1] or "")
    assert judge_spot(1.0, 0.095, 0.91) == (0.095, None)
    assert judge_spot(1.0, 0.0999936, 0.90) == (0.0999936, None), "rounded sources: the floor"


def rows_for(entries: list[tuple[str, str, str, float, float | None]]) -> list[list[str]]:
    """Catalog rows of A10G machines: (type, region, zone, on-demand, spot)."""
    facts = ["A10G", "1", "22.4", "4", "16"]
    return [
        [t, *facts, region, z, f"{od:g}", "" if sp is None else f"{sp:g}", "t", "2026-11-23"]
        for t, region, z, od, sp in entries
    ]


def test_an_outlier_zone_is_refused_against_its_family_in_the_region(tmp_path: Path) -> None:
    entries = [
        ("g5.xlarge", "us-east-1", "use1-az1", 1.0, 0.40),
        ("g5.xlarge", "us-east-1", "use1-az2", 1.0, 0.36),
        ("g5.2xlarge", "us-east-1", "use1-az1", 2.0, 0.80),
        ("g5.2xlarge", "us-east-1", "use1-az2", 2.0, 0.17),  # 8.5%: deeper than AWS's 90%
        ("g5.xlarge", "us-east-1", "use1-az4", 1.0, 0.15),  # 15%: under half of the 36% median
    ]
    path = write_rows(tmp_path / "c.csv", rows_for(entries))
    offerings = {o.instance_type: o for o in read_catalog_file(path, "aws", "fleet", True)}
    zones = {z.zone: z for z in offerings["g5.xlarge"].zones}
    assert zones["use1-az1"].spot_usd == 0.40
    assert zones["use1-az4"].spot_usd is None and zones["use1-az4"].listed_spot_usd == 0.15
    assert zones["use1-az4"].spot_note == (
        "listed spot 0.1500 is 15.0% of on-demand, under half the 36.0% median of g5 A10G in "
        "us-east-1 (5 listed prices): an outlier, not used"
    )
    two = {z.zone: z for z in offerings["g5.2xlarge"].zones}
    assert "maximum discount" in (two["use1-az2"].spot_note or ""), "rule 1 comes first"


def test_a_region_far_below_its_family_elsewhere_is_refused_whole(tmp_path: Path) -> None:
    entries = [
        ("g5.xlarge", "us-east-1", "use1-az1", 1.0, 0.40),
        ("g5.xlarge", "us-west-2", "usw2-az1", 1.0, 0.36),
        ("g5.xlarge", "eu-west-1", "euw1-az1", 1.0, 0.38),
        ("g5.xlarge", "eu-south-2", "eus2-az1", 1.0, 0.12),
        ("g5.xlarge", "eu-south-2", "eus2-az2", 1.0, 0.11),
    ]
    path = write_rows(tmp_path / "c.csv", rows_for(entries))
    by_region = {o.region: o for o in read_catalog_file(path, "aws", "fleet", True)}
    stale = by_region["eu-south-2"].zones
    assert all(z.spot_usd is None for z in stale)
    assert stale[0].spot_note == (
        "listed spot 0.1200 is 12.0% of on-demand; g5 A10G in eu-south-2 lists a median 11.5%, "
        "under half its 36.0% median across 4 regions: a stale region, not used"
    )
    assert by_region["us-west-2"].zones[0].spot_usd == 0.36


def test_a_family_alone_in_its_region_and_cloud_keeps_its_price(tmp_path: Path) -> None:
    """With no peers there is nothing to compare with: only rule 1 applies."""
    path = write_rows(
        tmp_path / "c.csv", rows_for([("p4d.24xlarge", "ap-south-1", "aps1-az1", 10.0, 1.55)])
    )
    (only,) = read_catalog_file(path, "aws", "fleet", True)
    assert only.zones[0].spot_usd == 1.55 and only.zones[0].spot_note is None


def test_kinds_without_a_spot_market_list_no_spot(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "c.csv", rows_for([("g5.xlarge", "r", "", 1.0, 0.05)]))
    (only,) = read_catalog_file(path, "aws", "sagemaker", False)
    assert only.zones[0] == ZonePrice("", 1.0, None, None, None, "2026-11-23")


def test_zone_rows_carry_their_own_retrieved_date(tmp_path: Path) -> None:
    rows = rows_for(
        [
            ("g5.xlarge", "us-east-1", "use1-az1", 1.0, 0.40),
            ("g5.xlarge", "us-east-1", "use1-az2", 1.0, 0.38),
        ]
    )
    rows[1][-1] = "2026-12-01"
    (only,) = read_catalog_file(write_rows(tmp_path / "c.csv", rows), "aws", "fleet", True)
    assert [z.retrieved for z in only.zones] == ["2026-11-23", "2026-12-01"]
    assert only.retrieved == "2026-11-23"


shares = st.floats(0.10, 0.99)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.sampled_from(["a", "b"]), shares),
        min_size=1,
        max_size=20,
    )
)
def test_no_used_spot_share_is_under_half_its_family_median_in_the_region(
    entries: list[tuple[str, str, float]],
) -> None:
    """On random families: whatever the loader keeps stands at half its peers' median or more."""
    offerings = [
        Offering(
            cloud="aws",
            kind="fleet",
            instance_type=f"g5.{size}xlarge",
            accelerator="A10G",
            accelerator_count=1,
            accelerator_memory_gib=22.4,
            vcpus=4,
            memory_gib=16,
            region=region,
            zones=(ZonePrice("z", 1.0, share, None, share, "2026-11-23"),),
            spot_capable=True,
            source="t",
            retrieved="2026-11-23",
        )
        for region, size, share in entries
    ]
    judged = judge_spot_against_peers(offerings)
    by_region: dict[str, list[float]] = defaultdict(list)
    for region, _, share in entries:
        by_region[region].append(share)
    for offering in judged:
        (z,) = offering.zones
        median = statistics.median(by_region[offering.region])
        if z.spot_usd is not None:
            assert z.spot_usd >= 0.5 * median
        else:
            assert z.spot_note and z.listed_spot_usd is not None


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_median_is_the_statistics_median(values: list[float]) -> None:
    assert median(values) == statistics.median(values)
