"""Reading the toolkit's own shipped data files (YAML and CSV next to the code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The C parser is several times faster; fall back when PyYAML was built without libyaml.
SAFE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PLANNER_DATA = Path(__file__).parent / "data"


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=SAFE_LOADER)
