"""Azure ML: create the online deployment on the endpoint Terraform made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec
    from providers.managed_endpoint import EndpointDriver


def check(spec: DeploymentSpec) -> None:
    from providers.azure.azureml import check_azureml

    check_azureml(spec)


def driver(spec: DeploymentSpec, outputs: Mapping[str, object]) -> EndpointDriver:
    from providers.azure.azureml import AzureMlEndpoint, AzureMlOutputs
    from providers.azure.azureml_api import AzureMlSdkApi

    azure = AzureMlOutputs.read(spec.stack_name, outputs)
    api = AzureMlSdkApi(azure.subscription_id, azure.resource_group_name, azure.workspace_name)
    return AzureMlEndpoint(spec, azure, api)
