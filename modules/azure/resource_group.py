"""The resource group a stack deploys into: the profile's existing one, or a new one named after
the stack (destroying the stack then removes the group, and refuses while anything else lives
in it)."""

from __future__ import annotations

from cdktn_provider_azurerm.data_azurerm_resource_group import DataAzurermResourceGroup
from cdktn_provider_azurerm.resource_group import ResourceGroup
from constructs import Construct

from modules.azure.names import bounded_name
from planner.deployment import DeploymentSpec


class StackResourceGroup(Construct):
    def __init__(self, scope: Construct, id: str, *, spec: DeploymentSpec) -> None:
        super().__init__(scope, id)
        existing = spec.azure.resource_group
        if existing:
            self.name = DataAzurermResourceGroup(self, "existing", name=existing).name
        else:
            self.name = ResourceGroup(
                self, "group", name=bounded_name(spec.stack_name, 90), location=spec.region
            ).name
