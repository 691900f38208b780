"""What a GCP stack refuses before building anything, each in one sentence.

A spec written by hand can hold what only AWS reads (S3 weights, an SSM parameter) or what GCP
cannot honour as asked: a share of spot inside one group, client ranges on an internal load
balancer (its proxies hide the client address from the firewall), a public load balancer open to
nobody or without a certificate (it serves HTTPS only), a certificate on the internal load
balancer (which speaks HTTP inside the VPC), a Vertex AI image outside Artifact Registry, a token
Vertex AI would store in plain text, a GKE cluster outside the deployment's region, a Secret
Manager token that GKE pods would never read.
"""

from __future__ import annotations

import re

from core.errors import InfraError
from planner.deployment import DeploymentSpec
from planner.images import ARTIFACT_REGISTRY_IMAGE


class GcpSpecError(InfraError):
    pass


def _common_problem(spec: DeploymentSpec) -> str | None:
    if spec.runtime.model_s3_uri:
        return "runtime.model_s3_uri is read on AWS only; give the weights as gcp.model_gcs_uri"
    if spec.runtime.hf_token_ssm_parameter:
        return (
            "runtime.hf_token_ssm_parameter is read on AWS only; name the Secret Manager secret "
            "as gcp.hf_token_secret"
        )
    return None


def _fleet_problem(spec: DeploymentSpec) -> str | None:
    network = spec.network
    if spec.capacity.spot_percentage_above_base not in (0, 100):
        return (
            "a managed instance group is all spot or all standard, so "
            "capacity.spot_percentage_above_base must be 0 or 100 on GCP"
        )
    if network.vpc_id and not network.subnet_ids:
        return "deploy.network.vpc_id needs the fleet's subnet in deploy.network.subnet_ids on GCP"
    if network.public and not network.ingress_cidrs:
        return (
            "a public load balancer admits deploy.network.ingress_cidrs only, and none are "
            "listed (0.0.0.0/0 admits everyone)"
        )
    if not network.public and network.ingress_cidrs:
        return (
            "the internal load balancer is reachable from its VPC only and cannot filter clients "
            "by range on GCP; remove deploy.network.ingress_cidrs or set deploy.network.public"
        )
    has_certificate = bool(network.certificate_domains or network.certificate_name)
    if network.public and not has_certificate:
        return (
            "a public load balancer serves HTTPS only and redirects HTTP to it, so it needs a "
            "certificate: set deploy.network.certificate_domains (a Google-managed certificate "
            "for those domains) or deploy.network.certificate_name (an SSL certificate of the "
            "project)"
        )
    if not network.public and has_certificate:
        return (
            "on GCP only the public load balancer serves a certificate (the internal one speaks "
            "HTTP inside the VPC); set deploy.network.public or remove "
            "deploy.network.certificate_domains and certificate_name"
        )
    return None


def _vertex_problem(spec: DeploymentSpec) -> str | None:
    if not ARTIFACT_REGISTRY_IMAGE.match(spec.runtime.image):
        return (
            f"Vertex AI runs serving images from Artifact Registry only, not {spec.runtime.image}"
        )
    if spec.gcp.hf_token_secret and not spec.gcp.model_gcs_uri:
        return (
            "Vertex AI keeps container settings in plain text, so it cannot take the Hugging Face "
            "token; copy the weights to Cloud Storage and set gcp.model_gcs_uri"
        )
    if spec.runtime.replicas_per_instance > 1:
        return "a Vertex AI instance runs one model container, so one replica per instance"
    return None


def _kubernetes_problem(spec: DeploymentSpec) -> str | None:
    options = spec.kubernetes
    location = options.cluster_location
    if location and options.create_cluster:
        return (
            "deploy.kubernetes.cluster_location is where an existing cluster is; a cluster the "
            f"toolkit creates is regional in the deployment's region ({spec.region})"
        )
    if location and location != spec.region and not _zone_of(location, spec.region):
        return (
            f"the cluster's location {location} is not in the deployment's region {spec.region}, "
            "where its node pools would run; pin that region (--region) or name a cluster there"
        )
    if spec.gcp.hf_token_secret and not options.hf_token_secret:
        return (
            "GKE pods read the Hugging Face token from a Kubernetes Secret, not from Secret "
            "Manager: create one and name it in deploy.kubernetes.hf_token_secret"
        )
    return None


def _zone_of(location: str, region: str) -> bool:
    """Whether `location` is a zone of `region` (us-central1-a of us-central1)."""
    return _ZONE.match(location) is not None and location.rsplit("-", 1)[0] == region


_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]\Z")
_KIND_PROBLEMS = {
    "fleet": _fleet_problem,
    "vertex": _vertex_problem,
    "kubernetes": _kubernetes_problem,
}


def check_gcp_spec(spec: DeploymentSpec) -> None:
    problem = _common_problem(spec) or _KIND_PROBLEMS[spec.kind](spec)
    if problem:
        raise GcpSpecError(f"stack {spec.stack_name}: {problem}.")
