"""What every stack shares: cost tags, the provider, its version range, the state backend,
emulator settings."""

from __future__ import annotations

from pathlib import Path

from cdktn import LocalBackend, S3Backend, TerraformStack
from cdktn_provider_aws.provider import AwsProvider

from modules.tagging import apply_cost_allocation_tags
from planner.deployment import DeploymentSpec

AWS_PROVIDER_VERSION = ">= 5.100, < 7"
"""The binding is generated from provider 6.x; the stacks use only arguments 5.100 also knows,
so an offline mirror holding 5.100.0 works."""


def pin_aws_provider(stack: TerraformStack) -> None:
    stack.add_override("terraform.required_providers.aws.version", AWS_PROVIDER_VERSION)


def configure_backend(stack: TerraformStack, spec: DeploymentSpec, state_dir: Path) -> None:
    """S3 with its native lock file when the environment names a bucket, else a local file."""
    backend = spec.state_backend
    if backend is None:
        LocalBackend(stack, path=str(state_dir / "terraform.tfstate"))
        return
    S3Backend(
        stack,
        bucket=backend.s3_bucket,
        key=f"{backend.key_prefix.strip('/')}/{spec.name}/{spec.env}/terraform.tfstate",
        region=backend.region or spec.region,
        encrypt=True,
        use_lockfile=True,
    )


def emulator_provider_settings() -> dict[str, object]:
    """Provider arguments for the local emulated AWS; the endpoint itself comes from
    AWS_ENDPOINT_URL in the orchestrator's environment, so no port is baked into the stack."""
    return {
        "access_key": "test",
        "secret_key": "test",
        "skip_credentials_validation": True,
        "skip_metadata_api_check": "true",
        "s3_use_path_style": True,
    }


def configure_aws_stack(
    stack: TerraformStack, spec: DeploymentSpec, state_dir: Path, *, emulated: bool
) -> None:
    """Cost tags (refusing a missing required one), the AWS provider, its version range and the
    state backend: the start of every AWS stack."""
    apply_cost_allocation_tags(stack, spec.tags, spec.required_tags, f"stack {spec.stack_name}")
    AwsProvider(
        stack,
        "aws",
        region=spec.region,
        **(emulator_provider_settings() if emulated else {}),  # type: ignore[arg-type]
    )
    pin_aws_provider(stack)
    configure_backend(stack, spec, state_dir)
