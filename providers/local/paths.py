"""Where the toolkit keeps per-user state: `$INFRA_HOME`, else `~/.infra`."""

from __future__ import annotations

import os
from pathlib import Path


def infra_home() -> Path:
    configured = os.environ.get("INFRA_HOME")
    return Path(configured) if configured else Path.home() / ".infra"
