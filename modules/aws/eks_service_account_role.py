"""The serving workload's AWS identity on EKS: an IAM role for its Kubernetes service account
(IRSA), trusted only through the cluster's OIDC provider, for that one service account, and
allowed only to read the model's S3 prefix. No access key exists anywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktn import Fn
from cdktn_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktn_provider_aws.data_aws_partition import DataAwsPartition
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from modules.aws.eks_cluster import OIDC_AUDIENCE
from modules.aws.eks_node_pools import EksPropsError
from modules.aws.iam import model_read_statements

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
"""The service account annotation that makes EKS's pod identity webhook hand the role to pods."""


@dataclass(frozen=True, kw_only=True)
class ServiceAccountRoleProps:
    name_prefix: str
    """Prefix of the role's name. Required."""
    oidc_provider_arn: str
    """The cluster's IAM OIDC provider (EksServingCluster.oidc_provider_arn). Required."""
    oidc_issuer_url: str
    """The cluster's OIDC issuer URL (EksServingCluster.oidc_issuer_url). Required."""
    namespace: str
    """Namespace of the serving workload's service account. Required."""
    service_account: str
    """Name of that service account: the only one that can assume the role. Required."""
    model_s3_uri: str | None = None
    """s3://bucket/prefix of the weights: the role may list that prefix and read its objects,
    nothing else. Default None: the role has no permissions at all."""

    def __post_init__(self) -> None:
        if self.model_s3_uri is not None and not self.model_s3_uri.startswith("s3://"):
            raise EksPropsError(
                f"service account role {self.name_prefix}: the model location "
                f"{self.model_s3_uri!r} is not an s3:// URI."
            )


class ServiceAccountRole(Construct):
    """`role` is the IAM role; annotate the service account with ROLE_ANNOTATION = role.arn."""

    def __init__(self, scope: Construct, id: str, props: ServiceAccountRoleProps) -> None:
        super().__init__(scope, id)
        issuer = Fn.replace(props.oidc_issuer_url, "https://", "")
        trust = DataAwsIamPolicyDocument(
            self,
            "trust",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="ServiceAccountOnly",
                    effect="Allow",
                    actions=["sts:AssumeRoleWithWebIdentity"],
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(
                            type="Federated", identifiers=[props.oidc_provider_arn]
                        )
                    ],
                    condition=[
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="StringEquals",
                            variable=f"{issuer}:sub",
                            values=[
                                f"system:serviceaccount:{props.namespace}:{props.service_account}"
                            ],
                        ),
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="StringEquals", variable=f"{issuer}:aud", values=[OIDC_AUDIENCE]
                        ),
                    ],
                )
            ],
        )
        self.role = IamRole(
            self,
            "role",
            name_prefix=f"{props.name_prefix[:32]}-serving-",
            assume_role_policy=trust.json,
        )
        if props.model_s3_uri:
            partition = DataAwsPartition(self, "partition").partition
            IamRolePolicy(
                self,
                "model-read",
                role=self.role.id,
                policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": model_read_statements(partition, props.model_s3_uri),
                    }
                ),
            )
