"""AwsGpuFleetStack: a GPU fleet behind a load balancer, built from a DeploymentSpec alone."""

from __future__ import annotations

from pathlib import Path

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from modules.aws.fleet import GpuLaunchTemplate, SpotAutoscalingGroup
from modules.aws.iam import ServingInstanceRole
from modules.aws.load_balancer import ServingAlarms, ServingLoadBalancer
from modules.aws.network import ServingNetwork
from modules.aws.security import ServingSecurityGroups
from modules.aws.spec_checks import check_fleet_network
from modules.user_data import render_user_data
from planner.deployment import DeploymentSpec
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

        network = ServingNetwork(self, "network", network=spec.network, zone_ids=spec.zones)
        ingress = spec.network.ingress_cidrs or [network.vpc_cidr]
        security = ServingSecurityGroups(
            self,
            "security",
            vpc_id=network.vpc_id,
            ingress_cidrs=ingress,
            serving_port=spec.runtime.port,
            https=certificate_arn is not None,
        )
        role = ServingInstanceRole(
            self,
            "instance-role",
            name_prefix=spec.stack_name,
            model_s3_uri=spec.runtime.model_s3_uri,
            secret_parameter=spec.runtime.hf_token_ssm_parameter,
        )
        balancer = ServingLoadBalancer(
            self,
            "load-balancer",
            name=spec.stack_name,
            vpc_id=network.vpc_id,
            subnet_ids=network.public_subnet_ids
            if spec.network.public
            else network.private_subnet_ids,
            security_group_id=security.load_balancer.id,
            public=spec.network.public,
            certificate_arn=certificate_arn,
            # Protected environments: neither a console click nor a replacing plan deletes the
            # load balancer (destroy there means `protected: false`, deploy, then destroy).
            deletion_protection=spec.protected,
            port=spec.runtime.port,
            health_path=spec.runtime.health_path,
        )
        template = GpuLaunchTemplate(
            self,
            "launch-template",
            spec=spec,
            user_data=render_user_data(spec),
            security_group_id=security.instances.id,
            instance_profile_arn=role.instance_profile.arn,
        )
        fleet = SpotAutoscalingGroup(
            self,
            "fleet",
            spec=spec,
            launch_template=template.template,
            subnet_ids=network.fleet_subnet_ids,
            target_group_arn=balancer.target_group.arn,
            request_count_label=balancer.request_count_label,
            wait_for_capacity=not emulated,
        )
        ServingAlarms(
            self,
            "alarms",
            name=spec.stack_name,
            load_balancer=balancer,
            p99_latency_s=spec.scaling.p99_latency_alarm_s,
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
        TerraformOutput(self, "vpc_id", value=network.vpc_id)
