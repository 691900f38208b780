"""A deploy in stages, for configurations Terraform cannot plan in one go.

Some resources can only be planned once others exist. A provider configured from a resource the
same configuration creates (the Kubernetes and Helm providers from a new cluster's endpoint and
CA certificate) has no configuration until that resource is in the state, and the Kubernetes
provider plans a `kubernetes_manifest` against the cluster's live API, which has no schema for a
custom resource whose definition a not yet applied resource installs (KEDA's ScaledObject, from
KEDA's Helm release). The Kubernetes provider's documentation asks for such resources to be
applied in a separate apply, after the cluster's.

So the plan of such a configuration is a stage: `terraform plan -target=...` of every resource
that can be planned now, leaving out (deferring):

- a resource whose provider configuration refers to a managed resource not in the state (or to a
  data source that does, which Terraform reads only during the apply);
- a resource of a type planned against the live API (`Kind.planned_against_api`) whose
  `depends_on` names a resource not in the state, unless that one is itself of such a type: the
  provider plans built-in kinds without the objects they depend on existing (a ServiceAccount
  before the Deployment that runs as it);
- a resource that refers to, or depends on, a deferred one (a target pulls in its dependencies).

`deploy` applies the stage and plans again, until nothing is deferred: that last plan is the
ordinary untargeted one, so a plan after the deploy is the full plan. Which stage comes next is
read from the state alone, so a run cut off between stages is continued by the next deploy.
A configuration with nothing to defer is planned exactly as before (no state listing, no
targets). Destroy needs no stages: every provider's configuration is known once its cluster is
in the state, and Terraform destroys a provider's resources before what its configuration
refers to (the workload, then the Helm release, then the cluster).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from core.errors import InfraError
from orchestrator.terraform import TerraformRunner
from providers import targets

_REFERENCE = re.compile(r"(?<![\w.])((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][\w-]*)")
_INSTANCE_KEY = re.compile(r"\[[^\]]*\]$")


class StagingError(InfraError):
    pass


@cache
def planned_against_api() -> frozenset[str]:
    """The resource types every registered kind plans against a live API."""
    return frozenset(name for kind in targets.kinds() for name in kind.planned_against_api)


@dataclass(frozen=True)
class Stage:
    """One stage of a staged deploy: plan (and apply) `targets` now, `deferred` later."""

    number: int
    count: int
    """How many stages the whole deploy has, from an empty state; the last plans everything."""
    targets: tuple[str, ...]
    deferred: tuple[str, ...]

    def plan_arguments(self) -> list[str]:
        return [f"-target={address}" for address in self.targets]

    def sentence(self) -> str:
        """What this stage is, for a person reading the plan."""
        counts = [f"{n} {kind}" for kind, n in sorted(_count_types(self.deferred).items())]
        waiting = " and ".join([", ".join(counts[:-1]), counts[-1]] if len(counts) > 1 else counts)
        return (
            f"Stage {self.number} of {self.count} of the deploy: {waiting} resources wait for a "
            "later stage, planned once what they are planned against exists (the cluster their "
            "provider signs in to, the custom resource types a release installs)."
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "count": self.count,
            "targets": list(self.targets),
            "deferred": list(self.deferred),
            "summary": self.sentence(),
        }


def _count_types(addresses: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for address in addresses:
        kind = address.split(".", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


@dataclass(frozen=True)
class _Configuration:
    """What staging reads of a synthesized configuration: its resources, data sources and
    provider configurations by address, and the addresses each refers to."""

    resources: Mapping[str, Mapping[str, Any]]
    data: Mapping[str, Mapping[str, Any]]
    providers: Mapping[str, Mapping[str, Any]]

    @classmethod
    def read(cls, config: Mapping[str, Any]) -> _Configuration:
        resources = {
            f"{kind}.{name}": body
            for kind, named in (config.get("resource") or {}).items()
            for name, body in named.items()
        }
        data = {
            f"data.{kind}.{name}": body
            for kind, named in (config.get("data") or {}).items()
            for name, body in named.items()
        }
        providers: dict[str, Mapping[str, Any]] = {}
        for name, blocks in (config.get("provider") or {}).items():
            for block in blocks if isinstance(blocks, list) else [blocks]:
                alias = block.get("alias")
                providers[f"{name}.{alias}" if alias else name] = block
        return cls(resources, data, providers)

    def references(self, node: object) -> set[str]:
        """The declared resources and data sources `node` refers to in its expressions or its
        `depends_on`."""
        declared = self.resources.keys() | self.data.keys()
        found = set()
        for text in _strings(node):
            for expression in _expressions(text):
                found.update(m for m in _REFERENCE.findall(expression) if m in declared)
        if isinstance(node, Mapping):
            found.update(d for d in node.get("depends_on") or () if d in declared)
        return found

    def provider_of(self, address: str) -> Mapping[str, Any]:
        """The provider configuration a resource uses (its type's default one unless it names
        another); an empty one when the configuration has no block for it."""
        body = self.resources[address]
        name = body.get("provider") or address.split("_", 1)[0]
        return self.providers.get(name, {})


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _expressions(text: str) -> Iterator[str]:
    """Every `${...}` in a string, nested braces included."""
    start = text.find("${")
    while start != -1:
        depth, end = 0, start + 1
        while end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        yield text[start + 2 : end]
        start = text.find("${", end)


def _never_created(body: Mapping[str, Any]) -> bool:
    """A resource of zero instances (count 0, an empty for_each): the state never holds it."""
    return body.get("count") == 0 or body.get("for_each") in ({}, [])


def deferred(config: Mapping[str, Any], in_state: Iterable[str]) -> set[str]:
    """The resources of `config` (Terraform JSON) that cannot be planned while the state holds
    only `in_state` (addresses as `terraform state list` prints them)."""
    parsed = _Configuration.read(config)
    present = {_INSTANCE_KEY.sub("", address) for address in in_state}
    missing = {
        address
        for address, body in parsed.resources.items()
        if address not in present and not _never_created(body)
    }
    live_types = planned_against_api()
    # Unknown while planning: what is not created yet, and data sources reading it.
    unknown = set(missing)
    _close_over(parsed.data, parsed, unknown)
    later: set[str] = set()
    for address, body in parsed.resources.items():
        if parsed.references(parsed.provider_of(address)) & unknown:
            later.add(address)
        elif address.split(".", 1)[0] in live_types:
            needed = {d for d in body.get("depends_on") or () if d in missing}
            if any(d.split(".", 1)[0] not in live_types for d in needed):
                later.add(address)
    # What refers to a deferred resource, directly or through a data source, waits for it.
    while True:
        waiting = later | {a for a in parsed.data if parsed.references(parsed.data[a]) & later}
        grown = {
            address
            for address, body in parsed.resources.items()
            if address not in later
            and (parsed.references(body) | parsed.references(parsed.provider_of(address))) & waiting
        }
        if not grown:
            return later
        later |= grown


def _close_over(
    data: Mapping[str, Mapping[str, Any]], parsed: _Configuration, unknown: set[str]
) -> None:
    """Add to `unknown` every data source that refers to an unknown address, transitively."""
    while True:
        grown = {
            a for a, body in data.items() if a not in unknown and parsed.references(body) & unknown
        }
        if not grown:
            return
        unknown |= grown


def _stages_left(config: Mapping[str, Any], in_state: set[str]) -> int:
    """How many plans a deploy from `in_state` takes, the final untargeted one included, if
    each stage's apply puts its targets in the state."""
    resources = set(_Configuration.read(config).resources)
    state = set(in_state)
    for stages in range(1, len(resources) + 2):
        later = deferred(config, state)
        if not later:
            return stages
        state |= resources - later
    raise StagingError("the configuration's stages never end: a resource waits for itself.")


def stage_of(config: Mapping[str, Any], in_state: Iterable[str]) -> Stage | None:
    """The stage to plan with `in_state` in the state, or None when nothing is deferred."""
    present = {_INSTANCE_KEY.sub("", address) for address in in_state}
    later = deferred(config, present)
    if not later:
        return None
    count = _stages_left(config, set())
    return Stage(
        number=max(count - _stages_left(config, present) + 1, 1),
        count=count,
        targets=tuple(sorted(set(_Configuration.read(config).resources) - later)),
        deferred=tuple(sorted(later)),
    )


def next_stage(config_file: Path, runner: TerraformRunner) -> Stage | None:
    """The stage of the configuration in `config_file` to plan now, or None for an ordinary
    plan. The state is listed only when the configuration defers something from an empty state:
    one that never needs stages costs no extra Terraform call."""
    config = json.loads(config_file.read_text())
    if not deferred(config, ()):
        return None
    listed = runner.run("state", ["state", "list"], ok_codes=(0, 1))
    return stage_of(config, listed.output.splitlines())


def check_progress(before: Stage, after: Stage | None) -> None:
    """A stage's apply must let the next plan cover more: the same stage again means the state
    lacks what its apply should have created, and planning again would never end."""
    if after is not None and after.targets == before.targets:
        raise StagingError(
            f"stage {before.number} of the deploy was applied, yet {len(after.deferred)} "
            "resources still cannot be planned (the state lacks what they wait for); check the "
            "last apply's log, then run the same command again."
        )


class StagedPlan(Protocol):
    """What the loop reads of a plan (orchestrator.workflow.PlanSummary)."""

    changes: bool
    stage: Stage | None

    def to_dict(self) -> dict[str, object]: ...


Plan = TypeVar("Plan", bound=StagedPlan)


def later_stages(
    first: Plan,
    outputs: dict[str, object],
    *,
    plan: Callable[[], Plan],
    confirm: Callable[[Plan], bool],
    apply: Callable[[], dict[str, object]],
) -> dict[str, object]:
    """After `first` (a stage) was applied with `outputs`: plan, confirm and apply each next
    stage, up to the untargeted plan. Returns the deploy result's fields: `stages` (each
    stage's number and plan), `plan` (the last), `outputs` (after the last apply), and
    `stopped` (the stage not approved) when one was declined: the stages before it stay
    applied, and the next deploy continues from there."""
    assert first.stage is not None
    count = first.stage.count
    stages = [{"number": first.stage.number, "count": count, "plan": first.to_dict()}]
    previous: Plan = first
    while previous.stage is not None:
        summary = plan()
        check_progress(previous.stage, summary.stage)
        number = summary.stage.number if summary.stage else count
        stages.append({"number": number, "count": count, "plan": summary.to_dict()})
        if summary.changes and not confirm(summary):
            return {
                "stages": stages,
                "plan": summary.to_dict(),
                "outputs": outputs,
                "stopped": {"number": number, "count": count},
            }
        if summary.changes:
            outputs = apply()
        previous = summary
    return {"stages": stages, "plan": previous.to_dict(), "outputs": outputs}
