"""The lock file: the decision each environment of a profile is deployed with.

`infra plan` and `infra deploy` write it beside the profile (`chat-8b.yaml` → `chat-8b.lock.yaml`)
the first time an environment is planned, and every later command reads it, as
`.terraform.lock.hcl` pins providers: what was planned is what is deployed, shown, priced and
destroyed, whatever the catalog or the pins say later. Only `infra plan --replan` (or
`infra lock update`) decides again, and shows the change first.

Each entry also keeps a digest of the profile sections the decision depends on (model, workload,
targets, placement and the runtime fields the performance model reads), so a profile edited after
the decision is caught before a stale decision is deployed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import msgspec
import yaml

from core.errors import InfraError, ProfileError
from planner.decision import Decision, decision_data
from planner.names import DeploymentId
from planner.profile import DEFAULT_CONFIDENCE, Profile
from planner.yaml_source import load_located_yaml

LOCK_FORMAT = "infra-lock/1"
LOCK_SUFFIX = ".lock.yaml"
HEADER = (
    "# The decisions `infra plan` and `infra deploy` took for each environment of this profile.\n"
    "# Commit it (like .terraform.lock.hcl): every infra command deploys, shows, prices and\n"
    "# destroys what it says. Change it with `infra plan --replan` or `infra lock update`.\n"
)
RUNTIME_DECISION_FIELDS = ("engine", "max_batch", "max_model_len", "kv_cache_dtype", "image")
"""The runtime fields the decision depends on (performance model and image); the others
(port, extra arguments) are deployment settings that flow from the profile as it is."""


class LockError(InfraError):
    """The lock file is unreadable, or disagrees with the profile or the pins."""


class Pins(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The command-line pins the decision was taken with."""

    cloud: str | None = None
    kind: str | None = None
    region: str | None = None
    instance_type: str | None = None

    def given(self) -> dict[str, str]:
        return {key: value for key, value in msgspec.structs.asdict(self).items() if value}


class LockedEnvironment(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    deployment_id: DeploymentId
    """A short random ID: two profiles of one name (in two folders) never share resource names."""
    decided_at: str
    profile_digest: dict[str, str]
    pins: Pins = Pins()
    decision: Decision
    deployment_monthly_usd: float | None = None
    """The whole plan's expected monthly cost (instances and services) when it was decided."""


class LockFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: str = LOCK_FORMAT
    profile: str = ""
    environments: dict[str, LockedEnvironment] = {}


def lock_path(profile_path: Path) -> Path:
    """`dir/chat-8b.yaml` → `dir/chat-8b.lock.yaml`."""
    stem = profile_path.name.removesuffix(".yaml").removesuffix(".yml")
    return profile_path.with_name(f"{stem}{LOCK_SUFFIX}")


def read_lock(path: Path) -> LockFile:
    """The lock at `path`; an empty one when there is no file."""
    if not path.exists():
        return LockFile()
    try:  # a lock is committed, so it is input: the same bounds as a profile
        data = load_located_yaml(path).data
    except ProfileError as error:
        raise LockError(str(error)) from None
    try:
        lock = msgspec.convert(data, LockFile)
    except msgspec.ValidationError as error:
        raise LockError(
            f"{path} is not a valid lock file ({str(error).splitlines()[0]}); restore it from "
            "version control, or delete it and run `infra plan` to decide again."
        ) from None
    if lock.format != LOCK_FORMAT:
        raise LockError(
            f"{path} has format {lock.format!r}; this infra reads {LOCK_FORMAT!r} (upgrade infra)."
        )
    return lock


def render_lock(lock: LockFile) -> str:
    data = msgspec.to_builtins(lock)
    for name, entry in lock.environments.items():  # a flat decision reads as it always did
        data["environments"][name]["decision"] = decision_data(entry.decision)
    return HEADER + yaml.safe_dump(data, sort_keys=False, width=100)


def new_deployment_id(profile_path: Path, env: str) -> str:
    """The ID of a deployment not yet in a lock: derived from where its profile is, so previews
    (synth, cost) of one profile agree run after run, and two profiles of one name in two
    folders differ. The lock keeps it from then on, wherever the profile is checked out."""
    where = f"{profile_path.resolve()}\n{env}"
    return hashlib.sha256(where.encode()).hexdigest()[:4]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def _digest(value: object) -> str:
    text = json.dumps(msgspec.to_builtins(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _targets_digested(profile: Profile) -> dict[str, object]:
    """The targets, with `confidence` only when it differs from its default: a lock taken before
    the field existed stays valid until the profile itself changes."""
    targets = msgspec.to_builtins(profile.targets)
    if profile.targets.confidence == DEFAULT_CONFIDENCE:
        del targets["confidence"]
    return targets


def _workload_digested(profile: Profile) -> dict[str, object]:
    """The workload, with `traffic` only when given: a lock taken before the field existed stays
    valid until the profile itself changes."""
    workload = msgspec.to_builtins(profile.workload)
    if profile.workload.traffic is None:
        del workload["traffic"]
    return workload


SCHEDULE_FIELDS = ("schedule", "off_schedule_replicas", "scale_to_zero")
"""What of an environment its decision depends on (the hours it serves)."""


def _schedule_digested(profile: Profile, env: str | None) -> dict[str, object] | None:
    environment = profile.deploy.environments.get(env) if env else None
    if environment is None:
        return None
    schedule = {name: getattr(environment, name) for name in SCHEDULE_FIELDS}
    return schedule if any(value not in (None, False) for value in schedule.values()) else None


def profile_digest(profile: Profile, env: str | None = None) -> dict[str, str]:
    """One digest per profile section the decision depends on, so a change can be named; the
    environment's `schedule` when it has one (or scales to zero)."""
    runtime = {name: getattr(profile.runtime, name) for name in RUNTIME_DECISION_FIELDS}
    digests = {
        "model": _digest(profile.model),
        "workload": _digest(_workload_digested(profile)),
        "targets": _digest(_targets_digested(profile)),
        "placement": _digest(profile.placement),
        "runtime": _digest(runtime),
    }
    schedule = _schedule_digested(profile, env)
    if schedule is not None:
        digests["schedule"] = _digest(schedule)
    if profile.pricing is not None:  # left out without one: older locks stay valid
        digests["pricing"] = _digest(profile.pricing)
    return digests


def changed_sections(
    entry: LockedEnvironment, profile: Profile, env: str | None = None
) -> list[str]:
    """The sections whose content differs from when the decision was taken (a schedule given
    or removed since counts)."""
    current = profile_digest(profile, env)
    changed = [name for name, digest in current.items() if entry.profile_digest.get(name) != digest]
    if env is not None and "schedule" in entry.profile_digest and "schedule" not in current:
        changed.append("schedule")
    return changed


def contradicted_pins(decision: Decision, pins: Pins) -> dict[str, tuple[str, str]]:
    """Pins the locked decision does not satisfy: name → (pinned, locked)."""
    locked = {
        "cloud": decision.cloud,
        "kind": decision.kind,
        "region": decision.region,
        "instance_type": decision.instance_type,
    }
    return {
        name: (value, locked[name])
        for name, value in pins.given().items()
        if value.lower() != locked[name].lower()
    }
