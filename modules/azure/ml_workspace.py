"""An Azure ML workspace and what it stands on: a key vault, a storage account, Application
Insights over a Log Analytics workspace. The online endpoint and its deployments are made by the
Azure ML SDK after `terraform apply` (providers/azure), not here.

Storage accounts and key vaults have globally unique names: each is named from the stack and a
hash of the subscription ID and the stack, computed by Terraform from the credentials' own
subscription, so the same profile deploys to two subscriptions without a collision.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import Fn
from cdktn_provider_azurerm.application_insights import ApplicationInsights
from cdktn_provider_azurerm.key_vault import KeyVault, KeyVaultNetworkAcls
from cdktn_provider_azurerm.log_analytics_workspace import LogAnalyticsWorkspace
from cdktn_provider_azurerm.machine_learning_workspace import (
    MachineLearningWorkspace,
    MachineLearningWorkspaceIdentity,
    MachineLearningWorkspaceManagedNetwork,
)
from cdktn_provider_azurerm.private_endpoint import (
    PrivateEndpoint,
    PrivateEndpointPrivateServiceConnection,
)
from cdktn_provider_azurerm.storage_account import (
    StorageAccount,
    StorageAccountBlobProperties,
    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy,
    StorageAccountBlobPropertiesDeleteRetentionPolicy,
    StorageAccountSasPolicy,
)
from constructs import Construct

from modules.azure.names import bounded_name

LOG_RETENTION_DAYS = 30
SOFT_DELETE_DAYS = 90
BLOB_SOFT_DELETE_DAYS = 7
"""A deleted blob or container stays recoverable this long."""
SAS_EXPIRATION_PERIOD = "01.00:00:00"
"""Shared access signatures valid longer than a day are logged (DD.HH:MM:SS)."""
UNIQUE_NAME_LIMIT = 24
"""Storage accounts and key vaults both allow 24 characters."""


def unique_name(prefix: str, stack_name: str, subscription_id: str) -> str:
    """`<prefix><stack letters and digits><8 hex of sha1(subscription/stack)>`, ≤ 24 chars."""
    head = "".join(c for c in stack_name.lower() if c.isalnum())
    head = head[: UNIQUE_NAME_LIMIT - len(prefix) - 8]
    digest = Fn.substr(Fn.sha1(Fn.join("/", [subscription_id, stack_name])), 0, 8)
    return f"{prefix}{head}{digest}"


@dataclass(frozen=True, kw_only=True)
class MlWorkspaceProps:
    name: str
    """(Required) The workspace's name (cut to 33 characters) and its dependencies' prefix."""
    resource_group_name: str
    """(Required) The resource group the workspace and its dependencies live in."""
    location: str
    """(Required) The Azure region of the workspace and its dependencies."""
    tenant_id: str
    """(Required) The Entra ID tenant the key vault authenticates against."""
    subscription_id: str
    """(Required) The subscription, hashed into the globally unique vault and storage names."""
    public_network_access: bool = False
    """(Optional) Whether the workspace, its key vault and its storage answer on public
    addresses (every call still authenticated with Entra ID). Defaults to False: reached only
    through private endpoints."""
    private_endpoint_subnet_id: str | None = None
    """(Optional) The subnet of a private endpoint to the workspace, made when public network
    access is off. Defaults to None: no endpoint here (one made elsewhere reaches it)."""


class MlWorkspace(Construct):
    """The workspace runs its compute in a managed virtual network that may reach the internet
    (the serving image and the model hub), public network access or not."""

    def __init__(self, scope: Construct, id: str, props: MlWorkspaceProps) -> None:
        super().__init__(scope, id)
        name, public = props.name, props.public_network_access
        placed = {"resource_group_name": props.resource_group_name, "location": props.location}
        logs = LogAnalyticsWorkspace(
            self,
            "logs",
            name=bounded_name(f"{name}-logs", 63),
            **placed,
            sku="PerGB2018",
            retention_in_days=LOG_RETENTION_DAYS,
        )
        self.insights = ApplicationInsights(
            self,
            "insights",
            name=bounded_name(f"{name}-insights", 255),
            **placed,
            application_type="web",
            workspace_id=logs.id,
        )
        self.key_vault = KeyVault(
            self,
            "key-vault",
            name=unique_name("kv", name, props.subscription_id),
            **placed,
            tenant_id=props.tenant_id,
            sku_name="standard",
            rbac_authorization_enabled=True,
            purge_protection_enabled=True,
            soft_delete_retention_days=SOFT_DELETE_DAYS,
            public_network_access_enabled=public,
            network_acls=KeyVaultNetworkAcls(
                bypass="AzureServices", default_action="Allow" if public else "Deny"
            ),
        )
        self.storage = StorageAccount(
            self,
            "storage",
            name=unique_name("st", name, props.subscription_id),
            **placed,
            account_kind="StorageV2",
            account_tier="Standard",
            account_replication_type="LRS",
            min_tls_version="TLS1_2",
            https_traffic_only_enabled=True,
            allow_nested_items_to_be_public=False,
            cross_tenant_replication_enabled=False,
            infrastructure_encryption_enabled=True,
            public_network_access_enabled=public,
            blob_properties=StorageAccountBlobProperties(
                delete_retention_policy=StorageAccountBlobPropertiesDeleteRetentionPolicy(
                    days=BLOB_SOFT_DELETE_DAYS
                ),
                container_delete_retention_policy=(
                    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy(
                        days=BLOB_SOFT_DELETE_DAYS
                    )
                ),
            ),
            # Azure ML's system datastores sign in with the account key (see the suppression
            # of CKV2_AZURE_40); a signature made from it that is valid over a day is logged.
            shared_access_key_enabled=True,
            sas_policy=StorageAccountSasPolicy(
                expiration_period=SAS_EXPIRATION_PERIOD, expiration_action="Log"
            ),
        )
        self.workspace = MachineLearningWorkspace(
            self,
            "workspace",
            name=bounded_name(name, 33),
            **placed,
            application_insights_id=self.insights.id,
            key_vault_id=self.key_vault.id,
            storage_account_id=self.storage.id,
            # Azure ML grants its own system identity what it needs on these dependencies.
            identity=MachineLearningWorkspaceIdentity(type="SystemAssigned"),
            public_network_access_enabled=public,
            managed_network=MachineLearningWorkspaceManagedNetwork(
                isolation_mode="AllowInternetOutbound"
            ),
            v1_legacy_mode_enabled=False,
        )
        if not public and props.private_endpoint_subnet_id:
            PrivateEndpoint(
                self,
                "private-endpoint",
                name=bounded_name(f"{name}-workspace", 80),
                **placed,
                subnet_id=props.private_endpoint_subnet_id,
                private_service_connection=PrivateEndpointPrivateServiceConnection(
                    name="workspace",
                    private_connection_resource_id=self.workspace.id,
                    subresource_names=["amlworkspace"],
                    is_manual_connection=False,
                ),
            )
