"""Azure ML: the managed online endpoint and its deployments in the workspace the Azure ML stack
created.

Terraform makes the workspace (key vault, storage, application insights) and the endpoint's
user-assigned identity; this module creates the endpoint with that identity and Microsoft Entra
token auth, and one deployment per serving configuration, named after the hash of its settings:
the rollout (orchestrator/rollout.py) finds it on a re-run and changes nothing, or shifts traffic
to a new one as a canary.

Azure ML runs a custom container's own entrypoint with no command-line arguments, and only
environment variables to configure it. TGI reads every flag from an upper-case variable, so its
stock image works. vLLM takes its settings only as flags, so an Azure ML deployment of vLLM needs
an image whose entrypoint passes ENGINE_ARGS on, e.g.
    FROM vllm/vllm-openai:v0.10.2
    ENTRYPOINT ["/bin/sh", "-c", "eval exec vllm serve \"$ENGINE_ARGS\""]
and the stock image is refused before anything is applied.

The DeploymentSpec becomes the SDK's arguments here; the SDK calls themselves sit behind
providers/azure/azureml_api.py.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from core.errors import InfraError
from modules.engine_flags import PREDICT_ROUTES, engine_flags, flags_as_environment
from orchestrator.azureml_autoscale import autoscale_name, autoscale_settings
from orchestrator.managed_container import ManagedContainerError, check_managed_container
from planner.images import DEFAULT_IMAGES
from providers.azure.azureml_api import (
    AzureEndpointState,
    AzureMlApi,
    DeploymentSettings,
    EndpointSettings,
    Probe,
)
from providers.managed_endpoint import EndpointRevision, config_hash, revision_name

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

CLOUD_NAME = "Azure ML"
AUTH_MODE = "aad_token"
"""Microsoft Entra tokens: callers need a role with the endpoint's score action; no static key
exists that could leak (key auth) and no Azure ML token to refresh (aml_token)."""
ENGINE_ARGS_VARIABLE = "ENGINE_ARGS"
REQUEST_TIMEOUT_MS = 180_000
"""Azure ML's maximum: long generations must not be cut off by the front end."""
PROBE_PERIOD_S = 10
PROBE_TIMEOUT_S = 5
PROBE_FAILURES = 3
READY = "succeeded"
OUTPUTS = (
    "subscription_id",
    "resource_group_name",
    "workspace_name",
    "region",
    "online_endpoint_name",
    "identity_id",
)


@dataclass(frozen=True)
class AzureMlOutputs:
    """What the Azure ML stack's `terraform output` tells the SDK steps."""

    subscription_id: str
    resource_group_name: str
    workspace_name: str
    region: str
    online_endpoint_name: str
    identity_id: str

    @classmethod
    def read(cls, stack: str, outputs: Mapping[str, object]) -> AzureMlOutputs:
        missing = [name for name in OUTPUTS if not outputs.get(name)]
        if missing:
            raise InfraError(
                f"{stack}: the Terraform outputs lack {', '.join(missing)}; apply the Azure ML "
                "stack with `infra deploy` first."
            )
        return cls(*(str(outputs[name]) for name in OUTPUTS))


DOCKER_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


def _repository(image: str) -> str:
    """The image's repository on its registry: no tag, no digest, Docker Hub's names unified."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in DOCKER_HUB_PREFIXES:
        name = name.removeprefix(prefix)
    return name.removeprefix("library/")


def container_environment(spec: DeploymentSpec) -> dict[str, str]:
    flags = engine_flags(spec.runtime)
    if spec.runtime.engine == "tgi":
        return flags_as_environment(flags)
    return {ENGINE_ARGS_VARIABLE: shlex.join(flags)}


def check_azureml(spec: DeploymentSpec) -> None:
    """Before anything is applied: can Azure ML run this container with these settings?"""
    check_managed_container(spec, CLOUD_NAME)
    runtime = spec.runtime
    if runtime.engine == "vllm" and _repository(runtime.image) == _repository(
        DEFAULT_IMAGES["vllm"]
    ):
        raise ManagedContainerError(
            f"{spec.stack_name}: Azure ML passes no command-line flags to a container and the "
            f"stock vLLM image ({runtime.image}) reads its settings from flags only; set "
            "runtime.image to an image whose entrypoint runs `vllm serve` with $ENGINE_ARGS "
            "(a two-line Dockerfile, see the README), or use engine tgi."
        )
    try:
        container_environment(spec)
    except ValueError as error:
        raise ManagedContainerError(
            f"{spec.stack_name}: runtime.extra_args cannot become TGI environment variables "
            f"({error}); give each as --flag value or --flag=value."
        ) from None


class AzureMlEndpoint:
    """The EndpointDriver of an Azure ML managed online endpoint (providers/managed_endpoint.py)."""

    cloud_name = CLOUD_NAME

    def __init__(self, spec: DeploymentSpec, outputs: AzureMlOutputs, api: AzureMlApi) -> None:
        check_azureml(spec)
        self.api = api
        self.endpoint_name = outputs.online_endpoint_name
        self.endpoint = EndpointSettings(
            name=outputs.online_endpoint_name,
            auth_mode=AUTH_MODE,
            identity_id=outputs.identity_id,
            public_network_access="enabled" if spec.network.public else "disabled",
            tags=dict(spec.tags),
        )
        runtime = spec.runtime
        settings = DeploymentSettings(
            name="",
            endpoint_name=self.endpoint_name,
            image=runtime.image,
            port=runtime.port,
            health_path=runtime.health_path,
            scoring_path=PREDICT_ROUTES[runtime.engine],
            environment_variables=container_environment(spec),
            instance_type=spec.instance_type,
            instance_count=spec.capacity.desired,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            max_concurrent_requests_per_instance=runtime.max_batch,
            # Not restarted while it downloads and loads the weights; out of rotation soon
            # after it stops answering.
            liveness_probe=Probe(
                initial_delay=spec.capacity.health_check_grace_s,
                period=PROBE_PERIOD_S,
                timeout=PROBE_TIMEOUT_S,
                failure_threshold=PROBE_FAILURES,
            ),
            readiness_probe=Probe(
                initial_delay=PROBE_PERIOD_S,
                period=PROBE_PERIOD_S,
                timeout=PROBE_TIMEOUT_S,
                failure_threshold=PROBE_FAILURES,
            ),
            tags={},
        )
        # The autoscale setting is part of the configuration: a change of schedule or target
        # is a new deployment with its own setting, rolled out like any other change.
        # Tags are left out, as the deployment's are: a retag changes no deployment.
        autoscale = replace(autoscale_settings(spec, self.endpoint_name, ""), tags={})
        self._hash = config_hash({**asdict(settings), "autoscale": asdict(autoscale)})
        self.deployment = replace(settings, name=revision_name(self._hash), tags=dict(spec.tags))
        self.autoscale = autoscale_settings(spec, self.endpoint_name, self.deployment.name)

    def target_hash(self) -> str:
        return self._hash

    def describe_target(self) -> str:
        d = self.deployment
        return f"{d.name}: {d.instance_count}× {d.instance_type}"

    def prepare_endpoint(self) -> bool:
        state = self.api.read_endpoint(self.endpoint_name)
        if state is not None and _matches(state, self.endpoint):
            return False
        traffic = state.traffic if state else {}
        self.api.create_or_update_endpoint(self.endpoint, traffic)
        return True

    def revisions(self) -> list[EndpointRevision]:
        state = self.api.read_endpoint(self.endpoint_name)
        if state is None:
            return []
        return [
            EndpointRevision(
                id=deployment.name,
                name=deployment.name,
                traffic=state.traffic.get(deployment.name, 0),
                ready=deployment.provisioning_state.lower() == READY
                and (deployment.name != self.deployment.name or self._autoscaled()),
                details={
                    "instance_type": deployment.instance_type,
                    "instances": deployment.instance_count,
                    "state": deployment.provisioning_state,
                },
            )
            for deployment in self.api.list_deployments(self.endpoint_name)
        ]

    def _autoscaled(self) -> bool:
        """Whether the target deployment's autoscale setting is there: a run that stopped
        between the deployment and its setting deploys again (in place) and sets it."""
        return self.api.autoscale_exists(self.autoscale.name)

    def create_revision(self, share: int, others: dict[str, int]) -> None:
        """A failed deployment of the same name is updated in place, which Azure ML allows."""
        self.api.create_or_update_deployment(self.deployment)
        self.api.apply_autoscale(self.autoscale)
        self.api.set_traffic(self.endpoint_name, {self.deployment.name: share, **others})

    def set_traffic(self, split: dict[str, int]) -> None:
        self.api.set_traffic(self.endpoint_name, split)

    def remove_revision(self, revision_id: str) -> None:
        self.api.delete_deployment(self.endpoint_name, revision_id)
        self.api.delete_autoscale(autoscale_name(self.endpoint_name, revision_id))

    def remove_everything(self) -> list[str]:
        """The SDK created the endpoint, so Terraform does not know it: delete it (and its
        deployments with it) before the workspace goes."""
        if self.api.read_endpoint(self.endpoint_name) is None:
            return []
        names = [deployment.name for deployment in self.api.list_deployments(self.endpoint_name)]
        self.api.delete_endpoint(self.endpoint_name)
        for name in names:  # Azure Monitor keeps a setting whose deployment is gone
            self.api.delete_autoscale(autoscale_name(self.endpoint_name, name))
        return (
            [f"endpoint {self.endpoint_name}"]
            + [f"deployment {name}" for name in names]
            + [f"autoscale setting {autoscale_name(self.endpoint_name, name)}" for name in names]
        )


def _matches(state: AzureEndpointState, wanted: EndpointSettings) -> bool:
    return (
        state.auth_mode.lower() == wanted.auth_mode
        and [identity.lower() for identity in state.identity_ids] == [wanted.identity_id.lower()]
        and state.public_network_access.lower() == wanted.public_network_access
        and state.tags == wanted.tags
    )


def check(spec: DeploymentSpec) -> None:
    """The target's endpoint steps (providers/targets.py `endpoint_steps`): refuse before
    planning what the steps could not deploy."""
    check_azureml(spec)


def driver(spec: DeploymentSpec, outputs: Mapping[str, object]) -> AzureMlEndpoint:
    """The endpoint driver over the real SDK, signed in from Azure's standard chain."""
    from providers.azure.azureml_api import AzureMlSdkApi

    azure = AzureMlOutputs.read(spec.stack_name, outputs)
    api = AzureMlSdkApi(azure.subscription_id, azure.resource_group_name, azure.workspace_name)
    return AzureMlEndpoint(spec, azure, api)
