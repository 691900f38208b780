"""User-facing errors: each carries one sentence for the person and the process exit code.

The CLI catches `InfraError` at the top and prints `error: <message>` without a traceback.
"""

from __future__ import annotations


class InfraError(Exception):
    """An error caused by input or environment, explained in one sentence."""

    exit_code = 1


class ProfileError(InfraError):
    """The profile file is missing, malformed or names something unknown."""


class CatalogError(InfraError):
    """The price catalog (shipped or cached) is unreadable or inconsistent."""


class NoFeasibleCandidate(InfraError):
    """No offering meets the profile's targets; `reasons` says why each class lost."""

    exit_code = 3

    def __init__(self, message: str, reasons: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.reasons = reasons
