"""Where the toolkit keeps per-user state: `$INFRA_HOME`, else `~/.infra`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import InfraError

HOME_ENV = "INFRA_HOME"


class InfraHomeNotWritable(InfraError):
    pass


def infra_home() -> Path:
    configured = os.environ.get(HOME_ENV)
    return Path(configured) if configured else Path.home() / ".infra"


@contextmanager
def writing_under_home(folder: Path) -> Iterator[None]:
    """Writes to `folder` (under the infra home) that fail become one sentence naming it and
    INFRA_HOME, instead of an OSError traceback."""
    try:
        yield
    except OSError as error:
        configured = os.environ.get(HOME_ENV)
        home = f"{HOME_ENV}={configured}" if configured else f"{HOME_ENV} is unset, so ~/.infra"
        raise InfraHomeNotWritable(
            f"cannot write to {folder} ({error.strerror or error}); it is under the infra home "
            f"({home}): make it writable, or set {HOME_ENV} to a folder that is."
        ) from None
