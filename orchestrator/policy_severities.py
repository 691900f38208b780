"""How much each checkov finding matters: our own severity table.

Open-source checkov reports `severity: null` unless it is given a Prisma Cloud API key, so the
table below carries a level for every check checkov 3.3 evaluates on what the AWS fleet and
SageMaker stacks generate (EC2 launch templates, autoscaling, load balancers, VPC, security
groups, IAM, KMS, CloudWatch alarms, SageMaker), on the GCP fleet and Vertex AI stacks, and on the
Azure fleet and Azure ML stacks. The
levels start from the severities Prisma Cloud publishes for these policies in its policy reference
(INFO there is `low` here); the few places where the house security defaults say otherwise are
marked "house" with the reason, and the checks with no published level at hand are marked "ours".

A check missing from the table (one a newer checkov added, or one for a resource type the stacks
did not generate before) is `medium`: at the default threshold it blocks until someone judges it
and adds it here, suppresses it, or fixes the stack.
"""

from __future__ import annotations

LEVELS = ("low", "medium", "high", "critical")
"""From least to most serious; a threshold blocks findings at its level and above."""
UNKNOWN_LEVEL = "medium"
DEFAULT_THRESHOLD = "medium"
"""Findings judged `low` (hygiene: deletion protection, flow logs, WAF, rule descriptions) are
reported but do not block; anything at `medium` or above, and any check not yet in the table,
blocks until it is fixed or suppressed. `--severity low` blocks on everything."""

SECRETS_CHECK = "INFRA_SECRETS"
"""The toolkit's own check, merged into checkov's report (orchestrator.policy)."""

SEVERITIES: dict[str, str] = {
    # EC2: launch template, instance metadata, user data
    "CKV_AWS_46": "critical",  # secrets in user data; house: never a secret in user data
    "CKV_AWS_79": "high",  # IMDSv1 enabled
    "CKV_AWS_88": "high",  # public IP on an instance
    "CKV_AWS_341": "medium",  # metadata hop limit above 1
    # Autoscaling
    "CKV_AWS_153": "low",  # tags not passed to the launch configuration
    "CKV_AWS_315": "medium",  # group not on a launch template
    # Load balancer, listener, target group
    "CKV_AWS_2": "medium",  # listener not HTTPS
    "CKV_AWS_91": "low",  # no access logs
    "CKV_AWS_103": "high",  # listener below TLS 1.2
    "CKV_AWS_131": "medium",  # invalid headers not dropped
    "CKV_AWS_150": "low",  # no deletion protection
    "CKV_AWS_261": "low",  # target group without a health check
    "CKV_AWS_328": "high",  # desync mitigation below defensive
    "CKV_AWS_378": "medium",  # target group over HTTP
    "CKV2_AWS_20": "low",  # HTTP not redirected to HTTPS
    "CKV2_AWS_28": "low",  # public load balancer without WAF
    "CKV2_AWS_74": "low",  # weak TLS ciphers
    "CKV2_AWS_76": "low",  # WAF without the Log4j rule set; ours (none published)
    # VPC, subnets, routes, security groups
    "CKV_AWS_23": "low",  # security group or rule without a description
    "CKV_AWS_24": "high",  # SSH from anywhere; house: no public ingress unless asked
    "CKV_AWS_25": "high",  # RDP from anywhere; house: as above
    "CKV_AWS_130": "low",  # subnet assigns public IPs
    "CKV_AWS_260": "high",  # HTTP from anywhere; house: as above
    "CKV_AWS_277": "high",  # every port from anywhere; house: as above
    "CKV_AWS_382": "low",  # every port out to anywhere
    "CKV_AWS_394": "low",  # availability zones not pinned by identity; ours (none published)
    "CKV2_AWS_5": "low",  # security group attached to nothing
    "CKV2_AWS_11": "low",  # no VPC flow logs
    "CKV2_AWS_12": "low",  # default security group not restricted
    "CKV2_AWS_19": "low",  # elastic IP not on an instance
    "CKV2_AWS_35": "low",  # default route not through a NAT gateway
    "CKV2_AWS_44": "low",  # peering route open to all traffic
    # IAM
    "CKV_AWS_60": "high",  # role any principal may assume
    "CKV_AWS_61": "high",  # assume-role allowed across all services
    "CKV_AWS_62": "critical",  # full "*:*" admin policy; house (none published): least privilege
    "CKV_AWS_63": "high",  # "*" as a statement's actions
    "CKV_AWS_274": "high",  # AdministratorAccess attached
    "CKV_AWS_393": "high",  # GitHub OIDC trust with unsafe claims; ours (none published)
    "CKV2_AWS_40": "medium",  # full IAM privileges
    "CKV2_AWS_56": "high",  # IAMFullAccess attached
    # KMS
    "CKV_AWS_7": "low",  # key rotation off
    "CKV_AWS_33": "medium",  # key policy with a "*" principal
    "CKV_AWS_227": "low",  # key disabled
    "CKV2_AWS_64": "medium",  # no explicit key policy
    # Provider, CloudWatch
    "CKV_AWS_41": "critical",  # access keys in the provider; house: no secrets in state
    "CKV_AWS_319": "medium",  # alarm actions disabled
    # SageMaker
    "CKV_AWS_98": "high",  # endpoint data not encrypted with a customer key
    "CKV_AWS_370": "medium",  # model without network isolation
    # Google Cloud: no published level was at hand offline, so every level here is ours, set as
    # for the AWS check of the same risk
    "CKV_GCP_2": "high",  # SSH from anywhere; house: no public ingress unless asked
    "CKV_GCP_3": "high",  # RDP from anywhere; house: as above
    "CKV_GCP_75": "high",  # FTP from anywhere; house: as above
    "CKV_GCP_77": "medium",  # FTP port open
    "CKV_GCP_88": "high",  # MySQL from anywhere; house: as above
    "CKV_GCP_106": "high",  # HTTP from anywhere; house: as above
    "CKV2_GCP_12": "high",  # every port from anywhere; house: as above
    "CKV2_GCP_18": "low",  # network relying on the default firewall
    "CKV_GCP_26": "low",  # subnet without VPC flow logs
    "CKV_GCP_74": "low",  # subnet without Private Google Access
    "CKV2_GCP_37": "medium",  # regional forwarding rule with an EXTERNAL (classic) HTTP proxy
    "CKV2_GCP_38": "medium",  # global forwarding rule with an EXTERNAL (classic) HTTP proxy
    "CKV_GCP_4": "high",  # SSL policy allowing weak ciphers (as CKV_AWS_103)
    "CKV_GCP_30": "high",  # instances on the default service account
    "CKV_GCP_31": "high",  # default service account with every API scope
    "CKV_GCP_32": "medium",  # project-wide SSH keys not blocked
    "CKV_GCP_34": "medium",  # instance overriding OS Login
    "CKV_GCP_35": "medium",  # serial port access enabled
    "CKV_GCP_36": "medium",  # IP forwarding enabled
    "CKV_GCP_39": "medium",  # instances without Shielded VM
    "CKV_GCP_40": "high",  # public IP on an instance
    "CKV_GCP_41": "high",  # Service Account User/Token Creator at project level
    "CKV_GCP_42": "high",  # service account with admin roles
    "CKV_GCP_46": "high",  # default service account granted at project level
    "CKV_GCP_49": "high",  # roles that impersonate service accounts at project level
    "CKV_GCP_117": "critical",  # basic roles (owner, editor) at project level; house: as *:*
    "CKV_GCP_28": "high",  # bucket anonymously or publicly accessible
    "CKV_GCP_101": "high",  # Artifact Registry repository anonymously or publicly accessible
    "CKV_GCP_43": "low",  # key rotation above 90 days
    "CKV_GCP_82": "low",  # key not protected from deletion
    "CKV_GCP_112": "high",  # KMS policy with public access
    "CKV2_GCP_8": "high",  # key ring anonymously or publicly accessible
    "CKV2_GCP_24": "high",  # Vertex AI endpoint without a customer key (as SageMaker's)
    "CKV2_GCP_33": "medium",  # Vertex AI endpoint not private
    # Azure: as for Google Cloud, every level here is ours, set as for the AWS check of the same
    # risk
    "CKV_AZURE_9": "high",  # RDP from the internet; house: no public ingress unless asked
    "CKV_AZURE_10": "high",  # SSH from the internet; house: as above
    "CKV_AZURE_77": "high",  # UDP from the internet; house: as above
    "CKV_AZURE_160": "high",  # HTTP from the internet; house: as above
    "CKV2_AZURE_31": "medium",  # subnet without a network security group
    "CKV_AZURE_182": "low",  # virtual network with fewer than two DNS servers
    "CKV_AZURE_183": "low",  # virtual network not on its own DNS servers
    "CKV_AZURE_49": "high",  # scale set with password login
    "CKV_AZURE_149": "high",  # virtual machine with password authentication
    "CKV_AZURE_178": "high",  # Linux virtual machine without SSH keys
    "CKV_AZURE_179": "low",  # virtual machine agent not installed
    "CKV_AZURE_97": "medium",  # scale set without encryption at host
    "CKV_AZURE_42": "medium",  # key vault not recoverable
    "CKV_AZURE_110": "medium",  # key vault without purge protection
    "CKV_AZURE_111": "low",  # key vault without soft delete
    "CKV_AZURE_109": "medium",  # key vault firewall allowing every network
    "CKV_AZURE_189": "medium",  # key vault with public network access
    "CKV2_AZURE_32": "low",  # key vault without a private endpoint
    "CKV_AZURE_3": "high",  # storage taking plain HTTP
    "CKV_AZURE_44": "high",  # storage below TLS 1.2
    "CKV_AZURE_190": "high",  # storage blobs publicly readable
    "CKV2_AZURE_47": "high",  # storage allowing anonymous blob access
    "CKV_AZURE_59": "medium",  # storage with public network access
    "CKV2_AZURE_33": "low",  # storage without a private endpoint
    "CKV2_AZURE_1": "medium",  # storage without a customer-managed key
    "CKV2_AZURE_40": "medium",  # storage taking shared key authorization
    "CKV2_AZURE_41": "low",  # storage without a SAS expiration policy
    "CKV_AZURE_244": "medium",  # storage with local users
    "CKV_AZURE_36": "low",  # storage network rules not letting trusted Azure services in
    "CKV2_AZURE_38": "low",  # storage without soft delete
    "CKV_AZURE_206": "low",  # storage not geo-replicated
    "CKV_AZURE_33": "low",  # storage queue logging off
    "CKV_AZURE_43": "low",  # storage account name against the naming rules
    "CKV_AZURE_144": "medium",  # Azure ML workspace with public network access
    "CKV2_AZURE_49": "medium",  # Azure ML workspace network overly permissive
    "CKV2_AZURE_50": "medium",  # Azure ML workspace storage publicly reachable
    # The toolkit's own check: a secret-shaped value in the user data, container settings,
    # arguments or tags of any resource; as CKV_AWS_46, which looks at aws_instance only
    SECRETS_CHECK: "critical",
}


def severity_of(check_id: str, reported: str | None = None) -> str:
    """Our level for the check; else what checkov reported (with an API key); else medium."""
    if check_id in SEVERITIES:
        return SEVERITIES[check_id]
    if reported and reported.lower() in LEVELS:
        return reported.lower()
    return UNKNOWN_LEVEL


def at_or_above(level: str, threshold: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(threshold)
