"""The init container that copies a model's weights from object storage into the pod, signed in
by the pod's workload identity (EKS IRSA, GKE Workload Identity, Azure Workload Identity): no key
is ever written into a manifest.

Each store is read with its cloud's own CLI image, pinned by tag, run as a non-root user with a
read-only root filesystem: HOME and the CLI's configuration live on the pod's /tmp volume. The
location reaches the container as an environment variable and never through a shell
interpolation, so a hostile URI cannot run a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import InfraError

WEIGHTS_VOLUME = "weights"
SCRATCH_DIR = "/tmp"
DOWNLOAD_DIR = "/weights"
"""Where the init container writes; the engine mounts the same volume read-only."""


class WeightsLocationError(InfraError):
    """A weights URI that names no supported object store."""


@dataclass(frozen=True)
class WeightsLocation:
    cloud: str
    """The cloud whose workload identity reads it: aws, gcp or azure."""
    uri: str
    """The URI as given."""
    prefix: str = ""
    """Azure only: the blob prefix, which `az storage blob download-batch` keeps in the paths it
    writes, so the engine mounts that sub-directory of the volume."""
    account: str = ""
    container: str = ""


DOWNLOADER_IMAGES: dict[str, str] = {
    # aws/aws-cli 2.31.0 (.changes/2.31.0.json); the image on ECR Public is tagged by CLI version.
    "aws": "public.ecr.aws/aws-cli/aws-cli:2.31.0",
    # GoogleCloudPlatform/cloud-sdk-docker README: the `:VERSION-stable` image (gcloud, gsutil).
    "gcp": "gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0-stable",
    # Azure/azure-cli src/azure-cli/HISTORY.rst 2.76.0; MCR tags the image by CLI version.
    "azure": "mcr.microsoft.com/azure-cli:2.76.0",
}
"""The default image of each store's init container (`weights_downloader_image` overrides)."""

_S3 = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<key>[^\s]*))?\Z")
_GCS = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/(?P<key>[^\s]*))?\Z")
_BLOB = re.compile(
    r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/"
    r"(?P<container>[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})(?:/(?P<prefix>[^\s?#]*))?\Z"
)
_UNSAFE_PREFIX = re.compile(r"(?:^|/)\.\.?(?:/|$)")


def parse_weights_uri(uri: str) -> WeightsLocation:
    """The store a weights URI names: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or
    https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX."""
    if _S3.match(uri):
        return WeightsLocation("aws", uri)
    if _GCS.match(uri):
        return WeightsLocation("gcp", uri)
    blob = _BLOB.match(uri)
    if blob:
        prefix = (blob["prefix"] or "").strip("/")
        if _UNSAFE_PREFIX.search(prefix) or "//" in prefix:
            raise WeightsLocationError(
                f"the weights URI {uri!r} has an empty, '.' or '..' path segment; name the blob "
                "prefix plainly."
            )
        return WeightsLocation(
            "azure", uri, prefix=prefix, account=blob["account"], container=blob["container"]
        )
    raise WeightsLocationError(
        f"the weights URI {uri!r} is not s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or "
        "https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX; name the object storage "
        "prefix that holds the model."
    )


_AZURE_SCRIPT = (
    'az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" '
    '--federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions '
    "--output none && "
    'az storage blob download-batch --auth-mode login --account-name "$WEIGHTS_ACCOUNT" '
    '--source "$WEIGHTS_CONTAINER" --pattern "$WEIGHTS_PATTERN" '
    f"--destination {DOWNLOAD_DIR} --output none"
)
"""Azure Workload Identity's webhook gives the pod AZURE_CLIENT_ID, AZURE_TENANT_ID and
AZURE_FEDERATED_TOKEN_FILE (azure.github.io/azure-workload-identity, Mutating Admission Webhook);
the CLI exchanges the projected token for an Entra token (`az login --federated-token`)."""


def _command(location: WeightsLocation) -> tuple[list[str], list[dict[str, str]]]:
    if location.cloud == "aws":
        command = ["aws", "s3", "sync", "--only-show-errors", "--no-progress"]
        return [*command, "$(WEIGHTS_URI)", DOWNLOAD_DIR], [
            {"name": "WEIGHTS_URI", "value": location.uri}
        ]
    if location.cloud == "gcp":
        command = ["gcloud", "storage", "rsync", "--recursive", "--no-user-output-enabled"]
        return [*command, "$(WEIGHTS_URI)", DOWNLOAD_DIR], [
            {"name": "WEIGHTS_URI", "value": location.uri},
            {"name": "CLOUDSDK_CONFIG", "value": f"{SCRATCH_DIR}/gcloud"},
        ]
    pattern = f"{location.prefix}/*" if location.prefix else "*"
    return ["/bin/sh", "-ec", _AZURE_SCRIPT], [
        {"name": "WEIGHTS_ACCOUNT", "value": location.account},
        {"name": "WEIGHTS_CONTAINER", "value": location.container},
        {"name": "WEIGHTS_PATTERN", "value": pattern},
        {"name": "AZURE_CONFIG_DIR", "value": f"{SCRATCH_DIR}/azure"},
    ]


def download_container(
    location: WeightsLocation,
    *,
    image: str | None,
    resources: dict[str, Any],
    security_context: dict[str, Any],
) -> dict[str, Any]:
    """The init container that fills the weights volume before the engine starts. It runs before
    the engine, never beside it, so it takes the engine's CPU and memory (less its GPUs) without
    raising what the pod asks of its node.

    `$(WEIGHTS_URI)` in an argument is Kubernetes' own expansion of the container's variable:
    no shell reads it."""
    command, environment = _command(location)
    return {
        "name": "download-weights",
        "image": image or DOWNLOADER_IMAGES[location.cloud],
        "command": command,
        "env": [{"name": "HOME", "value": SCRATCH_DIR}, *environment],
        "resources": resources,
        "securityContext": security_context,
        "volumeMounts": [
            {"name": WEIGHTS_VOLUME, "mountPath": DOWNLOAD_DIR},
            {"name": "tmp", "mountPath": SCRATCH_DIR},
        ],
    }
