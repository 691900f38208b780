"""A Vertex AI endpoint in Terraform, encrypted with a key of its own; models are deployed to it
by the SDK steps (providers/gcp), not here.

The key: a Cloud KMS key ring in the endpoint's region and a key rotated every 90 days, usable by
the Vertex AI service agent only. Key rings cannot be deleted, so a destroyed stack leaves its ring
behind (its key versions are destroyed); the ring's name carries a random suffix so that the same
stack can be deployed again.

The endpoint: public (every call still needs IAM: aiplatform.endpoints.predict), or, when the
profile names a network, private through Private Service Connect: only the project may connect,
and Vertex AI creates the PSC endpoint in that network when a model is deployed
(psc_automation_configs; Google's PSC automation needs a service connection policy for the
gcp-vertexai service class in that network and region). Traffic splits are the SDK's to set, so
Terraform ignores them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cdktn import TerraformResource, TerraformResourceLifecycle, TerraformStack
from cdktn_provider_google.data_google_project import DataGoogleProject
from cdktn_provider_google.kms_crypto_key import KmsCryptoKey
from cdktn_provider_google.kms_crypto_key_iam_member import KmsCryptoKeyIamMember
from cdktn_provider_google.kms_key_ring import KmsKeyRing
from cdktn_provider_google.vertex_ai_endpoint import (
    VertexAiEndpoint,
    VertexAiEndpointEncryptionSpec,
    VertexAiEndpointPrivateServiceConnectConfig,
    VertexAiEndpointPrivateServiceConnectConfigPscAutomationConfigs,
)
from constructs import Construct

from modules.gcp.naming import gcp_name

KEY_ROTATION = "7776000s"
"""90 days."""
RANDOM_PROVIDER = {"source": "hashicorp/random", "version": ">= 3.5, < 4"}
ENDPOINT_ID_SPACE = 9_000_000_000


def endpoint_id(project: str, region: str, stack_name: str) -> str:
    """Vertex AI endpoint IDs are numbers of at most ten digits with no leading zero; this one is
    derived from where the stack deploys, so it is the same on every synth."""
    digest = hashlib.sha256(f"{project}/{region}/{stack_name}".encode()).hexdigest()
    return str(1_000_000_000 + int(digest, 16) % ENDPOINT_ID_SPACE)


def vertex_service_agent(project_number: str) -> str:
    return f"serviceAccount:service-{project_number}@gcp-sa-aiplatform.iam.gserviceaccount.com"


@dataclass(frozen=True, kw_only=True)
class EndpointEncryptionKeyProps:
    """The endpoint's customer-managed key and who may use it."""

    stack_name: str
    """The stack the key belongs to: its key ring's name. Required."""
    region: str
    """The endpoint's region, where the key ring must be. Required."""
    rotation_period: str = KEY_ROTATION
    """How often a new key version is made, in seconds with an `s`. Default: 90 days."""


class EndpointEncryptionKey(Construct):
    def __init__(self, scope: Construct, id: str, props: EndpointEncryptionKeyProps) -> None:
        super().__init__(scope, id)
        stack_name = props.stack_name
        suffix = TerraformResource(
            self,
            "key-ring-suffix",
            terraform_resource_type="random_id",
        )
        suffix.add_override("byte_length", 3)
        TerraformStack.of(self).add_override("terraform.required_providers.random", RANDOM_PROVIDER)
        self.key_ring = KmsKeyRing(
            self,
            "key-ring",
            name=f"{gcp_name(stack_name, 'vertex', limit=56)}-{suffix.get_string_attribute('hex')}",
            location=props.region,
        )
        self.key = KmsCryptoKey(
            self,
            "key",
            name="endpoint",
            key_ring=self.key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=props.rotation_period,
        )
        project = DataGoogleProject(self, "project")
        self.service_agent_access = KmsCryptoKeyIamMember(
            self,
            "vertex-service-agent",
            crypto_key_id=self.key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=vertex_service_agent(project.number),
        )


@dataclass(frozen=True, kw_only=True)
class ServingEndpointProps:
    """A Vertex AI endpoint, encrypted with its own key."""

    stack_name: str
    """The stack the endpoint belongs to: its display name and ID. Required."""
    project: str
    """The project the endpoint is in, the only one allowed to connect to a private one.
    Required."""
    region: str
    """The endpoint's region. Required."""
    encryption_key: EndpointEncryptionKey
    """The customer-managed key the endpoint is encrypted with. Required: there is no endpoint
    on Google-managed keys."""
    private_network: str | None = None
    """projects/P/global/networks/N to reach the endpoint from through Private Service Connect.
    Default: none, a public endpoint, where every call still needs IAM."""


class ServingEndpoint(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingEndpointProps) -> None:
        super().__init__(scope, id)
        stack_name, project, region = props.stack_name, props.project, props.region
        key, private_network = props.encryption_key, props.private_network
        self.endpoint = VertexAiEndpoint(
            self,
            "endpoint",
            name=endpoint_id(project, region, stack_name),
            display_name=stack_name,
            description=f"{stack_name}: models deployed by infra",
            location=region,
            region=region,
            encryption_spec=VertexAiEndpointEncryptionSpec(kms_key_name=key.key.id),
            private_service_connect_config=VertexAiEndpointPrivateServiceConnectConfig(
                enable_private_service_connect=True,
                project_allowlist=[project],
                psc_automation_configs=[
                    VertexAiEndpointPrivateServiceConnectConfigPscAutomationConfigs(
                        project_id=project, network=private_network
                    )
                ],
            )
            if private_network
            else None,
            # Vertex AI checks it can use the key when the endpoint is created.
            depends_on=[key.service_agent_access],
            lifecycle=TerraformResourceLifecycle(ignore_changes=["traffic_split"]),
        )
        self.resource_name = f"projects/{project}/locations/{region}/endpoints/{self.endpoint.name}"
