"""What an Azure stack refuses before anything is synthesized, each in one sentence naming the
profile field to change: AWS resources where Azure ones are needed, a spot mix a scale set cannot
express, an image registry the serving identity has no role on, a public fleet (its Standard Load
Balancer works at layer 4 and cannot serve HTTPS)."""

from __future__ import annotations

import re

from core.errors import InfraError
from planner.deployment import DeploymentSpec

SUBNET_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network"
    r"/virtualNetworks/[^/]+/subnets/[^/]+$",
    re.IGNORECASE,
)
ACR_HOST = re.compile(r"^(?P<name>[a-z0-9]+)\.azurecr\.io/", re.IGNORECASE)


class AzureSpecError(InfraError):
    pass


def _refuse(spec: DeploymentSpec, problem: str) -> None:
    raise AzureSpecError(f"stack {spec.stack_name}: {problem}.")


def check_network(spec: DeploymentSpec) -> None:
    network = spec.network
    if network.vpc_id:
        _refuse(
            spec,
            f"deploy.network.vpc_id ({network.vpc_id}) is an AWS VPC; for Azure give the "
            "subnet's resource ID in deploy.network.subnet_ids",
        )
    if len(network.subnet_ids) > 1:
        _refuse(
            spec,
            "an Azure subnet spans every zone of its region, so give one subnet resource ID in "
            f"deploy.network.subnet_ids, not {len(network.subnet_ids)}",
        )
    for subnet in network.subnet_ids:
        if not SUBNET_ID.match(subnet):
            _refuse(
                spec,
                f"deploy.network.subnet_ids holds {subnet}, not an Azure subnet resource ID "
                "(/subscriptions/.../virtualNetworks/NAME/subnets/NAME)",
            )


def check_registry(spec: DeploymentSpec) -> None:
    """An image in Azure Container Registry is pulled with the serving identity, which needs
    AcrPull on exactly that registry: the profile names it, and only it."""
    from modules.azure.names import registry_name

    host = ACR_HOST.match(spec.runtime.image)
    registry_id = spec.azure.container_registry_id
    if host and not registry_id:
        _refuse(
            spec,
            f"runtime.image is in {host['name']}.azurecr.io; set deploy.azure."
            "container_registry_id to that registry's resource ID so the serving identity can "
            "pull it",
        )
    if registry_id and (not host or host["name"].lower() != registry_name(registry_id).lower()):
        _refuse(
            spec,
            f"deploy.azure.container_registry_id names {registry_name(registry_id)}, but "
            f"runtime.image {spec.runtime.image} is not in that registry",
        )


def check_fleet(spec: DeploymentSpec) -> None:
    check_network(spec)
    check_registry(spec)
    if spec.network.public:
        _refuse(
            spec,
            "an Azure fleet's Standard Load Balancer works at layer 4 and cannot terminate TLS, "
            "so it cannot be a public HTTPS endpoint; remove deploy.network.public (the load "
            "balancer stays internal, open to deploy.network.ingress_cidrs) and put Application "
            "Gateway or Front Door with your certificate in front of it, or deploy to AWS or GCP "
            "(--cloud)",
        )
    percent = spec.capacity.spot_percentage_above_base
    if percent not in (0, 100):
        _refuse(
            spec,
            f"spot_percentage_above_base is {percent}, but an Azure scale set is all spot or "
            "all regular; use 0 or 100",
        )
    if spec.runtime.model_s3_uri and not spec.azure.model_blob_container_id:
        _refuse(
            spec,
            "deploy.model_s3_uri is in S3, which Azure instances cannot read; copy the weights "
            "to a blob container and set deploy.azure.model_blob_container_id",
        )
    if spec.runtime.hf_token_ssm_parameter and not spec.azure.hf_token_secret_id:
        _refuse(
            spec,
            "deploy.hf_token_ssm_parameter is an AWS SSM parameter; put the token in Key Vault "
            "and set deploy.azure.hf_token_secret_id",
        )


def check_aks(spec: DeploymentSpec) -> None:
    """`kind: kubernetes` on AKS: an existing cluster is looked up by name in its resource
    group, and its pools join the cluster's own network."""
    check_network(spec)
    if spec.kubernetes.cluster is not None:
        if not spec.azure.resource_group:
            _refuse(
                spec,
                f"the existing AKS cluster {spec.kubernetes.cluster} is looked up in its "
                "resource group, so set deploy.azure.resource_group to it",
            )
        if spec.network.subnet_ids:
            _refuse(
                spec,
                f"node pools join the existing cluster {spec.kubernetes.cluster} on its own "
                "network, so remove deploy.network.subnet_ids (it is the subnet of a cluster "
                "the toolkit creates)",
            )
    if spec.runtime.model_s3_uri and not spec.azure.model_blob_container_id:
        _refuse(
            spec,
            "deploy.model_s3_uri is in S3, which AKS pods cannot read; copy the weights to a "
            "blob container and set deploy.azure.model_blob_container_id",
        )
    if spec.runtime.hf_token_ssm_parameter and not spec.kubernetes.hf_token_secret:
        _refuse(
            spec,
            "deploy.hf_token_ssm_parameter is an AWS SSM parameter; put the token in a "
            "Kubernetes Secret of the namespace (key token) and set "
            "deploy.kubernetes.hf_token_secret",
        )
