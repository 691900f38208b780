"""What AKS adds to the Kubernetes serving workload (modules/kubernetes/): the pods' managed
identity through Azure Workload Identity, and the weights copied from Blob Storage with the
Azure CLI."""

from __future__ import annotations

import re

from cdktn import Token

from modules.kubernetes.weights import (
    DOWNLOAD_DIR,
    SCRATCH_DIR,
    WeightsDownload,
    safe_subdirectory,
)
from modules.kubernetes.workload import WorkloadIdentity
from modules.kubernetes.workload_checks import WorkloadError

DOWNLOADER_IMAGE = "mcr.microsoft.com/azure-cli:2.76.0"
"""Azure/azure-cli src/azure-cli/HISTORY.rst 2.76.0; MCR tags the image by CLI version."""
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
POD_LABEL = ("azure.workload.identity/use", "true")
"""Azure Workload Identity's webhook only mutates pods carrying this label."""
_CLIENT_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_BLOB = re.compile(
    r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/"
    r"(?P<container>[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})(?:/(?P<prefix>[^\s?#]*))?\Z"
)
_SCRIPT = (
    'az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" '
    '--federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions '
    "--output none && "
    'az storage blob download-batch --auth-mode login --account-name "$WEIGHTS_ACCOUNT" '
    '--source "$WEIGHTS_CONTAINER" --pattern "$WEIGHTS_PATTERN" '
    f"--destination {DOWNLOAD_DIR} --output none"
)
"""Azure Workload Identity's webhook gives the pod AZURE_CLIENT_ID, AZURE_TENANT_ID and
AZURE_FEDERATED_TOKEN_FILE (azure.github.io/azure-workload-identity, Mutating Admission Webhook);
the CLI exchanges the projected token for an Entra token (`az login --federated-token`). The
script reads the location from variables only."""


def workload_identity(client_id: str) -> WorkloadIdentity:
    """`client_id`: a GUID, or a reference to the client ID of an identity the stack creates
    (resolved by Terraform)."""
    if not (Token.is_unresolved(client_id) or _CLIENT_ID.match(client_id)):
        raise WorkloadError(
            f"the workload's managed identity {client_id!r} is not a client ID (a GUID)."
        )
    return WorkloadIdentity(
        service_account_annotations={CLIENT_ID_ANNOTATION: client_id},
        pod_labels={POD_LABEL[0]: POD_LABEL[1]},
    )


def weights_download(uri: str, *, image: str = DOWNLOADER_IMAGE) -> WeightsDownload:
    """`az storage blob download-batch` of the prefix. It keeps the prefix in the paths it
    writes, so the engine mounts that sub-directory of the volume."""
    blob = _BLOB.match(uri)
    if not blob:
        raise WorkloadError(
            f"the weights URI {uri!r} is not https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX."
        )
    prefix = (blob["prefix"] or "").strip("/")
    if not safe_subdirectory(prefix):
        raise WorkloadError(
            f"the weights URI {uri!r} has an empty, '.' or '..' path segment; name the blob "
            "prefix plainly."
        )
    return WeightsDownload(
        uri=uri,
        image=image,
        command=("/bin/sh", "-ec", _SCRIPT),
        env={
            "WEIGHTS_ACCOUNT": blob["account"],
            "WEIGHTS_CONTAINER": blob["container"],
            "WEIGHTS_PATTERN": f"{prefix}/*" if prefix else "*",
            "AZURE_CONFIG_DIR": f"{SCRATCH_DIR}/azure",
        },
        subdirectory=prefix,
    )
