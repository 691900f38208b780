"""Reading the toolkit's CSV data files (shipped or cached): the header checked, every row whole."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from core.errors import CatalogError


def csv_rows(path: Path, columns: tuple[str, ...], what: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, row) of a CSV whose header is `columns`; an unreadable file, another
    header or a row with another number of columns is one sentence naming `what` file it is."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise CatalogError(f"cannot read {what} file {path} ({exc.strerror}).") from None
    with handle:
        reader = csv.reader(handle)
        if tuple(next(reader, ())) != columns:
            raise CatalogError(f"{path}: unexpected header; expected {','.join(columns)}.")
        for row in reader:
            if len(row) != len(columns):
                raise CatalogError(
                    f"{path}, line {reader.line_num}: expected {len(columns)} columns."
                )
            yield reader.line_num, row
