"""Canary rollout, rollback and read-back of a managed endpoint's revisions, whichever cloud.

Each pass reads what is deployed and does only what is missing, so a re-run after any failure
continues where the last one stopped, and a re-run with nothing to do changes nothing:

1. the endpoint's own settings (Azure ML creates the endpoint here);
2. the revision of the spec's serving configuration: deployed if missing (or failed), with all
   the traffic when nothing else serves, else with the canary's share;
3. while an older revision still serves: bake the canary, then give it all the traffic (unless
   `infra rollback` removed it meanwhile);
4. remove every other revision, which by then receives no traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from core.errors import InfraError
from planner.profile import Canary
from providers.managed_endpoint import EndpointDriver, EndpointRevision, revision_name

Step = Callable[[str], AbstractContextManager[None]]
"""Deployment.step: reports a step's start and its duration."""
Sleep = Callable[[float], None]


class CanaryRolledBack(InfraError):
    pass


class NothingToRollBack(InfraError):
    pass


class RevisionMissing(InfraError):
    pass


def _find(revisions: list[EndpointRevision], config_hash: str) -> EndpointRevision | None:
    return next((r for r in revisions if r.config_hash == config_hash), None)


def _serving(revisions: list[EndpointRevision]) -> EndpointRevision | None:
    """The ready revision with the most traffic, if any has traffic."""
    live = [r for r in revisions if r.ready and r.traffic > 0]
    return max(live, key=lambda r: r.traffic) if live else None


def _split(
    winner: EndpointRevision,
    share: int,
    revisions: list[EndpointRevision],
    rest_to: EndpointRevision | None,
) -> dict[str, int]:
    """`share` percent to `winner`, the rest to `rest_to`, nothing to any other revision."""
    split = {r.id: 0 for r in revisions}
    split[winner.id] = share
    if rest_to is not None and rest_to is not winner:
        split[rest_to.id] = 100 - share
    return split


def _traffic(revisions: list[EndpointRevision]) -> dict[str, int]:
    return {r.name: r.traffic for r in revisions}


def roll_out(driver: EndpointDriver, canary: Canary, step: Step, sleep: Sleep) -> dict[str, Any]:
    cloud = driver.cloud_name
    target = driver.target_hash()
    actions: list[str] = []
    with step(f"{cloud}: read {driver.endpoint_name}"):
        if driver.prepare_endpoint():
            actions.append(f"created or updated the endpoint {driver.endpoint_name}")
        revisions = driver.revisions()
    current = _find(revisions, target)
    serving = _serving([r for r in revisions if r is not current])
    if current is None or not current.ready:
        share = canary.percent if serving else 100
        others = {r.id: 0 for r in revisions if r is not current}
        if serving is not None:
            others[serving.id] = 100 - share
        with step(f"{cloud}: deploy {driver.describe_target()}, {share}% of the traffic"):
            driver.create_revision(share, others)
        actions.append(f"deployed {revision_name(target)} with {share}% of the traffic")
        revisions = driver.revisions()
        current = _find(revisions, target)
        if current is None:
            raise RevisionMissing(
                f"{cloud} reported {revision_name(target)} deployed on {driver.endpoint_name}, "
                "but it is not listed there; run the command again."
            )
    if serving is not None and current.traffic < 100:
        if current.traffic == 0:
            with step(f"{cloud}: {canary.percent}% of the traffic to {current.name}"):
                driver.set_traffic(_split(current, canary.percent, revisions, serving))
            actions.append(f"gave {current.name} {canary.percent}% of the traffic")
        with step(f"{cloud}: bake {current.name} for {canary.bake_s} s"):
            sleep(canary.bake_s)
        revisions = driver.revisions()
        baked = _find(revisions, target)
        if baked is None:
            raise CanaryRolledBack(
                f"{current.name} was rolled back while it baked on {driver.endpoint_name}; "
                f"nothing was promoted (traffic: {_traffic(revisions)})."
            )
        with step(f"{cloud}: all traffic to {baked.name}"):
            driver.set_traffic(_split(baked, 100, revisions, None))
        actions.append(f"promoted {baked.name} to all of the traffic")
    elif current.traffic != 100:
        with step(f"{cloud}: all traffic to {current.name}"):
            driver.set_traffic(_split(current, 100, revisions, None))
        actions.append(f"gave {current.name} all of the traffic")
    for other in [r for r in revisions if r.config_hash != target]:
        with step(f"{cloud}: remove {other.name}"):
            driver.remove_revision(other.id)
        actions.append(f"removed {other.name}")
    if actions:
        revisions = driver.revisions()
    return {
        "endpoint": driver.endpoint_name,
        "revision": revision_name(target),
        "changed": bool(actions),
        "actions": actions,
        "traffic": _traffic(revisions),
    }


def roll_back(driver: EndpointDriver, step: Step) -> dict[str, Any]:
    """Traffic back to the revision that served before the canary, then the canary removed."""
    cloud = driver.cloud_name
    target = driver.target_hash()
    with step(f"{cloud}: read {driver.endpoint_name}"):
        revisions = driver.revisions()
    current = _find(revisions, target)
    if current is None:
        raise NothingToRollBack(
            f"no revision on {driver.endpoint_name} has this profile's serving configuration "
            f"({revision_name(target)}); roll back with the profile that was deployed last."
        )
    previous = _serving([r for r in revisions if r is not current]) or max(
        (r for r in revisions if r is not current and r.ready),
        key=lambda r: r.traffic,
        default=None,
    )
    if previous is None:
        raise NothingToRollBack(
            f"{current.name} is the only revision on {driver.endpoint_name}: the one before it "
            "was removed when the canary was promoted; re-deploy the previous profile to go back."
        )
    with step(f"{cloud}: all traffic back to {previous.name}"):
        driver.set_traffic(_split(previous, 100, revisions, None))
    with step(f"{cloud}: remove {current.name}"):
        driver.remove_revision(current.id)
    return {
        "endpoint": driver.endpoint_name,
        "rolled_back": current.name,
        "serving": previous.name,
        "traffic": _traffic(driver.revisions()),
    }


def read_back(driver: EndpointDriver) -> dict[str, Any]:
    """For `infra status`: every revision, its traffic and replicas, and whether the endpoint
    serves exactly the spec's configuration."""
    target = driver.target_hash()
    revisions = driver.revisions()
    return {
        "endpoint": driver.endpoint_name,
        "cloud": driver.cloud_name,
        "revision": revision_name(target),
        "in_sync": [(r.config_hash, r.traffic) for r in revisions] == [(target, 100)],
        "revisions": [
            {
                "name": r.name,
                "id": r.id,
                "traffic": r.traffic,
                "ready": r.ready,
                "this_spec": r.config_hash == target,
                **r.details,
            }
            for r in revisions
        ],
    }


def remove_everything(driver: EndpointDriver, step: Step) -> list[str]:
    with step(f"{driver.cloud_name}: remove what the SDK created on {driver.endpoint_name}"):
        return driver.remove_everything()
