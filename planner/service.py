"""Entry points the CLI calls: load, check names against the catalog, plan. One job each."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from core.errors import InfraError, NoFeasibleCandidate, ProfileError
from planner.accelerators import accelerators
from planner.cold_start import check_cold_start
from planner.optimizer import Filters, Recommendation, recommend
from planner.profile import ALL_CLOUDS, ALL_KINDS, LoadedProfile, load_profile
from planner.profile_checks import profile_location
from planner.yaml_source import field_name
from providers.aws.neuron import deployment_notes
from providers.catalog import Catalog, Offering, load_catalog
from providers.cloud_values import cloud_value_problem
from providers.price_freshness import stale_catalog_warning, stale_offering_warning


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_choice(kind: str, value: str, choices: Iterable[str]) -> None:
    choices = sorted(choices)
    if value not in choices:
        raise InfraError(
            f"unknown {kind} '{value}'{_suggest(value, choices)}; choose from {', '.join(choices)}."
        )


def check_region(region: str, catalog: Catalog, where: str | None = None) -> None:
    if region in catalog.regions():
        return
    prefix = f"{where}: " if where else ""
    raise (ProfileError if where else InfraError)(
        f"{prefix}unknown region '{region}'{_suggest(region, catalog.regions())}; "
        "`infra catalog list` shows the regions each cloud offers."
    )


def check_filters(filters: Filters, catalog: Catalog) -> None:
    for cloud in filters.clouds or ():
        check_choice("cloud", cloud, ALL_CLOUDS)
    for kind in filters.kinds or ():
        check_choice("kind", kind, ALL_KINDS)
    for region in filters.regions or ():
        check_region(region, catalog)
    known = {name.lower(): name for name in accelerators()}
    for accelerator in filters.accelerators or ():
        if accelerator not in known:
            proper = sorted(known.values())
            close = _suggest(accelerator.upper(), proper)
            raise InfraError(
                f"unknown accelerator '{accelerator}'{close}; choose from {', '.join(proper)}."
            )


def check_profile_against_catalog(loaded: LoadedProfile, catalog: Catalog) -> None:
    profile = loaded.profile
    for index, region in enumerate(profile.placement.regions):
        line = loaded.location_of("placement", "regions", index)
        check_region(region, catalog, f"{line}, field placement.regions[{index}]")
    if not isinstance(profile.placement.zones, int):
        zones = {z.zone for offering in catalog.offerings for z in offering.zones if z.zone}
        for index, zone in enumerate(profile.placement.zones):
            if zone not in zones:
                where = loaded.location_of("placement", "zones", index)
                raise ProfileError(
                    f"{where}, field placement.zones[{index}]: unknown zone '{zone}'"
                    f"{_suggest(zone, zones)}; give a number of zones, or zone names from "
                    "`infra catalog show INSTANCE_TYPE`."
                )
    known = {name.lower() for name in accelerators()}
    for index, measured in enumerate(profile.workload.measured):
        if measured.accelerator.lower() not in known:
            where = loaded.location_of("workload", "measured", index, "accelerator")
            raise ProfileError(
                f"{where}, field workload.measured[{index}].accelerator: unknown accelerator "
                f"'{measured.accelerator}'{_suggest(measured.accelerator, accelerators())}; "
                f"known: {', '.join(accelerators())}."
            )


def check_values_for_cloud(loaded: LoadedProfile, cloud: str) -> None:
    """Tags and client ranges the chosen cloud would refuse, named at the profile's line."""
    network = loaded.profile.deploy.network
    found = cloud_value_problem(cloud, loaded.profile.tags, network.ingress_cidrs)
    if found is None:
        return
    location = profile_location(found.field)
    raise ProfileError(
        f"{loaded.location_of(*location)}, field {field_name(location)}: {found.problem} "
        f"({cloud} is the chosen cloud)."
    )


def recommend_for_profile(
    path: Path, filters: Filters | None = None, unpinned: Filters | None = None
) -> Recommendation:
    """The recommendation within `filters`; compared with the one within `unpinned` (the same
    filters without the user's pins) when they differ, to flag a pinned fleet many times dearer."""
    filters = filters or Filters()
    unpinned = unpinned or Filters()
    loaded = load_profile(path)
    profile = loaded.profile
    catalog = load_catalog()
    check_filters(filters, catalog)
    check_profile_against_catalog(loaded, catalog)
    result = recommend(profile, catalog, filters)
    if filters != unpinned:
        with suppress(NoFeasibleCandidate):  # unpinned, nothing is feasible: no comparison
            result.compare_unpinned(recommend(profile, catalog, unpinned))
    check_values_for_cloud(loaded, result.chosen.offering.cloud)
    check_cold_start(loaded, result, filters.environment)
    if profile.budget is not None:
        monthly = result.chosen.expected_monthly_usd
        if monthly > profile.budget.monthly_usd:
            result.warnings.append(
                f"the cheapest feasible choice costs {monthly:,.0f} USD/month, "
                f"{monthly - profile.budget.monthly_usd:,.0f} over the budget of "
                f"{profile.budget.monthly_usd:,.0f}."
            )
    result.warnings.extend(
        deployment_notes(result.chosen.offering.accelerator, profile.deploy.model_s3_uri)
    )
    clouds = {candidate.offering.cloud for candidate in result.candidates}
    stale = stale_catalog_warning(catalog, clouds) or stale_offering_warning(result.chosen.offering)
    if stale:
        result.warnings.append(stale)
    return result


def list_offerings(
    cloud: str | None, accelerator: str | None, region: str | None, kind: str | None
) -> list[Offering]:
    catalog = load_catalog()
    filters = Filters(
        clouds=frozenset({cloud.lower()}) if cloud else None,
        regions=frozenset({region}) if region else None,
        kinds=frozenset({kind.lower()}) if kind else None,
        accelerators=frozenset({accelerator.lower()}) if accelerator else None,
    )
    check_filters(filters, catalog)
    return [
        o
        for o in catalog.offerings
        if (cloud is None or o.cloud == cloud.lower())
        and (region is None or o.region == region)
        and (kind is None or o.kind == kind.lower())
        and (accelerator is None or o.accelerator.lower() == accelerator.lower())
    ]


def show_instance(name: str) -> list[Offering]:
    catalog = load_catalog()
    found = catalog.find_instance(name)
    if not found:
        names = {o.display_name for o in catalog.offerings} | {
            o.instance_type for o in catalog.offerings
        }
        raise InfraError(
            f"no instance type '{name}' in the catalog{_suggest(name, names)}; "
            "`infra catalog list` shows what is there."
        )
    return found
