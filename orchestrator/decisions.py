"""Which decision a command deploys: the lock's, or a new one the user asked for.

Every deployment command resolves its decision here. With a lock entry for the environment, the
lock wins: pins that contradict it and a profile edited since are refused in one sentence that
points at `--replan`. Without one (or with `--replan`), the optimizer decides within what the
environment can deploy, and the change against the lock is described so it can be shown before
anything is applied. Only `record` writes the lock.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from core.errors import InfraError, NoFeasibleCandidate
from core.files import write_atomically
from planner.decision import Decision, decide
from planner.deployment import DeploymentSpec, check_decision, spec_from_decision
from planner.lock import (
    LockedEnvironment,
    LockError,
    LockFile,
    Pins,
    changed_sections,
    contradicted_pins,
    lock_path,
    new_deployment_id,
    now,
    profile_digest,
    read_lock,
    render_lock,
)
from planner.optimizer import Filters, Recommendation
from planner.profile import LoadedProfile, Profile
from providers import targets
from providers.aws.neuron import NEURON_ACCELERATORS, neuron_problem
from providers.targets import FLEET

LOCAL_ENV = "local"
"""The environment that targets the local emulated AWS."""


class LockStale(LockError):
    pass


class LockMissing(LockError):
    pass


@dataclass(frozen=True)
class DecisionChange:
    """A new decision against the locked one: the fields that differ and why."""

    rows: list[tuple[str, str, str]]
    reasons: list[str]
    before_monthly_usd: float
    after_monthly_usd: float

    @property
    def changed(self) -> bool:
        return bool(self.rows)

    def to_dict(self) -> dict[str, object]:
        return {
            "changed": self.changed,
            "fields": [{"field": f, "locked": b, "new": a} for f, b, a in self.rows],
            "reasons": self.reasons,
            "locked_instances_monthly_usd": round(self.before_monthly_usd, 2),
            "new_instances_monthly_usd": round(self.after_monthly_usd, 2),
        }


@dataclass
class Resolved:
    """The decision a command works with, and where it came from."""

    spec: DeploymentSpec
    decision: Decision
    profile_path: Path
    profile: Profile
    source: str
    """`lock` (read from the lock), `new` (no lock entry yet) or `replan`."""
    pins: Pins = field(default_factory=Pins)
    locked: LockedEnvironment | None = None
    change: DecisionChange | None = None
    recommendation: Recommendation | None = None
    stale_sections: list[str] = field(default_factory=list)
    """Profile sections changed since the locked decision (only when a reader allowed it)."""

    @property
    def needs_recording(self) -> bool:
        """A new decision, or a replan that changed something, goes into the lock. A replan
        that decides the same for an edited profile is recorded too: the lock then vouches for
        the profile as it is now, so `--locked` accepts it."""
        if self.source == "lock":
            return False
        return (
            self.locked is None
            or bool(self.change and self.change.changed)
            or self.locked.profile_digest != profile_digest(self.profile, self.spec.env)
        )

    def entry(self, deployment_monthly_usd: float | None) -> LockedEnvironment:
        return LockedEnvironment(
            deployment_id=self.spec.deployment_id
            or new_deployment_id(self.profile_path, self.spec.env),
            decided_at=now(),
            profile_digest=profile_digest(self.profile, self.spec.env),
            pins=self.pins,
            decision=self.decision,
            deployment_monthly_usd=(
                None if deployment_monthly_usd is None else round(deployment_monthly_usd, 2)
            ),
        )


def pins_of(filters: Filters) -> Pins:
    def one(values: frozenset[str] | None) -> str | None:
        return next(iter(values)) if values and len(values) == 1 else None

    return Pins(
        cloud=one(filters.clouds),
        kind=one(filters.kinds),
        region=one(filters.regions),
        instance_type=one(filters.instance_types),
    )


def undeployable(profile: Profile | None) -> dict[str, str]:
    """Accelerators (lower-case, as filters hold them) the deploy path cannot serve `profile` on,
    each with the reason. Inferentia is deployable with the vllm and tgi engines at bf16/fp16 with
    a fixed max_model_len (providers.aws.neuron); whatever else the images cannot serve is left
    out here, so a deploy never chooses it and `recommend` says why."""
    if profile is None:
        return {}
    runtime = profile.runtime
    problem = neuron_problem(
        runtime.engine, profile.model.precision, runtime.max_model_len, runtime.kv_cache_dtype
    )
    if problem is None:
        return {}
    return {
        name.lower(): f"{name} (Neuron) offerings are recommended but not deployed: {problem}"
        for name in sorted(NEURON_ACCELERATORS)
    }


def deployable_filters(env: str, filters: Filters, profile: Profile | None = None) -> Filters:
    """What `env` can deploy of `profile`, on top of the pins: no accelerator `undeployable`
    names, and the local environment is the emulated AWS (fleets unless a kind is pinned)."""
    refuse_pins_off_the_emulator(env, filters)
    narrowed = msgspec.structs.replace(filters, environment=env)
    excluded = frozenset(undeployable(profile))
    if excluded:
        narrowed = msgspec.structs.replace(
            filters, excluded_accelerators=filters.excluded_accelerators | excluded
        )
    if env == LOCAL_ENV:
        narrowed = msgspec.structs.replace(
            narrowed, clouds=EMULATED_CLOUDS, kinds=filters.kinds or frozenset({FLEET.name})
        )
    return narrowed


EMULATED_CLOUDS = frozenset(cloud.name for cloud in targets.clouds() if cloud.emulated)
EMULATED_KINDS = frozenset(target.kind.name for _, target in targets.targets() if target.emulated)
"""What the local emulated AWS can build (each target's `emulated`)."""


class PinnedOffTheEmulator(InfraError):
    pass


def refuse_pins_off_the_emulator(env: str, filters: Filters) -> None:
    """`--cloud gcp` or `--kind vertex` with the local environment asks for something the
    emulated AWS cannot be: say so, instead of finding nothing (or, worse, building AWS)."""
    if env != LOCAL_ENV:
        return
    pins = []
    if filters.clouds is not None and not filters.clouds & EMULATED_CLOUDS:
        pins.append("--cloud " + ",".join(sorted(filters.clouds)))
    if filters.kinds is not None and not filters.kinds & EMULATED_KINDS:
        pins.append("--kind " + ",".join(sorted(filters.kinds)))
    if pins:
        raise PinnedOffTheEmulator(
            f"the environment '{LOCAL_ENV}' (the default) is the local emulated AWS, which "
            f"{' and '.join(pins)} is not: pass --env with the environment to deploy to "
            "(e.g. --env prod), and that cloud's credentials for plan and deploy."
        )


def why_not_deployable(env: str, profile: Profile | None = None) -> list[str]:
    """What `deployable_filters` leaves out for `env`, in words."""
    reasons = list(undeployable(profile).values())
    if env == LOCAL_ENV:
        reasons.insert(
            0, "the local environment is the emulated AWS: AWS fleets (or a pinned kind)"
        )
    return reasons


def recommend_for_env(profile_path: Path, env: str, filters: Filters) -> Recommendation:
    from planner.profile import load_profile
    from planner.service import recommend_for_profile

    profile = load_profile(profile_path).profile
    excluded = undeployable(profile)
    try:
        return recommend_for_profile(
            profile_path,
            deployable_filters(env, filters, profile),
            deployable_filters(env, Filters(), profile),
        )
    except NoFeasibleCandidate as error:
        if not excluded:
            raise
        # An accelerator left out as undeployable lost for that reason, not for its offerings.
        reasons = [
            {**item, "reason": excluded[item["class"].lower()]}
            if item.get("class", "").lower() in excluded
            else item
            for item in error.reasons
        ]
        raise NoFeasibleCandidate(str(error), reasons) from None


def resolve(
    profile_path: Path,
    env: str,
    filters: Filters,
    *,
    replan: bool = False,
    locked_only: bool = False,
    allow_stale: bool = False,
    what_if: bool = False,
    loaded: LoadedProfile | None = None,
) -> Resolved:
    """The decision for `env`: the lock's unless `replan`; `locked_only` refuses to decide anew;
    `allow_stale` (commands that only read or destroy what is deployed) keeps a lock whose
    profile changed since, saying so instead of refusing; `what_if` (pricing a changed profile,
    as in a pull request, or pins against the lock) decides again as `--replan` would."""
    from planner.profile import load_profile

    loaded = loaded or load_profile(profile_path)
    profile = loaded.profile
    path = lock_path(profile_path)
    entry = read_lock(path).environments.get(env)
    pins = pins_of(filters)
    if what_if and entry is not None:
        replan = bool(
            changed_sections(entry, profile, env) or contradicted_pins(entry.decision, pins)
        )
    if entry is not None and not replan:
        from planner.service import check_values_for_cloud

        check_values_for_cloud(loaded, entry.decision.cloud)
        return _from_lock(profile_path, profile, env, entry, pins, filters, allow_stale)
    if locked_only:
        if replan:
            raise LockError("--locked and --replan contradict each other; give one of them.")
        raise LockMissing(
            f"{path} has no decision for environment '{env}' and --locked forbids a new one: "
            f"run `infra plan {profile_path} --env {env}` where you can review it, and commit "
            f"{path.name}."
        )
    recommendation = recommend_for_env(profile_path, env, filters)
    decision = decide(profile, recommendation)
    check_decision(profile, decision, lambda: recommendation)
    if entry is not None:
        _check_backend_stays(profile, env, entry.decision, decision)
    deployment_id = entry.deployment_id if entry else new_deployment_id(profile_path, env)
    spec = spec_from_decision(profile, decision, env, deployment_id=deployment_id)
    change = describe_change(entry, decision, recommendation, profile, pins, env) if entry else None
    return Resolved(
        spec,
        decision,
        profile_path,
        profile,
        "replan" if entry else "new",
        pins,
        entry,
        change,
        recommendation,
    )


def _check_backend_stays(profile: Profile, env: str, old: Decision, new: Decision) -> None:
    """An S3 state bucket lives in one region; a backend without its own region follows the
    deployment's, so a move to another region would look for the state elsewhere."""
    environment = profile.deploy.environments.get(env)
    backend = environment.backend if environment else None
    if backend is None or backend.region is not None or old.region == new.region:
        return
    raise LockError(
        f"the new decision for '{env}' is in {new.region}, and the environment's S3 state "
        f"backend takes the deployment's region ({old.region}) for want of its own: set "
        f"deploy.environments.{env}.backend.region to the bucket's region ({old.region}), "
        "then replan."
    )


def _from_lock(
    profile_path: Path,
    profile: Profile,
    env: str,
    entry: LockedEnvironment,
    pins: Pins,
    filters: Filters,
    allow_stale: bool,
) -> Resolved:
    decision = entry.decision
    where = f"{lock_path(profile_path).name} (environment '{env}')"
    if contradicted := contradicted_pins(decision, pins):
        said = ", ".join(
            f"--{name.replace('_', '-')} {pinned} (locked: {locked})"
            for name, (pinned, locked) in contradicted.items()
        )
        raise LockError(
            f"{where} decided {decision.summary()}; {said} contradicts it: add --replan to decide "
            "again with the pin (a change of cloud, kind or region is a move, shown before "
            "anything changes), or drop the pin."
        )
    changed = changed_sections(entry, profile, env)
    if changed and not allow_stale:
        raise LockStale(
            f"{profile_path} changed since {where} decided {decision.summary()} "
            f"({', '.join(changed)} differ), so that decision may no longer fit: run "
            f"`infra plan {profile_path} --env {env} --replan` to decide again, review it, and "
            f"commit {lock_path(profile_path).name}."
        )
    narrowed = msgspec.structs.replace(
        filters,
        clouds=frozenset({decision.cloud}),
        kinds=frozenset({decision.kind}),
        regions=frozenset({decision.region}),
        instance_types=None,
    )
    check_decision(profile, decision, lambda: recommend_for_env(profile_path, env, narrowed))
    spec = spec_from_decision(profile, decision, env, deployment_id=entry.deployment_id)
    resolved = Resolved(spec, decision, profile_path, profile, "lock", pins, entry)
    resolved.stale_sections = changed
    return resolved


def describe_change(
    entry: LockedEnvironment,
    new: Decision,
    recommendation: Recommendation,
    profile: Profile,
    pins: Pins,
    env: str | None = None,
) -> DecisionChange:
    old = entry.decision
    rows = [
        (name, before, after)
        for name, before, after in (
            ("cloud/kind", f"{old.cloud}/{old.kind}", f"{new.cloud}/{new.kind}"),
            ("region", old.region, new.region),
            ("zones", ", ".join(old.zones) or "—", ", ".join(new.zones) or "—"),
            ("instance type", old.instance_type, new.instance_type),
            ("instances", _counts(old), _counts(new)),
            ("tensor parallel", str(old.tensor_parallel), str(new.tensor_parallel)),
            ("image", old.image, new.image),
            ("$/month (instances)", _money(old), _money(new)),
        )
        if before != after
    ]
    reasons: list[str] = []
    if changed := changed_sections(entry, profile, env):
        reasons.append(f"the profile changed ({', '.join(changed)})")
    if given := pins.given():
        said = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items())
        reasons.append(f"pinned {said}")
    if old.catalog_date != new.catalog_date:
        reasons.append(f"the catalog changed ({old.catalog_date} → {new.catalog_date})")
    today = _locked_choice_today(old, recommendation)
    if today is None and not contradicted_pins(old, pins):
        reasons.append(
            f"the locked choice ({old.instance_type} in {old.region}) is no longer among the "
            "feasible candidates allowed"
        )
    elif today is not None and abs(today - old.hourly_usd) > 0.005:
        reasons.append(
            f"the locked choice now costs ${today * 730:,.2f}/month "
            f"(${old.hourly_usd * 730:,.2f} when decided)"
        )
    if not rows:
        reasons = ["the optimizer makes the same decision", *reasons]
    return DecisionChange(rows, reasons, old.instances_monthly_usd, new.instances_monthly_usd)


def _counts(decision: Decision) -> str:
    spot = decision.spot_instances
    return f"{decision.instances} ({decision.on_demand_instances} on-demand, {spot} spot)"


def _money(decision: Decision) -> str:
    return f"${decision.instances_monthly_usd:,.2f}"


def _locked_choice_today(old: Decision, recommendation: Recommendation) -> float | None:
    for candidate in recommendation.candidates:
        o = candidate.offering
        if (
            (o.cloud, o.kind, o.region, o.instance_type) == (*old.target, old.instance_type)
            and candidate.tensor_parallel == old.tensor_parallel
            and candidate.instances == old.instances
        ):
            return candidate.hourly_usd
    return None


@contextmanager
def _lock_file_guard(path: Path) -> Iterator[None]:
    """Serialize read-modify-write of one lock file between processes (one per environment may
    record at once)."""
    guard = path.parent / ".infra" / f"{path.name}.guard"
    guard.parent.mkdir(parents=True, exist_ok=True)
    with guard.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record(resolved: Resolved, deployment_monthly_usd: float | None) -> Path:
    """Write the resolved decision into the lock file (other environments are kept as they are)."""
    path = lock_path(resolved.profile_path)
    with _lock_file_guard(path):
        lock = read_lock(path)
        environments = dict(lock.environments)
        environments[resolved.spec.env] = resolved.entry(deployment_monthly_usd)
        updated = LockFile(profile=resolved.profile_path.name, environments=environments)
        write_atomically(path, render_lock(updated), private=False)  # committed by the user
    return path


def environments_of(profile: Profile) -> list[str]:
    """The environments a profile can be deployed to: the local emulator and its own."""
    return [LOCAL_ENV, *(env for env in profile.deploy.environments if env != LOCAL_ENV)]


def environment_view(
    profile_path: Path, env: str, filters: Filters, unrestricted: tuple[str, ...] | None
) -> dict[str, object]:
    """What `env` would deploy: the lock's decision when there is one, else what plan would
    decide now; and why it differs from the unrestricted optimum."""

    entry = read_lock(lock_path(profile_path)).environments.get(env)
    view: dict[str, object] = {"env": env, "lock_file": str(lock_path(profile_path))}
    try:
        recommendation = recommend_for_env(profile_path, env, filters)
        fresh = decide(recommendation.profile, recommendation)
    except InfraError as error:
        return {**view, "source": "none", "decision": None, "why_different": [str(error)]}
    left_out = why_not_deployable(env, recommendation.profile)
    chosen = entry.decision if entry else fresh
    differs = unrestricted is not None and (*chosen.target, chosen.instance_type) != unrestricted
    return {
        **view,
        "source": "lock" if entry else "new",
        "decision": chosen.summary(),
        "instances_monthly_usd": round(chosen.instances_monthly_usd, 2),
        "instances_monthly_covers": chosen.monthly_covers,
        "deployment_monthly_usd": entry.deployment_monthly_usd if entry else None,
        "replan_would_choose": fresh.summary() if entry and fresh != entry.decision else None,
        "why_different": (
            [
                *([f"it is locked (decided {entry.decided_at})"] if entry else []),
                *left_out,
            ]
            if differs
            else []
        ),
    }
