"""The few Azure ML calls the SDK steps make: a Protocol, its request/answer types, and the
implementation over azure-ai-ml with DefaultAzureCredential.

Tests replace `AzureMlApi` with a fake that records the calls; the real class is the only code
that imports the SDK (inside its methods, so `infra --help` never loads it) and it turns the
SDK's exceptions into one-sentence errors. `managed_online_endpoint` and
`managed_online_deployment` build the SDK's entities from the request types; they need no
credentials, so tests check the entities themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from providers.sdk_errors import CloudCallFailed, MissingCredentials, first_line

ARM_SCOPE = "https://management.azure.com/.default"


@dataclass(frozen=True)
class EndpointSettings:
    """The arguments of `ManagedOnlineEndpoint`."""

    name: str
    auth_mode: str
    identity_id: str
    public_network_access: str
    tags: dict[str, str]


@dataclass(frozen=True)
class Probe:
    """The arguments of `ProbeSettings` (seconds)."""

    initial_delay: int
    period: int
    timeout: int
    failure_threshold: int
    success_threshold: int = 1


@dataclass(frozen=True)
class DeploymentSettings:
    """The arguments of `ManagedOnlineDeployment` and of its inline custom-container
    `Environment` (image plus the routes Azure ML probes and forwards requests to)."""

    name: str
    endpoint_name: str
    image: str
    port: int
    health_path: str
    scoring_path: str
    environment_variables: dict[str, str]
    instance_type: str
    instance_count: int
    request_timeout_ms: int
    max_concurrent_requests_per_instance: int
    liveness_probe: Probe
    readiness_probe: Probe
    tags: dict[str, str]

    def inference_config(self) -> dict[str, dict[str, object]]:
        return {
            "liveness_route": {"path": self.health_path, "port": self.port},
            "readiness_route": {"path": self.health_path, "port": self.port},
            "scoring_route": {"path": self.scoring_path, "port": self.port},
        }


@dataclass(frozen=True)
class ScaleRuleSettings:
    """A metric rule of an autoscale profile: the endpoint's RequestsPerMinute of one
    deployment (its `deployment` dimension), divided by the deployment's instance count."""

    metric_name: str
    threshold: float
    operator: str
    """"GreaterThan" (scale out) or "LessThan" (scale in)."""
    direction: str
    """"Increase" or "Decrease", by one instance."""
    window_minutes: int
    cooldown_minutes: int


@dataclass(frozen=True)
class ScaleProfileSettings:
    """One profile of an autoscale setting: a capacity, the rules, and (recurring) when it
    starts; a recurring profile runs until the next one starts."""

    name: str
    minimum: int
    default: int
    maximum: int
    days: tuple[str, ...] = ()
    """Windows day names ("Monday"); empty: the profile is not recurring."""
    hour: int = 0
    time_zone: str = ""
    """The recurrence's Windows time zone name ("W. Europe Standard Time")."""


@dataclass(frozen=True)
class AutoscaleSettings:
    """An Azure Monitor autoscale setting (azure-mgmt-monitor `AutoscaleSettingResource`) of
    one deployment: its profiles, each with the same rules."""

    name: str
    endpoint_name: str
    deployment_name: str
    profiles: tuple[ScaleProfileSettings, ...]
    rules: tuple[ScaleRuleSettings, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class AzureEndpointState:
    name: str
    auth_mode: str
    identity_ids: list[str]
    public_network_access: str
    tags: dict[str, str]
    traffic: dict[str, int]
    provisioning_state: str = "Succeeded"


@dataclass(frozen=True)
class AzureDeploymentState:
    name: str
    instance_type: str
    instance_count: int
    provisioning_state: str


class AzureMlApi(Protocol):
    def read_endpoint(self, name: str) -> AzureEndpointState | None:
        """None when there is no such endpoint."""
        ...

    def create_or_update_endpoint(
        self, settings: EndpointSettings, traffic: dict[str, int]
    ) -> None: ...

    def list_deployments(self, endpoint_name: str) -> list[AzureDeploymentState]: ...

    def create_or_update_deployment(self, settings: DeploymentSettings) -> None: ...

    def set_traffic(self, endpoint_name: str, traffic: dict[str, int]) -> None: ...

    def delete_deployment(self, endpoint_name: str, name: str) -> None: ...

    def delete_endpoint(self, name: str) -> None: ...

    def apply_autoscale(self, settings: AutoscaleSettings) -> None:
        """Create or replace the deployment's autoscale setting."""
        ...

    def autoscale_exists(self, name: str) -> bool: ...

    def delete_autoscale(self, name: str) -> None:
        """Delete an autoscale setting; none of that name is fine."""
        ...


def managed_online_endpoint(settings: EndpointSettings, traffic: dict[str, int]) -> Any:
    from azure.ai.ml.entities import (
        IdentityConfiguration,
        ManagedIdentityConfiguration,
        ManagedOnlineEndpoint,
    )

    return ManagedOnlineEndpoint(
        name=settings.name,
        auth_mode=settings.auth_mode,
        identity=IdentityConfiguration(
            type="user_assigned",
            user_assigned_identities=[
                ManagedIdentityConfiguration(resource_id=settings.identity_id)
            ],
        ),
        public_network_access=settings.public_network_access,
        tags=dict(settings.tags),
        traffic=dict(traffic),
    )


def _probe(probe: Probe) -> Any:
    from azure.ai.ml.entities import ProbeSettings

    return ProbeSettings(
        initial_delay=probe.initial_delay,
        period=probe.period,
        timeout=probe.timeout,
        failure_threshold=probe.failure_threshold,
        success_threshold=probe.success_threshold,
    )


def managed_online_deployment(settings: DeploymentSettings) -> Any:
    from azure.ai.ml.entities import (
        DefaultScaleSettings,
        Environment,
        ManagedOnlineDeployment,
        OnlineRequestSettings,
    )

    return ManagedOnlineDeployment(
        name=settings.name,
        endpoint_name=settings.endpoint_name,
        environment=Environment(image=settings.image, inference_config=settings.inference_config()),
        environment_variables=dict(settings.environment_variables),
        instance_type=settings.instance_type,
        instance_count=settings.instance_count,
        scale_settings=DefaultScaleSettings(),
        request_settings=OnlineRequestSettings(
            request_timeout_ms=settings.request_timeout_ms,
            max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
        ),
        liveness_probe=_probe(settings.liveness_probe),
        readiness_probe=_probe(settings.readiness_probe),
        tags=dict(settings.tags),
    )


def autoscale_setting(
    settings: AutoscaleSettings, *, deployment_id: str, endpoint_id: str, location: str
) -> Any:
    """azure-mgmt-monitor's AutoscaleSettingResource for the deployment `deployment_id`,
    reading the metrics of the endpoint `endpoint_id` (where RequestsPerMinute is published,
    with a `deployment` dimension: "Supported metrics for Microsoft.MachineLearningServices/
    workspaces/onlineEndpoints", learn.microsoft.com/azure/azure-monitor/reference/
    supported-metrics, retrieved 2026-12-03)."""
    from datetime import timedelta

    from azure.mgmt.monitor.models import (
        AutoscaleProfile,
        AutoscaleSettingResource,
        MetricTrigger,
        Recurrence,
        RecurrentSchedule,
        ScaleAction,
        ScaleCapacity,
        ScaleRule,
        ScaleRuleMetricDimension,
    )

    rules = [
        ScaleRule(
            metric_trigger=MetricTrigger(
                metric_name=rule.metric_name,
                metric_resource_uri=endpoint_id,
                time_grain=timedelta(minutes=1),
                statistic="Average",
                time_window=timedelta(minutes=rule.window_minutes),
                time_aggregation="Average",
                operator=rule.operator,
                threshold=rule.threshold,
                dimensions=[
                    ScaleRuleMetricDimension(
                        dimension_name="deployment",
                        operator="Equals",
                        values=[settings.deployment_name],
                    )
                ],
                divide_per_instance=True,
            ),
            scale_action=ScaleAction(
                direction=rule.direction,
                type="ChangeCount",
                value="1",
                cooldown=timedelta(minutes=rule.cooldown_minutes),
            ),
        )
        for rule in settings.rules
    ]
    return AutoscaleSettingResource(
        location=location,
        tags=dict(settings.tags),
        enabled=True,
        target_resource_uri=deployment_id,
        profiles=[
            AutoscaleProfile(
                name=profile.name,
                capacity=ScaleCapacity(
                    minimum=str(profile.minimum),
                    maximum=str(profile.maximum),
                    default=str(profile.default),
                ),
                rules=rules,
                recurrence=Recurrence(
                    frequency="Week",
                    schedule=RecurrentSchedule(
                        time_zone=profile.time_zone,
                        days=list(profile.days),
                        hours=[profile.hour],
                        minutes=[0],
                    ),
                )
                if profile.days
                else None,
            )
            for profile in settings.profiles
        ],
    )


class AzureMlSdkApi:
    """AzureMlApi over azure-ai-ml's MLClient, signed in with DefaultAzureCredential."""

    def __init__(self, subscription_id: str, resource_group: str, workspace: str) -> None:
        from azure.ai.ml import MLClient
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import DefaultAzureCredential

        # The credential chain logs every failed attempt as a multi-line warning; the one
        # sentence below says it instead.
        logging.getLogger("azure").setLevel(logging.ERROR)
        credential = DefaultAzureCredential()
        try:
            credential.get_token(ARM_SCOPE)
        except ClientAuthenticationError:
            raise MissingCredentials(
                "no usable Azure credentials: sign in with `az login`, or set AZURE_CLIENT_ID, "
                "AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or run with a managed identity), "
                "then run the command again."
            ) from None
        self._client = MLClient(credential, subscription_id, resource_group, workspace)
        self._credential = credential
        self._subscription_id = subscription_id
        self._resource_group = resource_group

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        from azure.core.exceptions import AzureError, ClientAuthenticationError

        try:
            yield
        except ClientAuthenticationError as error:
            raise MissingCredentials(
                f"Azure refused the credentials while trying to {what} "
                f"({first_line(error.message)}); sign in again with `az login`."
            ) from None
        except AzureError as error:  # the SDK's own MlException included
            raise CloudCallFailed(
                f"Azure ML could not {what}: {first_line(error.message)}."
            ) from None

    def read_endpoint(self, name: str) -> AzureEndpointState | None:
        from azure.core.exceptions import ResourceNotFoundError

        with self._calling(f"read the endpoint {name}"):
            try:
                endpoint = self._client.online_endpoints.get(name)
            except ResourceNotFoundError:
                return None
        identities = endpoint.identity.user_assigned_identities if endpoint.identity else None
        return AzureEndpointState(
            name=endpoint.name,
            auth_mode=endpoint.auth_mode,
            identity_ids=[identity.resource_id for identity in identities or []],
            public_network_access=endpoint.public_network_access or "",
            tags=dict(endpoint.tags or {}),
            traffic={key: int(value) for key, value in (endpoint.traffic or {}).items()},
            provisioning_state=endpoint.provisioning_state or "",
        )

    def create_or_update_endpoint(
        self, settings: EndpointSettings, traffic: dict[str, int]
    ) -> None:
        with self._calling(f"create or update the endpoint {settings.name}"):
            endpoint = managed_online_endpoint(settings, traffic)
            self._client.online_endpoints.begin_create_or_update(endpoint).result()

    def list_deployments(self, endpoint_name: str) -> list[AzureDeploymentState]:
        with self._calling(f"list the deployments of {endpoint_name}"):
            found = list(self._client.online_deployments.list(endpoint_name))
        return [
            AzureDeploymentState(
                name=deployment.name,
                instance_type=deployment.instance_type,
                instance_count=deployment.instance_count,
                provisioning_state=deployment.provisioning_state or "",
            )
            for deployment in found
        ]

    def create_or_update_deployment(self, settings: DeploymentSettings) -> None:
        with self._calling(f"create the deployment {settings.name}"):
            deployment = managed_online_deployment(settings)
            self._client.online_deployments.begin_create_or_update(deployment).result()

    def set_traffic(self, endpoint_name: str, traffic: dict[str, int]) -> None:
        with self._calling(f"change the traffic of {endpoint_name}"):
            endpoint = self._client.online_endpoints.get(endpoint_name)
            endpoint.traffic = dict(traffic)
            self._client.online_endpoints.begin_create_or_update(endpoint).result()

    def delete_deployment(self, endpoint_name: str, name: str) -> None:
        with self._calling(f"delete the deployment {name}"):
            self._client.online_deployments.begin_delete(name, endpoint_name).result()

    def delete_endpoint(self, name: str) -> None:
        with self._calling(f"delete the endpoint {name}"):
            self._client.online_endpoints.begin_delete(name).result()

    def _monitor(self) -> Any:
        from azure.mgmt.monitor import MonitorManagementClient

        return MonitorManagementClient(self._credential, self._subscription_id)

    def apply_autoscale(self, settings: AutoscaleSettings) -> None:
        with self._calling(f"set the autoscale of the deployment {settings.deployment_name}"):
            deployment = self._client.online_deployments.get(
                settings.deployment_name, settings.endpoint_name
            )
            endpoint = self._client.online_endpoints.get(settings.endpoint_name)
            resource = autoscale_setting(
                settings,
                deployment_id=deployment.id,
                endpoint_id=endpoint.id,
                location=endpoint.location,
            )
            self._monitor().autoscale_settings.create_or_update(
                self._resource_group, settings.name, resource
            )

    def autoscale_exists(self, name: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        with self._calling(f"read the autoscale setting {name}"):
            try:
                self._monitor().autoscale_settings.get(self._resource_group, name)
            except ResourceNotFoundError:
                return False
        return True

    def delete_autoscale(self, name: str) -> None:
        with self._calling(f"delete the autoscale setting {name}"):
            self._monitor().autoscale_settings.delete(self._resource_group, name)
