"""The Amazon EKS Kubernetes release calendar: when each minor version leaves standard support
(and its cluster-hours move to the extended-support rate), from the shipped
`data/eks_versions.csv` (a source and date per row)."""

from __future__ import annotations

import datetime
from functools import cache
from pathlib import Path

from core.errors import CatalogError
from providers.csv_file import csv_rows

COLUMNS = ("version", "end_of_standard_support", "source", "retrieved")
CALENDAR_FILE = Path(__file__).parent / "data" / "eks_versions.csv"


def minor_version(version: str) -> tuple[int, int] | None:
    """(1, 32) of `1.32` or `1.32.5`; None for anything else."""
    parts = version.strip().split(".")
    if len(parts) < 2 or not all(part.isdigit() for part in parts[:2]):
        return None
    return int(parts[0]), int(parts[1])


def read_calendar(path: Path) -> dict[tuple[int, int], datetime.date]:
    calendar = {}
    for line, (version, end, _source, _retrieved) in csv_rows(path, COLUMNS, "EKS version"):
        minor = minor_version(version)
        try:
            day = datetime.date.fromisoformat(end)
        except ValueError:
            day = None
        if minor is None or day is None:
            raise CatalogError(f"{path}, line {line}: expected a minor version and an ISO date.")
        calendar[minor] = day
    return calendar


@cache
def standard_support_ends() -> dict[tuple[int, int], datetime.date]:
    """Minor version → the last day of its standard support on EKS."""
    return read_calendar(CALENDAR_FILE)


def in_extended_support(version: str, on: datetime.date) -> bool | None:
    """Whether a cluster of `version` is billed at the extended-support rate on `on`: True past
    its end of standard support (a version older than the calendar is too); False before it (a
    version newer than the calendar is new); None when `version` is not a Kubernetes version."""
    minor = minor_version(version)
    if minor is None:
        return None
    calendar = standard_support_ends()
    if minor in calendar:
        return on > calendar[minor]
    return minor < min(calendar)


def newest_version() -> str:
    """The newest minor version of the calendar (`1.35`): what EKS makes when none is asked."""
    major, minor = max(standard_support_ends())
    return f"{major}.{minor}"
