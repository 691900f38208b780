"""The EKS cluster the GPU node pools join: an existing one read by name (the default), or a new
private one, with its secrets encrypted, its control plane logged and an OIDC provider for IAM
roles for service accounts."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktn import Fn
from cdktn_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktn_provider_aws.data_aws_eks_cluster import DataAwsEksCluster
from cdktn_provider_aws.data_aws_iam_openid_connect_provider import (
    DataAwsIamOpenidConnectProvider,
)
from cdktn_provider_aws.data_aws_partition import DataAwsPartition
from cdktn_provider_aws.eks_cluster import (
    EksCluster,
    EksClusterAccessConfig,
    EksClusterEncryptionConfig,
    EksClusterEncryptionConfigProvider,
    EksClusterVpcConfig,
)
from cdktn_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from cdktn_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktn_provider_aws.kms_key import KmsKey
from cdktn_provider_aws.kms_key_policy import KmsKeyPolicy
from constructs import Construct

from modules.aws.eks_node_pools import EksPropsError

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log EKS can send to CloudWatch."""
OIDC_AUDIENCE = "sts.amazonaws.com"
"""The audience of the projected service account tokens that IRSA exchanges with STS."""


@dataclass(frozen=True, kw_only=True)
class EksClusterProps:
    name: str
    """The cluster's name: the existing cluster to join, or the one to create. Required."""
    create_cluster: bool = False
    """False: join the existing cluster `name`, read through data sources and never changed (it
    must have an IAM OIDC provider, as IRSA needs). True: create it. Default False."""
    subnet_ids: tuple[str, ...] = ()
    """A new cluster's subnets, in at least two zones (ServingNetwork.private_subnet_ids).
    Default none; required with create_cluster."""
    kubernetes_version: str | None = None
    """A new cluster's Kubernetes version, e.g. "1.33". Default None: EKS's default version."""
    endpoint_public_access: bool = False
    """Whether a new cluster's API endpoint is also reachable from the internet. Default False:
    the private endpoint only (kubectl from the VPC, a VPN or a bastion)."""
    public_access_cidrs: tuple[str, ...] = ()
    """With endpoint_public_access, the only client ranges allowed; required then (there is no
    0.0.0.0/0 default). Default none."""
    log_types: tuple[str, ...] = CONTROL_PLANE_LOG_TYPES
    """Control-plane logs sent to CloudWatch. Default all five."""
    log_retention_days: int = 90
    """Retention of the control-plane log group, which the construct creates (and destroy
    removes) before EKS would create one that never expires; it is encrypted with the cluster's
    key. Default 90."""
    kms_deletion_window_days: int = 30
    """Waiting period before the secrets key is deleted after destroy (7 to 30). Default 30."""

    def __post_init__(self) -> None:
        where = f"cluster {self.name}"
        if not self.create_cluster:
            return
        if len(self.subnet_ids) < 2:
            raise EksPropsError(
                f"{where}: a new EKS cluster needs subnets in at least two zones, "
                f"not {len(self.subnet_ids)}."
            )
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise EksPropsError(
                f"{where}: a public API endpoint needs the client ranges allowed to reach it "
                "(public_access_cidrs)."
            )
        if not 7 <= self.kms_deletion_window_days <= 30:
            raise EksPropsError(
                f"{where}: the key deletion window must be 7 to 30 days, "
                f"not {self.kms_deletion_window_days}."
            )
        unknown = sorted(set(self.log_types) - set(CONTROL_PLANE_LOG_TYPES))
        if unknown:
            raise EksPropsError(
                f"{where}: unknown control-plane log types {', '.join(unknown)} (known: "
                f"{', '.join(CONTROL_PLANE_LOG_TYPES)})."
            )


def _assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def _key_policy(key_arn: str, log_group: str, aws: DataAwsPartition) -> str:
    """The account's IAM policies decide who uses the key (the default key policy's statement),
    and CloudWatch Logs may use it for the control-plane log group only (the statement AWS
    documents in "Encrypt log data in CloudWatch Logs using AWS KMS"). Region and account are
    read from the key's own ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID)."""
    part = Fn.split(":", key_arn)
    region, account = Fn.element(part, 3), Fn.element(part, 4)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountIamPolicies",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{aws.partition}:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "ControlPlaneLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.{aws.dns_suffix}"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnEquals": {
                            "kms:EncryptionContext:aws:logs:arn": (
                                f"arn:{aws.partition}:logs:{region}:{account}:log-group:{log_group}"
                            )
                        }
                    },
                },
            ],
        }
    )


class EksServingCluster(Construct):
    """What the node pools, the workload's role and the Kubernetes provider need of the cluster,
    whichever way it came: `name`, `version`, `endpoint`, `certificate_authority` (base64 PEM),
    `subnet_ids` (the node groups' subnets: an existing cluster's own, a new one's given),
    `security_group_id` (EKS's cluster security group), `oidc_issuer_url` and
    `oidc_provider_arn`."""

    def __init__(self, scope: Construct, id: str, props: EksClusterProps) -> None:
        super().__init__(scope, id)
        if props.create_cluster:
            self._create(props)
        else:
            self._read(props)

    def _read(self, props: EksClusterProps) -> None:
        cluster = DataAwsEksCluster(self, "cluster", name=props.name)
        self.name = cluster.name
        self.version = cluster.version
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.get(0).data
        self.subnet_ids: tuple[str, ...] = tuple(cluster.vpc_config.get(0).subnet_ids)
        self.security_group_id = cluster.vpc_config.get(0).cluster_security_group_id
        self.oidc_issuer_url = cluster.identity.get(0).oidc.get(0).issuer
        provider = DataAwsIamOpenidConnectProvider(self, "oidc", url=self.oidc_issuer_url)
        self.oidc_provider_arn = provider.arn

    def _create(self, props: EksClusterProps) -> None:
        aws = DataAwsPartition(self, "partition")
        partition = aws.partition
        self.key = KmsKey(
            self,
            "secrets-key",
            description=f"EKS cluster {props.name}: Kubernetes secrets and control-plane logs",
            enable_key_rotation=True,
            deletion_window_in_days=props.kms_deletion_window_days,
        )
        log_group = f"/aws/eks/{props.name}/cluster"
        key_policy = KmsKeyPolicy(
            self, "key-policy", key_id=self.key.id, policy=_key_policy(self.key.arn, log_group, aws)
        )
        logs = CloudwatchLogGroup(
            self,
            "logs",
            name=log_group,
            retention_in_days=props.log_retention_days,
            kms_key_id=self.key.arn,
            depends_on=[key_policy],
        )
        self.role = IamRole(
            self,
            "cluster-role",
            name_prefix=f"{props.name[:32]}-cluster-",
            assume_role_policy=_assume_role_policy("eks.amazonaws.com"),
        )
        # The log group is Terraform's: EKS must not recreate it (never expiring) while the
        # cluster still logs during a destroy.
        no_log_group = IamRolePolicy(
            self,
            "no-log-group-creation",
            role=self.role.id,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Deny", "Action": "logs:CreateLogGroup", "Resource": "*"}
                    ],
                }
            ),
        )
        cluster_policy = IamRolePolicyAttachment(
            self,
            "cluster-policy",
            role=self.role.name,
            policy_arn=f"arn:{partition}:iam::aws:policy/AmazonEKSClusterPolicy",
        )
        # AmazonEKSClusterPolicy grants no KMS use: envelope encryption of secrets needs these
        # four actions on the one key.
        key_use = IamRolePolicy(
            self,
            "secrets-encryption",
            role=self.role.id,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EncryptSecrets",
                            "Effect": "Allow",
                            "Action": [
                                "kms:Encrypt",
                                "kms:Decrypt",
                                "kms:ListGrants",
                                "kms:DescribeKey",
                            ],
                            "Resource": self.key.arn,
                        }
                    ],
                }
            ),
        )
        cluster = EksCluster(
            self,
            "cluster",
            name=props.name,
            role_arn=self.role.arn,
            version=props.kubernetes_version,
            vpc_config=EksClusterVpcConfig(
                subnet_ids=list(props.subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=props.endpoint_public_access,
                public_access_cidrs=list(props.public_access_cidrs)
                if props.endpoint_public_access
                else None,
            ),
            # Access entries, not the aws-auth ConfigMap; the creator starts as the only admin.
            access_config=EksClusterAccessConfig(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            encryption_config=EksClusterEncryptionConfig(
                resources=["secrets"],
                provider=EksClusterEncryptionConfigProvider(key_arn=self.key.arn),
            ),
            enabled_cluster_log_types=list(props.log_types),
            depends_on=[logs, cluster_policy, key_use, no_log_group],
        )
        self.cluster = cluster
        self.name = cluster.name
        self.version = cluster.version
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.get(0).data
        self.subnet_ids = props.subnet_ids
        self.security_group_id = cluster.vpc_config.cluster_security_group_id
        self.oidc_issuer_url = cluster.identity.get(0).oidc.get(0).issuer
        provider = IamOpenidConnectProvider(
            self, "oidc", url=self.oidc_issuer_url, client_id_list=[OIDC_AUDIENCE]
        )
        self.oidc_provider_arn = provider.arn
