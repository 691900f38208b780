"""The resource group a stack deploys into: an existing one, or a new one named after the stack
(destroying the stack then removes the group, and refuses while anything else lives in it)."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_azurerm.data_azurerm_resource_group import DataAzurermResourceGroup
from cdktn_provider_azurerm.resource_group import ResourceGroup
from constructs import Construct

from modules.azure.names import bounded_name


@dataclass(frozen=True, kw_only=True)
class ResourceGroupProps:
    name: str
    """(Required) The new group's name, cut to Azure's 90 characters with a hash."""
    location: str
    """(Required) The Azure region of a new group."""
    existing_name: str | None = None
    """(Optional) An existing group to deploy into, looked up and never changed. Defaults to
    None: a new group named `name`."""


class StackResourceGroup(Construct):
    def __init__(self, scope: Construct, id: str, props: ResourceGroupProps) -> None:
        super().__init__(scope, id)
        if props.existing_name:
            self.name = DataAzurermResourceGroup(self, "existing", name=props.existing_name).name
        else:
            self.name = ResourceGroup(
                self, "group", name=bounded_name(props.name, 90), location=props.location
            ).name
