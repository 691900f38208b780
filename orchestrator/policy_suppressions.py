"""Checkov findings on the generated stacks that are deliberate, each with the reason.

A suppression names one check, the resource type it applies to and, where the type alone would
be too broad, a pattern (fnmatch) on the resource's name in the synthesized Terraform JSON (the
construct path, e.g. `security_load-balancer-in-0_E93C9E52`). A suppressed finding is still
reported, marked suppressed with this reason; it only stops counting against the threshold.

To add one: fix the stack instead when the fix is cheap and a real improvement; otherwise add an
entry with a reason a reviewer can check against the code, and a test variant that produces the
finding (tests/test_policy.py fails on an entry no generated stack needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

NO_CERTIFICATE = (
    "The profile has no TLS certificate yet, so the listener speaks HTTP on port 80; the load "
    "balancer is internal and takes the VPC's range only, unless deploy.network.public opens it "
    "to deploy.network.ingress_cidrs."
)


@dataclass(frozen=True)
class Suppression:
    check_id: str
    resource_type: str
    reason: str
    name_pattern: str = "*"

    def matches(self, check_id: str, resource_type: str, name: str) -> bool:
        return (
            check_id == self.check_id
            and resource_type == self.resource_type
            and fnmatchcase(name, self.name_pattern)
        )


SUPPRESSIONS: tuple[Suppression, ...] = (
    # Fleet: load balancer
    Suppression("CKV_AWS_2", "aws_lb_listener", NO_CERTIFICATE),
    Suppression("CKV_AWS_103", "aws_lb_listener", NO_CERTIFICATE),
    Suppression("CKV2_AWS_20", "aws_lb", NO_CERTIFICATE),
    Suppression(
        "CKV_AWS_378",
        "aws_lb_target_group",
        "The load balancer reaches the instances over HTTP inside the VPC, and the instances "
        "take the serving port from the load balancer's security group only.",
    ),
    Suppression(
        "CKV_AWS_91",
        "aws_lb",
        "Access logs need an S3 bucket with a log-delivery policy, whose retention is the "
        "account's decision; the stack alarms on the load balancer's 5xx rate, p99 latency and "
        "unhealthy hosts instead.",
    ),
    Suppression(
        "CKV_AWS_150",
        "aws_lb",
        "Deletion protection is on in protected environments (deploy.environments.<env>."
        "protected); elsewhere it is off so that `infra destroy` can remove the stack.",
    ),
    Suppression(
        "CKV2_AWS_28",
        "aws_lb",
        "No WAF is provisioned: the load balancer is public only with deploy.network.public, "
        "and then takes deploy.network.ingress_cidrs only.",
    ),
    Suppression(
        "CKV_AWS_260",
        "aws_vpc_security_group_ingress_rule",
        "Port 80 is open to 0.0.0.0/0 only when the profile lists it in "
        "deploy.network.ingress_cidrs (with deploy.network.public).",
        name_pattern="security_load-balancer-in-*",
    ),
    # Fleet: network
    Suppression(
        "CKV2_AWS_11",
        "aws_vpc",
        "Flow logs need a destination whose retention, encryption and cost are the account's "
        "decision (usually central); turn them on account-wide, or give deploy.network.subnet_ids.",
    ),
    Suppression(
        "CKV_AWS_394",
        "aws_availability_zones",
        "Only for a spec priced in one zone: the load balancer needs two, so the stack takes "
        "another available zone of the region, which cannot be named in advance.",
    ),
    # SageMaker
    Suppression(
        "CKV_AWS_370",
        "aws_sagemaker_model",
        "Without deploy.model_s3_uri the container downloads the weights from the model hub and "
        "needs the network; with it, network isolation is on.",
    ),
    Suppression(
        "CKV_AWS_98",
        "aws_sagemaker_endpoint_configuration",
        "The volume key is omitted only for instance types with local NVMe storage, encrypted by "
        "the instance, for which SageMaker refuses one; captured data still uses the stack's key.",
    ),
    Suppression(
        "CKV2_AWS_64",
        "aws_kms_key",
        "The key keeps KMS's default key policy, which delegates to IAM in the account: the "
        "execution role's policy is the only grant the stack makes, and whoever reads captured "
        "data is granted through IAM.",
    ),
    Suppression(
        "CKV2_AWS_5",
        "aws_security_group",
        "The endpoint's group is attached through the SageMaker model's vpc_config, which the "
        "check does not recognize as an attachment.",
        name_pattern="security_group_*",
    ),
    # Google Cloud
    Suppression(
        "CKV_GCP_26",
        "google_compute_subnetwork",
        "Flow logs are billed as log ingestion whose sampling and retention are the project's "
        "decision (usually central), as on AWS; turn them on there, or give "
        "deploy.network.subnet_ids.",
    ),
    Suppression(
        "CKV_GCP_82",
        "google_kms_crypto_key",
        "`infra destroy` must be able to remove the stack; destroying the key only schedules its "
        "versions for destruction after Cloud KMS's 30-day window, and the key ring stays.",
    ),
    Suppression(
        "CKV2_GCP_33",
        "google_vertex_ai_endpoint",
        "Private through Private Service Connect when deploy.network names a network (the check "
        "looks for VPC peering only); otherwise public, where every call still needs IAM "
        "(aiplatform.endpoints.predict).",
    ),
)


def suppression_for(check_id: str, resource_type: str, name: str) -> Suppression | None:
    return next((s for s in SUPPRESSIONS if s.matches(check_id, resource_type, name)), None)
