"""The GPU fleet: a launch template with secure defaults and a spot-aware autoscaling group that
scales on requests per target and, when the plan gives it, on the engine's requests in flight."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cdktn import TerraformResourceLifecycle, Token
from cdktn_provider_aws.autoscaling_group import (
    AutoscalingGroup,
    AutoscalingGroupInstanceRefresh,
    AutoscalingGroupInstanceRefreshPreferences,
    AutoscalingGroupMixedInstancesPolicy,
    AutoscalingGroupMixedInstancesPolicyInstancesDistribution,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplate,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride,
    AutoscalingGroupTag,
)
from cdktn_provider_aws.autoscaling_policy import (
    AutoscalingPolicy,
    AutoscalingPolicyTargetTrackingConfiguration,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetrics,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricsMetricStat,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricsMetricStatMetric,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricsMetricStatMetricDimensions,
    AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification,
)
from cdktn_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktn_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateMonitoring,
    LaunchTemplateTagSpecifications,
)
from constructs import Construct

from modules.aws.engine_metrics import (
    ENGINE_METRICS_NAMESPACE,
    GROUP_DIMENSION,
    IN_FLIGHT_METRIC,
    RUNNING_METRIC,
    WAITING_METRIC,
    in_flight_expression,
)

ROOT_DEVICE = "/dev/sda1"
GROUP_METRICS = {
    "GroupDesiredCapacity": "desired",
    "GroupInServiceInstances": "in service",
    "GroupPendingInstances": "launching",
    "GroupTerminatingInstances": "terminating",
}
"""Auto Scaling's group metrics the group publishes (AWS/AutoScaling, one-minute granularity,
EnableMetricsCollection), drawn on the dashboard. None of them splits on-demand from spot."""
IMDS_HOP_LIMIT = 1
"""IMDSv2 answers the host only. Every AWS call of the boot script (S3 weights, the token
parameter, ECR login) runs on the host; the serving containers sit one hop further, on the docker
bridge, and need no AWS access, so they cannot take the instance role's credentials."""


@dataclass(frozen=True, kw_only=True)
class LaunchTemplateProps:
    """What a GpuLaunchTemplate launches. Secure unless a caller asks for less: IMDSv2 only,
    answering the host alone, no instance tags in the metadata, an encrypted root volume. The
    template gives instances no public address of its own: they take their subnet's setting,
    and ServingNetwork's subnets never assign one."""

    name_prefix: str
    """Start of the template's name; Terraform appends a unique suffix. Required."""
    image_parameter: str
    """The SSM parameter whose value is the AMI ID (providers/aws/amis.py). Required."""
    instance_type: str
    """The instance type launched where the group does not override it. Required."""
    user_data: str
    """The boot script as plain text; the template stores it base64-encoded. Required."""
    security_group_ids: tuple[str, ...]
    """The instances' security groups. Required."""
    instance_profile_arn: str
    """The IAM instance profile the instances run under. Required."""
    root_volume_gib: int
    """Size of the gp3 root volume in GiB. Required."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on each instance, its volumes and its network interfaces. Default: none."""
    http_tokens: Literal["required", "optional"] = "required"
    """Whether the instance metadata service requires a session token. Default "required"
    (IMDSv2 only); "optional" also answers IMDSv1 requests."""
    metadata_hop_limit: int = IMDS_HOP_LIMIT
    """How many network hops an IMDSv2 token may travel. Default 1 (IMDS_HOP_LIMIT): the host
    only, not its containers."""
    metadata_tags: bool = False
    """Whether the instance's tags are readable from the metadata service. Default False."""
    root_volume_encrypted: bool = True
    """Whether the root volume is encrypted (with the account's default EBS key). Default True."""


class GpuLaunchTemplate(Construct):
    def __init__(self, scope: Construct, id: str, props: LaunchTemplateProps) -> None:
        super().__init__(scope, id)
        self.ami = DataAwsSsmParameter(self, "ami", name=props.image_parameter)
        tags = dict(props.tags)
        self.template = LaunchTemplate(
            self,
            "template",
            name_prefix=props.name_prefix,
            image_id=self.ami.value,
            instance_type=props.instance_type,
            update_default_version=True,
            user_data=base64.b64encode(props.user_data.encode()).decode(),
            vpc_security_group_ids=list(props.security_group_ids),
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=props.instance_profile_arn),
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled",
                http_tokens=props.http_tokens,
                http_put_response_hop_limit=props.metadata_hop_limit,
                instance_metadata_tags="enabled" if props.metadata_tags else "disabled",
            ),
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name=ROOT_DEVICE,
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(
                        volume_size=props.root_volume_gib,
                        volume_type="gp3",
                        encrypted="true" if props.root_volume_encrypted else "false",
                        delete_on_termination="true",
                    ),
                )
            ],
            monitoring=LaunchTemplateMonitoring(enabled=True),
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
        )

    @property
    def latest_version(self) -> str:
        """The template's newest version, as an autoscaling group refers to it."""
        return Token.as_string(self.template.latest_version)


@dataclass(frozen=True, kw_only=True)
class SpotAutoscalingGroupProps:
    """The group's size, purchase options, placement and scaling target: the part of AWS CDK's
    CommonAutoScalingGroupProps (and of terraform-aws-modules/autoscaling's variables) a
    serving fleet sets."""

    name: str
    """Names the group `<name>-fleet` and its scaling policies `<name>-requests-per-target` and
    `<name>-requests-in-flight`. Required."""
    launch_template_id: str
    """The launch template instances start from. Required."""
    launch_template_version: str
    """The template version launched (GpuLaunchTemplate.latest_version). Required."""
    instance_types: tuple[str, ...]
    """The planned instance type first, then the equivalents spot may use too. Required."""
    subnet_ids: tuple[str, ...]
    """Where instances launch: the subnets of the zones the plan priced. Required."""
    target_group_arn: str
    """The load balancer target group instances register with. Required."""
    request_count_label: str
    """That target group's ALBRequestCountPerTarget resource label
    (ServingLoadBalancer.request_count_label). Required."""
    min_size: int
    """Fewest instances. Required."""
    max_size: int
    """Most instances. Required."""
    desired_capacity: int
    """Instances at creation; target tracking moves it afterwards. Required."""
    requests_per_target: float
    """Target tracking's requests per instance and minute. Required."""
    health_check_grace_s: int
    """Seconds a new instance has to load the model before its health check counts; also its
    warmup in scaling and instance refreshes. Required."""
    on_demand_base: int = 0
    """Instances always bought on demand. Default 0."""
    spot_percentage_above_base: int = 0
    """Percent of the instances above the base bought on spot. Default 0: all on demand."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the group, propagated to its instances at launch. Default: none."""
    wait_for_capacity: bool = True
    """Whether terraform apply waits (up to 20 minutes) for the instances to be in service.
    Default True; the local emulator, whose instances never run, turns it off."""
    in_flight_per_replica: float | None = None
    """A second target-tracking policy, `<name>-requests-in-flight`: keep the engine's requests
    in flight (the metric math RequestsRunning + RequestsWaiting of the CloudWatch agent's
    InfraServing namespace, each the Average over the group's replicas) at this many per
    replica. Default None: requests per target alone."""
    scheduled: bool = False
    """Scheduled actions move the group's minimum over the week (FleetSchedule); a re-plan
    leaves the minimum they set. Default False."""


class SpotAutoscalingGroup(Construct):
    """On-demand base from the plan, the rest on spot with price-capacity-optimized allocation
    over the chosen type and its equivalents; capacity rebalance replaces instances AWS warns
    about before they are reclaimed; ELB health checks after a grace long enough to load."""

    def __init__(self, scope: Construct, id: str, props: SpotAutoscalingGroupProps) -> None:
        super().__init__(scope, id)
        uses_spot = props.spot_percentage_above_base > 0 and props.max_size > props.on_demand_base
        grace = props.health_check_grace_s
        self.group = AutoscalingGroup(
            self,
            "group",
            name=f"{props.name}-fleet",
            min_size=props.min_size,
            max_size=props.max_size,
            desired_capacity=props.desired_capacity,
            vpc_zone_identifier=list(props.subnet_ids),
            target_group_arns=[props.target_group_arn],
            health_check_type="ELB",
            enabled_metrics=list(GROUP_METRICS),
            metrics_granularity="1Minute",
            health_check_grace_period=grace,
            capacity_rebalance=uses_spot,
            default_instance_warmup=grace,
            wait_for_capacity_timeout="20m" if props.wait_for_capacity else "0",
            mixed_instances_policy=AutoscalingGroupMixedInstancesPolicy(
                instances_distribution=AutoscalingGroupMixedInstancesPolicyInstancesDistribution(
                    on_demand_base_capacity=props.on_demand_base,
                    on_demand_percentage_above_base_capacity=100 - props.spot_percentage_above_base,
                    spot_allocation_strategy="price-capacity-optimized",
                ),
                launch_template=AutoscalingGroupMixedInstancesPolicyLaunchTemplate(
                    launch_template_specification=AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification(
                        launch_template_id=props.launch_template_id,
                        version=props.launch_template_version,
                    ),
                    override=[
                        AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride(
                            instance_type=name
                        )
                        for name in props.instance_types
                    ],
                ),
            ),
            instance_refresh=AutoscalingGroupInstanceRefresh(
                strategy="Rolling",
                preferences=AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=90,
                    max_healthy_percentage=120,
                    instance_warmup=str(grace),
                ),
            ),
            tag=[
                AutoscalingGroupTag(key=key, value=value, propagate_at_launch=True)
                for key, value in sorted(props.tags.items())
            ],
            # Target tracking (and the schedule) move desired capacity, the schedule the
            # minimum; a re-plan must not undo them.
            lifecycle=TerraformResourceLifecycle(
                ignore_changes=["desired_capacity", *(["min_size"] if props.scheduled else [])]
            ),
        )
        AutoscalingPolicy(
            self,
            "requests-per-target",
            name=f"{props.name}-requests-per-target",
            autoscaling_group_name=self.group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=grace,
            target_tracking_configuration=AutoscalingPolicyTargetTrackingConfiguration(
                target_value=props.requests_per_target,
                predefined_metric_specification=AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification(
                    predefined_metric_type="ALBRequestCountPerTarget",
                    resource_label=props.request_count_label,
                ),
            ),
        )
        if props.in_flight_per_replica is not None:
            AutoscalingPolicy(
                self,
                "requests-in-flight",
                name=f"{props.name}-requests-in-flight",
                autoscaling_group_name=self.group.name,
                policy_type="TargetTrackingScaling",
                estimated_instance_warmup=grace,
                target_tracking_configuration=AutoscalingPolicyTargetTrackingConfiguration(
                    target_value=props.in_flight_per_replica,
                    customized_metric_specification=AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification(
                        metrics=[
                            *(
                                _replica_average(metric_id, metric, self.group.name)
                                for metric_id, metric in (
                                    ("running", RUNNING_METRIC),
                                    ("waiting", WAITING_METRIC),
                                )
                            ),
                            AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetrics(
                                id=IN_FLIGHT_METRIC.lower(),
                                expression=in_flight_expression("running", "waiting"),
                                label="requests in flight per replica",
                                return_data=True,
                            ),
                        ],
                    ),
                ),
            )


def _replica_average(
    metric_id: str, metric_name: str, group_name: str
) -> AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetrics:
    """One engine gauge, the Average over the group's replicas (each replica is one sample)."""
    return AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetrics(
        id=metric_id,
        metric_stat=AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricsMetricStat(
            metric=AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricsMetricStatMetric(
                namespace=ENGINE_METRICS_NAMESPACE,
                metric_name=metric_name,
                dimensions=[
                    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricsMetricStatMetricDimensions(
                        name=GROUP_DIMENSION, value=group_name
                    )
                ],
            ),
            stat="Average",
        ),
        return_data=False,
    )
