"""The instance role: only what a serving instance needs. SSM for shell-less access, the
CloudWatch agent, ECR pulls, and, when the spec names them, read access to the model's S3 prefix
and to the one SSM parameter holding the Hugging Face token."""

from __future__ import annotations

import json

from cdktn_provider_aws.data_aws_partition import DataAwsPartition
from cdktn_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from cdktn_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

MANAGED_POLICIES = {
    "ssm": "AmazonSSMManagedInstanceCore",
    "cloudwatch-agent": "CloudWatchAgentServerPolicy",
    "ecr-pull": "AmazonEC2ContainerRegistryReadOnly",
}


def _bucket_and_prefix(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


class ServingInstanceRole(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name_prefix: str,
        model_s3_uri: str | None,
        secret_parameter: str | None,
    ) -> None:
        super().__init__(scope, id)
        partition = DataAwsPartition(self, "partition").partition
        self.role = IamRole(
            self,
            "role",
            name_prefix=f"{name_prefix[:32]}-",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        for key, policy in MANAGED_POLICIES.items():
            IamRolePolicyAttachment(
                self,
                key,
                role=self.role.name,
                policy_arn=f"arn:{partition}:iam::aws:policy/{policy}",
            )
        statements = []
        if model_s3_uri:
            bucket, prefix = _bucket_and_prefix(model_s3_uri)
            objects = f"arn:{partition}:s3:::{bucket}/{prefix}/*" if prefix else None
            statements.append(
                {
                    "Sid": "ListModelPrefix",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": f"arn:{partition}:s3:::{bucket}",
                    **(
                        {"Condition": {"StringLike": {"s3:prefix": f"{prefix}/*"}}}
                        if prefix
                        else {}
                    ),
                }
            )
            statements.append(
                {
                    "Sid": "ReadModelObjects",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": objects or f"arn:{partition}:s3:::{bucket}/*",
                }
            )
        if secret_parameter:
            statements.append(
                {
                    "Sid": "ReadModelHubToken",
                    "Effect": "Allow",
                    "Action": "ssm:GetParameter",
                    "Resource": f"arn:{partition}:ssm:*:*:parameter{secret_parameter}",
                }
            )
        if statements:
            IamRolePolicy(
                self,
                "model-access",
                role=self.role.id,
                policy=json.dumps({"Version": "2012-10-17", "Statement": statements}),
            )
        self.instance_profile = IamInstanceProfile(
            self, "profile", name_prefix=f"{name_prefix[:32]}-", role=self.role.name
        )
