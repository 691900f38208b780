"""The staged deploy (orchestrator/staging.py): which resources wait for a later stage, computed on
the real synthesized JSON of the three `kind: kubernetes` stacks on a cluster they create and of
a fleet; and the deploy loop of orchestrator/workflow.py with Terraform replaced at its boundary
(the runner), asserting the exact plan arguments and the order of the stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

import orchestrator.workflow as workflow
from orchestrator.staging import (
    StagingError,
    deferred,
    later_stages,
    next_stage,
    planned_against_api,
    stage_of,
)
from orchestrator.terraform import StepResult, TerraformRunner
from orchestrator.workflow import Deployment, PlanSummary
from planner.deployment import DeploymentSpec
from tests import test_aks_stack, test_eks_stack, test_gke_stack
from tests.sdk_fakes import deployment_of
from tests.stack_json import Synthesized, synthesize_specs
from tests.test_user_data import make_spec as fleet_spec

EKS = test_eks_stack.CREATED
GKE = test_gke_stack.NEW
AKS = msgspec.structs.replace(test_aks_stack.CREATED, name="aks-created")
FLEET = fleet_spec()
EXISTING = test_eks_stack.KSERVE
CREATED = {"eks": (EKS, "aws_eks_cluster"), "gke": (GKE, "google_container_cluster")}
CREATED["aks"] = (AKS, "azurerm_kubernetes_cluster")


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(test_gke_stack.GCP_PROJECT_ENV, test_gke_stack.PROJECT)
        return synthesize_specs(
            [EKS, GKE, AKS, EXISTING, FLEET], tmp_path_factory.mktemp("staging"), emulated=False
        )


def addresses(doc: dict[str, Any], rtype: str) -> set[str]:
    return {f"{rtype}.{name}" for name in doc.get("resource", {}).get(rtype, {})}


def every_resource(doc: dict[str, Any]) -> set[str]:
    return {f"{t}.{n}" for t, named in doc["resource"].items() for n in named}


# --- which resources wait ---------------------------------------------------------------------


@pytest.mark.parametrize("cloud", list(CREATED))
def test_a_created_cluster_deploys_in_three_stages(synthesized: Synthesized, cloud: str) -> None:
    """Stage 1: the cluster, network, pools and identity; 2: KEDA's release and the manifests
    of built-in kinds (their provider now has a cluster); 3: the ScaledObject, once KEDA's CRD
    is in; after that an ordinary plan."""
    spec, cluster_type = CREATED[cloud]
    doc = synthesized[spec]
    release = addresses(doc, "helm_release")
    manifests = addresses(doc, "kubernetes_manifest")
    (scaler,) = [m for m in manifests if "_scaledobject-" in m]
    (cluster,) = addresses(doc, cluster_type)

    first = stage_of(doc, [])
    assert first is not None and (first.number, first.count) == (1, 3)
    assert set(first.deferred) == release | manifests
    assert set(first.targets) == every_resource(doc) - release - manifests
    assert cluster in first.targets
    assert first.plan_arguments() == [f"-target={a}" for a in sorted(first.targets)]

    second = stage_of(doc, first.targets)
    assert second is not None and (second.number, second.count) == (2, 3)
    assert second.deferred == (scaler,)
    assert release | (manifests - {scaler}) <= set(second.targets)

    assert stage_of(doc, second.targets) is None
    assert stage_of(doc, every_resource(doc)) is None


def test_stage_1_holds_the_eks_cluster_network_pools_and_identity(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[EKS]
    first = stage_of(doc, [])
    assert first is not None
    for rtype in ("aws_eks_cluster", "aws_eks_node_group", "aws_subnet", "aws_iam_role"):
        assert addresses(doc, rtype) and addresses(doc, rtype) <= set(first.targets), rtype
    assert not any(a.startswith(("helm_", "kubernetes_")) for a in first.targets)


def test_an_instance_key_in_the_state_counts_as_its_resource(synthesized: Synthesized) -> None:
    doc = synthesized[EKS]
    first = stage_of(doc, [])
    assert first is not None
    indexed = [f"{a}[0]" for a in first.targets] + ["data.aws_partition.x"]
    second = stage_of(doc, indexed)
    assert second is not None and second.number == 2


@pytest.mark.parametrize("spec", [FLEET, EXISTING], ids=["fleet", "existing-cluster"])
def test_nothing_waits_in_a_fleet_or_on_an_existing_cluster(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    assert deferred(doc, ()) == set()
    assert stage_of(doc, []) is None


class RefusingRunner:
    def run(self, step: str, args: list[str], ok_codes: Any = (0,)) -> StepResult:
        raise AssertionError(f"no Terraform call expected, got {args}")


def test_a_configuration_without_stages_costs_no_state_listing(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    config = tmp_path / "cdk.tf.json"
    config.write_text(json.dumps(synthesized[FLEET]))
    assert next_stage(config, RefusingRunner()) is None  # type: ignore[arg-type]


def test_the_live_api_types_come_from_the_registry() -> None:
    assert planned_against_api() == {"kubernetes_manifest"}


def _config(**resources: dict[str, Any]) -> dict[str, Any]:
    """A hand-made configuration: `type__name=body`."""
    found: dict[str, dict[str, Any]] = {}
    for key, body in resources.items():
        rtype, name = key.split("__")
        found.setdefault(rtype, {})[name] = body
    return {
        "resource": found,
        "provider": {"thing": [{"alias": "late", "host": "${other_cluster.c.endpoint}"}]},
        "data": {"other_lookup": {"l": {"name": "${other_cluster.c.name}"}}},
    }


def test_an_aliased_provider_and_a_data_source_read_late_defer_their_resources() -> None:
    config = _config(
        other_cluster__c={},
        thing_object__aliased={"provider": "thing.late"},
        thing_object__default={},
        other_user__reads={"value": "${upper(data.other_lookup.l.id)}"},
        other_user__unrelated={"count": 0},
    )
    assert deferred(config, ()) == {"thing_object.aliased"}
    config["provider"]["thing"][0]["host"] = "${data.other_lookup.l.endpoint}"
    assert deferred(config, ()) == {"thing_object.aliased"}
    assert deferred(config, ["other_cluster.c"]) == set()


def test_a_resource_referring_to_a_deferred_one_waits_too() -> None:
    config = _config(
        other_cluster__c={},
        thing_object__aliased={"provider": "thing.late"},
        other_note__copy={"text": "${thing_object.aliased.id}"},
        other_note__after={"depends_on": ["other_note.copy"]},
    )
    assert deferred(config, ()) == {"thing_object.aliased", "other_note.copy", "other_note.after"}


def test_a_stage_that_changes_nothing_in_the_state_is_an_error() -> None:
    config = _config(other_cluster__c={}, thing_object__aliased={"provider": "thing.late"})
    first = stage_of(config, [])
    assert first is not None

    class Summary:
        changes = True
        stage = first

        def to_dict(self) -> dict[str, object]:
            return {}

    with pytest.raises(StagingError, match=r"^stage 1 of the deploy was applied, yet 1 "):
        later_stages(
            Summary(), {}, plan=lambda: Summary(), confirm=lambda s: True, apply=lambda: {}
        )


# --- the deploy loop, Terraform replaced by a fake runner ---------------------------------------


class FakeTerraform:
    """Terraform at the runner's boundary: a state of addresses, each plan's arguments recorded,
    an apply of a plan adding its targets (everything without -target) to the state."""

    def __init__(self, config: dict[str, Any], tmp_path: Path) -> None:
        self.config = config
        self.everything = every_resource(config)
        self.state: set[str] = set()
        self.plans: list[list[str]] = []
        self.applied: list[list[str]] = []
        self.planned: set[str] = set()
        self.destroying = False
        self.log = tmp_path / "fake.log"
        self.stalls = False

    def run(self, step: str, args: list[str], ok_codes: Any = (0,)) -> StepResult:
        command = args[0]
        output = ""
        code = 0
        if args[:2] == ["state", "list"]:
            output = "\n".join(sorted(self.state))
        elif command == "plan":
            self.plans.append([a for a in args if a.startswith(("-target=", "-destroy"))])
            out = next(a for a in args if a.startswith("-out="))
            Path(out.removeprefix("-out=")).write_text("plan")
            self.destroying = "-destroy" in args
            targets = {a.removeprefix("-target=") for a in args if a.startswith("-target=")}
            self.planned = targets or set(self.everything)
            code = 2 if self.destroying or self.planned - self.state else 0
        elif command == "show":
            actions = ["delete"] if self.destroying else ["create"]
            chosen = self.state if self.destroying else self.planned - self.state
            changes = [{"address": a, "change": {"actions": actions}} for a in sorted(chosen)]
            output = json.dumps({"resource_changes": changes})
        elif command == "output":
            output = "{}"
        elif command == "apply" and "-refresh-only" not in args:
            self.applied.append(sorted(self.planned))
            if self.destroying:
                self.state = set()
            elif not self.stalls:
                self.state |= self.planned
        return StepResult(code, output, self.log)

    json = TerraformRunner.json  # the real parsing of what run() prints


@pytest.fixture
def deployment_on(monkeypatch: pytest.MonkeyPatch, synthesized: Synthesized, tmp_path: Path):
    """A deployment of `spec` whose Terraform is a FakeTerraform over its synthesized JSON."""

    def make(spec: DeploymentSpec) -> tuple[Deployment, FakeTerraform]:
        doc = synthesized[spec]
        deployment = deployment_of(spec, tmp_path)
        fake = FakeTerraform(doc, tmp_path)
        deployment._runner = fake  # type: ignore[assignment]
        deployment._initialized = True

        def synth(target: Deployment) -> Path:
            target.workspace.ensure()
            target.workspace.config_file.parent.mkdir(parents=True, exist_ok=True)
            target.workspace.config_file.write_text(json.dumps(doc))
            return target.workspace.config_file

        monkeypatch.setattr(workflow, "synth", synth)
        monkeypatch.setattr(workflow, "_refuse_leftovers", lambda deployment: None)
        return deployment, fake

    return make


def test_deploy_applies_the_stages_in_order_then_plans_everything(deployment_on) -> None:
    deployment, fake = deployment_on(EKS)
    doc = fake.config
    first = stage_of(doc, [])
    assert first is not None
    second = stage_of(doc, first.targets)
    assert second is not None
    asked: list[PlanSummary] = []

    result = workflow.deploy(deployment, confirm=lambda s: asked.append(s) or True)

    assert fake.plans == [first.plan_arguments(), second.plan_arguments(), []]
    assert fake.applied == [list(first.targets), list(second.targets), sorted(fake.everything)]
    assert [s.stage.number if s.stage else None for s in asked] == [1, 2, None]
    assert [(s["number"], s["count"]) for s in result["stages"]] == [(1, 3), (2, 3), (3, 3)]
    assert result["changed"] is True and "stopped" not in result
    assert result["plan"]["stage"] is None
    assert fake.state == fake.everything

    again = workflow.plan(deployment)
    assert fake.plans[-1] == [] and again.stage is None and not again.changes


def test_a_deploy_cut_off_after_stage_1_is_continued_by_the_next(deployment_on) -> None:
    deployment, fake = deployment_on(GKE)
    first = stage_of(fake.config, [])
    assert first is not None
    fake.state = set(first.targets)
    result = workflow.deploy(deployment, confirm=lambda s: True)
    assert [s["number"] for s in result["stages"]] == [2, 3]
    assert fake.plans[0] == stage_of(fake.config, first.targets).plan_arguments()  # type: ignore[union-attr]
    assert fake.state == fake.everything


def test_declining_a_later_stage_stops_there_and_keeps_the_earlier(deployment_on) -> None:
    deployment, fake = deployment_on(AKS)
    answers = iter([True, False])
    result = workflow.deploy(deployment, confirm=lambda s: next(answers))
    assert result["stopped"] == {"number": 2, "count": 3}
    assert len(fake.applied) == 1 and fake.state == set(fake.applied[0])


def test_a_stage_whose_apply_leaves_the_state_as_it_was_stops_the_deploy(deployment_on) -> None:
    deployment, fake = deployment_on(EKS)
    fake.stalls = True
    with pytest.raises(StagingError, match="stage 1 of the deploy was applied, yet 7 resources"):
        workflow.deploy(deployment, confirm=lambda s: True)
    assert len(fake.plans) == 2


def test_plan_of_a_fresh_state_is_stage_1_and_saves_only_it(deployment_on, tmp_path: Path) -> None:
    deployment, fake = deployment_on(EKS)
    saved = tmp_path / "stage1.plan"
    summary = workflow.plan(deployment, saved)
    assert summary.stage is not None and summary.stage.number == 1
    assert fake.plans == [summary.stage.plan_arguments()] and saved.exists()
    assert summary.to_dict()["stage"]["deferred"] == list(summary.stage.deferred)
    assert summary.create == len(summary.stage.targets)


def test_a_fleet_deploy_plans_once_without_targets(deployment_on) -> None:
    deployment, fake = deployment_on(FLEET)
    result = workflow.deploy(deployment, confirm=lambda s: True)
    assert fake.plans == [[]] and "stages" not in result
    assert result["plan"]["stage"] is None


def test_destroy_is_one_untargeted_plan(deployment_on) -> None:
    """Terraform orders the destroy itself: the workload and KEDA before the cluster their
    providers are configured from; no stage is needed."""
    deployment, fake = deployment_on(EKS)
    workflow.deploy(deployment, confirm=lambda s: True)
    fake.plans.clear()
    deployment._applied = None
    workflow.destroy(deployment, confirm=lambda s: True)
    assert fake.plans == [["-destroy"]] and fake.state == set()


def test_the_cli_says_which_stage_a_plan_is_and_what_a_saved_one_holds(deployment_on) -> None:
    from cli.deploy import _plan_line, _saved_line, _stages_text

    deployment, _ = deployment_on(EKS)
    planned = workflow.plan(deployment).to_dict()
    line = _plan_line(planned)
    assert line.splitlines()[1] == (
        "Stage 1 of 3 of the deploy: 1 helm_release and 6 kubernetes_manifest resources wait "
        "for a later stage, planned once what they are planned against exists (the cluster "
        "their provider signs in to, the custom resource types a release installs)."
    )
    saved = _saved_line(planned, Path("stage.plan"))
    assert "Saved stage 1 of 3 only to stage.plan" in saved and "infra plan --out" in saved
    assert "applies the stages one after another" in _saved_line(planned, None)
    assert _saved_line({"stage": None}, None) == ""

    answers = iter([True, False])
    result = workflow.deploy(deployment, confirm=lambda s: next(answers))
    lines = _stages_text(result).splitlines()
    assert lines[0].startswith("Stage 1 of 3: Plan: 35 to add")
    assert lines[1].startswith("Stage 2 of 3: Plan: ")
    assert lines[2].startswith("Stopped before stage 2 of 3 (not approved)")


def test_resources_that_wait_for_each_other_are_refused() -> None:
    """Terraform itself refuses such a cycle; staging says so instead of planning forever."""
    config = {
        "resource": {"thing_object": {"a": {"provider": "thing.a"}, "b": {"provider": "thing.b"}}},
        "provider": {
            "thing": [
                {"alias": "a", "host": "${thing_object.b.id}"},
                {"alias": "b", "host": "${thing_object.a.id}"},
            ]
        },
    }
    with pytest.raises(StagingError, match=r"^the configuration's stages never end"):
        stage_of(config, [])
