"""VertexEndpointStack: a Vertex AI endpoint with its key and the identity its models run as,
built from a DeploymentSpec alone, which the stack translates into each construct's props. Model
upload, deployment (machine and accelerator type and count, replica range, autoscaling target),
traffic splits and rollback are SDK steps that read this stack's outputs."""

from __future__ import annotations

from pathlib import Path

from cdktn import Fn, TerraformOutput, TerraformStack
from cdktn_provider_google.data_google_compute_subnetwork import DataGoogleComputeSubnetwork
from constructs import Construct

from modules.gcp.network import parse_subnet
from modules.gcp.service_account import ServingServiceAccount, ServingServiceAccountProps
from modules.gcp.spec_checks import check_gcp_spec
from modules.gcp.vertex import (
    EndpointEncryptionKey,
    EndpointEncryptionKeyProps,
    ServingEndpoint,
    ServingEndpointProps,
)
from planner.deployment import DeploymentSpec
from stacks.common import configure_gcp_stack

COMPUTE_API = "https://www.googleapis.com/compute/v1/"


class VertexEndpointStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        check_gcp_spec(spec)
        super().__init__(scope, spec.stack_name)
        project = configure_gcp_stack(self, spec, state_dir, emulated=emulated)
        name = spec.stack_name

        key = EndpointEncryptionKey(
            self, "encryption", EndpointEncryptionKeyProps(stack_name=name, region=spec.region)
        )
        identity = ServingServiceAccount(
            self,
            "service-account",
            # No image (Vertex AI's service agent pulls it, not the model's identity) and no
            # token (Vertex AI would keep it in plain text; the weights come from Cloud Storage).
            ServingServiceAccountProps(
                stack_name=name,
                project=project,
                purpose="Vertex AI deployed models",
                model_gcs_uri=spec.gcp.model_gcs_uri,
            ),
        )
        endpoint = ServingEndpoint(
            self,
            "endpoint",
            ServingEndpointProps(
                stack_name=name,
                project=project,
                region=spec.region,
                encryption_key=key,
                private_network=self._private_network(spec, project),
            ),
        )
        TerraformOutput(self, "vertex_endpoint_name", value=endpoint.resource_name)
        TerraformOutput(self, "project", value=project)
        TerraformOutput(self, "region", value=spec.region)
        TerraformOutput(self, "service_account_email", value=identity.email)
        TerraformOutput(self, "kms_key_name", value=key.key.id)

    def _private_network(self, spec: DeploymentSpec, project: str) -> str | None:
        """projects/P/global/networks/N of the network the profile names, None for a public
        endpoint: the VPC by name or path, else the network of the subnet it lists first."""
        network = spec.network
        if network.public or not (network.vpc_id or network.subnet_ids):
            return None
        if network.vpc_id:
            if network.vpc_id.startswith("projects/"):
                return network.vpc_id
            return f"projects/{project}/global/networks/{network.vpc_id}"
        subnet = parse_subnet(
            network.subnet_ids[0],
            project=project,
            region=spec.region,
            where=f"stack {spec.stack_name}",
        )
        found = DataGoogleComputeSubnetwork(
            self,
            "given-subnet",
            project=subnet.project,
            region=subnet.region,
            name=subnet.name,
        )
        return Fn.replace(found.network, COMPUTE_API, "")
