"""The identity serving runs as, with only what it needs.

A fleet's instances: write logs and metrics, and, only when its props name them, read the image
from its Artifact Registry repository, the one Secret Manager secret holding the Hugging Face
token, and the objects of the weights bucket. A Vertex AI deployed model: logs, metrics and the
weights bucket. No primitive role (owner, editor, viewer) and no project-wide data access: every
data grant is on the one repository, secret or bucket.

Cloud Storage grants are per bucket (object-name conditions do not cover listing), so the
weights' bucket is readable as a whole: keep weights in a bucket of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_google.artifact_registry_repository_iam_member import (
    ArtifactRegistryRepositoryIamMember,
)
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from modules.gcp.naming import artifact_repository, gcp_name, secret_name

TELEMETRY_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")


def bucket_of(gcs_uri: str) -> str:
    return gcs_uri.removeprefix("gs://").split("/", 1)[0]


@dataclass(frozen=True, kw_only=True)
class ServingServiceAccountProps:
    """A dedicated identity for serving. Unless told what it reads, it may write logs and
    metrics and nothing else."""

    stack_name: str
    """The stack the account belongs to: its ID and description. Required."""
    project: str
    """The project its telemetry roles are granted in (and a secret named by ID lives in).
    Required."""
    purpose: str
    """What runs as it, for its display name and description. Required."""
    image: str | None = None
    """The serving image: read access to its Artifact Registry repository (nothing for another
    registry). Default: none."""
    hf_token_secret: str | None = None
    """The Secret Manager secret holding the Hugging Face token: access to that secret only.
    Default: none."""
    model_gcs_uri: str | None = None
    """Where the weights are: read access to the objects of their bucket. Default: none."""


class ServingServiceAccount(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingServiceAccountProps) -> None:
        super().__init__(scope, id)
        stack_name, project = props.stack_name, props.project
        self.account = ServiceAccount(
            self,
            "account",
            account_id=gcp_name(stack_name, "serving", limit=30),
            display_name=f"{stack_name} {props.purpose}",
            description=f"Runs {props.purpose} of {stack_name}; managed by infra",
        )
        self.email = self.account.email
        self.member = self.account.member
        for role in TELEMETRY_ROLES:
            ProjectIamMember(
                self, role.split("/")[1], project=project, role=role, member=self.member
            )
        registry = artifact_repository(props.image) if props.image else None
        if registry:
            ArtifactRegistryRepositoryIamMember(
                self,
                "image-reader",
                project=registry.project,
                location=registry.location,
                repository=registry.repository,
                role="roles/artifactregistry.reader",
                member=self.member,
            )
        if props.hf_token_secret:
            secret = secret_name(props.hf_token_secret)
            SecretManagerSecretIamMember(
                self,
                "hf-token-reader",
                project=secret.project or project,
                secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=self.member,
            )
        if props.model_gcs_uri:
            StorageBucketIamMember(
                self,
                "weights-reader",
                bucket=bucket_of(props.model_gcs_uri),
                role="roles/storage.objectViewer",
                member=self.member,
            )
