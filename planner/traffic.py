"""Traffic over the week: the request rate for each of the 168 hours of a week, in one time zone.

A profile's `workload.traffic` gives the shape three ways (peak hours and a trough rate, 24
fractions of the peak per day, or a CSV exported from monitoring); an environment's `schedule`
says when it serves at all. Both come down to 168 local hours, Monday 00:00 first. Hours are
wall-clock hours in the time zone (zoneinfo), so a 09:00 peak stays at 09:00 across a daylight
saving change; a month is priced as 730/168 of the mean week (the 23- or 25-hour day of a change
moves a month's figure by about 0.1%, which is left out). CSV timestamps are converted to the
zone with zoneinfo before they are averaged, so each sample lands in the local hour it was served.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ProfileError

if TYPE_CHECKING:
    from planner.profile import Traffic

HOURS_PER_WEEK = 168
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SETS = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
"""Names a `days` field may give instead of a list of weekdays."""
CSV_MAX_BYTES = 16 * 1024 * 1024
"""A year of 1-minute samples is about 20 MB; a week of hourly ones is a few kilobytes."""
CSV_MAX_ROWS = 600_000


def hour_label(hour: int) -> str:
    """`mon 09:00` for hour 9 of the week."""
    return f"{WEEKDAYS[hour // 24]} {hour % 24:02d}:00"


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or a ValueError saying it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}; give an IANA name such as Europe/Berlin, "
            "America/New_York or UTC"
        ) from None


def _clock(text: str) -> int:
    """The hour of `HH:00` (24:00 allowed as the end of the day); whole hours only."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValueError(f"{text!r} is not a time such as 09:00")
    hour, minute = int(parts[0]), int(parts[1])
    if minute != 0:
        raise ValueError(f"{text!r} is not on the hour: fleets are sized per whole hour")
    if hour > 24:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return hour


def hours_of_day(text: str) -> frozenset[int]:
    """The hours `09:00-18:00` covers (9 to 17); `22:00-06:00` wraps past midnight."""
    start_end = text.split("-")
    if len(start_end) != 2:
        raise ValueError(f"{text!r} is not an hour range such as 09:00-18:00")
    start, end = (_clock(part) for part in start_end)
    start %= 24
    if start == end % 24 and start_end[0].strip() != start_end[1].strip():
        return frozenset(range(24))  # 00:00-24:00
    if start == end:
        raise ValueError(f"{text!r} is an empty range; give a start before the end")
    if start < end:
        return frozenset(range(start, end))
    return frozenset(range(start, 24)) | frozenset(range(0, end % 24))


def days_of_week(days: str | Sequence[str]) -> frozenset[int]:
    """Weekday indices (Monday 0) of `weekdays`, `daily`, `weekends` or a list ([mon, tue])."""
    if isinstance(days, str):
        if days in DAY_SETS:
            return DAY_SETS[days]
        days = [d.strip() for d in days.split(",")]
    found = set()
    for day in days:
        if day not in WEEKDAYS:
            raise ValueError(
                f"{day!r} is not a day: use weekdays, daily, weekends or days among "
                f"{', '.join(WEEKDAYS)}"
            )
        found.add(WEEKDAYS.index(day))
    if not found:
        raise ValueError("no day given")
    return frozenset(found)


def week_hours(days: frozenset[int], hours: frozenset[int]) -> frozenset[int]:
    """Hours of the week on `days` at `hours` of the day (a range past midnight stays on its
    own day: `22:00-06:00` on Monday covers Monday's 22-23 and 00-05)."""
    return frozenset(day * 24 + hour for day in days for hour in hours)


@dataclass(frozen=True)
class Schedule:
    """When an environment serves: `weekdays 08:00-20:00 Europe/Berlin`."""

    hours: frozenset[int]
    """Hours of the week (Monday 00:00 is 0) in `timezone`."""
    timezone: str | None
    """None: the profile's traffic time zone, else UTC."""


def parse_schedule(text: str) -> Schedule:
    """`<days> <HH:00-HH:00> [time zone]`, days as in `days_of_week` (comma-separated list)."""
    words = text.split()
    if len(words) not in (2, 3):
        raise ValueError(
            f"{text!r} is not a schedule such as 'weekdays 08:00-20:00 Europe/Berlin' "
            "(days, hours, optionally a time zone)"
        )
    days, hours = days_of_week(words[0]), hours_of_day(words[1])
    zone = words[2] if len(words) == 3 else None
    if zone is not None:
        time_zone(zone)
    return Schedule(week_hours(days, hours), zone)


def shaped_rates(
    peak: float,
    *,
    peak_hours: str | None,
    days: str | Sequence[str],
    trough_rps: float | None,
    hourly: Sequence[float] | None,
    weekly: dict[str, Sequence[float]] | None,
) -> tuple[float, ...]:
    """The 168 rates of a shape given by peak hours or by fractions of the peak."""
    if peak_hours is not None:
        busy = week_hours(days_of_week(days), hours_of_day(peak_hours))
        trough = trough_rps if trough_rps is not None else 0.0
        return tuple(peak if hour in busy else trough for hour in range(HOURS_PER_WEEK))
    rates: list[float] = []
    for day in WEEKDAYS:
        fractions = (weekly or {}).get(day, hourly or [0.0] * 24)
        rates += [peak * fraction for fraction in fractions]
    return tuple(rates)


def _timestamp(text: str, zone: ZoneInfo) -> datetime:
    """A CSV timestamp in `zone`: ISO 8601 (with Z or an offset; without one, UTC) or Unix
    seconds (milliseconds when it is too large for seconds), as Prometheus writes them."""
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            raise ValueError(value)
        seconds = number / 1000 if number > 1e11 else number
        return datetime.fromtimestamp(seconds, UTC).astimezone(zone)
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(zone)


def _csv_rows(path: Path, where: str) -> list[list[str]]:
    try:
        with path.open("rb") as stream:
            raw = stream.read(CSV_MAX_BYTES + 1)
    except OSError as exc:
        raise ProfileError(f"{where}: cannot read {path} ({exc.strerror or exc}).") from None
    if len(raw) > CSV_MAX_BYTES:
        raise ProfileError(
            f"{where}: {path} is larger than {CSV_MAX_BYTES // 2**20} MiB; export hourly or "
            "5-minute samples of a few weeks."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProfileError(f"{where}: {path} is not UTF-8 text, so not a CSV export.") from None
    if "\x00" in text:
        raise ProfileError(f"{where}: {path} is binary, not a CSV export.")
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if len(rows) > CSV_MAX_ROWS:
        raise ProfileError(f"{where}: {path} has more than {CSV_MAX_ROWS:,} rows.")
    return rows


def csv_rates(path: Path, zone_name: str, where: str) -> tuple[float, ...]:
    """The mean request rate of each of the 168 local hours of the week over every sample of a
    two-column CSV (timestamp, requests per second; a header row is skipped), or a ProfileError
    in one sentence naming the row."""
    zone = time_zone(zone_name)
    rows = _csv_rows(path, where)
    sums = [0.0] * HOURS_PER_WEEK
    counts = [0] * HOURS_PER_WEEK
    for number, row in enumerate(rows, start=1):
        if len(row) < 2:
            raise ProfileError(
                f"{where}: {path} row {number} has {len(row)} column; a traffic CSV has "
                "timestamp,requests_per_second rows."
            )
        try:
            stamp = _timestamp(row[0], zone)
            rate = float(row[1])
        except (ValueError, OverflowError, OSError):
            if number == 1:
                continue  # the header
            raise ProfileError(
                f"{where}: {path} row {number} ({','.join(row)[:60]!r}) is not a timestamp and "
                "a number of requests per second."
            ) from None
        if not math.isfinite(rate) or rate < 0:
            raise ProfileError(
                f"{where}: {path} row {number} gives {row[1].strip()!r} requests per second; a "
                "rate is a number of 0 or more."
            )
        hour = stamp.weekday() * 24 + stamp.hour
        sums[hour] += rate
        counts[hour] += 1
    missing = [hour for hour in range(HOURS_PER_WEEK) if counts[hour] == 0]
    if len(missing) == HOURS_PER_WEEK:
        raise ProfileError(
            f"{where}: {path} has no timestamp,requests_per_second rows, so it is not a traffic "
            "export."
        )
    if missing:
        raise ProfileError(
            f"{where}: {path} has no sample for {len(missing)} hours of the week (the first is "
            f"{hour_label(missing[0])} {zone_name}); export at least one whole week."
        )
    return tuple(total / count for total, count in zip(sums, counts, strict=True))


def inside(folder: Path, path: Path) -> bool:
    """Whether `path` (symbolic links resolved) lies in `folder`."""
    return path.resolve().is_relative_to(folder.resolve())


def mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items)


def traffic_rates(peak: float, traffic: Traffic) -> tuple[float, ...]:
    """The 168 rates of a profile's `workload.traffic`."""
    if traffic.csv_rates:
        return tuple(traffic.csv_rates)
    return shaped_rates(
        peak,
        peak_hours=traffic.peak_hours,
        days=traffic.days,
        trough_rps=traffic.trough_rps,
        hourly=traffic.hourly,
        weekly=dict(traffic.weekly) if traffic.weekly else None,
    )
