"""`infra cost` output: a table for people, and JSON, CSV, Markdown, HTML or Infracost-compatible
JSON for machines and reviewers. Every format is built from the same report, so the numbers agree.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from planner.cost.diff import CostDiff, commitment_words
from planner.cost.report import CostComponent, CostReport, ResourceCost
from planner.cost.savings import Savings, SavingStep
from providers.price_freshness import age_days

REPORT_FORMATS = ("table", "json", "csv", "markdown", "html", "infracost-json")
DIFF_FORMATS = ("table", "json", "csv", "markdown", "infracost-json")
INFRACOST_VERSION = "0.2"
"""The output schema version Infracost v0.10 writes (schema/infracost.schema.json)."""


def money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def signed(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}${abs(value):,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.4g}" if value < 1000 else f"{value:,.0f}"


def _unit_price(component: CostComponent) -> str:
    if component.unit_price is None:
        return "—"
    return f"${component.unit_price:,.6g}/{component.unit.removesuffix('s')}"


# --- summaries shared by the formats -----------------------------------------------------------


def summary_lines(report: CostReport, *, breakdown: bool = True) -> list[str]:
    """The week's figures, spot, commitments, unit costs, budget and notes; `breakdown` adds
    what each mechanism saves under the week's line (the HTML page has a table of its own)."""
    total = report.monthly_usd
    lines = [
        f"Monthly: {money(total.expected)} expected "
        f"(min {money(total.min)}, max {money(total.max)} at the autoscaling bounds)",
    ]
    if report.week is not None:
        flat = report.week.flat_monthly_usd
        saving = flat - total.expected
        lines[0] = (
            f"Monthly: {money(total.expected)} expected over the week's hours in "
            f"{report.week.timezone} (min {money(total.min)} at the quietest hour, max "
            f"{money(total.max)} at the autoscaling bounds)"
        )
        share = f"{saving / flat if flat else 0:.0%}"
        if report.savings and breakdown:
            lines.append(
                f"Against the fleet at its peak size every hour ({money(flat)}): {money(saving)} "
                f"a month ({share}) less; each step measured after the ones before it:"
            )
            lines += savings_lines(report.savings)
        else:
            lines.append(
                f"The fleet follows the traffic: {money(saving)} a month ({share}) less than at "
                f"its peak size every hour ({money(flat)})"
            )
    if report.spot_savings_monthly_usd > 0:
        share = report.spot_savings_monthly_usd / report.all_on_demand_monthly_usd
        lines.append(
            f"Spot saves {money(report.spot_savings_monthly_usd)} a month ({share:.0%}) against "
            f"all on-demand ({money(report.all_on_demand_monthly_usd)})"
        )
    if report.commitment is not None:
        lines += commitment_lines(report)
    if report.load is not None:
        load = report.load
        if report.usd_per_million_output_tokens is not None:
            lines.append(
                f"{money(report.usd_per_million_output_tokens)} per million output tokens at "
                f"{load.requests_per_s:g} req/s × {load.output_tokens_per_request:g} tokens"
            )
        lines.append(
            f"${report.usd_per_thousand_requests:,.4f} per thousand requests at "
            f"{load.requests_per_s:g} req/s"
        )
    if report.budget_monthly_usd is not None:
        over = report.over_budget_usd or 0.0
        verdict = f"over by {money(over)}" if over > 0 else "within"
        lines.append(f"Budget {money(report.budget_monthly_usd)}/month: {verdict}")
    for resource in report.unpriced:
        lines.append(f"Not priced: {resource.address} ({resource.reason})")
    lines.append(f"Prices: catalog {report.catalog_date}, {report.hours_per_month} hours a month")
    if report.spot_prices_retrieved:
        days = age_days(report.spot_prices_retrieved)
        old = f" ({days} day{'' if days == 1 else 's'} old)" if days is not None else ""
        lines.append(f"Spot prices retrieved {report.spot_prices_retrieved}{old}")
    lines += [f"Warning: {note}" for note in report.notes]
    return lines


SAVING_NAMES = {
    "traffic": "following the traffic",
    "schedule": "the environment's schedule",
    "scale_to_zero": "scale to zero",
    "commitments": "commitments",
}
"""How each mechanism of the savings breakdown is named to people."""


def saving_text(step: SavingStep) -> str:
    """`$1,234.56` (or `-$12.00` when the step adds cost), `not used` for an unused one."""
    if not step.used:
        return "not used"
    return money(step.monthly_usd) if step.monthly_usd >= 0 else signed(step.monthly_usd)


def savings_lines(savings: Savings) -> list[str]:
    """One line per mechanism, in the order each is measured (after the ones before it)."""
    return [
        f"  {index}. {SAVING_NAMES[step.mechanism]}: {saving_text(step)}"
        + (" a month" if step.used else "")
        for index, step in enumerate(savings.steps, start=1)
    ]


def savings_rows(savings: Savings) -> list[tuple[str, str]]:
    """(what, monthly) from the flat fleet, through each mechanism's saving, to the expected
    month: the HTML page's table beside the week's charts."""
    return [
        ("fleet at its peak size every hour", money(savings.flat_monthly_usd)),
        *((f"− {SAVING_NAMES[step.mechanism]}", saving_text(step)) for step in savings.steps),
        ("= expected", money(savings.expected_monthly_usd)),
    ]


def commitment_lines(report: CostReport) -> list[str]:
    """The month split by how compute is bought, and what the commitments are."""
    plan = report.commitment
    assert plan is not None
    parts = report.split()
    split = ", ".join(
        f"{name.replace('_', '-')} {money(span.expected)} (min {money(span.min)}, max "
        f"{money(span.max)})"
        for name, span in parts.items()
    )
    held = (
        f"; {plan.held_instances} held, sunk at {money(plan.held_monthly_usd)}/month and not in "
        "the totals"
        if plan.held_instances
        else ""
    )
    return [
        f"Compute by how it is bought: {split}",
        f"Commitments ({plan.kind}, {plan.term}): {plan.buy_instances} bought × "
        f"{plan.instance_type}{held}; they cover up to {plan.committed_instances} on-demand "
        "instances an hour",
    ]


def _billed(report: CostReport) -> list[ResourceCost]:
    return [r for r in report.resources if r.components]


def _free(report: CostReport) -> list[ResourceCost]:
    return [r for r in report.resources if r.status == "free"]


# --- report formats ----------------------------------------------------------------------------


def report_table(report: CostReport) -> Any:
    """A rich renderable: the header, the component table and the summary."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    table = Table(title_justify="left", show_lines=False)
    for column, justify in (
        ("resource", "left"),
        ("component", "left"),
        ("unit price", "right"),
        ("quantity / month", "right"),
        ("monthly", "right"),
        ("min – max", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for resource in _billed(report):
        for index, component in enumerate(resource.components):
            monthly = component.monthly_usd
            usage = component.usage_based
            table.add_row(
                resource.address if index == 0 else "",
                escape(component.name + (f" ({component.note})" if component.note else "")),
                _unit_price(component),
                "by usage"
                if usage
                else f"{_quantity(component.quantity.expected)} {component.unit}",
                "—" if usage else money(monthly.expected),
                ""
                if usage or monthly.min == monthly.max
                else f"{money(monthly.min)} – {money(monthly.max)}",
            )
    free = _free(report)
    header = Text(
        f"{report.source}: {report.cloud} {report.region}; "
        f"{len(report.resources)} resources, {len(free)} with no charge of their own",
        style="bold",
    )
    return Group(header, table, Text("\n".join(summary_lines(report))))


def report_json(report: CostReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


CSV_COLUMNS = (
    "address",
    "type",
    "status",
    "component",
    "category",
    "unit",
    "unit_price",
    "quantity_expected",
    "monthly_usd_min",
    "monthly_usd_expected",
    "monthly_usd_max",
    "note",
)


def report_csv(report: CostReport) -> str:
    """One row per billed component, one per resource otherwise; no total row (sum the
    monthly columns)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for resource in report.resources:
        if not resource.components:
            writer.writerow(
                [
                    resource.address,
                    resource.type,
                    resource.status,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    resource.reason or "",
                ]
            )
            continue
        for c in resource.components:
            monthly = c.monthly_usd
            usage = c.usage_based
            writer.writerow(
                [
                    resource.address,
                    resource.type,
                    resource.status,
                    c.name,
                    c.category,
                    c.unit,
                    "" if c.unit_price is None else c.unit_price,
                    "" if usage else c.quantity.expected,
                    "" if usage else monthly.min,
                    "" if usage else monthly.expected,
                    "" if usage else monthly.max,
                    "usage-based" if usage else (c.note or ""),
                ]
            )
    return out.getvalue()


def report_markdown(report: CostReport) -> str:
    lines = [
        f"### Cost of {report.source}",
        "",
        f"{report.cloud} {report.region} · catalog {report.catalog_date} · "
        f"{report.hours_per_month} h/month",
        "",
        "| resource | component | unit price | quantity / month | monthly |",
        "|---|---|---:|---:|---:|",
    ]
    for resource in _billed(report):
        for c in resource.components:
            usage = c.usage_based
            name = c.name + (f" ({c.note})" if c.note else "")
            lines.append(
                f"| `{resource.address}` | {name} | {_unit_price(c)} | "
                f"{'by usage' if usage else f'{_quantity(c.quantity.expected)} {c.unit}'} | "
                f"{'—' if usage else money(c.monthly_usd.expected)} |"
            )
    lines += ["", *(f"- {line}" for line in summary_lines(report))]
    return "\n".join(lines) + "\n"


def _decimal(value: float | None, places: int = 6) -> str | None:
    if value is None:
        return None
    text = format(Decimal(str(round(value, places))).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _infracost_resource(resource: ResourceCost, hours: int) -> dict[str, Any]:
    components = []
    for c in resource.components:
        usage = c.usage_based
        monthly = None if usage else c.monthly_usd.expected
        components.append(
            {
                "name": c.name,
                "unit": c.unit,
                "hourlyQuantity": None if usage else _decimal(c.quantity.expected / hours),
                "monthlyQuantity": None if usage else _decimal(c.quantity.expected),
                "price": _decimal(c.unit_price),
                "hourlyCost": None if monthly is None else _decimal(monthly / hours),
                "monthlyCost": _decimal(monthly),
            }
        )
    monthly = resource.monthly_usd.expected
    return {
        "name": resource.address,
        "tags": {},
        "metadata": {"resourceType": resource.type, "status": resource.status},
        "hourlyCost": _decimal(monthly / hours),
        "monthlyCost": _decimal(monthly),
        "costComponents": components,
        "subresources": [],
    }


def _breakdown(report: CostReport | None) -> dict[str, Any]:
    if report is None:
        return {"resources": [], "totalHourlyCost": "0", "totalMonthlyCost": "0"}
    hours = report.hours_per_month
    monthly = report.monthly_usd.expected
    return {
        "resources": [_infracost_resource(r, hours) for r in _billed(report)],
        "totalHourlyCost": _decimal(monthly / hours),
        "totalMonthlyCost": _decimal(monthly),
    }


def _difference(base: dict[str, Any], head: dict[str, Any], hours: int) -> dict[str, Any]:
    before = {r["name"]: r for r in base["resources"]}
    resources = []
    for resource in head["resources"]:
        old = before.pop(resource["name"], None)
        if old is None or old["monthlyCost"] != resource["monthlyCost"]:
            delta = Decimal(resource["monthlyCost"]) - Decimal(old["monthlyCost"] if old else "0")
            resources.append(
                {**resource, "monthlyCost": _decimal(float(delta)), "costComponents": []}
            )
    for old in before.values():
        resources.append({**old, "monthlyCost": _decimal(-float(old["monthlyCost"]))})
    for resource in resources:
        resource["hourlyCost"] = _decimal(float(resource["monthlyCost"]) / hours)
    total = Decimal(head["totalMonthlyCost"]) - Decimal(base["totalMonthlyCost"])
    return {
        "resources": resources,
        "totalHourlyCost": _decimal(float(total) / hours),
        "totalMonthlyCost": _decimal(float(total)),
    }


def _summary(report: CostReport) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {"unsupported": {}, "noPrice": {}, "supported": {}}
    for resource in report.resources:
        group = {"unpriced": "unsupported", "free": "noPrice"}.get(resource.status, "supported")
        counts[group][resource.type] = counts[group].get(resource.type, 0) + 1
    return {
        "totalDetectedResources": len(report.resources),
        "totalSupportedResources": sum(counts["supported"].values()),
        "totalUnsupportedResources": sum(counts["unsupported"].values()),
        "totalUsageBasedResources": sum(
            1 for r in report.resources if any(c.usage_based for c in r.components)
        ),
        "totalNoPriceResources": sum(counts["noPrice"].values()),
        "supportedResourceCounts": counts["supported"],
        "unsupportedResourceCounts": counts["unsupported"],
        "noPriceResourceCounts": counts["noPrice"],
    }


def infracost_json(head: CostReport, base: CostReport | None = None) -> str:
    """Infracost's JSON output (schema version 0.2, written by Infracost v0.10): one project whose
    `pastBreakdown` is the base (empty for a single report) and `breakdown` the head. Expected
    figures only; resources this toolkit cannot price are counted in the summary, as Infracost
    does with unsupported ones."""
    past, now = _breakdown(base), _breakdown(head)
    diff = _difference(past, now, head.hours_per_month)
    project_type = "terraform_plan_json" if head.source.endswith(".json") else "infra_profile"
    document = {
        "version": INFRACOST_VERSION,
        "currency": "USD",
        "projects": [
            {
                "name": head.source,
                "metadata": {"path": head.source, "type": project_type},
                "pastBreakdown": past,
                "breakdown": now,
                "diff": diff,
                "summary": _summary(head),
            }
        ],
        "totalHourlyCost": now["totalHourlyCost"],
        "totalMonthlyCost": now["totalMonthlyCost"],
        "pastTotalHourlyCost": past["totalHourlyCost"],
        "pastTotalMonthlyCost": past["totalMonthlyCost"],
        "diffTotalHourlyCost": diff["totalHourlyCost"],
        "diffTotalMonthlyCost": diff["totalMonthlyCost"],
        "timeGenerated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": _summary(head),
    }
    return json.dumps(document, indent=2) + "\n"


def render_report(
    report: CostReport, fmt: str, alternatives: Sequence[dict[str, Any]] = ()
) -> str | Any:
    """Text for every format but `table`, which returns a rich renderable."""
    if fmt == "table":
        return report_table(report)
    if fmt == "json":
        return report_json(report)
    if fmt == "csv":
        return report_csv(report)
    if fmt == "markdown":
        return report_markdown(report)
    if fmt == "infracost-json":
        return infracost_json(report)
    from cli.cost_html import report_html

    return report_html(report, alternatives)


# --- diff formats ------------------------------------------------------------------------------


def diff_markdown(diff: CostDiff) -> str:
    """Fit for a pull-request comment: the total change first, then what changed."""
    delta = diff.delta_monthly_usd
    base, head = diff.base.monthly_usd, diff.head.monthly_usd
    percent = f" ({delta.expected / base.expected:+.1%})" if base.expected else ""
    lines = [
        "### Monthly cost change",
        "",
        f"**{signed(delta.expected)}/month**{percent}: {money(base.expected)} → "
        f"{money(head.expected)} expected "
        f"(at the autoscaling maximum: {money(base.max)} → {money(head.max)}).",
        "",
    ]
    changed = diff.changed
    if changed:
        lines += ["| change | resource | before | after | delta |", "|---|---|---:|---:|---:|"]
        for r in changed:
            delta_text = signed(r.delta_usd) if r.priced else "not priced"
            lines.append(
                f"| {r.change} | `{r.address}` | {money(r.base_monthly_usd)} | "
                f"{money(r.head_monthly_usd)} | {delta_text} |"
            )
    else:
        lines.append("No resource changes cost.")
    unpriced = sorted({r.address for r in diff.head.unpriced})
    if unpriced:
        lines += ["", "Not priced: " + ", ".join(f"`{a}`" for a in unpriced)]
    lines += [
        "",
        f"<sub>base: {diff.base.source} · head: {diff.head.source} · catalog "
        f"{diff.head.catalog_date} · generated by infra cost diff</sub>",
    ]
    return "\n".join(lines) + "\n"


def diff_csv(diff: CostDiff) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ("address", "type", "change", "base_monthly_usd", "head_monthly_usd", "delta_usd", "priced")
    )
    for r in diff.resources:
        writer.writerow(
            (
                r.address,
                r.type,
                r.change,
                "" if r.base_monthly_usd is None else r.base_monthly_usd,
                "" if r.head_monthly_usd is None else r.head_monthly_usd,
                r.delta_usd if r.priced else "",
                str(r.priced).lower(),
            )
        )
    return out.getvalue()


def diff_table(diff: CostDiff) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column, justify in (
        ("change", "left"),
        ("resource", "left"),
        ("before", "right"),
        ("after", "right"),
        ("delta", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in diff.changed:
        table.add_row(
            r.change,
            r.address,
            money(r.base_monthly_usd),
            money(r.head_monthly_usd),
            signed(r.delta_usd) if r.priced else "not priced",
        )
    delta = diff.delta_monthly_usd
    summary = (
        f"Monthly: {money(diff.base.monthly_usd.expected)} → "
        f"{money(diff.head.monthly_usd.expected)} ({signed(delta.expected)}); at the maximum "
        f"{signed(delta.max)}"
    )
    if diff.commitment_changed:
        summary += f"\nCommitments: {commitment_words(diff.base)} → {commitment_words(diff.head)}"
    return Group(
        Text(f"{diff.base.source} → {diff.head.source}", style="bold"), table, Text(summary)
    )


def render_diff(diff: CostDiff, fmt: str) -> str | Any:
    if fmt == "table":
        return diff_table(diff)
    if fmt == "json":
        return json.dumps(diff.to_dict(), indent=2) + "\n"
    if fmt == "csv":
        return diff_csv(diff)
    if fmt == "markdown":
        return diff_markdown(diff)
    return infracost_json(diff.head, diff.base)
