"""Azure resource names within each type's length limit, and the parts of the resource IDs a
profile names (the Key Vault secret, the weights container, the container registry)."""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple


def bounded_name(name: str, limit: int) -> str:
    """`name` itself when it fits, else its head and a short hash of the whole, so two long
    names that share a head still differ."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


class ResourceId(NamedTuple):
    """An Azure resource ID, and the name of the resource at its end."""

    id: str

    def segment(self, kind: str) -> str:
        """The name after `/<kind>/` (case-insensitive, as Azure treats resource IDs)."""
        match = re.search(rf"/{kind}/([^/]+)", self.id, re.IGNORECASE)
        if match is None:
            raise ValueError(f"{self.id} has no /{kind}/ segment")
        return match[1]


def key_vault_secret(secret_id: str) -> tuple[str, str]:
    """(vault name, secret name) of a Key Vault secret's resource ID."""
    resource = ResourceId(secret_id)
    return resource.segment("vaults"), resource.segment("secrets")


def blob_container(container_id: str) -> tuple[str, str]:
    """(storage account name, container name) of a blob container's resource ID."""
    resource = ResourceId(container_id)
    return resource.segment("storageAccounts"), resource.segment("containers")


def registry_name(registry_id: str) -> str:
    return ResourceId(registry_id).segment("registries")
