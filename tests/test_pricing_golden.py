"""Golden tests of the pricing rules: each priced resource type's minimal planned resource
(`tests/pricing_golden_cases.py`) priced against a small fixed catalog, its priced output
(status, components, unit prices, quantities, monthly amounts, notes) compared with
`tests/golden/pricing/<cloud>/<resource_type>.json`.

A rule changed on purpose? Regenerate the golden files, then read the diff before committing it:

    INFRA_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_pricing_golden.py
    git diff tests/golden/pricing

(the regenerating run skips its tests, so it can never pass in place of the comparison).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from planner.cost.context import PricingContext
from planner.cost.pricing import price_resource
from planner.cost.report import ResourceCost
from planner.cost.resources.registry import (
    BILLED_ELSEWHERE,
    FREE_TYPES,
    PROVIDERS,
    RULES,
    provider_of,
)
from planner.cost.resources.table import combine
from planner.cost.resources.usage import USAGE_ONLY
from planner.optimizer import HOURS_PER_MONTH
from tests.pricing_golden_cases import (
    CASE_CLOUD_PRICES,
    CASES,
    REGIONS,
    Case,
    catalog,
    service_prices,
)

GOLDEN = Path(__file__).parent / "golden" / "pricing"
UPDATE = os.environ.get("INFRA_UPDATE_GOLDEN") == "1"
REGENERATE = "INFRA_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_pricing_golden.py"


def golden_path(resource_type: str, case: Case) -> Path:
    return GOLDEN / case.cloud / f"{resource_type}.json"


def priced(case: Case) -> ResourceCost:
    cloud = CASE_CLOUD_PRICES[case.cloud]
    context = PricingContext(
        infrastructure=case.infrastructure,
        cloud=cloud,
        region=REGIONS[cloud],
        catalog=catalog(),
        prices=service_prices(cloud),
        load=None,
        hours_per_month=HOURS_PER_MONTH,
    )
    return price_resource(case.resource, context)


def output(cost: ResourceCost) -> dict[str, Any]:
    """What a golden file holds: the resource's status and every component with its amounts."""
    return {
        "address": cost.address,
        "type": cost.type,
        "status": cost.status,
        "reason": cost.reason,
        "monthly_usd": msgspec.to_builtins(cost.monthly_usd),
        "components": [
            {**msgspec.to_builtins(c), "monthly_usd": msgspec.to_builtins(c.monthly_usd)}
            for c in cost.components
        ],
    }


@pytest.mark.parametrize("resource_type", sorted(CASES))
def test_priced_output_matches_golden(resource_type: str) -> None:
    case = CASES[resource_type]
    assert case.resource.type == resource_type
    found = output(priced(case))
    path = golden_path(resource_type, case)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
        pytest.skip(f"rewrote {path.relative_to(GOLDEN.parent.parent)}: review the diff")
    assert path.is_file(), f"no golden file {path}; create it with: {REGENERATE}"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert found == expected, f"{resource_type} prices differently; if intended: {REGENERATE}"


def test_every_registered_type_has_a_case_and_a_golden_file() -> None:
    goldens = {path.stem: path.parent.name for path in GOLDEN.glob("*/*.json")}
    assert set(CASES) == set(RULES)
    assert set(goldens) == set(RULES)
    assert goldens == {resource_type: case.cloud for resource_type, case in CASES.items()}


def test_goldens_cover_priced_and_usage_based_outcomes() -> None:
    """The golden outcomes are what the rules are for: usage-only types are usage-based, the
    rest carry a monthly amount (Cloud Armor, without a price row, is unpriced)."""
    statuses = {t: json.loads(golden_path(t, c).read_text())["status"] for t, c in CASES.items()}
    assert {t for t, s in statuses.items() if s == "usage-based"} == set(USAGE_ONLY)
    assert {t for t, s in statuses.items() if s == "unpriced"} == {"google_compute_security_policy"}


def test_free_priced_and_billed_elsewhere_types_are_disjoint() -> None:
    assert not FREE_TYPES & set(BILLED_ELSEWHERE)
    assert not (FREE_TYPES | set(BILLED_ELSEWHERE)) & set(RULES)


def test_a_type_with_two_rules_is_refused() -> None:
    rule = RULES["aws_eip"]
    with pytest.raises(ValueError, match="aws_eip has two pricing rules"):
        combine({"aws_eip": rule}, {"aws_eip": rule})


def test_every_type_the_stacks_synthesize_is_priced_free_or_billed_elsewhere() -> None:
    """A resource type a stack starts to write (a scheduled action, a dashboard) needs a rule or
    a place among the free types, or `infra cost` lists it as not priced for lack of one."""
    cloud_providers = {provider for provider, cloud in PROVIDERS.items() if cloud is not None}
    known = set(RULES) | FREE_TYPES | set(BILLED_ELSEWHERE)
    written = {
        resource_type: path.name
        for path in sorted((GOLDEN.parent / "synth").glob("*.json"))
        for resource_type in json.loads(path.read_text()).get("resource", {})
        if provider_of(resource_type) in cloud_providers
    }
    assert written, "no golden synth files found"
    assert {t: f for t, f in written.items() if t not in known} == {}
