"""SageMaker real-time endpoint constructs: the model, the endpoint (configuration, blue/green
deployment with rollback on alarms), its alarms, its autoscaling and its KMS key.

Updates go through SageMaker's own blue/green deployment: a change of model or variants makes
a new endpoint configuration (created before the old one is deleted) and the endpoint shifts
traffic to it as the profile says, rolling back when an alarm fires. Variant names stay the same
across configurations, as SageMaker's deployment guardrails require.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

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
CONCURRENCY_METRIC = "SageMakerVariantConcurrentRequestsPerModelHighResolution"
"""Application Auto Scaling's predefined metric of a variant's ConcurrentRequestsPerModel (the
stack deploys variants, not inference components, whose metric is per copy): "Define a scaling
policy", docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-define.html,
retrieved 2026-12-03."""
NAME_LIMIT = 63


def has_local_storage(instance_type: str) -> bool:
    return instance_type.split(".")[1] in LOCAL_STORAGE_FAMILIES


def endpoint_name(stack_name: str) -> str:
    return stack_name[:NAME_LIMIT].rstrip("-")


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One production variant of an endpoint."""

    name: str
    """Its name, the same in every endpoint configuration (deployment guardrails need that)."""
    instance_type: str
    """The ml.* instance type it runs on."""
    initial_instances: int
    """Instances at creation; autoscaling moves the count afterwards."""
    weight: int
    """Its share of the traffic, relative to the other variants' weights."""
    min_instances: int
    """Fewest instances autoscaling keeps."""
    max_instances: int
    """Most instances autoscaling adds."""


@dataclass(frozen=True, kw_only=True)
class EndpointEncryptionKeyProps:
    """The endpoint's customer-managed KMS key."""

    name: str
    """The endpoint's name, in the key's description and alias. Required."""
    rotation: bool = True
    """Whether KMS rotates the key material yearly. Default True."""
    deletion_window_days: int = 30
    """Days a deleted key stays recoverable (7 to 30). Default 30, the longest."""


class EndpointEncryptionKey(Construct):
    """A customer-managed key for what the endpoint stores: captured requests and responses,
    and the instance volume where the instance type has one."""

    def __init__(self, scope: Construct, id: str, props: EndpointEncryptionKeyProps) -> None:
        super().__init__(scope, id)
        self.key = KmsKey(
            self,
            "key",
            description=f"SageMaker endpoint {props.name}: volumes and captured data",
            enable_key_rotation=props.rotation,
            deletion_window_in_days=props.deletion_window_days,
        )
        KmsAlias(self, "alias", name=f"alias/{props.name}-sagemaker", target_key_id=self.key.key_id)


@dataclass(frozen=True, kw_only=True)
class ServingModelProps:
    """A SageMaker model: one container, its weights and where it runs. With the weights in S3
    the container runs network-isolated."""

    image: str
    """The container's ECR image URI. Required."""
    execution_role_arn: str
    """The role SageMaker runs the model under. Required."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """The container's environment variables, stored in plain text. Default: none."""
    model_s3_uri: str | None = None
    """s3://bucket/prefix SageMaker copies uncompressed weights from into /opt/ml/model; with
    it the container has no network. Default None: the container downloads the model itself."""
    subnet_ids: tuple[str, ...] = ()
    """The caller's subnets the model's interfaces go in. Default none: SageMaker's network."""
    security_group_ids: tuple[str, ...] = ()
    """Their security groups (with subnet_ids only). Default none."""
    depends_on: tuple[ITerraformDependable, ...] = ()
    """What must exist before the model is created (SageMaker checks the role can pull the
    image then). Default nothing."""


class ServingModel(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingModelProps) -> None:
        super().__init__(scope, id)
        data_source = None
        if props.model_s3_uri:
            # Uncompressed weights under a prefix: SageMaker copies them to /opt/ml/model.
            data_source = SagemakerModelPrimaryContainerModelDataSource(
                s3_data_source=[
                    SagemakerModelPrimaryContainerModelDataSourceS3DataSource(
                        s3_uri=props.model_s3_uri.rstrip("/") + "/",
                        s3_data_type="S3Prefix",
                        compression_type="None",
                    )
                ]
            )
        self.model = SagemakerModel(
            self,
            "model",
            execution_role_arn=props.execution_role_arn,
            primary_container=SagemakerModelPrimaryContainer(
                image=props.image,
                mode="SingleModel",
                environment=dict(props.environment),
                model_data_source=data_source,
            ),
            # With the weights in S3 the container needs no network at all.
            enable_network_isolation=bool(props.model_s3_uri),
            vpc_config=SagemakerModelVpcConfig(
                subnets=list(props.subnet_ids),
                security_group_ids=list(props.security_group_ids),
            )
            if props.subnet_ids
            else None,
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=list(props.depends_on),
        )


@dataclass(frozen=True, kw_only=True)
class ServingEndpointProps:
    """The endpoint, its configuration and how a change reaches it: blue/green, rolling back
    when an alarm fires."""

    name: str
    """The endpoint's name; its configurations' names start with it. Required."""
    model_name: str
    """The model every variant serves. Required."""
    variants: tuple[Variant, ...]
    """The production variants, primary first. Required."""
    startup_timeout_s: int
    """Seconds a variant may take to download the model and answer its health check. Required."""
    traffic_shift: TrafficShift
    """How a blue/green deployment moves traffic to the new fleet. Required."""
    rollback_alarm_names: tuple[str, ...]
    """Alarms that roll a deployment back while traffic shifts. Required."""
    volume_kms_key_arn: str | None = None
    """The KMS key of the instances' storage volumes; instance types with local NVMe storage
    take none (their hardware encrypts it). Default None: SageMaker's own encryption, with no
    key of the caller's."""
    data_capture: DataCapture | None = None
    """Requests and responses sampled to S3. Default None: nothing captured."""
    data_capture_kms_key_arn: str | None = None
    """The KMS key captured data is encrypted with. Default None: SageMaker's default S3
    encryption, with no key of the caller's."""


class ServingEndpoint(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingEndpointProps) -> None:
        super().__init__(scope, id)
        self.configuration = SagemakerEndpointConfiguration(
            self,
            "configuration",
            name_prefix=f"{props.name[:36]}-",
            production_variants=[
                SagemakerEndpointConfigurationProductionVariants(
                    variant_name=variant.name,
                    model_name=props.model_name,
                    instance_type=variant.instance_type,
                    initial_instance_count=variant.initial_instances,
                    initial_variant_weight=variant.weight,
                    container_startup_health_check_timeout_in_seconds=props.startup_timeout_s,
                    model_data_download_timeout_in_seconds=props.startup_timeout_s,
                )
                for variant in props.variants
            ],
            kms_key_arn=props.volume_kms_key_arn,
            data_capture_config=_data_capture(props.data_capture, props.data_capture_kms_key_arn),
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        self.endpoint = SagemakerEndpoint(
            self,
            "endpoint",
            name=props.name,
            endpoint_config_name=self.configuration.name,
            deployment_config=SagemakerEndpointDeploymentConfig(
                blue_green_update_policy=_blue_green(props.traffic_shift, props.startup_timeout_s),
                auto_rollback_configuration=SagemakerEndpointDeploymentConfigAutoRollbackConfiguration(
                    alarms=[
                        SagemakerEndpointDeploymentConfigAutoRollbackConfigurationAlarms(
                            alarm_name=alarm
                        )
                        for alarm in props.rollback_alarm_names
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


@dataclass(frozen=True, kw_only=True)
class VariantAlarmsProps:
    """The alarms of one variant."""

    name: str
    """Start of each alarm's name. Required."""
    endpoint_name: str
    """The endpoint the variant belongs to. Required."""
    variant_name: str
    """The variant the alarms watch. Required."""
    p99_latency_s: float
    """Model latency the 99th percentile may reach before the latency alarm fires. Required."""


class VariantAlarms(Construct):
    """5xx rate and p99 model latency of one variant: they page, and they roll a deployment
    back while traffic shifts."""

    def __init__(self, scope: Construct, id: str, props: VariantAlarmsProps) -> None:
        super().__init__(scope, id)
        variant = props.variant_name
        dimensions = {"EndpointName": props.endpoint_name, "VariantName": variant}

        self.error_rate = error_rate_alarm(
            self,
            "error-rate",
            alarm_name=f"{props.name}-{variant}-5xx-rate",
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
            alarm_name=f"{props.name}-{variant}-p99-latency",
            alarm_description=f"{variant} p99 model latency above {props.p99_latency_s:g} s",
            namespace="AWS/SageMaker",
            metric_name="ModelLatency",
            dimensions=dimensions,
            extended_statistic="p99",
            period=60,
            evaluation_periods=5,
            threshold=props.p99_latency_s * MODEL_LATENCY_UNIT_PER_S,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )

    @property
    def names(self) -> list[str]:
        return [self.error_rate.alarm_name, self.latency.alarm_name]


@dataclass(frozen=True, kw_only=True)
class VariantAutoscalingProps:
    """Target tracking of one variant."""

    endpoint_name: str
    """The endpoint the variant belongs to. Required."""
    variant: Variant
    """The variant scaled, between its min_instances and max_instances. Required."""
    invocations_per_instance: float
    """The target of invocations per instance and minute. Required."""
    concurrent_requests_per_model: float | None = None
    """A second target-tracking policy, `<variant>-concurrent-requests-per-model`: keep
    SageMaker's ConcurrentRequestsPerModel (requests in the model container, queued ones
    included, until the last streamed token; published every 10 s) at this many. Default None:
    invocations alone."""
    scheduled: bool = False
    """Scheduled actions move the variant's minimum over the week (VariantSchedule); a re-plan
    leaves the minimum they set. Default False."""


class VariantAutoscaling(Construct):
    """Target tracking on invocations per instance and minute and, when given, on concurrent
    requests per model, within the plan's min/max. With two policies Application Auto Scaling
    scales out when either asks and in only when both agree."""

    def __init__(self, scope: Construct, id: str, props: VariantAutoscalingProps) -> None:
        super().__init__(scope, id)
        variant = props.variant
        self.target = AppautoscalingTarget(
            self,
            "target",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{props.endpoint_name}/variant/{variant.name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=variant.min_instances,
            max_capacity=variant.max_instances,
            lifecycle=TerraformResourceLifecycle(ignore_changes=["min_capacity"])
            if props.scheduled
            else None,
        )
        self.policy = self._tracking(
            "invocations",
            f"{variant.name}-invocations-per-instance",
            "SageMakerVariantInvocationsPerInstance",
            props.invocations_per_instance,
        )
        if props.concurrent_requests_per_model is not None:
            self.concurrency = self._tracking(
                "concurrent-requests",
                f"{variant.name}-concurrent-requests-per-model",
                CONCURRENCY_METRIC,
                props.concurrent_requests_per_model,
            )

    def _tracking(
        self, construct_id: str, name: str, metric: str, target_value: float
    ) -> AppautoscalingPolicy:
        """A target-tracking policy on one of SageMaker's predefined variant metrics."""
        return AppautoscalingPolicy(
            self,
            construct_id,
            name=name,
            policy_type="TargetTrackingScaling",
            service_namespace=self.target.service_namespace,
            resource_id=self.target.resource_id,
            scalable_dimension=self.target.scalable_dimension,
            target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                target_value=target_value,
                predefined_metric_specification=AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                    predefined_metric_type=metric
                ),
                scale_in_cooldown=SCALE_IN_COOLDOWN_S,
                scale_out_cooldown=SCALE_OUT_COOLDOWN_S,
            ),
        )
