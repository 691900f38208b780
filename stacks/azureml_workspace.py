"""AzureMlWorkspaceStack: an Azure ML workspace, its dependencies and the identity its online
endpoint runs as. The endpoint and its deployments are created by the Azure ML SDK after
`terraform apply`, from this stack's outputs (the names are part of the contract with that step).
"""

from __future__ import annotations

import re
from pathlib import Path

from cdktn import TerraformOutput, TerraformStack
from cdktn_provider_azurerm.data_azurerm_client_config import DataAzurermClientConfig
from constructs import Construct

from modules.azure.identity import (
    BLOB_READER,
    Grant,
    ServingIdentity,
    ServingIdentityProps,
    serving_grants,
)
from modules.azure.ml_workspace import MlWorkspace, MlWorkspaceProps
from modules.azure.resource_group import ResourceGroupProps, StackResourceGroup
from modules.azure.spec_checks import check_network, check_registry
from planner.deployment import DeploymentSpec
from stacks.common import configure_azure_stack

ENDPOINT_NAME_LIMIT = 32


def online_endpoint_name(stack_name: str) -> str:
    """An Azure ML online endpoint name: 3-32 characters, a letter first, then letters, digits
    and hyphens, no hyphen last. Stack names are lowercase letters, digits and hyphens already."""
    name = stack_name if stack_name[0].isalpha() else f"e-{stack_name}"
    return re.sub(r"-+$", "", name[:ENDPOINT_NAME_LIMIT])


class AzureMlWorkspaceStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        super().__init__(scope, spec.stack_name)
        check_network(spec)
        check_registry(spec)
        configure_azure_stack(self, spec, state_dir, emulated=emulated)
        client = DataAzurermClientConfig(self, "client")
        group = StackResourceGroup(
            self,
            "resource-group",
            ResourceGroupProps(
                name=spec.stack_name, location=spec.region, existing_name=spec.azure.resource_group
            ),
        ).name
        placed = {"resource_group_name": group, "location": spec.region}
        subnet_ids = spec.network.subnet_ids  # one at most (check_network)
        workspace = MlWorkspace(
            self,
            "workspace",
            MlWorkspaceProps(
                name=spec.stack_name,
                tenant_id=client.tenant_id,
                subscription_id=client.subscription_id,
                # Public unless the profile names a subnet for the private endpoint.
                public_network_access=not subnet_ids or spec.network.public,
                private_endpoint_subnet_id=subnet_ids[0] if subnet_ids else None,
                **placed,
            ),
        )
        # The endpoint's identity reads the model artifacts Azure ML keeps in the workspace
        # storage, plus what the profile names (token secret, weights container, registry).
        grants = (
            Grant("workspace-storage", BLOB_READER, workspace.storage.id),
            *serving_grants(spec.azure),
        )
        identity = ServingIdentity(
            self,
            "identity",
            ServingIdentityProps(name=f"{spec.stack_name}-endpoint", grants=grants, **placed),
        )
        outputs = {
            "subscription_id": client.subscription_id,
            "resource_group_name": group,
            "workspace_name": workspace.workspace.name,
            "region": spec.region,
            "online_endpoint_name": online_endpoint_name(spec.stack_name),
            "identity_id": identity.identity.id,
        }
        for key, value in outputs.items():
            TerraformOutput(self, key, value=value)
