"""What every stack shares: cost tags, the provider, its version range, the state backend,
emulator settings."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cdktn import LocalBackend, S3Backend, TerraformOutput, TerraformStack

from core.errors import InfraError
from modules.azure.spec_checks import AzureSpecError
from modules.readiness import refuse_to_serve
from modules.tagging import apply_cost_allocation_tags, check_tags
from planner.deployment import RECORD_OUTPUT, DeploymentSpec, spec_as_json

AWS_PROVIDER_VERSION = ">= 5.100, < 7"
"""The binding is generated from provider 6.x; the stacks use only arguments 5.100 also knows,
so an offline mirror holding 5.100.0 works."""


def pin_aws_provider(stack: TerraformStack) -> None:
    stack.add_override("terraform.required_providers.aws.version", AWS_PROVIDER_VERSION)


def record_deployment(stack: TerraformStack, spec: DeploymentSpec) -> None:
    """The spec as an output, so the state says what it was applied with (orchestrator.applied):
    no configuration for another cloud, kind or region is ever run over it."""
    TerraformOutput(
        stack,
        RECORD_OUTPUT,
        value=spec_as_json(spec),
        description="The infra DeploymentSpec this state was applied with (JSON)",
    )


def configure_backend(stack: TerraformStack, spec: DeploymentSpec, state_dir: Path) -> None:
    """S3 with its native lock file when the environment names a bucket, else a local file; and
    the record of what the state is applied with."""
    record_deployment(stack, spec)
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
    from cdktn_provider_aws.provider import AwsProvider  # loaded by AWS stacks only

    apply_cost_allocation_tags(stack, spec.tags, spec.required_tags, f"stack {spec.stack_name}")
    AwsProvider(
        stack,
        "aws",
        region=spec.region,
        **(emulator_provider_settings() if emulated else {}),  # type: ignore[arg-type]
    )
    pin_aws_provider(stack)
    configure_backend(stack, spec, state_dir)


AZURERM_PROVIDER_VERSION = ">= 5.10, < 6"
"""The azurerm binding (cdktn-provider-azurerm 18.9) is generated from provider 5.10.0: every
argument the stacks set exists from 5.10 on; 6.x may remove some."""
SUBSCRIPTION_ENV = "ARM_SUBSCRIPTION_ID"


def azure_subscription(spec: DeploymentSpec) -> str | None:
    """The profile's subscription, else None when $ARM_SUBSCRIPTION_ID names one (the provider
    reads it at plan time, so the configuration does not depend on who synthesized it)."""
    if spec.azure.subscription_id:
        return spec.azure.subscription_id
    if os.environ.get(SUBSCRIPTION_ENV, "").strip():
        return None
    refuse_to_serve(
        AzureSpecError(
            f"stack {spec.stack_name}: no Azure subscription is named; set "
            f"deploy.azure.subscription_id in the profile or {SUBSCRIPTION_ENV} in the environment."
        )
    )
    return None


def configure_azure_stack(
    stack: TerraformStack, spec: DeploymentSpec, state_dir: Path, *, emulated: bool
) -> None:
    """Cost tags (refusing a missing required one), the azurerm provider with the subscription,
    its version range and the state backend: the start of every Azure stack."""
    from cdktn_provider_azurerm.provider import (
        AzurermProvider,
        AzurermProviderFeatures,
        AzurermProviderFeaturesKeyVault,
        AzurermProviderFeaturesResourceGroup,
    )

    if emulated:
        raise AzureSpecError(
            f"stack {spec.stack_name}: the local environment emulates AWS only; deploy to Azure "
            "with another --env."
        )
    apply_cost_allocation_tags(stack, spec.tags, spec.required_tags, f"stack {spec.stack_name}")
    AzurermProvider(
        stack,
        "azurerm",
        subscription_id=azure_subscription(spec),
        features=[
            AzurermProviderFeatures(
                # Destroy stops rather than delete a group that holds resources it did not make.
                resource_group=[
                    AzurermProviderFeaturesResourceGroup(
                        prevent_deletion_if_contains_resources=True
                    )
                ],
                # Purge protection: a destroyed vault stays recoverable for its retention period.
                key_vault=[
                    AzurermProviderFeaturesKeyVault(
                        purge_soft_delete_on_destroy=False, recover_soft_deleted_key_vaults=True
                    )
                ],
            )
        ],
    )
    stack.add_override("terraform.required_providers.azurerm.source", "hashicorp/azurerm")
    stack.add_override("terraform.required_providers.azurerm.version", AZURERM_PROVIDER_VERSION)
    configure_backend(stack, spec, state_dir)


GOOGLE_PROVIDER_VERSION = ">= 8.7, < 9"
"""cdktn-provider-google 21.x is generated from provider 8.7.0; arguments only grow within a major
version, so any 8.x from 8.7 on knows every argument the GCP stacks set."""
GCP_PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
_GCP_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class GcpStackError(InfraError):
    pass


def gcp_project(spec: DeploymentSpec) -> str | None:
    """The project to deploy into: the profile's deploy.gcp.project, else GOOGLE_CLOUD_PROJECT.
    None only for a configuration synthesized to be priced (modules/readiness.py)."""
    project = spec.gcp.project or os.environ.get(GCP_PROJECT_ENV, "").strip()
    if not project:
        refuse_to_serve(
            GcpStackError(
                f"stack {spec.stack_name}: no Google Cloud project is named; set "
                f"deploy.gcp.project in the profile or {GCP_PROJECT_ENV} in the environment."
            )
        )
        return None
    if not _GCP_PROJECT_ID.match(project):
        raise GcpStackError(
            f"stack {spec.stack_name}: {GCP_PROJECT_ENV}={project!r} is not a project ID (6-30 "
            "lowercase letters, digits and dashes, starting with a letter)."
        )
    return project


def configure_gcp_stack(
    stack: TerraformStack, spec: DeploymentSpec, state_dir: Path, *, emulated: bool
) -> str:
    """Required tags checked, the Google provider with the project, the region and the tags as
    default labels (sanitized: the provider puts them on every resource that takes labels), its
    version range and the state backend: the start of every GCP stack. Returns the project.

    The AWS tagging aspect is not used: `tags` means network tags on Compute Engine resources."""
    from cdktn_provider_google.provider import GoogleProvider

    from providers.gcp.labels import gcp_labels

    where = f"stack {spec.stack_name}"
    if emulated:
        raise GcpStackError(
            f"{where}: the local environment emulates AWS only; deploy to Google Cloud with "
            "another --env and Google credentials."
        )
    check_tags(spec.tags, spec.required_tags, where)
    project = gcp_project(spec)
    provider = GoogleProvider(stack, "google", project=project, region=spec.region)
    if project is None:  # only priced: the provider's own project, read at plan time
        from cdktn_provider_google.data_google_client_config import DataGoogleClientConfig

        project = DataGoogleClientConfig(stack, "client").project
    # Set as an override: the provider's own map arguments get snake_cased keys when synthesized
    # (cost-center would become cost_center), an override is written as given.
    provider.add_override("default_labels", gcp_labels(spec.tags))
    stack.add_override("terraform.required_providers.google.version", GOOGLE_PROVIDER_VERSION)
    configure_backend(stack, spec, state_dir)
    return project
