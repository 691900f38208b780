"""GPU node pools of an EKS cluster: one on-demand and one spot managed node group, sharing a
launch template with secure defaults and a node role with the three policies a node needs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cdktn import TerraformResourceLifecycle, Token
from cdktn_provider_aws.data_aws_partition import DataAwsPartition
from cdktn_provider_aws.eks_node_group import (
    EksNodeGroup,
    EksNodeGroupLaunchTemplate,
    EksNodeGroupScalingConfig,
    EksNodeGroupTaint,
    EksNodeGroupUpdateConfig,
)
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktn_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateMetadataOptions,
    LaunchTemplateNetworkInterfaces,
    LaunchTemplateTagSpecifications,
)
from constructs import Construct

from core.errors import InfraError

NODE_AMI_TYPE = "AL2023_x86_64_NVIDIA"
"""The EKS-optimized Amazon Linux 2023 AMI with the NVIDIA driver and container toolkit, chosen
by EKS for the cluster's Kubernetes version (the AMI behind the public SSM parameter
/aws/service/eks/optimized-ami/<version>/amazon-linux-2023/x86_64/nvidia/recommended/image_id).
Given as the node group's AMI type rather than as an image in the launch template: EKS then
writes the nodeadm NodeConfig that joins the node to the cluster (with a custom AMI it merges no
user data, and the stack would have to render the endpoint, CA and service CIDR itself), and a
node group upgrade moves to the next AMI release instead of every plan chasing the parameter."""
NODE_MANAGED_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
)
"""What a node needs to join, pull images and run the VPC CNI; nothing for the workload, which
reads its weights through its service account's own role (eks_service_account_role.py)."""
IMDS_HOP_LIMIT = 1
"""IMDSv2 answers the node's own network namespace only. Pods on the pod network are one hop
further and cannot get a token, so they cannot take the node role's credentials; they need none:
the serving pods get theirs from their service account (IRSA: a projected token exchanged with
STS, never IMDS). The node agents that do read IMDS (kubelet, the VPC CNI, kube-proxy) run on
the host network. (EKS's own launch template would set 2, for pods that read IMDS.)"""
ROOT_DEVICE = "/dev/xvda"
"""The root device of the Amazon Linux 2023 EKS AMIs."""
POOL_LABEL = "infra/node-pool"
"""A node label naming the pool (the props' name_prefix): the workload's node selector."""
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
"""The key and value GKE puts on its GPU nodes and the NVIDIA device plugin tolerates: only pods
that tolerate it (the serving workload) land on these nodes."""


_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
"""A Kubernetes label value: up to 63 characters, alphanumeric at both ends."""


class EksPropsError(InfraError):
    """EKS construct props that AWS would refuse, said before Terraform runs."""


@dataclass(frozen=True, kw_only=True)
class PoolSize:
    """Node counts of one managed node group."""

    min_size: int
    """Fewest nodes (0 allowed). Required."""
    desired_size: int
    """Nodes at creation; then the cluster autoscaler's to move (Terraform ignores changes).
    Required, between min_size and max_size."""
    max_size: int
    """Most nodes; 0 means the group is not created. Required."""

    def __post_init__(self) -> None:
        if not 0 <= self.min_size <= self.desired_size <= self.max_size:
            raise EksPropsError(
                f"node pool sizes must satisfy 0 <= min ({self.min_size}) <= desired "
                f"({self.desired_size}) <= max ({self.max_size})."
            )


@dataclass(frozen=True, kw_only=True)
class EksNodePoolsProps:
    cluster_name: str
    """The cluster the nodes join. Required."""
    name_prefix: str
    """Prefix of the node groups', launch template's and role's names, and the value of the
    POOL_LABEL node label. Required."""
    subnet_ids: tuple[str, ...]
    """Subnets the nodes run in: private ones (ServingNetwork.private_subnet_ids). Required."""
    cluster_security_group_id: str
    """The cluster security group EKS made (control plane <-> nodes): a launch template that
    names the nodes' network interface must name it, EKS then adds none itself. Required."""
    instance_types: tuple[str, ...]
    """GPU instance types, best first (1 to 20); spot draws from all of them. Required."""
    on_demand: PoolSize
    """The on-demand group: the fleet's on-demand base (max_size 0: none). Required."""
    spot: PoolSize
    """The spot group, above the base (max_size 0: none). Required."""
    root_volume_gib: int = 200
    """Root volume size (gp3, encrypted, deleted with the node): image layers and weights.
    Default 200."""
    kms_key_arn: str | None = None
    """Key encrypting the root volumes. Default None: the account's default EBS key."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra node labels; POOL_LABEL is always set. Default none."""
    gpu_taint: bool = True
    """Taint the nodes nvidia.com/gpu=present:NoSchedule so only GPU workloads that tolerate it
    run there. Default True. A cluster with no other node group needs it off: CoreDNS and KEDA
    must run somewhere."""
    max_unavailable: int = 1
    """Nodes an update may replace at once. Default 1 (GPU capacity is scarce)."""
    instance_tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for the instances, volumes and network interfaces the groups launch (the stack's
    tagging aspect tags the Terraform resources themselves, not what EC2 launches). Default
    none."""

    def __post_init__(self) -> None:
        if not _LABEL_VALUE.match(self.name_prefix):
            raise EksPropsError(
                f"node pool {self.name_prefix!r}: the name prefix is also the {POOL_LABEL} node "
                "label and must be a Kubernetes label value (up to 63 letters, digits, '-', '_' "
                "or '.', alphanumeric at both ends)."
            )
        if self.max_unavailable < 1:
            raise EksPropsError(
                f"node pool {self.name_prefix}: max_unavailable must be at least 1, "
                f"not {self.max_unavailable}."
            )
        if not 1 <= len(self.instance_types) <= 20:
            raise EksPropsError(
                f"node pool {self.name_prefix}: a managed node group takes 1 to 20 instance "
                f"types, not {len(self.instance_types)}."
            )
        if not self.subnet_ids:
            raise EksPropsError(f"node pool {self.name_prefix}: no subnet is given.")
        if self.on_demand.max_size + self.spot.max_size == 0:
            raise EksPropsError(
                f"node pool {self.name_prefix}: both groups have max_size 0; give one at least "
                "one node."
            )


def node_assume_role_policy() -> str:
    return json.dumps(
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
    )


class EksNodePools(Construct):
    """`groups` holds the node groups made: "on-demand" and/or "spot"."""

    def __init__(self, scope: Construct, id: str, props: EksNodePoolsProps) -> None:
        super().__init__(scope, id)
        partition = DataAwsPartition(self, "partition").partition
        self.role = IamRole(
            self,
            "node-role",
            name_prefix=f"{props.name_prefix[:32]}-node-",
            assume_role_policy=node_assume_role_policy(),
        )
        attachments = [
            IamRolePolicyAttachment(
                self,
                f"node-{policy}",
                role=self.role.name,
                policy_arn=f"arn:{partition}:iam::aws:policy/{policy}",
            )
            for policy in NODE_MANAGED_POLICIES
        ]
        self.launch_template = self._launch_template(props)
        self.groups: dict[str, EksNodeGroup] = {}
        for capacity, size in (("ON_DEMAND", props.on_demand), ("SPOT", props.spot)):
            if size.max_size == 0:
                continue
            key = capacity.lower().replace("_", "-")
            self.groups[key] = EksNodeGroup(
                self,
                key,
                cluster_name=props.cluster_name,
                node_group_name_prefix=f"{props.name_prefix[:40]}-{key}-",
                node_role_arn=self.role.arn,
                subnet_ids=list(props.subnet_ids),
                ami_type=NODE_AMI_TYPE,
                capacity_type=capacity,
                instance_types=list(props.instance_types),
                scaling_config=EksNodeGroupScalingConfig(
                    min_size=size.min_size, desired_size=size.desired_size, max_size=size.max_size
                ),
                update_config=EksNodeGroupUpdateConfig(max_unavailable=props.max_unavailable),
                launch_template=EksNodeGroupLaunchTemplate(
                    id=self.launch_template.id,
                    version=Token.as_string(self.launch_template.latest_version),
                ),
                labels={**props.labels, POOL_LABEL: props.name_prefix},
                taint=[
                    EksNodeGroupTaint(
                        key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE"
                    )
                ]
                if props.gpu_taint
                else None,
                # The role's policies go after the nodes on destroy, so nodes can leave cleanly.
                depends_on=attachments,
                lifecycle=TerraformResourceLifecycle(
                    create_before_destroy=True,
                    ignore_changes=["scaling_config[0].desired_size"],
                ),
            )

    def _launch_template(self, props: EksNodePoolsProps) -> LaunchTemplate:
        """No image (the node group's AMI type), no user data (EKS writes the bootstrap), no
        instance type (the node group lists them), no instance profile (EKS makes it from the
        role): the rest is what EKS's default template would leave open."""
        return LaunchTemplate(
            self,
            "launch-template",
            name_prefix=f"{props.name_prefix[:100]}-nodes-",
            update_default_version=True,
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=IMDS_HOP_LIMIT,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name=ROOT_DEVICE,
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(
                        volume_size=props.root_volume_gib,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=props.kms_key_arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            network_interfaces=[
                LaunchTemplateNetworkInterfaces(
                    device_index=0,
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[props.cluster_security_group_id],
                )
            ],
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type=kind, tags=dict(props.instance_tags))
                for kind in ("instance", "volume", "network-interface")
            ]
            if props.instance_tags
            else None,
        )
