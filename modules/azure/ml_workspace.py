"""An Azure ML workspace and what it stands on: a key vault, a storage account, Application
Insights over a Log Analytics workspace. The online endpoint and its deployments are made by the
Azure ML SDK after `terraform apply` (providers/azure), not here.

Storage accounts and key vaults have globally unique names: each is named from the stack and a
hash of the subscription ID and the stack, computed by Terraform from the credentials' own
subscription, so the same profile deploys to two subscriptions without a collision.
"""

from __future__ import annotations

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


class MlWorkspace(Construct):
    """`private`: no public network access to the workspace, its key vault and its storage; the
    workspace is reached through a private endpoint in the given subnet. Either way the
    workspace runs its compute in a managed virtual network that may reach the internet (the
    serving image and the model hub), and authenticates every call with Entra ID."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        resource_group_name: str,
        location: str,
        tenant_id: str,
        subscription_id: str,
        private: bool,
        private_endpoint_subnet_id: str | None,
    ) -> None:
        super().__init__(scope, id)
        logs = LogAnalyticsWorkspace(
            self,
            "logs",
            name=bounded_name(f"{name}-logs", 63),
            resource_group_name=resource_group_name,
            location=location,
            sku="PerGB2018",
            retention_in_days=LOG_RETENTION_DAYS,
        )
        self.insights = ApplicationInsights(
            self,
            "insights",
            name=bounded_name(f"{name}-insights", 255),
            resource_group_name=resource_group_name,
            location=location,
            application_type="web",
            workspace_id=logs.id,
        )
        self.key_vault = KeyVault(
            self,
            "key-vault",
            name=unique_name("kv", name, subscription_id),
            resource_group_name=resource_group_name,
            location=location,
            tenant_id=tenant_id,
            sku_name="standard",
            rbac_authorization_enabled=True,
            purge_protection_enabled=True,
            soft_delete_retention_days=SOFT_DELETE_DAYS,
            public_network_access_enabled=not private,
            network_acls=KeyVaultNetworkAcls(
                bypass="AzureServices", default_action="Deny" if private else "Allow"
            ),
        )
        self.storage = StorageAccount(
            self,
            "storage",
            name=unique_name("st", name, subscription_id),
            resource_group_name=resource_group_name,
            location=location,
            account_kind="StorageV2",
            account_tier="Standard",
            account_replication_type="LRS",
            min_tls_version="TLS1_2",
            https_traffic_only_enabled=True,
            allow_nested_items_to_be_public=False,
            cross_tenant_replication_enabled=False,
            infrastructure_encryption_enabled=True,
            public_network_access_enabled=not private,
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
            resource_group_name=resource_group_name,
            location=location,
            application_insights_id=self.insights.id,
            key_vault_id=self.key_vault.id,
            storage_account_id=self.storage.id,
            # Azure ML grants its own system identity what it needs on these dependencies.
            identity=MachineLearningWorkspaceIdentity(type="SystemAssigned"),
            public_network_access_enabled=not private,
            managed_network=MachineLearningWorkspaceManagedNetwork(
                isolation_mode="AllowInternetOutbound"
            ),
            v1_legacy_mode_enabled=False,
        )
        if private and private_endpoint_subnet_id:
            PrivateEndpoint(
                self,
                "private-endpoint",
                name=bounded_name(f"{name}-workspace", 80),
                resource_group_name=resource_group_name,
                location=location,
                subnet_id=private_endpoint_subnet_id,
                private_service_connection=PrivateEndpointPrivateServiceConnection(
                    name="workspace",
                    private_connection_resource_id=self.workspace.id,
                    subresource_names=["amlworkspace"],
                    is_manual_connection=False,
                ),
            )
