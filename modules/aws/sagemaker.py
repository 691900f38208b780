"""SageMaker real-time endpoint constructs: the model, the endpoint (configuration, blue/green
deployment with rollback on alarms), its alarms, its autoscaling and its KMS key.

Updates go through SageMaker's own blue/green deployment: a change of model or variants makes
a new endpoint configuration (created before the old one is deleted) and the endpoint shifts
traffic to it as the profile says, rolling back when an alarm fires. Variant names stay the same
across configurations, as SageMaker's deployment guardrails require.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cdktn import ITerraformDependable, TerraformResourceLifecycle
from cdktn_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktn_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktn_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktn_provider_aws.kms_alias import KmsAlias
from cdktn_provider_aws.kms_key import KmsKey
from cdktn_provider_aws.sagemaker_endpoint import (
    SagemakerEndpoint,
    SagemakerEndpointDeploymentConfig,
    SagemakerEndpointDeploymentConfigAutoRollbackConfiguration,
    SagemakerEndpointDeploymentConfigAutoRollbackConfigurationAlarms,
    SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicy,
    SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfiguration,
    SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySize,
    SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSize,
)
from cdktn_provider_aws.sagemaker_endpoint_configuration import (
    SagemakerEndpointConfiguration,
    SagemakerEndpointConfigurationDataCaptureConfig,
    SagemakerEndpointConfigurationDataCaptureConfigCaptureOptions,
    SagemakerEndpointConfigurationProductionVariants,
)
from cdktn_provider_aws.sagemaker_model import (
    SagemakerModel,
    SagemakerModelPrimaryContainer,
    SagemakerModelPrimaryContainerModelDataSource,
    SagemakerModelPrimaryContainerModelDataSourceS3DataSource,
    SagemakerModelVpcConfig,
)
from constructs import Construct

from modules.aws.alarms import ERROR_RATE_PERCENT, error_rate_alarm
from planner.profile import DataCapture, TrafficShift

LOCAL_STORAGE_FAMILIES = frozenset(
    {"c5d", "g4ad", "g4dn", "g5", "g6", "g6e", "m5d", "p3dn", "p4d", "p4de", "p5", "p5e", "r5d"}
)
"""Instance families with local NVMe storage, encrypted by the instance's hardware module.
SageMaker refuses a volume KMS key on an endpoint configuration that uses one of them."""
MODEL_LATENCY_UNIT_PER_S = 1_000_000
"""SageMaker reports ModelLatency in microseconds."""
BLUE_GREEN_TIMEOUT_RANGE_S = (600, 14_400)
SCALE_IN_COOLDOWN_S = 600
"""Slow to scale in: a new instance takes minutes to load the model."""
SCALE_OUT_COOLDOWN_S = 120
NAME_LIMIT = 63


def has_local_storage(instance_type: str) -> bool:
    return instance_type.split(".")[1] in LOCAL_STORAGE_FAMILIES


def endpoint_name(stack_name: str) -> str:
    return stack_name[:NAME_LIMIT].rstrip("-")


@dataclass(frozen=True)
class Variant:
    name: str
    instance_type: str
    initial_instances: int
    weight: int
    min_instances: int
    max_instances: int


class EndpointEncryptionKey(Construct):
    """A customer-managed key, rotated yearly, for what the endpoint stores: captured requests
    and responses, and the instance volume where the instance type has one."""

    def __init__(self, scope: Construct, id: str, *, name: str) -> None:
        super().__init__(scope, id)
        self.key = KmsKey(
            self,
            "key",
            description=f"SageMaker endpoint {name}: volumes and captured data",
            enable_key_rotation=True,
            deletion_window_in_days=30,
        )
        KmsAlias(self, "alias", name=f"alias/{name}-sagemaker", target_key_id=self.key.key_id)


class ServingModel(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        image: str,
        environment: dict[str, str],
        model_s3_uri: str | None,
        execution_role_arn: str,
        subnet_ids: list[str],
        security_group_ids: list[str],
        depends_on: list[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id)
        data_source = None
        if model_s3_uri:
            # Uncompressed weights under a prefix: SageMaker copies them to /opt/ml/model.
            data_source = SagemakerModelPrimaryContainerModelDataSource(
                s3_data_source=[
                    SagemakerModelPrimaryContainerModelDataSourceS3DataSource(
                        s3_uri=model_s3_uri.rstrip("/") + "/",
                        s3_data_type="S3Prefix",
                        compression_type="None",
                    )
                ]
            )
        self.model = SagemakerModel(
            self,
            "model",
            execution_role_arn=execution_role_arn,
            primary_container=SagemakerModelPrimaryContainer(
                image=image,
                mode="SingleModel",
                environment=environment,
                model_data_source=data_source,
            ),
            # With the weights in S3 the container needs no network at all.
            enable_network_isolation=bool(model_s3_uri),
            vpc_config=SagemakerModelVpcConfig(
                subnets=subnet_ids, security_group_ids=security_group_ids
            )
            if subnet_ids
            else None,
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=depends_on,
        )


class ServingEndpoint(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        model_name: str,
        variants: list[Variant],
        startup_timeout_s: int,
        traffic_shift: TrafficShift,
        rollback_alarm_names: list[str],
        volume_kms_key_arn: str | None,
        data_capture: DataCapture | None,
        data_capture_kms_key_arn: str | None,
    ) -> None:
        super().__init__(scope, id)
        self.configuration = SagemakerEndpointConfiguration(
            self,
            "configuration",
            name_prefix=f"{name[:36]}-",
            production_variants=[
                SagemakerEndpointConfigurationProductionVariants(
                    variant_name=variant.name,
                    model_name=model_name,
                    instance_type=variant.instance_type,
                    initial_instance_count=variant.initial_instances,
                    initial_variant_weight=variant.weight,
                    container_startup_health_check_timeout_in_seconds=startup_timeout_s,
                    model_data_download_timeout_in_seconds=startup_timeout_s,
                )
                for variant in variants
            ],
            kms_key_arn=volume_kms_key_arn,
            data_capture_config=_data_capture(data_capture, data_capture_kms_key_arn),
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        self.endpoint = SagemakerEndpoint(
            self,
            "endpoint",
            name=name,
            endpoint_config_name=self.configuration.name,
            deployment_config=SagemakerEndpointDeploymentConfig(
                blue_green_update_policy=_blue_green(traffic_shift, startup_timeout_s),
                auto_rollback_configuration=SagemakerEndpointDeploymentConfigAutoRollbackConfiguration(
                    alarms=[
                        SagemakerEndpointDeploymentConfigAutoRollbackConfigurationAlarms(
                            alarm_name=alarm
                        )
                        for alarm in rollback_alarm_names
                    ]
                ),
            ),
        )


def _data_capture(
    capture: DataCapture | None, kms_key_arn: str | None
) -> SagemakerEndpointConfigurationDataCaptureConfig | None:
    if capture is None:
        return None
    return SagemakerEndpointConfigurationDataCaptureConfig(
        enable_capture=True,
        destination_s3_uri=capture.s3_uri,
        initial_sampling_percentage=capture.sample_percent,
        kms_key_id=kms_key_arn,
        capture_options=[
            SagemakerEndpointConfigurationDataCaptureConfigCaptureOptions(capture_mode=mode)
            for mode in ("Input", "Output")
        ],
    )


def _steps(shift: TrafficShift) -> int:
    if shift.mode == "canary":
        return 2
    if shift.mode == "linear":
        return math.ceil(100 / shift.step_percent)
    return 1


def _blue_green(
    shift: TrafficShift, startup_timeout_s: int
) -> SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicy:
    """Traffic shifting as the profile says; the deployment may take as long as starting the
    new fleet plus every baking step, within SageMaker's bounds."""
    percent = {"type": "CAPACITY_PERCENT", "value": shift.step_percent}
    routing = SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfiguration(
        type=shift.mode.upper(),
        wait_interval_in_seconds=shift.wait_s,
        canary_size=SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySize(
            **percent
        )
        if shift.mode == "canary"
        else None,
        linear_step_size=SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSize(
            **percent
        )
        if shift.mode == "linear"
        else None,
    )
    low, high = BLUE_GREEN_TIMEOUT_RANGE_S
    needed = startup_timeout_s + _steps(shift) * shift.wait_s + shift.final_bake_s
    return SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicy(
        traffic_routing_configuration=routing,
        termination_wait_in_seconds=shift.final_bake_s,
        maximum_execution_timeout_in_seconds=min(max(needed, low), high),
    )


class VariantAlarms(Construct):
    """5xx rate and p99 model latency of one variant: they page, and they roll a deployment
    back while traffic shifts."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        endpoint: str,
        variant: str,
        p99_latency_s: float,
    ) -> None:
        super().__init__(scope, id)
        dimensions = {"EndpointName": endpoint, "VariantName": variant}

        self.error_rate = error_rate_alarm(
            self,
            "error-rate",
            alarm_name=f"{name}-{variant}-5xx-rate",
            description=f"More than {ERROR_RATE_PERCENT}% of {variant} invocations answered 5xx",
            namespace="AWS/SageMaker",
            dimensions=dimensions,
            errors_metric="Invocation5XXErrors",
            total=("invocations", "Invocations"),
            period=60,
            evaluation_periods=3,
        )
        self.latency = CloudwatchMetricAlarm(
            self,
            "p99-latency",
            alarm_name=f"{name}-{variant}-p99-latency",
            alarm_description=f"{variant} p99 model latency above {p99_latency_s:g} s",
            namespace="AWS/SageMaker",
            metric_name="ModelLatency",
            dimensions=dimensions,
            extended_statistic="p99",
            period=60,
            evaluation_periods=5,
            threshold=p99_latency_s * MODEL_LATENCY_UNIT_PER_S,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )

    @property
    def names(self) -> list[str]:
        return [self.error_rate.alarm_name, self.latency.alarm_name]


class VariantAutoscaling(Construct):
    """Target tracking on invocations per instance and minute, within the plan's min/max."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: SagemakerEndpoint,
        variant: Variant,
        invocations_per_instance: float,
    ) -> None:
        super().__init__(scope, id)
        self.target = AppautoscalingTarget(
            self,
            "target",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{endpoint.name}/variant/{variant.name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=variant.min_instances,
            max_capacity=variant.max_instances,
        )
        self.policy = AppautoscalingPolicy(
            self,
            "invocations",
            name=f"{variant.name}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            service_namespace=self.target.service_namespace,
            resource_id=self.target.resource_id,
            scalable_dimension=self.target.scalable_dimension,
            target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                target_value=invocations_per_instance,
                predefined_metric_specification=AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=SCALE_IN_COOLDOWN_S,
                scale_out_cooldown=SCALE_OUT_COOLDOWN_S,
            ),
        )
