"""The deployment workflow behind `infra synth|plan|apply|deploy|destroy|status|drift`.

A deployment is a profile (or a hand-written spec) plus an environment. Its decision comes from
the lock (orchestrator/decisions.py); what its state was applied with comes from the state
(orchestrator/applied.py). Terraform only ever runs a configuration over the state it was
created with: a change of cloud, kind or region is a move, the old deployment destroyed with its
own configuration and the new one created, shown and approved as one operation.

The environment `local` targets the local emulated AWS: the emulator starts when needed, the
provider gets test credentials, and the autoscaling group does not wait for instances that will
never be healthy.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.errors import InfraError
from core.files import write_atomically
from orchestrator.applied import (
    AppliedState,
    check_state_belongs,
    describe_target,
    forget_record,
    read_record,
    spec_from_output,
    write_record,
)
from orchestrator.decisions import LOCAL_ENV, Resolved, resolve
from orchestrator.errors import DeploymentBusy, NotDeployed, PlanFileError, ProtectedEnvironment
from orchestrator.staging import Stage, later_stages, next_stage
from orchestrator.terraform import TerraformRunner, find_terraform
from orchestrator.workspace import Workspace, open_private
from planner.deployment import RECORD_OUTPUT as RECORD_OUTPUT_NAME
from planner.deployment import (
    DeploymentSpec,
    dump_spec,
    load_spec,
    same_configuration,
    spec_as_data,
    spec_as_json,
)
from planner.optimizer import Filters, Recommendation

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
    resolved: Resolved | None = None
    """Where the decision came from (None for a hand-written spec or a saved plan)."""
    _runner: TerraformRunner | None = field(default=None, repr=False)
    _initialized: bool = field(default=False, repr=False)
    _applied: AppliedState | None = field(default=None, repr=False)

    @property
    def emulated(self) -> bool:
        return self.spec.env == LOCAL_ENV

    @property
    def recommendation(self) -> Recommendation | None:
        """The planner's ranking the decision was taken from, when this command took it."""
        return self.resolved.recommendation if self.resolved else None

    def with_spec(self, spec: DeploymentSpec) -> Deployment:
        """The same workspace and state with another configuration (the one a state was applied
        with, for a destroy); Terraform is initialized again for it."""
        workspace = Workspace(self.workspace.root, spec.stack_name)
        return Deployment(spec, workspace, self.report, self.resolved)

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


def _sdk_environment(deployment: Deployment) -> dict[str, str]:
    """What a cloud SDK reads its endpoint and credentials from: Terraform's (the emulator's
    under `--env local`), without a Terraform runner."""
    extra = _emulator_environment(deployment.spec.region) if deployment.emulated else {}
    return {**os.environ, **extra}


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
    *,
    replan: bool = False,
    locked_only: bool = False,
    allow_stale: bool = False,
    what_if: bool = False,
) -> Deployment:
    """The deployment to work on: from a hand-written spec file, or from the profile's lock (a
    new decision when the environment has none, or with `replan`)."""
    resolved = None
    if spec_path is not None:
        spec = load_spec(spec_path)
        base = spec_path.resolve().parent
    else:
        assert profile_path is not None
        resolved = resolve(
            profile_path,
            env,
            filters or Filters(),
            replan=replan,
            locked_only=locked_only,
            allow_stale=allow_stale,
            what_if=what_if,
        )
        spec = resolved.spec
        base = profile_path.resolve().parent
    workspace = Workspace.for_deployment(base, spec.name, spec.env, spec.stack_name)
    return Deployment(spec, workspace, report, resolved)


@contextmanager
def exclusive(deployment: Deployment) -> Iterator[None]:
    """Hold the deployment for this run, from before synth until the apply ends: a second run
    of the same environment is refused instead of applying a configuration the first announced
    (Terraform's own state lock covers only each plan and apply)."""
    deployment.workspace.ensure()
    guard = deployment.workspace.root / ".run.lock"
    with guard.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise DeploymentBusy(
                f"another infra run ({holder}) is working on {deployment.workspace.stack}; wait "
                "for it to finish (its progress is in "
                f"{deployment.workspace.log_dir})."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def synth_to(deployment: Deployment, outdir: Path) -> Path:
    """Synthesize into `outdir`, leaving the workspace as it is (pricing reads the result once)."""
    from orchestrator.synth import synthesize

    with deployment.step("synth"):
        synthesize(
            [(deployment.spec, deployment.workspace.root)], outdir, emulated=deployment.emulated
        )
    return outdir / "stacks" / deployment.spec.stack_name / "cdk.tf.json"


def init(deployment: Deployment) -> None:
    """`terraform init`, once per deployment and process (plan then apply need it once)."""
    if deployment._initialized:
        return
    with deployment.step("init"):
        deployment.runner().run("init", ["init", "-input=false", "-no-color", "-upgrade=false"])
    deployment._initialized = True


@dataclass(frozen=True)
class Move:
    """The state holds a deployment on another cloud, kind or region than the decision: the old
    one is destroyed with its own configuration, then the new one is created."""

    old: DeploymentSpec
    new: DeploymentSpec
    destroy: int
    create: int

    def to_dict(self) -> dict[str, object]:
        return {
            "from": describe_target(self.old),
            "to": describe_target(self.new),
            "destroy": self.destroy,
            "create": self.create,
        }


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
    move: Move | None = None
    stage: Stage | None = None
    """Which stage of a staged deploy this plan is (orchestrator/staging.py); None: the whole
    configuration is planned."""

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
            "move": self.move.to_dict() if self.move else None,
            "stage": self.stage.to_dict() if self.stage else None,
        }


@dataclass(frozen=True)
class PlanGates:
    """Checks `plan` runs: on the configuration before Terraform spends time on it, and on
    the plan before it is saved. A gate refuses by raising an InfraError; nothing is saved."""

    configuration: Callable[[Path], None] | None = None
    plan: Callable[[PlanSummary], None] | None = None


class MoveNotSaved(InfraError):
    pass


def _state_where(deployment: Deployment) -> str:
    backend = deployment.spec.state_backend
    if backend is None:
        return str(deployment.workspace.state_file)
    return f"s3://{backend.s3_bucket}/{backend.key_prefix.strip('/')}/{deployment.spec.name}/..."


def applied_state(deployment: Deployment) -> AppliedState:
    """What the deployment's state holds and the spec it was applied with. Reads only: Terraform
    is initialized with the deployment's configuration (same backend) and asked for its resource
    list and outputs, never to plan."""
    if deployment._applied is None:
        if not deployment.workspace.config_file.exists():
            synth(deployment)
        init(deployment)
        runner = deployment.runner()
        listed = runner.run("state", ["state", "list"], ok_codes=(0, 1))
        resources = len(_managed(listed.output.splitlines()))
        spec = spec_from_output(_all_outputs(deployment)) if resources else None
        if spec is None and resources:
            spec = read_record(deployment.workspace)[0]
        deployment._applied = AppliedState(resources, spec)
    return deployment._applied


def _managed(addresses: list[str]) -> list[str]:
    """Resource addresses from `terraform state list`, data sources left out."""
    return [
        address
        for address in (line.strip() for line in addresses)
        if address and not any(part.startswith("data.") for part in address.split("module."))
    ]


def _is_move(applied: AppliedState, spec: DeploymentSpec) -> bool:
    return not applied.empty and applied.spec is not None and applied.spec.target != spec.target


def plan(
    deployment: Deployment,
    out: Path | None = None,
    *,
    destroy: bool = False,
    gates: PlanGates = PlanGates(),
) -> PlanSummary:
    """Synthesize, init and plan; with `out`, save an archive `apply` can apply exactly. When the
    state holds a deployment on another target, the plan is a move (see `Move`)."""
    if not destroy:
        from orchestrator import sdk_steps

        sdk_steps.check(deployment)
    config = synth(deployment)
    if gates.configuration is not None:
        gates.configuration(config)
    applied = applied_state(deployment)
    check_state_belongs(deployment.spec, applied, deployment.workspace, _state_where(deployment))
    if not destroy and _is_move(applied, deployment.spec):
        assert applied.spec is not None
        if out is not None:
            raise MoveNotSaved(
                f"the state holds {describe_target(applied.spec)} and the decision is "
                f"{describe_target(deployment.spec)}: a move is not one saved plan. Run "
                "`infra deploy` to move in one approved step, or `infra destroy` then "
                "`infra plan --out` again."
            )
        return _preview_move(deployment, applied.spec, applied.resources, gates)
    return _terraform_plan(deployment, out, destroy=destroy, gates=gates)


def _terraform_plan(
    deployment: Deployment, out: Path | None, *, destroy: bool, gates: PlanGates
) -> PlanSummary:
    _check_configuration_is_for(deployment)
    init(deployment)
    runner = deployment.runner()
    tfplan = deployment.workspace.root / "tfplan"
    stage = None if destroy else next_stage(deployment.workspace.config_file, runner)
    with deployment.step("plan"):
        args = ["plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={tfplan}"]
        args += ["-destroy"] if destroy else stage.plan_arguments() if stage else []
        result = runner.run("plan", args, ok_codes=(0, 2))
        shown = runner.json("show", ["show", "-json", str(tfplan)])
    summary = replace(_summarize(shown, result.returncode == 2, result.log), stage=stage)
    if gates.plan is not None:
        gates.plan(summary)
    if out is not None:
        _write_plan_archive(deployment, tfplan, out)
        summary = replace(summary, plan_file=out)
    return summary


def _check_configuration_is_for(deployment: Deployment) -> None:
    """The last line of defence: the configuration on disk is the deployment's own (its recorded
    spec), never one synthesized for another target that happens to share the stack folder."""
    try:
        config = json.loads(deployment.workspace.config_file.read_text())
        recorded = config["output"][RECORD_OUTPUT_NAME]["value"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    if recorded != spec_as_json(deployment.spec):
        raise InfraError(
            f"{deployment.workspace.config_file} is not the configuration of "
            f"{describe_target(deployment.spec)}; run the command again (it synthesizes first)."
        )


def _preview_move(
    deployment: Deployment, old: DeploymentSpec, resources: int, gates: PlanGates
) -> PlanSummary:
    """What the new target would create, planned against an empty scratch state beside the
    workspace (never against the old deployment's state), plus the old resources to destroy."""
    import msgspec

    scratch_spec = msgspec.structs.replace(deployment.spec, state_backend=None)
    scratch = Deployment(
        scratch_spec,
        Workspace(deployment.workspace.root / "move-preview", scratch_spec.stack_name),
        deployment.report,
    )
    synth(scratch)
    created = _terraform_plan(scratch, None, destroy=False, gates=PlanGates())
    summary = replace(
        created,
        changes=True,
        delete=resources,
        move=Move(old, deployment.spec, resources, created.create),
    )
    if gates.plan is not None:
        gates.plan(summary)
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

    meta = {
        "format": PLAN_FORMAT,
        "stack": deployment.workspace.stack,
        "workspace": str(deployment.workspace.root),
        "spec": spec_as_data(deployment.spec),
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
    After a destroy there is nothing to refresh.

    The spec is recorded beside the state before Terraform starts (an apply cut off half-way
    leaves resources of this spec) and with the resource count after it ends."""
    init(deployment)
    runner = deployment.runner()
    write_record(deployment.workspace, deployment.spec, None)
    with deployment.step("apply"):
        runner.run("apply", ["apply", "-input=false", "-no-color", str(tfplan)])
    deployment._applied = None
    remaining = applied_state(deployment).resources
    if remaining:
        write_record(deployment.workspace, deployment.spec, remaining)
    else:
        forget_record(deployment.workspace)
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
    record: Callable[[PlanSummary], None] | None = None,
) -> dict[str, object]:
    """Plan (through the gates), ask (unless the caller auto-approves), record the decision
    (`record`, before anything changes), apply exactly that plan, then the SDK steps of a managed
    endpoint (also with no Terraform changes, so a run that failed in them is finished by the
    next). A move destroys the old deployment with its own configuration first. A kind whose
    canary is in its configuration rolls a new revision out in stages (configured_canary)."""
    from orchestrator import configured_canary, sdk_steps

    staged = configured_canary.deploy(
        deployment,
        confirm,
        lambda each, ask, first: deploy(each, ask, gates, record if first else None),
    )
    if staged is not None:
        return staged
    summary = plan(deployment, gates=gates)
    moved = None
    if summary.changes and not confirm(summary):
        return {"changed": False, "cancelled": True, "plan": summary.to_dict()}
    if record is not None:
        record(summary)
    if summary.move is not None:
        assert summary.move is not None
        moved = _destroy_with(deployment.with_spec(summary.move.old), lambda _: True)
        deployment._initialized = False
        deployment._applied = None
        summary = plan(deployment, gates=PlanGates())
    if not summary.changes:
        applied = outputs(deployment)
        result = {"changed": False, "plan": summary.to_dict(), "outputs": applied}
    else:
        applied = apply_plan(deployment, deployment.workspace.root / "tfplan")
        result = {"changed": True, "plan": summary.to_dict(), "outputs": applied}
        if summary.stage is not None:
            result.update(
                later_stages(
                    summary,
                    applied,
                    plan=lambda: _terraform_plan(deployment, None, destroy=False, gates=gates),
                    confirm=confirm,
                    apply=lambda: apply_plan(deployment, deployment.workspace.root / "tfplan"),
                )
            )
            applied = result["outputs"]  # type: ignore[assignment]
    if moved is not None:
        result["moved_from"] = moved
    if sdk_steps.handles(deployment.spec):
        result["endpoint"] = sdk_steps.after_apply(deployment, applied)
    return result


def _destroy_with(
    deployment: Deployment, confirm: Callable[[PlanSummary], bool]
) -> dict[str, object]:
    """Destroy everything in the state with `deployment`'s configuration (the one it was applied
    with), asking first; the SDK-created parts go first."""
    from orchestrator import sdk_steps

    _refuse_protected(deployment.spec)
    synth(deployment)
    summary = _terraform_plan(deployment, None, destroy=True, gates=PlanGates())
    result: dict[str, object] = {
        "target": describe_target(deployment.spec),
        "destroyed": 0,
        "plan": summary.to_dict(),
    }
    if summary.changes:
        if not confirm(summary):
            return {**result, "cancelled": True}
        if sdk_steps.handles(deployment.spec):
            result["removed_by_sdk"] = sdk_steps.before_destroy(deployment, outputs(deployment))
        apply_plan(deployment, deployment.workspace.root / "tfplan", refresh=False)
        result["destroyed"] = summary.delete + summary.replace
    _refuse_leftovers(deployment)
    return result


def _refuse_leftovers(deployment: Deployment) -> None:
    """Never a clean destroy while resources of the deployment remain outside the state (a run
    cut off before Terraform saved them): they are named, with `infra repair` to remove them."""
    from orchestrator.leftovers import remaining_after_destroy

    remaining_after_destroy(deployment.spec, deployment.runner())


def _refuse_protected(spec: DeploymentSpec) -> None:
    if spec.protected:
        raise ProtectedEnvironment(
            f"environment '{spec.env}' is protected; remove `protected: true` from "
            "its profile entry to destroy it."
        )


def destroy(deployment: Deployment, confirm: Callable[[PlanSummary], bool]) -> dict[str, object]:
    """Destroy exactly what the state holds, with the configuration it was applied with (not the
    lock's or the pins', which may name another target)."""
    _refuse_protected(deployment.spec)
    applied = applied_state(deployment)
    if applied.empty:
        forget_record(deployment.workspace)
        _refuse_leftovers(deployment)
        return {"destroyed": 0, "plan": None, "target": None}
    target = deployment
    if applied.spec is not None and not same_configuration(applied.spec, deployment.spec):
        target = deployment.with_spec(applied.spec)
    return _destroy_with(target, confirm)


def outputs(deployment: Deployment) -> dict[str, object]:
    """The stack's outputs for people and the SDK steps (the applied-spec record left out)."""
    applied = _all_outputs(deployment)
    applied.pop(RECORD_OUTPUT_NAME, None)
    return applied


def _all_outputs(deployment: Deployment) -> dict[str, object]:
    raw = deployment.runner().json("output", ["output", "-json", "-no-color"])
    return {name: value["value"] for name, value in (raw or {}).items()}  # type: ignore[union-attr]


def status(deployment: Deployment) -> dict[str, object]:
    """What is deployed according to the state, beside the decision the lock holds."""
    workspace = deployment.workspace
    local = deployment.spec.state_backend is None
    if local and not (workspace.state_file.exists() or workspace.config_file.exists()):
        raise NotDeployed(
            f"{deployment.spec.stack_name} has not been deployed from here "
            f"({workspace.state_file} does not exist); run `infra deploy` first."
        )
    applied = applied_state(deployment)
    deployed = applied.spec or deployment.spec
    applied_outputs = outputs(deployment) if applied.resources else {}
    result: dict[str, object] = {
        "stack": deployed.stack_name,
        "env": deployed.env,
        "cloud": deployed.cloud,
        "kind": deployed.kind,
        "region": deployed.region,
        "instance_type": deployed.instance_type,
        "instances": deployed.capacity.desired,
        "resources": applied.resources,
        "outputs": applied_outputs,
        "expected_monthly_usd": deployed.expected_monthly_usd,
        "matches_decision": applied.spec is None
        or same_configuration(applied.spec, deployment.spec),
    }
    resolved = deployment.resolved
    if resolved is not None:
        result["decision"] = {
            "source": resolved.source,
            "summary": resolved.decision.summary(),
            "target": list(resolved.decision.target),
            "instances_monthly_usd": round(resolved.decision.instances_monthly_usd, 2),
            "instances_monthly_covers": resolved.decision.monthly_covers,
            "deployment_monthly_usd": resolved.locked.deployment_monthly_usd
            if resolved.locked
            else None,
            "catalog_date": resolved.decision.catalog_date,
            "decided_at": resolved.locked.decided_at if resolved.locked else None,
            "stale_sections": resolved.stale_sections,
        }
    from orchestrator import sdk_steps

    if sdk_steps.handles(deployed) and applied.resources:
        target = deployment.with_spec(deployed)
        result["endpoint"] = sdk_steps.live_status(target, applied_outputs)
    from orchestrator.observed import measured_beside_predicted

    observed = measured_beside_predicted(
        deployed, applied_outputs, lambda: _sdk_environment(deployment), resolved
    )
    if observed is not None:
        result["measured"] = observed
    return result


def drift(deployment: Deployment) -> PlanSummary:
    """Refresh-only plan with the configuration the state was applied with: did anything change
    outside Terraform since the last apply?"""
    applied = applied_state(deployment)
    target = deployment
    if applied.spec is not None and not same_configuration(applied.spec, deployment.spec):
        target = deployment.with_spec(applied.spec)
    synth(target)
    _check_configuration_is_for(target)
    init(target)
    runner = target.runner()
    refreshed = target.workspace.root / "drift.tfplan"
    with target.step("drift"):
        args = ["plan", "-refresh-only", "-input=false", "-no-color", f"-out={refreshed}"]
        result = runner.run("drift", args)
        shown = runner.json("show", ["show", "-json", str(refreshed)])
    drifted = [
        {"address": change["address"], "action": "drifted"}
        for change in (shown or {}).get("resource_drift", [])  # type: ignore[union-attr]
        if change["change"]["actions"] != ["no-op"]
    ]
    return PlanSummary(bool(drifted), 0, len(drifted), 0, 0, drifted, None, result.log)
