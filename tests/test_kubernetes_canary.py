"""The canary of `kind: kubernetes`, in its Terraform configuration: the synthesized JSON of a
canary built from an applied spec and a new one (KServe Serverless, and Deployments weighted by
a Gateway API route), the deploy's canary-apply, bake and promote-apply, a deploy cut off during
the bake continued by the next, `infra rollback` during the bake and with nothing to roll back,
and the hostile values of the new profile fields and spec section. Terraform is replaced at its
boundary (plan, apply, state) as in tests/test_sdk_steps.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

import orchestrator.workflow as workflow
from cli.endpoint_render import canary_text
from core.errors import InfraError, ProfileError
from modules.aws.kubernetes_workload import weights_download
from modules.kubernetes.workload import render_workload
from orchestrator import configured_canary, sdk_steps
from orchestrator.applied import AppliedState
from orchestrator.rollout import CanaryRolledBack, NothingToRollBack
from orchestrator.workflow import Deployment, PlanSummary
from planner.deployment import DeploymentSpec, dump_spec
from planner.profile import Canary, load_profile
from planner.serving import ServingRevision, ServingTracks
from providers import targets
from stacks.eks_kubernetes import EksServingStack
from stacks.kubernetes_canary import serving_revision, with_tracks
from stacks.kubernetes_common import workload_name
from tests.conftest import Cli, profile_dict, write_profile
from tests.kubernetes_schemas import validate
from tests.sdk_fakes import Steps, deployment_of
from tests.stack_json import (
    Synthesized,
    assert_records_its_spec,
    one_sentence,
    resources,
    service_outputs,
    synthesize_specs,
)
from tests.test_eks_stack import CLUSTER, REGION, make_spec

OLD_IMAGE = "vllm/vllm-openai:v0.10.1"
NEW_IMAGE = "vllm/vllm-openai:v0.10.2"
GATEWAY = "gateways/inference"


def with_image(spec: DeploymentSpec, image: str) -> DeploymentSpec:
    return msgspec.structs.replace(spec, runtime=msgspec.structs.replace(spec.runtime, image=image))


def pair(name: str, percent: int = 10, **kubernetes: Any) -> tuple[DeploymentSpec, DeploymentSpec]:
    """(applied, new): the same deployment on the old image, then on the new one."""
    new = make_spec(
        name,
        kubernetes={"cluster": CLUSTER, **kubernetes},
        runtime={"image": NEW_IMAGE},
        canary=Canary(percent=percent, bake_s=600),
    )
    return with_image(new, OLD_IMAGE), new


def canary_of(applied: DeploymentSpec, new: DeploymentSpec) -> DeploymentSpec:
    """What the orchestrator applies first: the new spec beside the applied one's revision."""
    stable = serving_revision(applied, False)
    assert stable is not None
    return configured_canary.canary_spec(new, stable)


def rolled_back(spec: DeploymentSpec) -> DeploymentSpec:
    tracks = ServingTracks(stable=spec.serving.stable, canary_percent=0)
    return msgspec.structs.replace(spec, serving=tracks)


PLAIN_OLD, PLAIN_NEW = pair("plain-canary", percent=20, gateway=GATEWAY)
PLAIN_CANARY = canary_of(PLAIN_OLD, PLAIN_NEW)
PLAIN_ROLLED_BACK = rolled_back(PLAIN_CANARY)
KSERVE_OLD, KSERVE_NEW = pair("kserve-canary", kserve=True, kserve_mode="serverless")
KSERVE_CANARY = canary_of(KSERVE_OLD, KSERVE_NEW)
KSERVE_ROLLED_BACK = rolled_back(KSERVE_CANARY)
PLAIN_BACK = msgspec.structs.replace(PLAIN_ROLLED_BACK, name="plain-back")
KSERVE_BACK = msgspec.structs.replace(KSERVE_ROLLED_BACK, name="kserve-back")
SYNTHESIZED = [PLAIN_CANARY, PLAIN_BACK, KSERVE_CANARY, KSERVE_BACK]
"""One App holds them all: a stack name once (the rolled-back ones renamed)."""


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_specs(SYNTHESIZED, tmp_path_factory.mktemp("canary"), emulated=False)


def objects(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = [body["manifest"] for body in resources(doc, "kubernetes_manifest").values()]
    for obj in found:
        validate(obj)  # every rendered object still validates
    return found


def of_kind(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in found if obj["kind"] == kind]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (engine,) = deployment["spec"]["template"]["spec"]["containers"]
    return engine


def test_a_gateway_canary_is_the_stable_deployment_beside_the_new_one(synthesized) -> None:
    doc = synthesized[PLAIN_CANARY]
    assert_records_its_spec(doc, PLAIN_CANARY)  # the section is in the state: rollback reads it
    found = objects(doc)
    name = workload_name(PLAIN_NEW)
    tracks = {obj["metadata"]["name"]: obj for obj in of_kind(found, "Deployment")}
    assert set(tracks) == {name, f"{name}-canary"}
    stable, canary = tracks[name], tracks[f"{name}-canary"]
    assert container(stable)["image"] == OLD_IMAGE and container(canary)["image"] == NEW_IMAGE
    for track in (stable, canary):
        assert {"name": "AWS_REGION", "value": REGION} in container(track)["env"]
    (route,) = of_kind(found, "HTTPRoute")
    assert route["spec"]["parentRefs"] == [{"name": "inference", "namespace": "gateways"}]
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"name": name, "port": 8000, "weight": 80},
        {"name": f"{name}-canary", "port": 8000, "weight": 20},
    ]
    (scaled,) = of_kind(found, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == name  # KEDA scales the stable track


def test_a_rolled_back_gateway_canary_serves_the_stable_revision_alone(synthesized) -> None:
    found = objects(synthesized[PLAIN_BACK])
    name = workload_name(PLAIN_BACK)
    (stable,) = of_kind(found, "Deployment")
    assert stable["metadata"]["name"] == name and container(stable)["image"] == OLD_IMAGE
    (route,) = of_kind(found, "HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": name, "port": 8000, "weight": 100}]


def test_a_kserve_canary_is_its_traffic_percent_on_a_serverless_service(synthesized) -> None:
    (service,) = of_kind(objects(synthesized[KSERVE_CANARY]), "InferenceService")
    annotations = service["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Serverless"
    predictor = service["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    (engine,) = predictor["containers"]
    assert engine["image"] == NEW_IMAGE  # KServe keeps the previous revision itself
    assert (
        "scaled by Knative"
        in service_outputs(synthesized[KSERVE_CANARY])["kubernetes_workload"]["value"]
    )
    (back,) = of_kind(objects(synthesized[KSERVE_BACK]), "InferenceService")
    predictor = back["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 0  # KServe's rollback: the last rolled out
    assert predictor["containers"][0]["image"] == OLD_IMAGE  # and no revision of the canary's


def test_the_revision_is_what_the_pods_run() -> None:
    old, new = PLAIN_OLD, PLAIN_NEW
    assert serving_revision(old, False) != serving_revision(new, False)
    scaled = msgspec.structs.replace(
        old,
        capacity=msgspec.structs.replace(old.capacity, desired=4, max_size=8),
        tags={**old.tags, "owner": "someone"},
    )
    assert serving_revision(scaled, False) == serving_revision(old, False)
    assert serving_revision(old, True) is None, "the emulator applies no workload"


# The orchestrator, with Terraform replaced at its boundary.


class FakeTerraform:
    """Plans always change something; an apply makes its spec the state's; events in order."""

    def __init__(self, applied: DeploymentSpec | None = None) -> None:
        self.applied = applied
        self.events: list[str] = []
        self.applied_specs: list[DeploymentSpec] = []

    def plan(self, deployment: Deployment, out: Any = None, **_: Any) -> PlanSummary:
        self.events.append("plan")
        return PlanSummary(True, 1, 0, 0, 0, [], None, Path("plan.log"))

    def apply_plan(self, deployment: Deployment, tfplan: Path, *, refresh: bool = True) -> Any:
        self.events.append("apply")
        self.applied = deployment.spec
        self.applied_specs.append(deployment.spec)
        return {}

    def applied_state(self, deployment: Deployment) -> AppliedState:
        return AppliedState(1 if self.applied else 0, self.applied)


@pytest.fixture
def terraform(monkeypatch: pytest.MonkeyPatch) -> FakeTerraform:
    fake = FakeTerraform()
    monkeypatch.setattr(workflow, "plan", fake.plan)
    monkeypatch.setattr(workflow, "applied_state", fake.applied_state)
    monkeypatch.setattr(workflow, "apply_plan", fake.apply_plan)
    monkeypatch.setattr(workflow, "outputs", lambda deployment: {})
    return fake


def run_deploy(
    spec: DeploymentSpec, tmp_path: Path, terraform: FakeTerraform, sleep: Any = None
) -> tuple[dict[str, Any], Steps]:
    steps = Steps()

    def bake(seconds: float) -> None:
        terraform.events.append(f"bake {seconds:g} s")
        if sleep is not None:
            sleep(seconds)

    deployment = deployment_of(spec, tmp_path, steps)
    result = configured_canary.deploy(
        deployment,
        lambda summary: True,
        lambda each, ask, first: workflow.deploy(each, ask),
        bake,
    )
    assert result is not None
    return result, steps


def test_a_new_revision_is_applied_beside_the_stable_one_baked_then_promoted(
    terraform: FakeTerraform, tmp_path: Path
) -> None:
    terraform.applied = PLAIN_OLD
    result, steps = run_deploy(PLAIN_NEW, tmp_path, terraform)
    assert terraform.events == ["plan", "apply", "bake 600 s", "plan", "apply"]
    canary, promoted = terraform.applied_specs
    assert canary == PLAIN_CANARY
    assert promoted == PLAIN_NEW and promoted.serving == ServingTracks()
    new = configured_canary.revision_label(serving_revision(PLAIN_NEW, False))
    assert any(step.startswith(f"bake {new} for 600 s") for step in steps.started)
    assert result["changed"] is True and result["canary"]["revision"] == new
    assert result["canary"]["actions"][-1].startswith(f"promoted {new} to all of the traffic")
    text = canary_text(result["canary"])
    assert text.startswith(f"\nCanary {new}:\n  - {new} took 20% of the traffic beside rev-")


def test_the_workflow_deploy_goes_through_the_canary(
    terraform: FakeTerraform, tmp_path: Path
) -> None:
    terraform.applied = KSERVE_OLD
    quick = msgspec.structs.replace(KSERVE_NEW, canary=Canary(percent=10, bake_s=0))
    workflow.deploy(deployment_of(quick, tmp_path), confirm=lambda summary: True)
    assert terraform.events == ["plan", "apply", "plan", "apply"]
    assert terraform.applied_specs[0].serving.canary_percent == 10
    assert terraform.applied_specs[1] == quick


def test_no_new_revision_no_canary(terraform: FakeTerraform, tmp_path: Path) -> None:
    terraform.applied = PLAIN_NEW
    bigger = msgspec.structs.replace(
        PLAIN_NEW, capacity=msgspec.structs.replace(PLAIN_NEW.capacity, desired=3, max_size=8)
    )
    result = workflow.deploy(deployment_of(bigger, tmp_path), confirm=lambda summary: True)
    assert terraform.events == ["plan", "apply"] and "canary" not in result


def test_without_a_gateway_the_revision_replaces_the_pods_and_says_so(
    terraform: FakeTerraform, tmp_path: Path
) -> None:
    old, new = pair("no-gateway")
    terraform.applied = old
    result, _ = run_deploy(new, tmp_path, terraform)
    assert terraform.events == ["plan", "apply"]
    assert terraform.applied_specs == [new]
    (note,) = result["canary"]["actions"]
    assert note.startswith("no canary: without KServe") and "deploy.kubernetes.gateway" in note


def test_kserve_in_raw_mode_has_no_canary(terraform: FakeTerraform, tmp_path: Path) -> None:
    old, new = pair("kserve-raw", kserve=True)
    terraform.applied = old
    result, _ = run_deploy(new, tmp_path, terraform)
    assert terraform.events == ["plan", "apply"]
    assert "kserve_mode: serverless" in result["canary"]["actions"][0]


def test_a_changed_kserve_mode_is_refused_before_anything_is_planned(
    terraform: FakeTerraform, tmp_path: Path
) -> None:
    old, _ = pair("kserve-mode", kserve=True)
    _, new = pair("kserve-mode", kserve=True, kserve_mode="serverless")
    terraform.applied = old
    with pytest.raises(configured_canary.RefusedChange) as raised:
        workflow.deploy(deployment_of(new, tmp_path), confirm=lambda summary: True)
    assert "kserve_mode changes from raw to serverless" in str(raised.value)
    one_sentence(str(raised.value))
    assert terraform.events == []


def test_a_deploy_cut_off_during_the_bake_is_promoted_by_the_next(
    terraform: FakeTerraform, tmp_path: Path
) -> None:
    terraform.applied = PLAIN_CANARY  # the state a run killed while it baked left
    result, _ = run_deploy(PLAIN_NEW, tmp_path, terraform)
    assert terraform.events == ["plan", "apply"]
    assert terraform.applied_specs == [PLAIN_NEW]
    assert "a cut-off deploy left baking" in result["canary"]["actions"][0]


def test_a_profile_changed_during_a_bake_bakes_beside_the_last_promoted_revision(
    terraform: FakeTerraform, tmp_path: Path
) -> None:
    terraform.applied = PLAIN_CANARY
    newer = with_image(PLAIN_NEW, "vllm/vllm-openai:v0.10.3")
    run_deploy(newer, tmp_path, terraform)
    assert terraform.applied_specs[0].serving.stable == serving_revision(PLAIN_OLD, False)


def test_rollback_during_the_bake_stops_the_deploy_without_promoting(
    terraform: FakeTerraform, tmp_path: Path
) -> None:
    terraform.applied = PLAIN_OLD
    rollbacks: list[dict[str, Any]] = []

    def roll_back_meanwhile(seconds: float) -> None:
        """`infra rollback` from another terminal while the deploy sleeps."""
        other = deployment_of(PLAIN_NEW, tmp_path / "elsewhere")
        rollbacks.append(sdk_steps.rollback(other))

    with pytest.raises(CanaryRolledBack) as raised:
        run_deploy(PLAIN_NEW, tmp_path, terraform, sleep=roll_back_meanwhile)
    message = str(raised.value)
    assert "was rolled back while it baked" in message and "nothing was promoted" in message
    one_sentence(message)
    assert terraform.events == ["plan", "apply", "bake 600 s", "plan", "apply"]
    assert terraform.applied_specs[-1] == PLAIN_ROLLED_BACK, "the stable revision alone"
    (rollback,) = rollbacks
    stable = configured_canary.revision_label(serving_revision(PLAIN_OLD, False))
    assert rollback["serving"] == stable and rollback["traffic"] == {stable: 100}


@pytest.mark.parametrize(
    "applied", [PLAIN_OLD, PLAIN_ROLLED_BACK, None], ids=["one-revision", "rolled-back", "none"]
)
def test_rollback_with_no_canary_in_the_state_is_one_sentence(
    terraform: FakeTerraform, tmp_path: Path, applied: DeploymentSpec | None
) -> None:
    terraform.applied = applied
    with pytest.raises(NothingToRollBack) as raised:
        sdk_steps.rollback(deployment_of(PLAIN_NEW, tmp_path))
    message = str(raised.value)
    assert message.startswith("nothing to roll back:")
    assert message.endswith("re-deploy the previous profile to go back.")
    one_sentence(message)
    assert terraform.events == []


def test_the_orchestrator_reads_the_kind_not_its_name() -> None:
    module = targets.kind(PLAIN_NEW.kind).canary_in_configuration
    assert module == "stacks.kubernetes_canary"
    assert configured_canary.handles(PLAIN_NEW)
    assert hasattr(EksServingStack, "serving_props")


# Hostile values.


@pytest.mark.parametrize(
    ("kubernetes", "words"),
    [
        ({"gateway": "inference"}, "NAMESPACE/NAME"),
        ({"gateway": "Gateways/Inference"}, "NAMESPACE/NAME"),
        ({"gateway": "gateways/inference/extra"}, "NAMESPACE/NAME"),
        ({"gateway": "../inference"}, "NAMESPACE/NAME"),
        ({"gateway": "gateways/in ference"}, "NAMESPACE/NAME"),
        ({"gateway": "gateways/inference\nx: 1"}, "control character"),
        ({"gateway": "gateways/" + "a" * 254}, "NAMESPACE/NAME"),
        ({"gateway": GATEWAY, "kserve": True}, "KServe routes"),
        ({"kserve_mode": "serverless"}, "with kserve: true only"),
        ({"kserve": True, "kserve_mode": "knative"}, "kserve_mode"),
    ],
)
def test_hostile_kubernetes_fields_are_one_sentence(
    tmp_path: Path, kubernetes: dict[str, Any], words: str
) -> None:
    data = profile_dict()
    data["deploy"] = {"kubernetes": {"cluster": CLUSTER, **kubernetes}}
    with pytest.raises(ProfileError) as raised:
        load_profile(write_profile(tmp_path, data))
    message = str(raised.value)
    assert words in message and "deploy.kubernetes" in message
    one_sentence(message)


def test_a_gateway_profile_loads(tmp_path: Path) -> None:
    data = profile_dict()
    data["deploy"] = {"kubernetes": {"cluster": CLUSTER, "gateway": GATEWAY}}
    assert load_profile(write_profile(tmp_path, data)).profile.deploy.kubernetes.gateway == GATEWAY


def test_the_profile_cannot_set_the_serving_section(tmp_path: Path) -> None:
    data = profile_dict()
    data["deploy"] = {"serving": {"canary_percent": 50}}
    with pytest.raises(ProfileError, match="serving"):
        load_profile(write_profile(tmp_path, data))


@pytest.mark.parametrize(
    ("stable", "words"),
    [
        ({"image": "vllm/vllm-openai:v1 ; rm -rf /"}, "is not an image reference"),
        ({"env": {"HF_TOKEN": "hf_abcdefghijklmnopqrstuvwxyz0123456789"}}, "sets HF_TOKEN"),
        ({"args": ["--api-key", "sk-abcdefghijklmnopqrstuvwxyz0123456789abcd"]}, "looks like"),
        ({"weights_uri": "https://elsewhere.example/weights"}, "is not s3://BUCKET/PREFIX"),
    ],
)
def test_a_hostile_stable_revision_in_a_spec_file_is_one_sentence(
    stable: dict[str, Any], words: str
) -> None:
    """A hand-written spec (`--spec`) may carry the section: it is checked as the profile's
    own revision is, before anything is rendered."""
    base = serving_revision(PLAIN_OLD, False)
    assert base is not None
    revision = msgspec.structs.replace(base, **stable)
    spec = configured_canary.canary_spec(PLAIN_NEW, revision)
    props = EksServingStack.serving_props(spec, False)
    assert props is not None
    with pytest.raises(InfraError) as raised:
        render_workload(with_tracks(props, spec, weights_download))
    assert words in str(raised.value)
    one_sentence(str(raised.value))


def test_serving_revision_rejects_an_unknown_engine() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(
            {
                "engine": "sh",
                "image": "x",
                "args": [],
                "port": 1,
                "health_path": "/",
                "tensor_parallel": 1,
            },
            ServingRevision,
        )


def test_rollback_through_the_cli(cli: Cli, terraform: FakeTerraform, tmp_path: Path) -> None:
    terraform.applied = PLAIN_CANARY
    path = tmp_path / "spec.yaml"
    path.write_text(dump_spec(PLAIN_NEW))
    result = cli("rollback", "--spec", path)
    assert result.exit_code == 0, result.output
    stable = configured_canary.revision_label(serving_revision(PLAIN_OLD, False))
    canary = configured_canary.revision_label(serving_revision(PLAIN_NEW, False))
    assert result.stdout == (
        f"Rolled back {canary} on {PLAIN_NEW.stack_name}: all traffic to {stable} "
        f"({stable} 100%).\n"
    )
    assert terraform.applied == PLAIN_ROLLED_BACK
    again = cli("rollback", "--spec", path)
    assert again.exit_code == 1 and again.stdout == "" and "Traceback" not in again.output
    error = again.stderr.splitlines()[-1]
    assert error.startswith("error: nothing to roll back: no canary is baking on plain-canary-prod")
