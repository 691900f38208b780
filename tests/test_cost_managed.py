"""Vertex AI and Azure ML deployments are created by the SDK steps, not Terraform: `infra cost`
and the budget gate price them from the deployment spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.workflow import prepare
from planner.cost.managed import MANAGED_DEPLOYMENT, with_managed_deployment
from planner.cost.plan_resources import PlannedInfrastructure
from planner.cost.pricing import price_plan
from planner.optimizer import HOURS_PER_MONTH, Filters
from providers.catalog import load_catalog
from tests.conftest import EXAMPLES


def spec_for(kind: str, cloud: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """chat-8b deployed as `kind`; Vertex AI needs the image in Artifact Registry."""
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    profile = yaml.safe_load((EXAMPLES / "chat-8b.yaml").read_text())
    profile["runtime"]["image"] = "us-docker.pkg.dev/my-project/serving/vllm-openai:v0.10.2"
    path = tmp_path / "chat-8b.yaml"
    path.write_text(yaml.safe_dump(profile))
    filters = Filters(clouds=frozenset({cloud}), kinds=frozenset({kind}))
    return prepare(path, "prod", filters).spec


def test_an_azure_ml_deployment_is_priced_at_its_planned_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = spec_for("azureml", "azure", monkeypatch, tmp_path)
    planned = with_managed_deployment(PlannedInfrastructure((), {}), spec)
    report = price_plan(planned, load_catalog(), source="test", region=spec.region)
    (resource,) = report.resources
    assert resource.type == MANAGED_DEPLOYMENT and resource.status == "priced"
    (component,) = resource.components
    desired = spec.capacity.desired
    assert component.quantity.expected == desired * HOURS_PER_MONTH
    assert component.quantity.min == component.quantity.max == component.quantity.expected
    # the same hourly price the optimizer chose the deployment for
    assert report.monthly_usd.expected == pytest.approx(spec.expected_monthly_usd, rel=1e-4)


def test_vertex_replicas_span_the_autoscaling_range(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = spec_for("vertex", "gcp", monkeypatch, tmp_path)
    resource = with_managed_deployment(PlannedInfrastructure((), {}), spec).resources[0]
    low, expected, high = resource.values["instances"]
    assert (low, expected, high) == (
        max(spec.capacity.min_size, 1),
        spec.capacity.desired,
        spec.capacity.max_size,
    )


def test_fleets_get_nothing_added(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = spec_for("fleet", "aws", monkeypatch, tmp_path)
    planned = PlannedInfrastructure((), {})
    assert with_managed_deployment(planned, spec) is planned


def test_an_instance_type_without_a_managed_price_is_unpriced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import msgspec

    spec = msgspec.structs.replace(
        spec_for("azureml", "azure", monkeypatch, tmp_path), region="nowhere-1"
    )
    planned = with_managed_deployment(PlannedInfrastructure((), {}), spec)
    report = price_plan(planned, load_catalog(), source="test", region="nowhere-1")
    (resource,) = report.resources
    assert resource.status == "unpriced"
    assert (
        resource.reason == f"{spec.instance_type} has no azureml price for nowhere-1 in the catalog"
    )
