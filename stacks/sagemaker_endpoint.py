"""SagemakerEndpointStack: a SageMaker real-time endpoint, built from a DeploymentSpec alone.

One model (the AWS-built image of the spec's engine, weights from S3 or the model hub), an
endpoint configuration with a primary variant and an optional challenger, blue/green updates with
canary or linear traffic shifting that roll back on the variants' alarms, target-tracking
autoscaling per variant (invocations and concurrent requests per model), scheduled actions that
make the primary follow the planner's week, and a KMS key where there is something for it to
encrypt.
"""

from __future__ import annotations

from pathlib import Path

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from modules.aws.iam import SagemakerExecutionRole, SagemakerExecutionRoleProps
from modules.aws.sagemaker import (
    EndpointEncryptionKey,
    EndpointEncryptionKeyProps,
    ServingEndpoint,
    ServingEndpointProps,
    ServingModel,
    ServingModelProps,
    Variant,
    VariantAlarms,
    VariantAlarmsProps,
    VariantAutoscaling,
    VariantAutoscalingProps,
    endpoint_name,
    has_local_storage,
)
from modules.aws.sagemaker_container import check_container, container_environment
from modules.aws.sagemaker_observability import EndpointObservability, observability_props
from modules.aws.sagemaker_schedule import VariantSchedule, VariantScheduleProps
from modules.aws.security import EndpointSecurityGroup, EndpointSecurityGroupProps
from modules.week_schedule import size_changes
from planner.deployment import DeploymentSpec
from stacks.common import configure_aws_stack

PRIMARY = "primary"
CHALLENGER = "challenger"


def variants(spec: DeploymentSpec) -> list[Variant]:
    """The primary variant on the spec's instance type; the challenger, when the profile asks
    for one, takes its share of the traffic and scales between 1 and the primary's maximum."""
    capacity = spec.capacity
    challenger = spec.sagemaker.challenger
    primary_weight = 100 - challenger.weight_percent if challenger else 100
    found = [
        Variant(
            name=PRIMARY,
            instance_type=spec.instance_type,
            initial_instances=capacity.desired,
            weight=primary_weight,
            min_instances=max(capacity.min_size, 1),
            max_instances=capacity.max_size,
        )
    ]
    if challenger:
        found.append(
            Variant(
                name=CHALLENGER,
                instance_type=challenger.instance_type,
                initial_instances=challenger.instances,
                weight=challenger.weight_percent,
                min_instances=1,
                max_instances=max(challenger.instances, capacity.max_size),
            )
        )
    return found


class SagemakerEndpointStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        check_container(spec)
        super().__init__(scope, spec.stack_name)
        configure_aws_stack(self, spec, state_dir, emulated=emulated)

        name = endpoint_name(spec.stack_name)
        serving = variants(spec)
        options = spec.sagemaker
        volume_needs_key = not any(has_local_storage(v.instance_type) for v in serving)
        key = (
            EndpointEncryptionKey(self, "encryption", EndpointEncryptionKeyProps(name=name))
            if volume_needs_key or options.data_capture
            else None
        )
        key_arn = key.key.arn if key else None
        subnet_ids = tuple(spec.network.subnet_ids)
        security = (
            EndpointSecurityGroup(
                self, "security", EndpointSecurityGroupProps(subnet_id=subnet_ids[0])
            )
            if subnet_ids
            else None
        )
        role = SagemakerExecutionRole(
            self,
            "execution-role",
            SagemakerExecutionRoleProps(
                name_prefix=spec.stack_name,
                endpoint_name=name,
                region=spec.region,
                image=spec.runtime.image,
                model_s3_uri=spec.runtime.model_s3_uri,
                data_capture_s3_uri=options.data_capture.s3_uri if options.data_capture else None,
                kms_key_arn=key_arn,
                in_vpc=bool(subnet_ids),
            ),
        )
        model = ServingModel(
            self,
            "model",
            ServingModelProps(
                image=spec.runtime.image,
                execution_role_arn=role.role.arn,
                environment=container_environment(spec),
                model_s3_uri=spec.runtime.model_s3_uri,
                subnet_ids=subnet_ids,
                security_group_ids=(security.group.id,) if security else (),
                # SageMaker checks the role can pull the image when the model is created.
                depends_on=(role.policy,),
            ),
        )
        alarms = [
            VariantAlarms(
                self,
                f"alarms-{variant.name}",
                VariantAlarmsProps(
                    name=name,
                    endpoint_name=name,
                    variant_name=variant.name,
                    p99_latency_s=spec.scaling.p99_latency_alarm_s,
                ),
            )
            for variant in serving
        ]
        endpoint = ServingEndpoint(
            self,
            "endpoint",
            ServingEndpointProps(
                name=name,
                model_name=model.model.name,
                variants=tuple(serving),
                startup_timeout_s=options.startup_timeout_s,
                traffic_shift=options.traffic_shift,
                rollback_alarm_names=tuple(alarm for group in alarms for alarm in group.names),
                volume_kms_key_arn=key_arn if volume_needs_key else None,
                data_capture=options.data_capture,
                data_capture_kms_key_arn=key_arn,
            ),
        )
        # The primary follows the week; a challenger keeps its own fixed share.
        changes = size_changes(spec.hourly)
        in_flight = spec.scaling.in_flight_per_replica
        for variant in serving:
            scheduled = bool(changes) and variant.name == PRIMARY
            scaling = VariantAutoscaling(
                self,
                f"autoscaling-{variant.name}",
                VariantAutoscalingProps(
                    endpoint_name=endpoint.endpoint.name,
                    variant=variant,
                    invocations_per_instance=spec.scaling.target,
                    # One model container per instance, serving the instance's replicas.
                    concurrent_requests_per_model=in_flight * spec.runtime.replicas_per_instance
                    if in_flight is not None
                    else None,
                    scheduled=scheduled,
                ),
            )
            if scheduled and spec.hourly:
                VariantSchedule(
                    self,
                    f"schedule-{variant.name}",
                    VariantScheduleProps(
                        name=f"{name}-{variant.name}",
                        resource_id=scaling.target.resource_id,
                        scalable_dimension=scaling.target.scalable_dimension,
                        changes=tuple(changes),
                        time_zone=spec.hourly.timezone,
                        max_instances=variant.max_instances,
                    ),
                )
        EndpointObservability(self, "observability", observability_props(spec, name, serving))
        TerraformOutput(self, "endpoint_name", value=endpoint.endpoint.name)
        TerraformOutput(self, "endpoint_arn", value=endpoint.endpoint.arn)
        TerraformOutput(
            self,
            "invoke_url",
            value=(
                f"https://runtime.sagemaker.{spec.region}.amazonaws.com/endpoints/"
                f"{name}/invocations"
            ),
            description="Signed (SigV4) POST requests only; there is no public ingress",
        )
        TerraformOutput(self, "endpoint_config_name", value=endpoint.configuration.name)
