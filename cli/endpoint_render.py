"""Text for people about a managed endpoint (Vertex AI, Azure ML): what the SDK steps did, what
is deployed, what rollback changed. `--json` prints the same dicts as they are."""

from __future__ import annotations

from typing import Any


def _traffic(traffic: dict[str, int]) -> str:
    return ", ".join(f"{name} {share}%" for name, share in traffic.items()) or "no revisions"


def rollout_text(result: dict[str, Any] | None) -> str:
    if result is None:
        return ""
    if not result["changed"]:
        return f"\nEndpoint {result['endpoint']}: no changes ({_traffic(result['traffic'])})."
    done = "".join(f"\n  - {action}" for action in result["actions"])
    return f"\nEndpoint {result['endpoint']}: {_traffic(result['traffic'])}{done}"


def canary_text(canary: dict[str, Any] | None) -> str:
    """What a canary in the Terraform configuration did (orchestrator/configured_canary.py)."""
    if canary is None:
        return ""
    return f"\nCanary {canary['revision']}:" + "".join(f"\n  - {a}" for a in canary["actions"])


def _replicas(revision: dict[str, Any]) -> str:
    replicas = revision.get("replicas")
    if isinstance(replicas, dict):
        return (
            f"{revision['machine_type']}, {replicas['available']} running "
            f"({replicas['min']}-{replicas['max']})"
        )
    return f"{revision.get('instances')}× {revision.get('instance_type')}, {revision.get('state')}"


def status_text(status: dict[str, Any] | None) -> str:
    if status is None:
        return ""
    state = "serves this spec" if status["in_sync"] else f"not yet serving {status['revision']}"
    lines = [f"\nEndpoint {status['endpoint']} ({status['cloud']}): {state}"]
    for revision in status["revisions"]:
        mark = "  ← this spec" if revision["this_spec"] else ""
        ready = "" if revision["ready"] else ", not ready"
        lines.append(
            f"  {revision['name']}  {revision['traffic']:>3}%  {_replicas(revision)}{ready}{mark}"
        )
    return "\n".join(lines)


def removed_text(removed: list[str] | None) -> str:
    if not removed:
        return ""
    return "\nRemoved first (created by the SDK steps): " + ", ".join(removed) + "."


def rollback_text(result: dict[str, Any]) -> str:
    return (
        f"Rolled back {result['rolled_back']} on {result['endpoint']}: all traffic to "
        f"{result['serving']} ({_traffic(result['traffic'])})."
    )
