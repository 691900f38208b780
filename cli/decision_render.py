"""How the decision a command works with is shown: where it came from (the lock, or new), the
change a replan makes against the lock, and `infra status`'s comparison of lock and state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.decisions import Resolved


def decision_dict(resolved: Resolved | None) -> dict[str, Any] | None:
    if resolved is None:
        return None
    from planner.lock import lock_path

    decision = resolved.decision
    locked = resolved.locked
    return {
        "source": resolved.source,
        "lock_file": str(lock_path(resolved.profile_path)),
        "summary": decision.summary(),
        "cloud": decision.cloud,
        "kind": decision.kind,
        "region": decision.region,
        "zones": decision.zones,
        "instance_type": decision.instance_type,
        "instances": decision.instances,
        "on_demand_instances": decision.on_demand_instances,
        "spot_instances": decision.spot_instances,
        "tensor_parallel": decision.tensor_parallel,
        "image": decision.image,
        "catalog_date": decision.catalog_date,
        "instances_monthly_usd": round(decision.instances_monthly_usd, 2),
        "instances_monthly_covers": decision.monthly_covers,
        "deployment_monthly_usd": locked.deployment_monthly_usd if locked else None,
        "decided_at": locked.decided_at if locked and resolved.source == "lock" else None,
        "stale_sections": resolved.stale_sections,
        "change": resolved.change.to_dict() if resolved.change else None,
    }


def decision_lines(resolved: Resolved | None) -> list[str]:
    """Progress lines (stderr) saying which decision this run works with."""
    if resolved is None:
        return []
    from planner.lock import lock_path

    name = lock_path(resolved.profile_path).name
    decision = resolved.decision
    monthly = f"${decision.instances_monthly_usd:,.2f}/month for {decision.monthly_covers}"
    if resolved.source == "lock":
        assert resolved.locked is not None
        lines = [
            f"decision: {decision.summary()}, {monthly}, from {name} "
            f"(decided {resolved.locked.decided_at}, catalog {decision.catalog_date})"
        ]
        if resolved.stale_sections:
            lines.append(
                f"note: the profile's {', '.join(resolved.stale_sections)} changed since; "
                "`infra plan --replan` decides again."
            )
        return lines
    if resolved.source == "new":
        return [
            f"decision: {decision.summary()}, {monthly} (new: {name} has none for "
            f"'{resolved.spec.env}'; plan and deploy record it)"
        ]
    return change_lines(resolved, name)


def change_lines(resolved: Resolved, lock_name: str) -> list[str]:
    change = resolved.change
    assert change is not None
    if not change.changed:
        same = f"replan: {resolved.decision.summary()}, the same as {lock_name}."
        return [same, *(f"  why: {reason}" for reason in change.reasons)]
    width = max(len(row[0]) for row in change.rows)
    before = max(len(row[1]) for row in change.rows)
    lines = [f"replan: the decision changes against {lock_name}:"]
    lines.append(f"  {'':<{width}}  {'locked':<{before}}  new")
    lines += [f"  {f:<{width}}  {b:<{before}}  {a}" for f, b, a in change.rows]
    lines += [f"  why: {reason}" for reason in change.reasons]
    return lines


def status_lines(data: dict[str, Any]) -> list[str]:
    """`infra status` for people: the state, the decision, and whether they agree."""
    lines = [
        f"{data['stack']}: {data['resources']} resources in {data['cloud']}/{data['kind']} "
        f"{data['region']} ({data['instances']}× {data['instance_type']})"
    ]
    decision = data.get("decision")
    if decision:
        monthly = decision["deployment_monthly_usd"]
        whole = f"${monthly:,.2f}/month expected for the whole deployment; " if monthly else ""
        lines.append(
            f"decision ({decision['source']}): {decision['summary']}; {whole}"
            f"${decision['instances_monthly_usd']:,.2f}/month for "
            f"{decision['instances_monthly_covers']} (catalog {decision['catalog_date']})"
        )
        if not data["matches_decision"]:
            lines.append(
                "the deployed configuration differs from the decision: `infra plan` shows the "
                "change, `infra deploy` applies it."
            )
    return lines
