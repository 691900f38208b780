"""The few Vertex AI calls the SDK steps make: a Protocol, its request/answer types, and the
implementation over google-cloud-aiplatform.

Tests replace `VertexApi` with a fake that records the calls; the real class is the only code
that imports the SDK (inside its methods, so `infra --help` never loads it) and it turns the
SDK's exceptions into one-sentence errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from providers.sdk_errors import CloudCallFailed, MissingCredentials, first_line

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MODEL_DELETE_ATTEMPTS = 6
"""Vertex refuses to delete a model for a short while after its last undeploy; retried."""


@dataclass(frozen=True)
class ModelUpload:
    """The keyword arguments of `aiplatform.Model.upload`, exactly."""

    display_name: str
    serving_container_image_uri: str
    serving_container_predict_route: str
    serving_container_health_route: str
    serving_container_ports: list[int]
    serving_container_args: list[str]
    labels: dict[str, str]
    serving_container_shared_memory_size_mb: int | None = None
    encryption_spec_key_name: str | None = None
    serving_container_environment_variables: dict[str, str] | None = None

    def arguments(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class ModelDeployment:
    """The keyword arguments of `aiplatform.Endpoint.deploy`, except the model and the traffic."""

    deployed_model_display_name: str
    machine_type: str
    accelerator_type: str
    accelerator_count: int
    min_replica_count: int
    max_replica_count: int
    autoscaling_target_request_count_per_minute: int
    service_account: str

    def arguments(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VertexModel:
    resource_name: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeployedModel:
    id: str
    display_name: str
    model: str
    machine_type: str = ""
    accelerator_type: str = ""
    accelerator_count: int = 0
    min_replica_count: int = 0
    max_replica_count: int = 0
    available_replica_count: int = 0


@dataclass(frozen=True)
class VertexEndpointState:
    resource_name: str
    deployed_models: list[DeployedModel]
    traffic_split: dict[str, int]


class VertexApi(Protocol):
    def find_models(self, labels: dict[str, str]) -> list[VertexModel]:
        """Models carrying every one of these labels."""
        ...

    def upload_model(self, upload: ModelUpload) -> VertexModel: ...

    def read_endpoint(self, endpoint_name: str) -> VertexEndpointState: ...

    def deploy_model(
        self,
        endpoint_name: str,
        model_name: str,
        deployment: ModelDeployment,
        traffic_split: dict[str, int],
    ) -> None:
        """`traffic_split` names the model being deployed "0", as the SDK does."""
        ...

    def set_traffic(self, endpoint_name: str, traffic_split: dict[str, int]) -> None: ...

    def undeploy_model(self, endpoint_name: str, deployed_model_id: str) -> None: ...

    def delete_model(self, model_name: str) -> None: ...


class GoogleVertexApi:
    """VertexApi over google-cloud-aiplatform, with google.auth's default credentials."""

    def __init__(
        self, project: str, region: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        except DefaultCredentialsError:
            raise MissingCredentials(
                "no Google Cloud credentials found: run `gcloud auth application-default "
                "login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, "
                "then run the command again."
            ) from None
        self._scope = {"project": project, "location": region, "credentials": credentials}
        self._sleep = sleep

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        from google.api_core.exceptions import GoogleAPICallError
        from google.auth.exceptions import GoogleAuthError

        try:
            yield
        except GoogleAuthError as error:
            raise MissingCredentials(
                f"Google Cloud refused the credentials while trying to {what} "
                f"({first_line(error)}); sign in again with `gcloud auth application-default "
                "login`."
            ) from None
        except (GoogleAPICallError, ValueError, RuntimeError) as error:
            message = getattr(error, "message", None) or error
            raise CloudCallFailed(f"Vertex AI could not {what}: {first_line(message)}.") from None

    def _endpoint(self, endpoint_name: str) -> Any:
        from google.cloud import aiplatform

        return aiplatform.Endpoint(endpoint_name, **self._scope)

    def find_models(self, labels: dict[str, str]) -> list[VertexModel]:
        from google.cloud import aiplatform

        query = " AND ".join(f'labels.{key}="{value}"' for key, value in sorted(labels.items()))
        with self._calling("list the models"):
            found = aiplatform.Model.list(filter=query, **self._scope)
        return [VertexModel(model.resource_name, dict(model.labels)) for model in found]

    def upload_model(self, upload: ModelUpload) -> VertexModel:
        from google.cloud import aiplatform

        with self._calling(f"upload the model {upload.display_name}"):
            model = aiplatform.Model.upload(**upload.arguments(), **self._scope, sync=True)
        return VertexModel(model.resource_name, dict(model.labels))

    def read_endpoint(self, endpoint_name: str) -> VertexEndpointState:
        with self._calling(f"read the endpoint {endpoint_name}"):
            resource = self._endpoint(endpoint_name).gca_resource
        return VertexEndpointState(
            resource_name=resource.name,
            deployed_models=[_deployed_model(item) for item in resource.deployed_models],
            traffic_split=dict(resource.traffic_split),
        )

    def deploy_model(
        self,
        endpoint_name: str,
        model_name: str,
        deployment: ModelDeployment,
        traffic_split: dict[str, int],
    ) -> None:
        from google.cloud import aiplatform

        with self._calling(f"deploy {deployment.deployed_model_display_name}"):
            model = aiplatform.Model(model_name, **self._scope)
            self._endpoint(endpoint_name).deploy(
                model=model, traffic_split=traffic_split, sync=True, **deployment.arguments()
            )

    def set_traffic(self, endpoint_name: str, traffic_split: dict[str, int]) -> None:
        with self._calling("change the traffic split"):
            self._endpoint(endpoint_name).update(traffic_split=traffic_split)

    def undeploy_model(self, endpoint_name: str, deployed_model_id: str) -> None:
        with self._calling(f"undeploy the deployed model {deployed_model_id}"):
            self._endpoint(endpoint_name).undeploy(deployed_model_id, sync=True)

    def delete_model(self, model_name: str) -> None:
        from google.api_core.exceptions import FailedPrecondition
        from google.cloud import aiplatform

        with self._calling(f"delete the model {model_name}"):
            for attempt in range(MODEL_DELETE_ATTEMPTS):
                try:
                    aiplatform.Model(model_name, **self._scope).delete(sync=True)
                    return
                except FailedPrecondition:
                    if attempt == MODEL_DELETE_ATTEMPTS - 1:
                        raise
                    self._sleep(2**attempt * 5)


def _deployed_model(item: Any) -> DeployedModel:
    resources = item.dedicated_resources
    machine = resources.machine_spec
    return DeployedModel(
        id=item.id,
        display_name=item.display_name,
        model=item.model,
        machine_type=machine.machine_type,
        accelerator_type=machine.accelerator_type.name if machine.accelerator_count else "",
        accelerator_count=machine.accelerator_count,
        min_replica_count=resources.min_replica_count,
        max_replica_count=resources.max_replica_count,
        available_replica_count=item.status.available_replica_count,
    )
