"""The Azure partial of the fleet boot script (templates/user_data/cloud_azure.j2): Blob Storage
weights, the token's Key Vault secret, Azure Container Registry login, the metrics publisher, the
drain watcher (modules/azure/drain.py)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.azure.drain import drain_values
from modules.azure.engine_metrics import CONFIG_PATH, PUBLISHER_PATH, publisher_config
from modules.azure.names import blob_container, key_vault_secret
from modules.user_data import BootTarget

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

CUSTOM_DATA_LIMIT_BYTES = 65535
"""Azure refuses custom data longer than 65535 bytes (before base64 encoding)."""

_ACR_IMAGE = re.compile(r"^(?P<registry>[A-Za-z0-9]+\.azurecr\.io)/")


def azure_boot_target(spec: DeploymentSpec) -> BootTarget:
    options = spec.azure
    weights_uri = None
    if options.model_blob_container_id:
        account, container = blob_container(options.model_blob_container_id)
        prefix = options.model_blob_prefix.strip("/")
        weights_uri = f"https://{account}.blob.core.windows.net/{container}/{prefix}".rstrip("/")
    vault, secret = (
        key_vault_secret(options.hf_token_secret_id) if options.hf_token_secret_id else (None, None)
    )
    registry = _ACR_IMAGE.match(spec.runtime.image)
    values = {
        "weights_uri": weights_uri,
        "weights_store": "Blob Storage",
        "hf_token_name": secret,
        "hf_token_vault": vault,
        "acr_registry": registry["registry"].lower() if registry else None,
        "metrics_publisher": PUBLISHER_PATH,
        "metrics_config_path": CONFIG_PATH,
        "metrics_config": publisher_config(spec),
        **drain_values(spec),
    }
    return BootTarget(
        "cloud_azure.j2", values, CUSTOM_DATA_LIMIT_BYTES, "Azure's custom data limit"
    )
