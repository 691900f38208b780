"""The deployment workflow behind `infra synth|plan|apply|deploy|destroy|status|drift`.

A deployment is a profile (or a hand-written spec) plus an environment. The environment `local`
targets the local emulated AWS: the emulator starts when needed, the provider gets test
credentials, and the autoscaling group does not wait for instances that will never be healthy.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import NotDeployed, PlanFileError, ProtectedEnvironment
from orchestrator.terraform import TerraformRunner, find_terraform
from orchestrator.workspace import Workspace, open_private, write_atomically
from planner.deployment import DeploymentSpec, dump_spec, load_spec, spec_from_recommendation
from planner.optimizer import Filters, Recommendation

LOCAL_ENV = "local"
PLAN_FORMAT = "infra-plan/1"
Reporter = Callable[[str, float | None], None]
"""Called when a step starts (seconds None) and when it ends (elapsed seconds)."""


def _quiet(step: str, seconds: float | None) -> None:
    del step, seconds


@dataclass
class Deployment:
    spec: DeploymentSpec
    workspace: Workspace
    report: Reporter = _quiet
    recommendation: Recommendation | None = None
    """The planner's ranking the spec was chosen from (None for a hand-written spec)."""
    _runner: TerraformRunner | None = field(default=None, repr=False)
    _initialized: bool = field(default=False, repr=False)

    @property
    def emulated(self) -> bool:
        return self.spec.env == LOCAL_ENV

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        self.report(name, None)
        yield
        self.report(name, time.monotonic() - started)

    def runner(self) -> TerraformRunner:
        if self._runner is None:
            binary = find_terraform()
            extra: dict[str, str] = {}
            if self.emulated:
                extra = _emulator_environment(self.spec.region)
            self._runner = TerraformRunner(binary, self.workspace, extra)
        return self._runner


def _emulator_environment(region: str) -> dict[str, str]:
    from providers.local.emulator import aws_environment, ensure_running

    endpoint = ensure_running()
    return {**aws_environment(endpoint), "AWS_REGION": region, "AWS_DEFAULT_REGION": region}


def prepare(
    profile_path: Path | None,
    env: str,
    filters: Filters | None = None,
    spec_path: Path | None = None,
    report: Reporter = _quiet,
) -> Deployment:
    """The spec to deploy: from a hand-written spec file, or from the planner's choice."""
    recommendation = None
    if spec_path is not None:
        spec = load_spec(spec_path)
        base = spec_path.resolve().parent
    else:
        assert profile_path is not None
        recommendation = _recommend(profile_path, env, filters or Filters())
        spec = spec_from_recommendation(recommendation.profile, recommendation, env)
        base = profile_path.resolve().parent
    workspace = Workspace.for_deployment(base, spec.name, spec.env)
    return Deployment(spec, workspace, report, recommendation)


def _deployable_accelerators(pinned: frozenset[str] | None) -> frozenset[str]:
    """The boot script drives NVIDIA GPUs: Neuron chips are recommended but not yet deployed."""
    from modules.user_data import NEURON_ACCELERATORS
    from planner.accelerators import accelerators

    neuron = {name.lower() for name in NEURON_ACCELERATORS}
    every = {name.lower() for name in accelerators()}
    return frozenset((pinned or every) - neuron)


def _recommend(profile_path: Path, env: str, filters: Filters) -> Recommendation:
    import msgspec

    from planner.service import recommend_for_profile

    filters = msgspec.structs.replace(
        filters, accelerators=_deployable_accelerators(filters.accelerators)
    )
    if env == LOCAL_ENV:
        # The emulator is AWS: plan within what it can run, whatever the profile allows.
        filters = msgspec.structs.replace(
            filters, clouds=frozenset({"aws"}), kinds=filters.kinds or frozenset({"fleet"})
        )
    return recommend_for_profile(profile_path, filters)


def synth(deployment: Deployment) -> Path:
    from orchestrator.synth import synthesize

    workspace = deployment.workspace
    workspace.ensure()
    with deployment.step("synth"):
        synthesize(
            [(deployment.spec, workspace.root)], workspace.synth_dir, emulated=deployment.emulated
        )
        write_atomically(workspace.spec_file, dump_spec(deployment.spec))
    return workspace.config_file


def init(deployment: Deployment) -> None:
    """`terraform init`, once per deployment and process (plan then apply need it once)."""
    if deployment._initialized:
        return
    with deployment.step("init"):
        deployment.runner().run("init", ["init", "-input=false", "-no-color", "-upgrade=false"])
    deployment._initialized = True


@dataclass(frozen=True)
class PlanSummary:
    changes: bool
    create: int
    update: int
    delete: int
    replace: int
    resources: list[dict[str, str]]
    plan_file: Path | None
    log: Path
    document: dict[str, object] | None = field(default=None, repr=False)
    """The plan as `terraform show -json` prints it (for pricing; not part of to_dict)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "changes": self.changes,
            "create": self.create,
            "update": self.update,
            "delete": self.delete,
            "replace": self.replace,
            "resources": self.resources,
            "plan_file": str(self.plan_file) if self.plan_file else None,
            "log": str(self.log),
        }


@dataclass(frozen=True)
class PlanGates:
    """Checks `plan` runs: on the configuration before Terraform spends time on it, and on
    the plan before it is saved. A gate refuses by raising an InfraError; nothing is saved."""

    configuration: Callable[[Path], None] | None = None
    plan: Callable[[PlanSummary], None] | None = None


def plan(
    deployment: Deployment,
    out: Path | None = None,
    *,
    destroy: bool = False,
    gates: PlanGates = PlanGates(),
) -> PlanSummary:
    """Synthesize, init and plan; with `out`, save an archive `apply` can apply exactly."""
    if not destroy:
        from orchestrator import sdk_steps

        sdk_steps.check(deployment)
    config = synth(deployment)
    if gates.configuration is not None:
        gates.configuration(config)
    init(deployment)
    runner = deployment.runner()
    tfplan = deployment.workspace.root / "tfplan"
    with deployment.step("plan"):
        args = ["plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={tfplan}"]
        result = runner.run("plan", [*args, *(["-destroy"] if destroy else [])], ok_codes=(0, 2))
        shown = runner.json("show", ["show", "-json", str(tfplan)])
    summary = _summarize(shown, result.returncode == 2, result.log)
    if gates.plan is not None:
        gates.plan(summary)
    if out is not None:
        _write_plan_archive(deployment, tfplan, out)
        summary = PlanSummary(**{**summary.__dict__, "plan_file": out})
    return summary


def _summarize(shown: object, changes: bool, log: Path) -> PlanSummary:
    counts = {"create": 0, "update": 0, "delete": 0, "replace": 0}
    resources = []
    for change in (shown or {}).get("resource_changes", []):  # type: ignore[union-attr]
        actions = change["change"]["actions"]
        if actions == ["no-op"] or actions == ["read"]:
            continue
        action = "replace" if set(actions) == {"create", "delete"} else actions[0]
        counts[action] = counts.get(action, 0) + 1
        resources.append({"address": change["address"], "action": action})
    document = shown if isinstance(shown, dict) else None
    return PlanSummary(
        changes, **counts, resources=resources, plan_file=None, log=log, document=document
    )


def _write_plan_archive(deployment: Deployment, tfplan: Path, out: Path) -> None:
    """The Terraform plan plus the configuration and spec it was made from, in one file."""
    import msgspec

    meta = {
        "format": PLAN_FORMAT,
        "stack": deployment.workspace.stack,
        "workspace": str(deployment.workspace.root),
        "spec": msgspec.to_builtins(deployment.spec),
    }
    temporary = out.with_name(f".{out.name}.partial")
    with (
        open_private(temporary, "wb") as stream,  # the plan holds what the state will hold
        zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        archive.writestr("meta.json", json.dumps(meta, indent=2))
        archive.write(tfplan, "tfplan")
        archive.write(deployment.workspace.config_file, "cdk.tf.json")
        lock = deployment.workspace.stack_dir / ".terraform.lock.hcl"
        if lock.exists():
            archive.write(lock, ".terraform.lock.hcl")
    temporary.replace(out)


def load_plan_archive(path: Path, report: Reporter = _quiet) -> tuple[Deployment, Path]:
    """Restore a plan archive's configuration into its workspace; return the plan to apply."""
    import msgspec

    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("meta.json"))
            if meta.get("format") != PLAN_FORMAT:
                raise PlanFileError(
                    f"{path} is not an infra plan file (format {meta.get('format')})."
                )
            spec = msgspec.convert(meta["spec"], DeploymentSpec)
            workspace = Workspace(Path(meta["workspace"]), meta["stack"])
            workspace.ensure()
            workspace.stack_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(workspace.config_file, archive.read("cdk.tf.json"))
            if ".terraform.lock.hcl" in archive.namelist():
                lock = archive.read(".terraform.lock.hcl")
                write_atomically(workspace.stack_dir / ".terraform.lock.hcl", lock)
            tfplan = workspace.root / "tfplan.applying"
            write_atomically(tfplan, archive.read("tfplan"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file.") from None
    except (zipfile.BadZipFile, KeyError, ValueError, msgspec.ValidationError):
        raise PlanFileError(
            f"{path} is not an infra plan file; make one with `infra plan PROFILE --out FILE`."
        ) from None
    return Deployment(spec, workspace, report), tfplan


def apply_plan(deployment: Deployment, tfplan: Path, *, refresh: bool = True) -> dict[str, object]:
    """Apply the plan, then record a refresh: attributes the cloud fills in only after creation
    (attached policy lists, default tags) would otherwise read as drift on the next check.
    After a destroy there is nothing to refresh."""
    init(deployment)
    runner = deployment.runner()
    with deployment.step("apply"):
        runner.run("apply", ["apply", "-input=false", "-no-color", str(tfplan)])
    if not refresh:
        return {}
    with deployment.step("refresh"):
        runner.run(
            "refresh", ["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"]
        )
    return outputs(deployment)


def deploy(
    deployment: Deployment,
    confirm: Callable[[PlanSummary], bool],
    gates: PlanGates = PlanGates(),
) -> dict[str, object]:
    """Plan (through the gates), ask (unless the caller auto-approves), apply exactly that plan,
    then the SDK steps of a managed endpoint (also with no Terraform changes, so a run that
    failed in them is finished by the next)."""
    from orchestrator import sdk_steps

    summary = plan(deployment, gates=gates)
    if not summary.changes:
        applied = outputs(deployment)
        result = {"changed": False, "plan": summary.to_dict(), "outputs": applied}
    elif not confirm(summary):
        return {"changed": False, "cancelled": True, "plan": summary.to_dict()}
    else:
        applied = apply_plan(deployment, deployment.workspace.root / "tfplan")
        result = {"changed": True, "plan": summary.to_dict(), "outputs": applied}
    if sdk_steps.handles(deployment.spec):
        result["endpoint"] = sdk_steps.after_apply(deployment, applied)
    return result


def destroy(deployment: Deployment, confirm: Callable[[PlanSummary], bool]) -> dict[str, object]:
    if deployment.spec.protected:
        raise ProtectedEnvironment(
            f"environment '{deployment.spec.env}' is protected; remove `protected: true` from "
            "its profile entry to destroy it."
        )
    summary = plan(deployment, destroy=True)
    if not summary.changes:
        return {"destroyed": 0, "plan": summary.to_dict()}
    if not confirm(summary):
        return {"destroyed": 0, "cancelled": True, "plan": summary.to_dict()}
    from orchestrator import sdk_steps

    removed = None
    if sdk_steps.handles(deployment.spec):
        removed = sdk_steps.before_destroy(deployment, outputs(deployment))
    apply_plan(deployment, deployment.workspace.root / "tfplan", refresh=False)
    result = {"destroyed": summary.delete + summary.replace, "plan": summary.to_dict()}
    if removed is not None:
        result["removed_by_sdk"] = removed
    return result


def outputs(deployment: Deployment) -> dict[str, object]:
    raw = deployment.runner().json("output", ["output", "-json", "-no-color"])
    return {name: value["value"] for name, value in (raw or {}).items()}  # type: ignore[union-attr]


def status(deployment: Deployment) -> dict[str, object]:
    """What is deployed according to the state: resource count and outputs."""
    workspace = deployment.workspace
    if not workspace.config_file.exists():
        raise NotDeployed(
            f"{deployment.spec.stack_name} has not been deployed from here "
            f"({workspace.root} does not exist); run `infra deploy` first."
        )
    init(deployment)
    listed = deployment.runner().run("state", ["state", "list"], ok_codes=(0, 1))
    resources = [line for line in listed.output.splitlines() if line.strip()]
    applied = outputs(deployment) if resources else {}
    result = {
        "stack": workspace.stack,
        "env": deployment.spec.env,
        "cloud": deployment.spec.cloud,
        "kind": deployment.spec.kind,
        "region": deployment.spec.region,
        "instance_type": deployment.spec.instance_type,
        "resources": len(resources),
        "outputs": applied,
        "expected_monthly_usd": deployment.spec.expected_monthly_usd,
    }
    from orchestrator import sdk_steps

    if sdk_steps.handles(deployment.spec):
        result["endpoint"] = sdk_steps.live_status(deployment, applied)
    return result


def drift(deployment: Deployment) -> PlanSummary:
    """Refresh-only plan: did anything change outside Terraform since the last apply?"""
    if not deployment.workspace.config_file.exists():
        synth(deployment)
    init(deployment)
    runner = deployment.runner()
    refreshed = deployment.workspace.root / "drift.tfplan"
    with deployment.step("drift"):
        args = ["plan", "-refresh-only", "-input=false", "-no-color", f"-out={refreshed}"]
        result = runner.run("drift", args)
        shown = runner.json("show", ["show", "-json", str(refreshed)])
    drifted = [
        {"address": change["address"], "action": "drifted"}
        for change in (shown or {}).get("resource_drift", [])  # type: ignore[union-attr]
        if change["change"]["actions"] != ["no-op"]
    ]
    return PlanSummary(bool(drifted), 0, len(drifted), 0, 0, drifted, None, result.log)
