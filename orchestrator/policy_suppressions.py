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
    "An internal load balancer without deploy.network.certificate_arn speaks HTTP on port 80 to "
    "the VPC's range or deploy.network.ingress_cidrs; with a certificate it serves HTTPS and "
    "port 80 only redirects, and a public one without a certificate is refused."
)
PUBLIC_WORKSPACE = (
    "Without deploy.network.subnet_ids (or with deploy.network.public) there is no subnet for a "
    "private endpoint, so the workspace, its key vault and its storage keep public network "
    "access, where every request still needs credentials (Entra ID, or the storage's account "
    "key); with subnet_ids none of them takes any."
)
MANAGED_ENDPOINTS = (
    "The stack gives the workspace a private endpoint in the user's subnet; Azure ML's managed "
    "network reaches the workspace's key vault and storage through private endpoints it creates "
    "itself once they are private (with deploy.network.subnet_ids), which are not Terraform "
    "resources."
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
        "CKV_AWS_337",
        "aws_ssm_parameter",
        "The parameter holds the TTFT/TPOT exporter's code (modules/aws/latency_exporter.py, "
        "public in this repository, no secret), encrypted under the AWS managed key aws/ssm; a "
        "customer managed key would add a key, its policy and a kms:Decrypt grant for nothing "
        "to protect.",
        "latency-exporter",
    ),
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
        "deploy.network.ingress_cidrs with deploy.network.public, and then it only redirects to "
        "HTTPS (a public load balancer has a certificate).",
        name_pattern="security_load-balancer-in-*",
    ),
    # Fleet: metrics
    Suppression(
        "CKV_AWS_158",
        "aws_cloudwatch_log_group",
        "The group holds only the CloudWatch agent's embedded-metric-format events of the "
        "engine's queue gauges (counts, no request content); CloudWatch Logs encrypts them at "
        "rest with its own keys.",
        name_pattern="engine-metrics",
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
    # Azure fleet
    Suppression(
        "CKV_AZURE_97",
        "azurerm_linux_virtual_machine_scale_set",
        "Encryption at host is on unless the profile turns it off (deploy.azure."
        "encryption_at_host: false, for a subscription without the EncryptionAtHost feature); "
        "the disks are still encrypted at rest by the platform.",
    ),
    # Azure ML workspace
    Suppression("CKV_AZURE_144", "azurerm_machine_learning_workspace", PUBLIC_WORKSPACE),
    Suppression("CKV2_AZURE_49", "azurerm_machine_learning_workspace", PUBLIC_WORKSPACE),
    Suppression("CKV2_AZURE_50", "azurerm_machine_learning_workspace", PUBLIC_WORKSPACE),
    Suppression("CKV_AZURE_109", "azurerm_key_vault", PUBLIC_WORKSPACE),
    Suppression("CKV_AZURE_189", "azurerm_key_vault", PUBLIC_WORKSPACE),
    Suppression("CKV_AZURE_59", "azurerm_storage_account", PUBLIC_WORKSPACE),
    Suppression("CKV2_AZURE_32", "azurerm_key_vault", MANAGED_ENDPOINTS),
    Suppression("CKV2_AZURE_33", "azurerm_storage_account", MANAGED_ENDPOINTS),
    Suppression(
        "CKV2_AZURE_1",
        "azurerm_storage_account",
        "The workspace storage is encrypted twice with Microsoft-managed keys (infrastructure "
        "encryption); a customer-managed key would be a Key Vault key that Terraform creates "
        "through the vault's data plane, which a private workspace's vault closes to the machine "
        "running Terraform.",
    ),
    Suppression(
        "CKV2_AZURE_40",
        "azurerm_storage_account",
        "Azure ML's system datastores sign in to the workspace storage with its account key "
        "unless the workspace is set up for identity-based datastore access, which the stack "
        "does not do yet; signatures made from the key that are valid over a day are logged "
        "(sas_policy), and the endpoint's identity reads the storage through Entra ID.",
    ),
    Suppression(
        "CKV_AZURE_206",
        "azurerm_storage_account",
        "The workspace storage is locally redundant: the endpoint serves a container image "
        "whose weights come from the model hub or the profile's blob container, so nothing it "
        "needs lives only there, and geo-redundant storage is not offered in regions without a "
        "paired region.",
    ),
    Suppression(
        "CKV_AZURE_33",
        "azurerm_storage_account",
        "The check reads queue_properties on the storage account, which azurerm 5 no longer has "
        "(queue logging became azurerm_storage_account_queue_properties, a data-plane resource); "
        "the online endpoints use no queues.",
    ),
    Suppression(
        "CKV_AZURE_43",
        "azurerm_storage_account",
        "The name is computed by Terraform (st, the stack's letters and digits, 8 hex digits of "
        "a hash of subscription and stack: lowercase letters and digits, at most 24), which the "
        "check cannot evaluate; tests/test_azure_stacks.py checks the rule.",
    ),
)


def suppression_for(check_id: str, resource_type: str, name: str) -> Suppression | None:
    return next((s for s in SUPPRESSIONS if s.matches(check_id, resource_type, name)), None)
