"""Errors of the cloud SDK steps (Vertex AI, Azure ML), each one sentence for the person.

The SDK wrappers translate their SDK's exceptions into these, so nothing above them (the rollout,
the workflow, the CLI) knows an SDK's exception types, and no traceback reaches the terminal.
"""

from __future__ import annotations

from core.errors import InfraError


class MissingCredentials(InfraError):
    """The SDK's standard credential chain found nothing to sign in with, or was refused."""


class CloudCallFailed(InfraError):
    """A cloud API call failed; the message names the call and the cloud's own reason."""


def first_line(text: object) -> str:
    """Cloud error messages run to many lines (details, debug info); the first says what."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else "no reason given"
