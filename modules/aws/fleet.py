"""The GPU fleet: a launch template with secure defaults and a spot-aware autoscaling group that
scales on requests per target."""

from __future__ import annotations

import base64

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

from planner.deployment import DeploymentSpec
from providers.aws.amis import ami_parameter

ROOT_DEVICE = "/dev/sda1"
IMDS_HOP_LIMIT = 1
"""IMDSv2 answers the host only. Every AWS call of the boot script (S3 weights, the token
parameter, ECR login) runs on the host; the serving containers sit one hop further, on the docker
bridge, and need no AWS access, so they cannot take the instance role's credentials."""


class GpuLaunchTemplate(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: DeploymentSpec,
        user_data: str,
        security_group_id: str,
        instance_profile_arn: str,
    ) -> None:
        super().__init__(scope, id)
        self.ami = DataAwsSsmParameter(self, "ami", name=ami_parameter(spec.accelerator))
        tags = dict(spec.tags)
        self.template = LaunchTemplate(
            self,
            "template",
            name_prefix=f"{spec.stack_name}-",
            image_id=self.ami.value,
            instance_type=spec.instance_type,
            update_default_version=True,
            user_data=base64.b64encode(user_data.encode()).decode(),
            vpc_security_group_ids=[security_group_id],
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=instance_profile_arn),
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
                        volume_size=spec.root_volume_gib,
                        volume_type="gp3",
                        encrypted="true",
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


class SpotAutoscalingGroup(Construct):
    """On-demand base from the plan, the rest on spot with price-capacity-optimized allocation
    over the chosen type and its equivalents; capacity rebalance replaces instances AWS warns
    about before they are reclaimed; ELB health checks after a grace long enough to load."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: DeploymentSpec,
        launch_template: LaunchTemplate,
        subnet_ids: list[str],
        target_group_arn: str,
        request_count_label: str,
        wait_for_capacity: bool,
    ) -> None:
        super().__init__(scope, id)
        capacity = spec.capacity
        uses_spot = capacity.spot_percentage_above_base > 0 and capacity.max_size > (
            capacity.on_demand_base
        )
        types = [spec.instance_type, *spec.equivalent_instance_types]
        self.group = AutoscalingGroup(
            self,
            "group",
            name=f"{spec.stack_name}-fleet",
            min_size=capacity.min_size,
            max_size=capacity.max_size,
            desired_capacity=capacity.desired,
            vpc_zone_identifier=subnet_ids,
            target_group_arns=[target_group_arn],
            health_check_type="ELB",
            health_check_grace_period=capacity.health_check_grace_s,
            capacity_rebalance=uses_spot,
            default_instance_warmup=capacity.health_check_grace_s,
            wait_for_capacity_timeout="20m" if wait_for_capacity else "0",
            mixed_instances_policy=AutoscalingGroupMixedInstancesPolicy(
                instances_distribution=AutoscalingGroupMixedInstancesPolicyInstancesDistribution(
                    on_demand_base_capacity=capacity.on_demand_base,
                    on_demand_percentage_above_base_capacity=100
                    - capacity.spot_percentage_above_base,
                    spot_allocation_strategy="price-capacity-optimized",
                ),
                launch_template=AutoscalingGroupMixedInstancesPolicyLaunchTemplate(
                    launch_template_specification=AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification(
                        launch_template_id=launch_template.id,
                        version=Token.as_string(launch_template.latest_version),
                    ),
                    override=[
                        AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride(
                            instance_type=name
                        )
                        for name in types
                    ],
                ),
            ),
            instance_refresh=AutoscalingGroupInstanceRefresh(
                strategy="Rolling",
                preferences=AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=90,
                    max_healthy_percentage=120,
                    instance_warmup=str(capacity.health_check_grace_s),
                ),
            ),
            tag=[
                AutoscalingGroupTag(key=key, value=value, propagate_at_launch=True)
                for key, value in sorted(spec.tags.items())
            ],
            # Target tracking moves desired capacity; a re-plan must not undo it.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
        )
        AutoscalingPolicy(
            self,
            "requests-per-target",
            name=f"{spec.stack_name}-requests-per-target",
            autoscaling_group_name=self.group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=capacity.health_check_grace_s,
            target_tracking_configuration=AutoscalingPolicyTargetTrackingConfiguration(
                target_value=spec.scaling.target,
                predefined_metric_specification=AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification(
                    predefined_metric_type="ALBRequestCountPerTarget",
                    resource_label=request_count_label,
                ),
            ),
        )
