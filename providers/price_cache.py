"""The user's cache of refreshed prices: one folder per cloud under `$INFRA_HOME/catalog/`.

    $INFRA_HOME/catalog/<cloud>/<kind>.csv         the shipped CSV format (catalog.py COLUMNS)
    $INFRA_HOME/catalog/aws/spot_interruption.csv  spot interruption bands (spot_interruption.py)
    $INFRA_HOME/catalog/<cloud>/refresh.json       when, from which API, regions, rows, notes
    $INFRA_HOME/catalog/<cloud>.last-refresh.json  the outcome of the last attempt, failed or not

A cloud's folder is written whole into a temporary folder and then swapped in, so a failed or
interrupted refresh never leaves a mix of old and new files. `refresh.json` also records a
fingerprint of the shipped files it was built on: after an upgrade of the toolkit changes them,
the cache is ignored (the shipped prices are used) until the next refresh, so a new instance type
shipped with the toolkit is never hidden by an older cache.

This module is read on every `load_catalog()` (bench/cli_latency.py), so what only a refresh or
a present cache needs is imported where it is used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.files import write_atomically
from providers.local.paths import infra_home

FORMAT = 1
RECORD = "refresh.json"


def cache_root() -> Path:
    return infra_home() / "catalog"


def cloud_dir(cloud: str) -> Path:
    return cache_root() / cloud


def attempt_file(cloud: str) -> Path:
    return cache_root() / f"{cloud}.last-refresh.json"


def fingerprint(path: Path) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class CachedCloud:
    """A cloud's cache as found on disk: usable `files`, or the `problem` that makes it unusable."""

    folder: Path
    record: dict[str, Any] | None
    files: dict[str, Path] | None
    problem: str | None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def find_cached(cloud: str, shipped: Mapping[str, Path]) -> CachedCloud | None:
    """The cache of `cloud`, or None when it was never refreshed.

    `shipped` maps each kind to its shipped file: the cache is usable only when it holds every
    kind and was built on these very shipped files.
    """
    folder = cloud_dir(cloud)
    record_path = folder / RECORD
    if not record_path.exists():
        return None
    record = _read_json(record_path)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return CachedCloud(folder, None, None, f"{record_path} is unreadable or of another format")
    files = {kind: folder / f"{kind}.csv" for kind in shipped}
    missing = sorted(kind for kind, path in files.items() if not path.exists())
    if missing:
        return CachedCloud(folder, record, None, f"{folder} lacks {', '.join(missing)}.csv")
    built_on = record.get("shipped")
    if not isinstance(built_on, dict) or any(
        built_on.get(kind) != fingerprint(path) for kind, path in shipped.items()
    ):
        return CachedCloud(
            folder, record, None, "it was built on an older shipped catalog (toolkit upgraded)"
        )
    return CachedCloud(folder, record, files, None)


def write_cloud(
    cloud: str,
    files: Mapping[str, str],
    record: Mapping[str, Any],
    check: Callable[[Path], None],
) -> Path:
    """Replace the cache of `cloud` with `files` (kind, or another data file's name, -> CSV text,
    written as `<name>.csv`) and its `refresh.json`.

    `check` is given the complete new folder before it is swapped in; if it raises, the old
    cache stays as it was.
    """
    import shutil
    import tempfile

    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(f".{cloud}.*"):  # an earlier run that was killed mid-swap
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{cloud}.new-"))
    final = cloud_dir(cloud)
    retired = root / f".{cloud}.old-{staging.name.rsplit('-', 1)[-1]}"
    try:
        for kind, text in files.items():
            (staging / f"{kind}.csv").write_text(text, encoding="utf-8", newline="")
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        check(staging)
        if final.exists():
            os.rename(final, retired)
        os.rename(staging, final)
    except BaseException:
        if retired.exists() and not final.exists():
            os.rename(retired, final)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)
    return final


def write_attempt(cloud: str, outcome: Mapping[str, Any]) -> None:
    write_atomically(attempt_file(cloud), json.dumps(outcome, indent=2) + "\n")


def read_attempt(cloud: str) -> dict[str, Any] | None:
    outcome = _read_json(attempt_file(cloud))
    return outcome if isinstance(outcome, dict) else None
