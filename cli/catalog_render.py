"""Rendering of `infra catalog refresh` and `infra catalog status`: a progress bar per cloud and
tables for people, JSON for machines; the same dicts feed both."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported only when something is drawn, not for --json
    from rich.progress import Progress, TaskID

    from providers.price_refresh import RefreshReport

NOTES_SHOWN = 5


def _console(*, stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console.width = 180
    return console


class ProgressBars:
    """One rich progress bar per cloud on stderr, moved by the refresh's calls. Nothing is drawn
    until a cloud begins, so bad options end with their one sentence and no empty display."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.done: dict[str, int] = {}

    def _display(self) -> Progress:
        if self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("{task.description:<6}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                console=_console(stderr=True),
            )
            self.progress.start()
        return self.progress

    def begin(self, cloud: str, steps: int | None) -> None:
        self.tasks[cloud] = self._display().add_task(cloud, total=steps, detail="")
        self.done[cloud] = 0

    def step(self, cloud: str, detail: str) -> None:
        self.done[cloud] += 1
        self._display().update(self.tasks[cloud], advance=1, detail=detail)

    def end(self, cloud: str, error: str | None) -> None:
        if cloud not in self.tasks:  # failed before its first call
            self.begin(cloud, None)
        task = self.tasks[cloud]
        if error:
            self._display().update(task, detail="[red]failed[/]")
        else:
            done = self.done[cloud]
            self._display().update(task, total=done, completed=done, detail="[green]done[/]")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def progress_bars() -> Iterator[ProgressBars]:
    bars = ProgressBars()
    try:
        yield bars
    finally:
        bars.stop()


def refresh_report(report: RefreshReport, *, as_json: bool) -> None:
    data = report.to_dict()
    if as_json:
        if report.exit_code == 1:
            data["error"] = (
                "no cloud's prices were refreshed; the cached or shipped prices stay in use."
            )
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(title="Price refresh", title_justify="left")
    for column in ("cloud", "result", "rows refreshed", "regions", "notes"):
        table.add_column(column)
    for cloud, outcome in data["clouds"].items():
        refreshed = ", ".join(f"{k} {v}" for k, v in outcome["refreshed_rows"].items())
        table.add_row(
            cloud,
            "[red]failed[/]" if outcome["error"] else "[green]refreshed[/]",
            refreshed or "—",
            str(len(outcome["regions"])),
            str(len(outcome["notes"])),
        )
    console = _console()
    console.print(table)
    for cloud, outcome in data["clouds"].items():
        for note in outcome["notes"][:NOTES_SHOWN]:
            console.print(f"  {cloud}: {note}", style="dim")
        if len(outcome["notes"]) > NOTES_SHOWN:
            console.print(
                f"  {cloud}: {len(outcome['notes']) - NOTES_SHOWN} more notes; "
                "`infra catalog status --json` lists them all",
                style="dim",
            )
    errors = _console(stderr=True)
    label = "error" if report.exit_code == 1 else "warning"
    for cloud, outcome in data["clouds"].items():
        if outcome["error"]:
            errors.print(
                f"[red]{label}:[/] {cloud} not refreshed, the {outcome['kept']} prices stay in "
                f"use: {outcome['error'].removeprefix(f'{cloud}: ')}"
            )


def catalog_status(status: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(status, indent=2) + "\n")
        return
    from rich.table import Table

    limit = status["max_age_days"]
    title = f"Prices per cloud (stale after {limit} days)" if limit else "Prices per cloud"
    table = Table(title=title, title_justify="left")
    for column in ("cloud", "source", "date", "age", "rows", "regions", "last refresh"):
        table.add_column(column)
    for cloud, item in status["clouds"].items():
        age = "—" if item["age_days"] is None else f"{item['age_days']} days"
        last = item["last_refresh"]
        table.add_row(
            cloud,
            item["source"],
            item["date"] or "—",
            f"[yellow]{age} (stale)[/]" if item["stale"] else age,
            ", ".join(f"{kind} {count}" for kind, count in item["rows"].items()),
            str(len(item["regions"])),
            "never" if last is None else f"{last['at']} {last['status']}",
        )
    console = _console()
    console.print(table)
    for cloud, item in status["clouds"].items():
        for kind, source in item["sources"].items():
            console.print(f"  {cloud}/{kind}: {source}", style="dim")
        if item["cache_problem"]:
            console.print(
                f"  {cloud}: the cache at {item['cache']} is not used: {item['cache_problem']}",
                style="yellow",
            )
        last = item["last_refresh"]
        if last and last.get("error"):
            console.print(f"  {cloud}: last refresh failed: {last['error']}", style="yellow")
