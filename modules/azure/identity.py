"""The user-assigned managed identity serving runs as, with a role on exactly the resources the
profile names and nothing else: the one Key Vault secret (Key Vault Secrets User), the weights
container (Storage Blob Data Reader), the image's registry (AcrPull). No Owner, Contributor or
subscription-wide role."""

from __future__ import annotations

from typing import NamedTuple

from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from modules.azure.names import bounded_name
from planner.profile import AzureOptions

SECRET_READER = "Key Vault Secrets User"
BLOB_READER = "Storage Blob Data Reader"
IMAGE_PULLER = "AcrPull"


class Grant(NamedTuple):
    key: str
    role: str
    scope: str


def serving_grants(options: AzureOptions) -> list[Grant]:
    """The roles the boot script (or an Azure ML deployment) needs for what the profile names."""
    grants = []
    if options.hf_token_secret_id:
        grants.append(Grant("hf-token", SECRET_READER, options.hf_token_secret_id))
    if options.model_blob_container_id:
        grants.append(Grant("weights", BLOB_READER, options.model_blob_container_id))
    if options.container_registry_id:
        grants.append(Grant("registry", IMAGE_PULLER, options.container_registry_id))
    return grants


class ServingIdentity(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        resource_group_name: str,
        location: str,
        grants: list[Grant],
    ) -> None:
        super().__init__(scope, id)
        self.identity = UserAssignedIdentity(
            self,
            "identity",
            name=bounded_name(name, 128),
            resource_group_name=resource_group_name,
            location=location,
        )
        for grant in grants:
            self.grant(grant)

    def grant(self, grant: Grant) -> RoleAssignment:
        return RoleAssignment(
            self,
            grant.key,
            scope=grant.scope,
            role_definition_name=grant.role,
            principal_id=self.identity.principal_id,
            # A new identity may not have replicated yet; the type skips the directory lookup.
            principal_type="ServicePrincipal",
        )
