"""What GKE adds to the Kubernetes serving workload (modules/kubernetes/): the pods' Google
service account through Workload Identity, and the weights copied from Cloud Storage with
gcloud."""

from __future__ import annotations

import re

from modules.kubernetes.weights import DOWNLOAD_DIR, SCRATCH_DIR, WeightsDownload
from modules.kubernetes.workload import WorkloadIdentity
from modules.kubernetes.workload_checks import WorkloadError

DOWNLOADER_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0-stable"
"""GoogleCloudPlatform/cloud-sdk-docker README: the `:VERSION-stable` image (gcloud, gsutil)."""
ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"
"""GKE Workload Identity: the Google service account the Kubernetes one impersonates."""
_ACCOUNT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.gserviceaccount\.com\Z")
_GCS = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](?:/[^\s]*)?\Z")


def workload_identity(service_account_email: str) -> WorkloadIdentity:
    if not _ACCOUNT.match(service_account_email):
        raise WorkloadError(
            f"the workload's Google service account {service_account_email!r} is not a service "
            "account email (NAME@PROJECT.iam.gserviceaccount.com)."
        )
    return WorkloadIdentity(service_account_annotations={ACCOUNT_ANNOTATION: service_account_email})


def weights_download(uri: str, *, image: str = DOWNLOADER_IMAGE) -> WeightsDownload:
    """`gcloud storage rsync` of the prefix, as the Google service account (GKE's metadata
    server answers for it). `$(WEIGHTS_URI)` is Kubernetes' own expansion: no shell reads it."""
    if not _GCS.match(uri):
        raise WorkloadError(f"the weights URI {uri!r} is not gs://BUCKET/PREFIX.")
    return WeightsDownload(
        uri=uri,
        image=image,
        command=(
            "gcloud",
            "storage",
            "rsync",
            "--recursive",
            "--no-user-output-enabled",
            "$(WEIGHTS_URI)",
            DOWNLOAD_DIR,
        ),
        env={"WEIGHTS_URI": uri, "CLOUDSDK_CONFIG": f"{SCRATCH_DIR}/gcloud"},
    )
