"""The managed-endpoint price files (SageMaker, Vertex AI, Azure ML): every row cites a public
source and a date, MANAGED_PRICES.md accounts for every region they cover, and both the
recommendation and `infra cost` use these rows in each of those regions."""

from __future__ import annotations

import csv
import datetime
import re
from pathlib import Path

import pytest

from planner.cost.managed import with_managed_deployment
from planner.cost.plan_resources import PlannedInfrastructure, from_configuration
from planner.cost.pricing import price_plan
from planner.optimizer import HOURS_PER_MONTH, Filters
from planner.service import recommend_for_profile
from providers.catalog import load_catalog
from tests.conftest import EXAMPLES, REPO
from tests.cost_fixtures import sagemaker_configuration

PROVIDERS = REPO / "providers"
MANAGED = {
    "sagemaker": PROVIDERS / "aws" / "data" / "sagemaker.csv",
    "vertex": PROVIDERS / "gcp" / "data" / "vertex.csv",
    "azureml": PROVIDERS / "azure" / "data" / "azureml.csv",
}
PINNED_FILE = re.compile(r"^[\w.-]+/[\w.-]+/\S+@[0-9a-f]{40}\b")
"""owner/repository/path@commit: a file anyone can open at the version the row was read from."""
PAGE = re.compile(r"https://\S+")


def rows(kind: str) -> list[dict[str, str]]:
    with MANAGED[kind].open(newline="") as handle:
        return list(csv.DictReader(handle))


def regions(kind: str) -> list[str]:
    return sorted({row["region"] for row in rows(kind)})


@pytest.mark.parametrize("kind", sorted(MANAGED))
def test_every_managed_row_cites_a_public_source_and_the_day_it_was_read(kind: str) -> None:
    for row in rows(kind):
        source = row["source"]
        assert PINNED_FILE.match(source) or PAGE.search(source), row
        assert "/work/" not in source, f"a local path is no citation: {row}"
        retrieved = datetime.date.fromisoformat(row["retrieved"])
        assert datetime.date(2023, 1, 1) <= retrieved <= datetime.date.today(), row
        assert float(row["ondemand_usd_per_hour"]) > 0, row


@pytest.mark.parametrize("kind", sorted(MANAGED))
def test_managed_prices_md_accounts_for_every_region_a_file_covers(kind: str) -> None:
    notes = (PROVIDERS / "MANAGED_PRICES.md").read_text()
    path = str(MANAGED[kind].relative_to(PROVIDERS))
    section = notes.split(f"## {path}", 1)[1].split("\n## ", 1)[0]
    for region in regions(kind):
        assert region in section, f"{path}: MANAGED_PRICES.md does not mention {region}"


CASES = [(kind, region) for kind in ("sagemaker", "vertex") for region in regions(kind)]


@pytest.mark.parametrize(("kind", "region"), CASES, ids=[f"{k}-{r}" for k, r in CASES])
def test_recommend_finds_managed_candidates_in_every_priced_region(kind: str, region: str) -> None:
    filters = Filters(kinds=frozenset({kind}), regions=frozenset({region}))
    recommendation = recommend_for_profile(EXAMPLES / "chat-8b.yaml", filters)
    assert recommendation.candidates
    chosen = recommendation.chosen.offering
    assert (chosen.kind, chosen.region) == (kind, region)
    listed = {
        float(row["ondemand_usd_per_hour"])
        for row in rows(kind)
        if row["instance_type"] == chosen.instance_type and row["region"] == region
    }
    assert listed == {zone.ondemand_usd for zone in chosen.ondemand_zones}


SAGEMAKER_CASES = sorted(
    {
        (row["region"], row["instance_type"], float(row["ondemand_usd_per_hour"]))
        for row in rows("sagemaker")
    }
)


@pytest.mark.parametrize(("region", "instance_type", "hourly"), SAGEMAKER_CASES)
def test_infra_cost_prices_a_sagemaker_endpoint_from_its_row(
    region: str, instance_type: str, hourly: float
) -> None:
    configuration = sagemaker_configuration()
    configuration["provider"]["aws"][0]["region"] = region
    variants = configuration["resource"]["aws_sagemaker_endpoint_configuration"]["config"]
    variants["production_variants"] = [
        {"variant_name": "primary", "instance_type": instance_type, "initial_instance_count": 1}
    ]
    configuration["resource"].pop("aws_appautoscaling_target", None)
    configuration["resource"].pop("aws_appautoscaling_policy", None)
    report = price_plan(from_configuration(configuration), load_catalog(), source="test")
    endpoint = next(r for r in report.resources if r.address == "aws_sagemaker_endpoint.endpoint")
    assert endpoint.status == "priced"
    (component,) = [c for c in endpoint.components if c.name.startswith("variant primary")]
    assert component.name == f"variant primary instances ({instance_type})"
    assert component.unit_price == hourly
    assert component.monthly_usd.expected == pytest.approx(hourly * HOURS_PER_MONTH, abs=0.01)


def test_infra_cost_prices_a_vertex_deployment_from_its_row(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.test_cost_managed import spec_for

    spec = spec_for("vertex", "gcp", monkeypatch, tmp_path)
    (row,) = [
        r
        for r in rows("vertex")
        if (r["instance_type"], r["region"]) == (spec.instance_type, spec.region)
    ]
    report = price_plan(
        with_managed_deployment(PlannedInfrastructure((), {}), spec),
        load_catalog(),
        source="test",
        region=spec.region,
    )
    (resource,) = report.resources
    assert resource.status == "priced"
    (component,) = resource.components
    assert component.unit_price == float(row["ondemand_usd_per_hour"])
    assert component.quantity.expected == HOURS_PER_MONTH * spec.capacity.desired
