"""Files the toolkit writes, from any layer: whole or not at all, private unless for the user."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_FILE = 0o600
SHARED_FILE = 0o666
"""Before the umask: what open() gives a new file, so the user's umask decides."""


def write_atomically(path: Path, text: str | bytes, *, private: bool = True) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file.

    Private files (the default: the workspace's spec, configuration and plans, the toolkit's own
    records) are 0600; with `private=False` (a report or a workflow written for the user) the
    mode follows the user's umask, as for any file they create.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    mode = PRIVATE_FILE if private else SHARED_FILE
    # O_EXCL: a new file whose mode the kernel sets from `mode` and the umask.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(text.encode() if isinstance(text, str) else text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
