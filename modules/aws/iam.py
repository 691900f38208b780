"""The roles serving runs under, each with only what it needs.

The fleet's instance role: the SSM agent's calls for Session Manager and Run Command (shell-less
access), the CloudWatch agent, ECR pulls, and, when the spec names them, read access to the
model's S3 prefix and to the one SSM parameter holding the Hugging Face token. SageMaker's
execution role: see SagemakerExecutionRole."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktn_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktn_provider_aws.data_aws_partition import DataAwsPartition
from cdktn_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from cdktn_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from modules.aws.engine_metrics import agent_policy_statements

MANAGED_POLICIES = {"ecr-pull": "AmazonEC2ContainerRegistryReadOnly"}
"""The CloudWatch agent's grant is inline (modules/aws/engine_metrics.py), not the managed
CloudWatchAgentServerPolicy: that one allows PutMetricData in every namespace, logs writes to
every group and reads of every AmazonCloudWatch-* parameter."""
SSM_AGENT_STATEMENTS: list[dict[str, object]] = [
    {
        "Sid": "SessionManagerAgent",
        "Effect": "Allow",
        "Action": [
            "ssm:UpdateInstanceInformation",
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
        ],
        "Resource": "*",  # as AWS's documented policy: the instances are not known beforehand
    },
    {
        "Sid": "RunCommandAgent",
        "Effect": "Allow",
        "Action": [
            "ec2messages:AcknowledgeMessage",
            "ec2messages:DeleteMessage",
            "ec2messages:FailMessage",
            "ec2messages:GetEndpoint",
            "ec2messages:GetMessages",
            "ec2messages:SendReply",
        ],
        "Resource": "*",  # the message actions have no resource-level permissions
    },
    {
        "Sid": "SessionLogEncryptionCheck",
        "Effect": "Allow",
        "Action": "s3:GetEncryptionConfiguration",
        "Resource": "*",  # the bucket is whichever the account's session preferences name
    },
]
"""What the SSM agent needs for Session Manager and Run Command, in place of the managed
AmazonSSMManagedInstanceCore: that policy also grants ssm:GetParameter(s) and ssm:GetDocument on
every resource, so any process on the instance could read every SecureString parameter of the
account and the role's one-parameter grant would restrict nothing. The first statement is AWS's
documented minimal Session Manager policy (with s3:GetEncryptionConfiguration, the third, which the
agent calls when session logs go to an encrypted bucket); the second keeps Run Command working.
State Manager associations, inventory and patching are left out: the toolkit uses none of them."""


def _bucket_and_prefix(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def model_read_statements(partition: str, model_s3_uri: str) -> list[dict[str, object]]:
    """List the model's prefix and read its objects; nothing else of the bucket."""
    bucket, prefix = _bucket_and_prefix(model_s3_uri)
    objects = f"arn:{partition}:s3:::{bucket}/{prefix}/*" if prefix else None
    return [
        {
            "Sid": "ListModelPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:{partition}:s3:::{bucket}",
            **({"Condition": {"StringLike": {"s3:prefix": f"{prefix}/*"}}} if prefix else {}),
        },
        {
            "Sid": "ReadModelObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": objects or f"arn:{partition}:s3:::{bucket}/*",
        },
    ]


def _assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


@dataclass(frozen=True, kw_only=True)
class ServingInstanceRoleProps:
    """The fleet instances' role. Least privilege by default: the SSM and CloudWatch agents and
    ECR pulls only; each read a caller adds is one S3 prefix or one parameter."""

    name_prefix: str
    """Start of the role's and instance profile's names (its first 32 characters). Required."""
    model_s3_uri: str | None = None
    """s3://bucket/prefix the instances may list and read the weights from. Default None: no
    S3 access."""
    secret_parameter: str | None = None
    """Name of the one SSM parameter (the model hub token) the instances may read. Default
    None: no parameter."""
    metrics_log_group_arn: str | None = None
    """The log group the CloudWatch agent writes the engine's embedded-metric-format events to.
    Default None: the agent only publishes metrics (in its one namespace), no logs."""
    exporter_parameter_arn: str | None = None
    """The SSM parameter holding the TTFT/TPOT exporter's code, which the boot script reads.
    Default None: no exporter, no grant."""


class ServingInstanceRole(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingInstanceRoleProps) -> None:
        super().__init__(scope, id)
        partition = DataAwsPartition(self, "partition").partition
        self.role = IamRole(
            self,
            "role",
            name_prefix=f"{props.name_prefix[:32]}-",
            assume_role_policy=_assume_role_policy("ec2.amazonaws.com"),
        )
        for key, policy in MANAGED_POLICIES.items():
            IamRolePolicyAttachment(
                self,
                key,
                role=self.role.name,
                policy_arn=f"arn:{partition}:iam::aws:policy/{policy}",
            )
        IamRolePolicy(
            self,
            "ssm-agent",
            role=self.role.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": SSM_AGENT_STATEMENTS}),
        )
        IamRolePolicy(
            self,
            "cloudwatch-agent",
            role=self.role.id,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": agent_policy_statements(props.metrics_log_group_arn),
                }
            ),
        )
        if props.exporter_parameter_arn:
            IamRolePolicy(
                self,
                "latency-exporter",
                role=self.role.id,
                policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "ReadLatencyExporter",
                                "Effect": "Allow",
                                "Action": "ssm:GetParameter",
                                "Resource": props.exporter_parameter_arn,
                            }
                        ],
                    }
                ),
            )
        statements: list[dict[str, object]] = []
        if props.model_s3_uri:
            statements += model_read_statements(partition, props.model_s3_uri)
        if props.secret_parameter:
            statements.append(
                {
                    "Sid": "ReadModelHubToken",
                    "Effect": "Allow",
                    "Action": "ssm:GetParameter",
                    "Resource": f"arn:{partition}:ssm:*:*:parameter{props.secret_parameter}",
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
            self, "profile", name_prefix=f"{props.name_prefix[:32]}-", role=self.role.name
        )


def _ecr_repository(image: str) -> tuple[str, str, str]:
    """(account, region, repository) of an ECR image URI."""
    registry, _, path = image.partition("/")
    account, _, rest = registry.partition(".dkr.ecr.")
    region = rest.split(".amazonaws.com")[0]
    repository = path.split("@")[0].rsplit(":", 1)[0]
    return account, region, repository


@dataclass(frozen=True, kw_only=True)
class SagemakerExecutionRoleProps:
    """What a SageMaker endpoint's role may do beyond pulling its image and writing its logs;
    by default nothing more."""

    name_prefix: str
    """Start of the role's name (its first 32 characters). Required."""
    endpoint_name: str
    """The endpoint whose log group the role writes to. Required."""
    region: str
    """The endpoint's region, for its log group's ARN. Required."""
    image: str
    """The ECR image URI; the role pulls from its repository only. Required."""
    model_s3_uri: str | None = None
    """s3://bucket/prefix the role may list and read the model from. Default None: no S3 read."""
    data_capture_s3_uri: str | None = None
    """s3://bucket/prefix the role may write captured requests under. Default None: no S3
    write."""
    kms_key_arn: str | None = None
    """The one KMS key the role may encrypt and decrypt with. Default None: no KMS use."""
    in_vpc: bool = False
    """Whether the endpoint runs in the caller's subnets, so the role manages its network
    interfaces there. Default False: no EC2 permissions."""


class SagemakerExecutionRole(Construct):
    """The role SageMaker assumes to run the model: pull its one image, write its endpoint's
    logs, read the model's S3 prefix, write captured data, manage network interfaces in the
    given subnets. No managed policies (AmazonSageMakerFullAccess grants far more)."""

    def __init__(self, scope: Construct, id: str, props: SagemakerExecutionRoleProps) -> None:
        super().__init__(scope, id)
        partition = DataAwsPartition(self, "partition").partition
        account = DataAwsCallerIdentity(self, "caller").account_id
        self.role = IamRole(
            self,
            "role",
            name_prefix=f"{props.name_prefix[:32]}-",
            assume_role_policy=_assume_role_policy("sagemaker.amazonaws.com"),
        )
        image_account, image_region, repository = _ecr_repository(props.image)
        log_group_arn = (
            f"arn:{partition}:logs:{props.region}:{account}:log-group:"
            f"/aws/sagemaker/Endpoints/{props.endpoint_name}"
        )
        statements: list[dict[str, object]] = [
            {
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",  # the action has no resource-level permissions
            },
            {
                "Sid": "PullServingImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": (
                    f"arn:{partition}:ecr:{image_region}:{image_account}:repository/{repository}"
                ),
            },
            {
                "Sid": "EndpointLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                "Resource": f"{log_group_arn}:*",
            },
        ]
        if props.model_s3_uri:
            statements += model_read_statements(partition, props.model_s3_uri)
        if props.data_capture_s3_uri:
            bucket, prefix = _bucket_and_prefix(props.data_capture_s3_uri)
            statements.append(
                {
                    "Sid": "WriteCapturedData",
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": f"arn:{partition}:s3:::{bucket}/{prefix + '/' if prefix else ''}*",
                }
            )
        if props.kms_key_arn:
            statements.append(
                {
                    "Sid": "UseStackKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    "Resource": props.kms_key_arn,
                }
            )
        if props.in_vpc:
            statements.append(
                {
                    "Sid": "EndpointNetworkInterfaces",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:CreateNetworkInterface",
                        "ec2:CreateNetworkInterfacePermission",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DeleteNetworkInterfacePermission",
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeVpcs",
                    ],
                    "Resource": "*",  # Describe* and the interface actions SageMaker uses
                }
            )
        self.policy = IamRolePolicy(
            self,
            "serving",
            role=self.role.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
