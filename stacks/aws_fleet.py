"""AwsGpuFleetStack: a GPU fleet behind a load balancer, built from a DeploymentSpec alone."""

from __future__ import annotations

from pathlib import Path

from cdktn import TerraformOutput, TerraformStack
from cdktn_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktn_provider_aws.ssm_parameter import SsmParameter
from constructs import Construct

from modules.aws.dashboard import ServingDashboard, ServingDashboardProps
from modules.aws.drain import DrainHook, DrainHookProps, heartbeat_timeout_s
from modules.aws.engine_alarms import EngineAlarms, EngineAlarmsProps
from modules.aws.engine_metrics import (
    METRICS_LOG_RETENTION_DAYS,
    fleet_group_name,
    latency_metrics,
    metrics_log_group,
    publishes_gpu_metrics,
    scrapes_engine,
)
from modules.aws.fleet import (
    GpuLaunchTemplate,
    LaunchTemplateProps,
    SpotAutoscalingGroup,
    SpotAutoscalingGroupProps,
)
from modules.aws.fleet_schedule import FleetSchedule, FleetScheduleProps
from modules.aws.iam import ServingInstanceRole, ServingInstanceRoleProps
from modules.aws.latency_exporter import TPOT_METRIC, TTFT_METRIC
from modules.aws.latency_service import exporter_parameter, exporter_payload, runs_exporter
from modules.aws.load_balancer import (
    ServingAlarms,
    ServingAlarmsProps,
    ServingLoadBalancer,
    ServingLoadBalancerProps,
)
from modules.aws.network import ServingNetwork, ServingNetworkProps
from modules.aws.security import ServingSecurityGroups, ServingSecurityGroupsProps
from modules.aws.spec_checks import check_fleet_network
from modules.user_data import render_user_data
from modules.week_schedule import size_changes
from planner.deployment import DeploymentSpec
from providers.aws.amis import ami_parameter
from stacks.common import configure_aws_stack


class AwsGpuFleetStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        check_fleet_network(spec)
        super().__init__(scope, spec.stack_name)
        configure_aws_stack(self, spec, state_dir, emulated=emulated)
        certificate_arn = spec.network.certificate_arn

        network = ServingNetwork(
            self,
            "network",
            ServingNetworkProps(
                zone_ids=tuple(spec.zones),
                existing_subnet_ids=tuple(spec.network.subnet_ids),
                existing_vpc_id=spec.network.vpc_id,
            ),
        )
        security = ServingSecurityGroups(
            self,
            "security",
            ServingSecurityGroupsProps(
                vpc_id=network.vpc_id,
                serving_port=spec.runtime.port,
                # Without a list from the profile, the VPC's own range: nothing public unasked.
                ingress_cidrs=tuple(spec.network.ingress_cidrs or [network.vpc_cidr]),
                https=certificate_arn is not None,
            ),
        )
        metrics_log = (
            CloudwatchLogGroup(
                self,
                "engine-metrics",
                name=metrics_log_group(spec.stack_name),
                retention_in_days=METRICS_LOG_RETENTION_DAYS,
            )
            if scrapes_engine(spec)
            else None
        )
        exporter = (
            SsmParameter(
                self,
                "latency-exporter",
                name=exporter_parameter(spec.stack_name),
                description="Code of the TTFT/TPOT exporter the fleet's instances run "
                "(modules/aws/latency_exporter.py; gzip, base64)",
                # No secret in it, but checkov's CKV2_AWS_34 asks for encryption: the AWS managed
                # key (aws/ssm), which SSM uses for the instance role's one-parameter grant.
                type="SecureString",
                tier="Standard",
                value=exporter_payload(),
            )
            if runs_exporter(spec)
            else None
        )
        role = ServingInstanceRole(
            self,
            "instance-role",
            ServingInstanceRoleProps(
                name_prefix=spec.stack_name,
                model_s3_uri=spec.runtime.model_s3_uri,
                secret_parameter=spec.runtime.hf_token_ssm_parameter,
                metrics_log_group_arn=metrics_log.arn if metrics_log else None,
                exporter_parameter_arn=exporter.arn if exporter else None,
            ),
        )
        balancer = ServingLoadBalancer(
            self,
            "load-balancer",
            ServingLoadBalancerProps(
                name=spec.stack_name,
                vpc_id=network.vpc_id,
                subnet_ids=tuple(
                    network.public_subnet_ids if spec.network.public else network.private_subnet_ids
                ),
                security_group_id=security.load_balancer.id,
                port=spec.runtime.port,
                health_path=spec.runtime.health_path,
                public=spec.network.public,
                certificate_arn=certificate_arn,
                # Protected environments: neither a console click nor a replacing plan deletes
                # the load balancer (destroy there means `protected: false`, deploy, then
                # destroy).
                deletion_protection=spec.protected,
            ),
        )
        template = GpuLaunchTemplate(
            self,
            "launch-template",
            LaunchTemplateProps(
                name_prefix=f"{spec.stack_name}-",
                image_parameter=ami_parameter(spec.accelerator),
                instance_type=spec.instance_type,
                user_data=render_user_data(spec),
                security_group_ids=(security.instances.id,),
                instance_profile_arn=role.instance_profile.arn,
                root_volume_gib=spec.root_volume_gib,
                tags=spec.tags,
            ),
        )
        capacity = spec.capacity
        changes = size_changes(spec.hourly)
        fleet = SpotAutoscalingGroup(
            self,
            "fleet",
            SpotAutoscalingGroupProps(
                name=spec.stack_name,
                launch_template_id=template.template.id,
                launch_template_version=template.latest_version,
                instance_types=(spec.instance_type, *spec.equivalent_instance_types),
                subnet_ids=tuple(network.fleet_subnet_ids),
                target_group_arn=balancer.target_group.arn,
                request_count_label=balancer.request_count_label,
                min_size=capacity.min_size,
                max_size=capacity.max_size,
                desired_capacity=capacity.desired,
                requests_per_target=spec.scaling.target,
                health_check_grace_s=capacity.health_check_grace_s,
                on_demand_base=capacity.on_demand_base,
                spot_percentage_above_base=capacity.spot_percentage_above_base,
                tags=spec.tags,
                wait_for_capacity=not emulated,
                in_flight_per_replica=spec.scaling.in_flight_per_replica,
                scheduled=bool(changes),
            ),
        )
        DrainHook(
            self,
            "drain",
            DrainHookProps(
                name=spec.stack_name,
                group_name=fleet.group.name,
                group_arn=fleet.group.arn,
                instance_role_id=role.role.id,
                heartbeat_timeout_s=heartbeat_timeout_s(spec),
            ),
        )
        if changes and spec.hourly:
            FleetSchedule(
                self,
                "schedule",
                FleetScheduleProps(
                    name=spec.stack_name,
                    group_name=fleet.group.name,
                    changes=tuple(changes),
                    time_zone=spec.hourly.timezone,
                    max_size=capacity.max_size,
                ),
            )
        alarm_actions = (spec.alerts_topic_arn,) if spec.alerts_topic_arn else ()
        ServingAlarms(
            self,
            "alarms",
            ServingAlarmsProps(
                name=spec.stack_name,
                load_balancer_arn_suffix=balancer.load_balancer.arn_suffix,
                target_group_arn_suffix=balancer.target_group.arn_suffix,
                p99_latency_s=spec.scaling.p99_latency_alarm_s,
                alarm_actions=alarm_actions,
            ),
        )
        # The planned queue: a replica holds up to max_batch requests in its running batch; as
        # many again waiting means arrivals outpace what the fleet was sized for.
        waiting_per_replica = float(spec.runtime.max_batch) if scrapes_engine(spec) else None
        published = latency_metrics(spec)
        targets = {TTFT_METRIC: spec.scaling.ttft_alarm_ms, TPOT_METRIC: spec.scaling.tpot_alarm_ms}
        latency_targets = {
            metric: target
            for metric, target in targets.items()
            if metric in published and target is not None
        }
        EngineAlarms(
            self,
            "engine-alarms",
            EngineAlarmsProps(
                name=spec.stack_name,
                group_name=fleet_group_name(spec.stack_name),
                waiting_per_replica=waiting_per_replica,
                gpu_memory=publishes_gpu_metrics(spec),
                ttft_p95_ms=latency_targets.get(TTFT_METRIC),
                tpot_ms=latency_targets.get(TPOT_METRIC),
                alarm_actions=alarm_actions,
            ),
        )
        ServingDashboard(
            self,
            "dashboard",
            ServingDashboardProps(
                name=spec.stack_name,
                group_name=fleet_group_name(spec.stack_name),
                region=spec.region,
                load_balancer_arn_suffix=balancer.load_balancer.arn_suffix,
                target_group_arn_suffix=balancer.target_group.arn_suffix,
                p99_latency_s=spec.scaling.p99_latency_alarm_s,
                waiting_per_replica=waiting_per_replica,
                gpu=publishes_gpu_metrics(spec),
                latency_metrics=published,
                purchase_split=runs_exporter(spec),
                latency_targets=latency_targets,
            ),
        )
        TerraformOutput(
            self,
            "endpoint_url",
            value=f"{'https' if certificate_arn else 'http'}://{balancer.load_balancer.dns_name}",
            description="Where the fleet serves (inside the VPC unless the profile made it "
            "public); with a certificate, point its domain at this name (CNAME or alias)",
        )
        TerraformOutput(self, "autoscaling_group_name", value=fleet.group.name)
        TerraformOutput(self, "target_group_arn", value=balancer.target_group.arn)
        # CloudWatch's dimensions of the balancer's metrics (`infra status` reads them).
        TerraformOutput(self, "load_balancer_arn_suffix", value=balancer.load_balancer.arn_suffix)
        TerraformOutput(self, "target_group_arn_suffix", value=balancer.target_group.arn_suffix)
        TerraformOutput(self, "vpc_id", value=network.vpc_id)
