"""The shipped catalog: every file parses, every row is traceable, spot quirks are handled."""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import pytest

from core.errors import CatalogError
from planner.accelerators import accelerators
from providers.catalog import (
    COLUMNS,
    judge_spot,
    load_catalog,
    read_catalog_file,
    shipped_catalog_files,
)

SHIPPED = list(shipped_catalog_files())


@pytest.mark.parametrize(("cloud", "kind", "path", "spot"), SHIPPED, ids=lambda v: str(v))
def test_shipped_file_is_well_formed(cloud: str, kind: str, path: Path, spot: bool) -> None:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, f"{path} has no rows"
    known = set(accelerators())
    keys = set()
    for row in rows:
        assert row["accelerator"] in known, row
        assert row["source"].strip(), row
        datetime.date.fromisoformat(row["retrieved"])
        key = (
            row["instance_type"],
            row["accelerator"],
            row["accelerator_count"],
            row["region"],
            row["zone"],
        )
        assert key not in keys, f"duplicate row {key}"
        keys.add(key)
        if not spot:
            assert row["spot_usd_per_hour"] == "", f"{kind} has no spot market: {row}"


def test_catalog_covers_every_cloud_and_kind() -> None:
    catalog = load_catalog()
    pairs = {(o.cloud, o.kind) for o in catalog.offerings}
    assert pairs == {
        ("aws", "fleet"),
        ("aws", "kubernetes"),
        ("aws", "sagemaker"),
        ("gcp", "fleet"),
        ("gcp", "vertex"),
        ("gcp", "kubernetes"),
        ("azure", "fleet"),
        ("azure", "azureml"),
        ("azure", "kubernetes"),
    }
    families = {o.instance_type.split(".")[0] for o in catalog.offerings if o.cloud == "aws"}
    for family in ("g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e", "p5en", "inf2"):
        assert family in families


@pytest.mark.parametrize(
    ("ondemand", "spot", "used", "note"),
    [
        (1.0, None, None, None),
        (1.0, 0.4, 0.4, None),
        (1.0, 1.0, None, "not below on-demand"),
        (1.0, 1.2, None, "not below on-demand"),
        (1.0, 0.05, None, "deeper than the 90% maximum discount"),
        (1.0, 0.0999936, 0.0999936, None),
        (None, 0.5, 0.5, None),
    ],
)
def test_spot_rules(
    ondemand: float | None, spot: float | None, used: float | None, note: str | None
) -> None:
    value, why = judge_spot(ondemand, spot)
    assert value == used
    assert (why is None) == (note is None)
    if note:
        assert note in why


def test_known_quirks_are_flagged_not_trusted() -> None:
    catalog = load_catalog()
    p5e = [o for o in catalog.offerings if o.instance_type == "p5e.48xlarge"]
    assert p5e and all(not o.ondemand_zones for o in p5e), "p5e has no on-demand price"
    notes = [z.spot_note for o in catalog.offerings for z in o.zones if z.spot_note]
    assert any("not below on-demand" in n for n in notes)
    assert all(z.spot_usd is None for o in catalog.offerings for z in o.zones if z.spot_note)
    azure_h100 = [o for o in catalog.offerings if o.instance_type == "Standard_ND96isr_H100_v5"]
    assert azure_h100 and all(o.accelerator_count == 8 for o in azure_h100)


def write_rows(path: Path, rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


ROW = [
    "g5.xlarge",
    "A10G",
    "1",
    "22.4",
    "4",
    "16",
    "us-east-1",
    "use1-az1",
    "1.006",
    "0.4",
    "t",
    "2026-11-23",
]


def test_zones_group_into_one_offering(tmp_path: Path) -> None:
    second = [*ROW[:7], "use1-az2", "1.006", "", "t", "2026-11-20"]
    offerings = read_catalog_file(
        write_rows(tmp_path / "c.csv", [ROW, second]), "aws", "fleet", True
    )
    assert len(offerings) == 1
    (only,) = offerings
    assert [z.zone for z in only.zones] == ["use1-az1", "use1-az2"]
    assert [z.spot_usd for z in only.zones] == [0.4, None]
    assert only.retrieved == "2026-11-20"


def test_bad_header_is_one_sentence(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "c.csv", [ROW], header=("a", "b"))
    with pytest.raises(CatalogError, match="unexpected header"):
        read_catalog_file(path, "aws", "fleet", True)


def test_bad_number_is_one_sentence(tmp_path: Path) -> None:
    bad = [*ROW[:8], "cheap", *ROW[9:]]
    with pytest.raises(CatalogError, match="ondemand_usd_per_hour is not a number"):
        read_catalog_file(write_rows(tmp_path / "c.csv", [bad]), "aws", "fleet", True)


def test_short_row_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="expected 12 columns"):
        read_catalog_file(write_rows(tmp_path / "c.csv", [ROW[:5]]), "aws", "fleet", True)
