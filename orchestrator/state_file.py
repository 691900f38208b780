"""A local state file that is not a Terraform state: said before Terraform runs, with its backup.

Terraform writes `terraform.tfstate` in place and keeps the previous state beside it as
`terraform.tfstate.backup`; a process killed during the write leaves a truncated file, on which
Terraform reports only "2 problems" (or, in front of them, that it could not take the state lock).
An empty file is not judged here.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import InfraError

BACKUP_SUFFIX = ".backup"


class StateFileUnreadable(InfraError):
    pass


def backup_of(state: Path) -> Path:
    return state.with_name(state.name + BACKUP_SUFFIX)


def is_state(path: Path) -> bool:
    """Whether `path` holds a Terraform state document (JSON with a format version)."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and "version" in document


def check_state_file(state: Path) -> None:
    """Raise StateFileUnreadable when `state` exists, is not empty and is not a state."""
    try:
        empty = state.stat().st_size == 0
    except FileNotFoundError:
        return
    if not empty and not is_state(state):
        raise StateFileUnreadable(unreadable_state_sentence(state))


def unreadable_state_sentence(state: Path) -> str:
    """What is wrong with `state` and how to restore it from its backup (or that there is none)."""
    backup = backup_of(state)
    if is_state(backup):
        return (
            f"the state file {state} is not a valid Terraform state (a write that was cut "
            f"off?); its backup {backup} holds the state before the last write: restore it with "
            f"`cp {backup} {state}`, then run the same command again (and `infra repair` for "
            "resources the last run created)."
        )
    why = "is not valid either" if backup.exists() else "does not exist"
    return (
        f"the state file {state} is not a valid Terraform state (a write that was cut off?) "
        f"and its backup {backup} {why}; restore the state from a copy of your own before "
        "running anything else on this deployment."
    )
