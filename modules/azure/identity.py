"""The user-assigned managed identity serving runs as, with a role on exactly the resources the
profile names and nothing else: the one Key Vault secret (Key Vault Secrets User), the weights
container (Storage Blob Data Reader), the image's registry (AcrPull), and on a fleet the scale sets
its instances publish metrics to (Monitoring Metrics Publisher). No Owner, Contributor or
subscription-wide role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from modules.azure.names import bounded_name
from planner.profile import AzureOptions

SECRET_READER = "Key Vault Secrets User"
BLOB_READER = "Storage Blob Data Reader"
IMAGE_PULLER = "AcrPull"
METRICS_PUBLISHER = "Monitoring Metrics Publisher"
"""On each of the fleet's scale sets only: the instances publish their custom metrics there."""


class Grant(NamedTuple):
    key: str
    role: str
    scope: str


def serving_grants(options: AzureOptions) -> tuple[Grant, ...]:
    """The roles the boot script (or an Azure ML deployment) needs for what the profile names."""
    grants = []
    if options.hf_token_secret_id:
        grants.append(Grant("hf-token", SECRET_READER, options.hf_token_secret_id))
    if options.model_blob_container_id:
        grants.append(Grant("weights", BLOB_READER, options.model_blob_container_id))
    if options.container_registry_id:
        grants.append(Grant("registry", IMAGE_PULLER, options.container_registry_id))
    return tuple(grants)


@dataclass(frozen=True, kw_only=True)
class ServingIdentityProps:
    name: str
    """(Required) The identity's name, cut to Azure's 128 characters with a hash."""
    resource_group_name: str
    """(Required) The resource group the identity lives in."""
    location: str
    """(Required) The identity's Azure region."""
    grants: tuple[Grant, ...] = ()
    """(Optional) The roles the identity holds, each on one resource (serving_grants). Defaults
    to none: an identity that can read nothing until a role is granted."""


class ServingIdentity(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingIdentityProps) -> None:
        super().__init__(scope, id)
        self.identity = UserAssignedIdentity(
            self,
            "identity",
            name=bounded_name(props.name, 128),
            resource_group_name=props.resource_group_name,
            location=props.location,
        )
        for grant in props.grants:
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
