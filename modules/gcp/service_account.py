"""The identity serving runs as, with only what it needs.

A fleet's instances: write logs and metrics, and, only when the spec names them, read the image
from its Artifact Registry repository, the one Secret Manager secret holding the Hugging Face
token, and the objects of the weights bucket. A Vertex AI deployed model: logs, metrics and the
weights bucket. No primitive role (owner, editor, viewer) and no project-wide data access: every
data grant is on the one repository, secret or bucket.

Cloud Storage grants are per bucket (object-name conditions do not cover listing), so the
weights' bucket is readable as a whole: keep weights in a bucket of their own.
"""

from __future__ import annotations

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


class ServingServiceAccount(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stack_name: str,
        project: str,
        purpose: str,
        image: str | None,
        hf_token_secret: str | None,
        model_gcs_uri: str | None,
    ) -> None:
        super().__init__(scope, id)
        self.account = ServiceAccount(
            self,
            "account",
            account_id=gcp_name(stack_name, "serving", limit=30),
            display_name=f"{stack_name} {purpose}",
            description=f"Runs {purpose} of {stack_name}; managed by infra",
        )
        self.email = self.account.email
        self.member = self.account.member
        for role in TELEMETRY_ROLES:
            ProjectIamMember(
                self, role.split("/")[1], project=project, role=role, member=self.member
            )
        registry = artifact_repository(image) if image else None
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
        if hf_token_secret:
            secret = secret_name(hf_token_secret)
            SecretManagerSecretIamMember(
                self,
                "hf-token-reader",
                project=secret.project or project,
                secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=self.member,
            )
        if model_gcs_uri:
            StorageBucketIamMember(
                self,
                "weights-reader",
                bucket=bucket_of(model_gcs_uri),
                role="roles/storage.objectViewer",
                member=self.member,
            )
