"""A profile taken through recommend and decide to the deployment spec a stack is built from, on
one cloud and kind (the tests of one target's stack start here)."""

from __future__ import annotations

from pathlib import Path

from planner.decision import Decision, decide
from planner.deployment import DeploymentSpec, spec_from_decision
from planner.optimizer import Filters, recommend
from planner.profile import load_profile
from providers.catalog import load_catalog


def decided(
    path: Path, cloud: str, kind: str, env: str = "prod"
) -> tuple[DeploymentSpec, Decision]:
    """The spec of `path`'s decision for `env` on `cloud`'s `kind`, and the decision."""
    profile = load_profile(path).profile
    filters = Filters(environment=env, clouds=frozenset({cloud}), kinds=frozenset({kind}))
    decision = decide(profile, recommend(profile, load_catalog(), filters))
    return spec_from_decision(profile, decision, env), decision


def decided_spec(path: Path, cloud: str, kind: str, env: str = "prod") -> DeploymentSpec:
    return decided(path, cloud, kind, env)[0]
