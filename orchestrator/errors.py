"""Errors of the deployment workflow, each one sentence that says what to do next."""

from __future__ import annotations

from core.errors import InfraError


class TerraformNotFound(InfraError):
    pass


class TerraformFailed(InfraError):
    pass


class StateLocked(InfraError):
    pass


class EmulatorStopped(TerraformFailed):
    """The local emulated AWS stopped answering while Terraform was talking to it."""


class ProtectedEnvironment(InfraError):
    pass


class PlanFileError(InfraError):
    pass


class NotDeployed(InfraError):
    pass


class DeploymentBusy(InfraError):
    """Another infra run holds the deployment (from before synth until its apply ends)."""
