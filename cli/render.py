"""Rendering for people (rich tables) and machines (JSON). The same dicts feed both."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import msgspec

from cli.cost_render import SAVING_NAMES
from planner.cost.savings import MECHANISMS
from planner.deployment import chosen_scaling
from planner.models import ModelSpec
from planner.optimizer import Recommendation
from planner.serialize import recommendation_to_dict
from providers.catalog import Offering

if TYPE_CHECKING:  # rich is imported only when a table is drawn, not for --json
    from rich.console import Console
    from rich.table import Table


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console.width = 220
    return console


def _table(**options: Any) -> Table:
    from rich.table import Table

    return Table(**options)


def _json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def _money(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"${value:,.{digits}f}"


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ranged(value: float | None, span: dict[str, float] | None, digits: int) -> str:
    """`812 (700–950)`: the central prediction and its band."""
    if value is None or span is None:
        return _number(value, digits)
    return (
        f"{_number(value, digits)} ({_number(span['low'], digits)}–{_number(span['high'], digits)})"
    )


def _capacity(value: float, span: dict[str, float] | None) -> str:
    """What the fleet is sized with (the pessimistic quantile), up to the optimistic one."""
    if span is None:
        return _number(value, 2)
    return f"{_number(value, 2)}–{_number(span['high'], 2)}"


def _rows(band: dict[str, Any]) -> str:
    """How many published rows back the band: `8`, `2 pooled`, or `measured`."""
    if not band:
        return "measured"
    return f"{band['published_rows']}{' pooled' if band['pooled'] else ''}"


def _environments(console: Console, views: list[dict[str, Any]]) -> None:
    """What plan and deploy would use per environment (the lock's decision, or a new one)."""
    if not views:
        return
    console.print("[bold]What each environment deploys[/] (plan and deploy use this):")
    for view in views:
        if view["decision"] is None:
            console.print(f"  {view['env']}: nothing deployable; {view['why_different'][0]}")
            continue
        source = f"locked in {view['lock_file']}" if view["source"] == "lock" else "new decision"
        line = (
            f"  {view['env']}: {view['decision']}, "
            f"{_money(view['instances_monthly_usd'], 0)}/month for "
            f"{view['instances_monthly_covers']} ({source})"
        )
        if view["deployment_monthly_usd"]:
            line += f"; {_money(view['deployment_monthly_usd'])}/month for the whole deployment"
        console.print(line, highlight=False)
        if view["replan_would_choose"]:
            console.print(
                f"    `--replan` would choose {view['replan_would_choose']}", highlight=False
            )
        for reason in view["why_different"]:
            console.print(f"    differs: {reason}", highlight=False)


def _replicas(row: dict[str, Any]) -> str:
    """Model replicas, when an instance runs more than one: `8 model replicas (4 on spot)`."""
    if row["model_replicas_per_instance"] == 1:
        return "one model replica each"
    return f"{row['replicas']} model replicas ({row['spot_replicas']} on spot)"


def recommendation(
    result: Recommendation,
    *,
    top: int,
    as_json: bool,
    environments: list[dict[str, Any]] | None = None,
) -> None:
    data = {**recommendation_to_dict(result, top=top), "environments": environments or []}
    data["chosen"]["scaling"] = chosen_scaling(result)
    if as_json:
        _json(data)
        return
    console = _console()
    chosen = data["chosen"]
    console.print(
        f"[bold]{data['profile']}[/]: {data['model']} at {data['precision']}, "
        f"{data['requests_per_second']:g} req/s (sized for {data['demand_requests_per_second']:g} "
        f"with headroom, at {data['confidence']:.0%} confidence); catalog {data['catalog_date']}; "
        f"{data['candidates_considered']} feasible candidates"
    )
    table = _table(title="Cheapest first", title_justify="left")
    rows = [("chosen", chosen)] + [("", alt) for alt in data["alternatives"]]
    for column, justify in (
        ("", "left"),
        ("cloud/kind", "left"),
        ("region", "left"),
        ("instance", "left"),
        ("GPUs", "right"),
        ("TP", "right"),
        ("replicas (spot)", "right"),
        ("spot age/int.", "right"),
        ("$/hour", "right"),
        ("$/month", "right"),
        ("$/M out tok", "right"),
        ("TTFT p95 ms", "right"),
        ("TPOT ms", "right"),
        ("capacity req/s", "right"),
        ("binds", "left"),
        ("rows", "left"),
    ):
        # names are never cut: Standard_NC24ads_A100_v4 must stay whole when the table is wide
        widest = max(len(r["instance_type"]) for _, r in rows) if column == "instance" else None
        table.add_column(column, justify=justify, min_width=widest)  # type: ignore[arg-type]
    for marker, row in rows:
        predicted, band = row["predicted"], row["uncertainty"] or {}
        table.add_row(
            marker,
            f"{row['cloud']}/{row['kind']}",
            row["region"],
            row["instance_type"],
            f"{row['accelerators_per_instance']}×{row['accelerator']}",
            str(row["tensor_parallel"]),
            f"{row['replicas']} ({row['spot_replicas']})",
            _spot_cell(row),
            _money(row["hourly_usd"]),
            _money(row["monthly_usd"], 0),
            _money(row["usd_per_million_output_tokens"], 3),
            _ranged(predicted["ttft_ms_p95"], band.get("ttft_ms_p95"), 0),
            _ranged(predicted["tpot_ms"], band.get("tpot_ms"), 1),
            _capacity(predicted["capacity_requests_per_s"], band.get("capacity_requests_per_s")),
            row["binding_target"] + (" (cliff)" if row["cliff"] else ""),
            _rows(band),
            style="bold green" if marker else None,
        )
    console.print(table)
    low, high = 1 - data["confidence"], data["confidence"]
    console.print(
        f"TTFT and TPOT: predicted at the load carried (between the model's {low:.0%} and "
        f"{high:.0%} error quantiles); capacity: at the {high:.0%} quantile (sized with) – at the "
        f"{low:.0%}; binds: what caps a replica; rows: published measurements behind the band "
        "(pooled: too few of its own).",
        highlight=False,
    )
    zones = ", ".join(chosen["zones"]) or "region-priced"
    console.print(
        f"Chosen: {chosen['instances']}× {chosen['instance_type']} in {chosen['region']} "
        f"({zones}), {chosen['on_demand_instances']} on-demand + {chosen['spot_instances']} spot, "
        f"{_replicas(chosen)}, "
        f"{_money(chosen['monthly_usd'], 0)}/month; "
        f"spot saves {_money(chosen['spot_savings_monthly_usd'], 0)}/month; "
        f"{_money(chosen['usd_per_thousand_requests'], 4)} per 1,000 requests; "
        f"prices retrieved {chosen['prices_retrieved']}."
    )
    if chosen["hourly_sizes"]:
        console.print(_week_line(chosen["hourly_sizes"], data["traffic"]), highlight=False)
    if chosen["savings_monthly_usd"]:
        console.print(_savings_line(chosen), highlight=False)
    if data["commitments"]:
        console.print(commitment_line(chosen, data["commitments"]), highlight=False)
    if chosen["cold_start"]:
        console.print(_cold_start_line(chosen["cold_start"]), highlight=False)
    console.print(_scaling_line(chosen["scaling"]), highlight=False)
    if chosen["spot_prices_retrieved"]:
        interruption = (
            f"{chosen['cloud']} reports {chosen['spot_interruption']} of such spot capacity "
            f"interrupted over a month (data of {chosen['spot_interruption_retrieved']})"
            if chosen["spot_interruption"]
            else f"{chosen['cloud']} publishes no interruption rate"
        )
        console.print(
            f"Spot prices retrieved {chosen['spot_prices_retrieved']} "
            f"({_days(chosen['spot_price_age_days'])} old); {interruption}.",
            highlight=False,
        )
    if chosen["spot_not_used"]:
        console.print(f"Spot not used: {chosen['spot_not_used']}.", highlight=False)
    best = data["best_per_cloud"]
    if len(best) > 1:
        console.print(
            "Best per cloud: "
            + "; ".join(
                f"{cloud} {c['instance_type']} {c['region']} {_money(c['hourly_usd'])}/h"
                for cloud, c in best.items()
            )
        )
    if data["also_fits"]:
        console.print("[bold]Other accelerators that fit, at a higher cost:[/]")
        for item in data["also_fits"]:
            console.print(f"  - {item['reason']}", highlight=False)
    if data["excluded"]:
        console.print("[bold]Why other accelerators lost:[/]")
        for item in data["excluded"]:
            console.print(f"  - {item['reason']}", highlight=False)
    _environments(console, data["environments"])
    warnings = _console(stderr=True)  # on stderr, so the table on stdout stays clean to pipe
    for warning in data["warnings"]:
        warnings.print(f"[yellow]warning:[/] {warning}", highlight=False)


def commitment_line(chosen: dict[str, Any], asked: dict[str, Any]) -> str:
    """How much of the chosen fleet to commit and what it saves; what is held and sunk."""
    what = f"Commitments ({asked['kind']}, {asked['term']}, no upfront)"
    plan = chosen["commitment"]
    where = f"{chosen['instance_type']} in {chosen['region']} ({chosen['cloud']}/{chosen['kind']})"
    if plan is None:
        return f"{what}: no sourced rate for {where} and none held; nothing to commit."
    parts = []
    if plan["rate_usd_per_hour"] is None:
        parts.append(f"no sourced rate for {where}, so nothing to buy")
    elif plan["buy_instances"]:
        parts.append(
            f"commit {plan['buy_instances']}× {chosen['instance_type']} at "
            f"{_money(plan['rate_usd_per_hour'], 4)}/h ({_money(plan['committed_monthly_usd'])}"
            f"/month), saving {_money(plan['saving_monthly_usd'])}/month against on-demand"
        )
    elif asked["may_buy"]:
        parts.append("no instance runs enough hours for a commitment to pay off")
    if plan["held_instances"]:
        charge = (
            f"{_money(plan['held_monthly_usd'])}/month, sunk"
            if plan["held_monthly_usd"] is not None
            else "sunk"
        )
        parts.append(
            f"{plan['held_instances']} held ({charge}) cover "
            f"{_money(plan['held_saving_monthly_usd'])}/month of on-demand hours"
        )
    parts.append(
        f"{_money(plan['on_demand_monthly_usd'])}/month stays on-demand"
        + (f"; rate: {plan['rate_source']}" if plan["rate_source"] else "")
    )
    return f"{what}: {'; '.join(parts)}."


def _week_line(hourly: dict[str, Any], traffic: dict[str, Any]) -> str:
    """Expected against flat at the peak: `Over the week (Europe/Berlin): ...`."""
    flat, expected = hourly["flat_monthly_usd"], hourly["expected_monthly_usd"]
    share = hourly["saving_monthly_usd"] / flat if flat else 0.0
    sizes = [change["instances"] for change in hourly["changes"]]
    return (
        f"Over the week ({hourly['timezone']}, {traffic['mean_requests_per_second']:g} req/s "
        f"served on average): {_money(expected, 0)}/month expected (cheapest hour "
        f"{_money(hourly['min_monthly_usd'], 0)}, dearest {_money(hourly['max_monthly_usd'], 0)} "
        f"a month) against {_money(flat, 0)}/month flat at the peak, saving "
        f"{_money(hourly['saving_monthly_usd'], 0)} ({share:.0%}); {min(sizes)} to {max(sizes)} "
        f"instances, {len(sizes)} size changes a week."
    )


def _savings_line(chosen: dict[str, Any]) -> str:
    """`Against the flat fleet ($14,301/month), each after the ones before: following the traffic
    $7,487, ...; $4,451/month expected`, in the order each is measured (planner/cost/savings.py)."""
    saved, unused = chosen["savings_monthly_usd"], chosen["savings_not_used"]
    parts = [
        f"{SAVING_NAMES[name]} {'not used' if name in unused else _money(saved[name], 0)}"
        for name in MECHANISMS
    ]
    return (
        f"Against the flat fleet ({_money(saved['flat'], 0)}/month), each after the ones before: "
        f"{', '.join(parts)}; {_money(saved['expected'], 0)}/month expected."
    )


def _cold_start_line(parts: dict[str, float]) -> str:
    """`Cold start after an idle hour: about 8.7 minutes (instance 26 s, ...)`."""
    return (
        f"Cold start after an hour at zero: about {parts['total_s'] / 60:.1f} minutes (instance "
        f"{parts['instance_s']:.0f} s, image pull {parts['image_pull_s']:.0f} s, weights download "
        f"{parts['weights_download_s']:.0f} s for {parts['weights_gb']:g} GB, load into GPU "
        f"memory {parts['load_s']:.0f} s, engine warm-up {parts['warmup_s']:.0f} s)."
    )


SIGNAL_WORDS = {
    "alb_requests_per_target": "load-balancer requests at {:g} per instance and minute",
    "invocations_per_instance": "invocations at {:g} per instance and minute",
    "requests_in_flight_per_replica": "requests in flight (running + waiting) at {:g} per replica",
}


def _scaling_line(scaling: dict[str, Any]) -> str:
    """`Scaling: target tracking keeps ...`: the targets the stacks are written with."""
    kept = [SIGNAL_WORDS[scaling["signal"]].format(scaling["target"])]
    if "in_flight_per_replica" in scaling:
        kept.append(
            f"the engine's requests in flight at {scaling['in_flight_per_replica']:g} per replica"
        )
    return f"Scaling: target tracking keeps {' and '.join(kept)}."


def _days(days: int | None) -> str:
    return "?" if days is None else f"{days} day" + ("" if days == 1 else "s")


def _spot_cell(row: dict[str, Any]) -> str:
    """How old the spot prices of a candidate are, and the published interruption band."""
    if not row["spot_prices_retrieved"]:
        return "—"
    days = row["spot_price_age_days"]
    return f"{'?' if days is None else days}d {row['spot_interruption'] or 'n/a'}"


def _offering_row(offering: Offering) -> dict[str, Any]:
    zones = offering.ondemand_zones
    ondemand = min((z.ondemand_usd for z in zones if z.ondemand_usd is not None), default=None)
    spots = [z.spot_usd for z in offering.zones if z.spot_usd is not None]
    return {
        "cloud": offering.cloud,
        "kind": offering.kind,
        "instance_type": offering.display_name,
        "accelerator": offering.accelerator,
        "accelerator_count": offering.accelerator_count,
        "accelerator_memory_gib": offering.accelerator_memory_gib,
        "vcpus": offering.vcpus,
        "memory_gib": offering.memory_gib,
        "region": offering.region,
        "zones": [z.zone for z in offering.zones if z.zone],
        "ondemand_usd_per_hour": ondemand,
        "spot_usd_per_hour_min": min(spots) if spots else None,
        "retrieved": offering.retrieved,
        "source": offering.source,
    }


def offerings(items: list[Offering], *, as_json: bool) -> None:
    rows = sorted(
        (_offering_row(o) for o in items),
        key=lambda r: (r["cloud"], r["kind"], r["instance_type"], r["region"]),
    )
    if as_json:
        _json(rows)
        return
    table = _table(title=f"{len(rows)} offerings", title_justify="left")
    for column in (
        "cloud/kind",
        "instance",
        "accelerators",
        "region",
        "zones",
        "on-demand $/h",
        "spot $/h (min)",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            f"{row['cloud']}/{row['kind']}",
            row["instance_type"],
            f"{row['accelerator_count']}×{row['accelerator']} "
            f"{row['accelerator_memory_gib']:g} GiB",
            row["region"],
            str(len(row["zones"]) or "—"),
            _money(row["ondemand_usd_per_hour"], 4),
            _money(row["spot_usd_per_hour_min"], 4),
        )
    _console().print(table)


def instance_detail(name: str, items: list[Offering], *, as_json: bool) -> None:
    rows = [
        {
            **_offering_row(o),
            "spot_interruption": (
                msgspec.to_builtins(o.spot_interruption) if o.spot_interruption else None
            ),
            "prices": [
                {
                    "zone": z.zone,
                    "ondemand_usd_per_hour": z.ondemand_usd,
                    "spot_usd_per_hour": z.spot_usd,
                    "listed_spot_usd_per_hour": z.listed_spot_usd,
                    "spot_note": z.spot_note,
                    "retrieved": z.retrieved,
                }
                for z in o.zones
            ],
        }
        for o in sorted(items, key=lambda o: (o.cloud, o.kind, o.region))
    ]
    if as_json:
        _json(rows)
        return
    first = items[0]
    console = _console()
    console.print(
        f"[bold]{name}[/]: {first.accelerator_count}× {first.accelerator} "
        f"({first.accelerator_memory_gib:g} GiB each), "
        f"{first.vcpus:g} vCPU, {first.memory_gib:g} GiB RAM; source: {first.source}",
        highlight=False,
    )
    table = _table()
    for column in (
        "cloud/kind",
        "region",
        "zone",
        "on-demand $/h",
        "spot $/h",
        "interruption",
        "retrieved",
        "note",
    ):
        table.add_column(column)
    for row in rows:
        band = row["spot_interruption"]
        for price in row["prices"]:
            table.add_row(
                f"{row['cloud']}/{row['kind']}",
                row["region"],
                price["zone"] or "—",
                _money(price["ondemand_usd_per_hour"], 4),
                _money(price["spot_usd_per_hour"], 4),
                band["band"] if band else "—",
                price["retrieved"],
                price["spot_note"] or "",
            )
    console.print(table)


def models(items: list[ModelSpec], *, as_json: bool) -> None:
    rows = [
        {
            "name": m.name,
            "family": m.family,
            "params_b": m.params_b,
            "active_params_b": m.active_params_b,
            "layers": m.layers,
            "kv_heads": m.kv_heads,
            "max_context": m.max_context,
            "experts": m.experts,
            "hf_id": m.hf_id,
            "source": m.source,
        }
        for m in items
    ]
    if as_json:
        _json(rows)
        return
    table = _table(title=f"{len(rows)} built-in models", title_justify="left")
    for column in (
        "name",
        "family",
        "params (B)",
        "active (B)",
        "layers",
        "KV heads",
        "context",
        "Hugging Face id",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["family"],
            f"{row['params_b']:g}",
            f"{row['active_params_b']:g}" if row["active_params_b"] else "",
            str(row["layers"] or ""),
            str(row["kv_heads"] or ""),
            str(row["max_context"] or ""),
            row["hf_id"] or "",
        )
    _console().print(table)
