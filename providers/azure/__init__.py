"""Microsoft Azure: GPU VM scale sets, Azure ML managed online endpoints and AKS node pools."""

import re

from providers.targets import FLEET, KUBERNETES, Cloud, Kind, SystemPool, Target

AKS_SYSTEM_VM_SIZE = "Standard_D4s_v5"
"""VM size of the system pool of an AKS cluster the toolkit creates (modules/azure/aks.py's
default; the planner prices the same pool from it)."""
AKS_SYSTEM_NODE_COUNT = 2
"""Nodes of that system pool."""


def vm_hour_item(vm_size: str) -> str:
    """The services.csv item of a VM size that is no GPU offering (a system pool's), per hour:
    listed there rather than in vms.csv so that the optimizer never offers it for serving."""
    return f"vm.{vm_size}.hour"


AZUREML = Kind(
    name="azureml",
    summary="an Azure ML managed online endpoint (the deployment made by the SDK after "
    "Terraform, canary traffic splits)",
    runs_instances=False,
    scaling_signal="invocations_per_instance",
    invoke_transport="orchestrator.azure.azureml_invoke:transport",
)


class Azure(Cloud):
    name = "azure"
    display_name = "Azure"
    terraform_provider = "azurerm"
    reference_region = "eastus"
    targets = (
        Target(
            kind=FLEET,
            stack="stacks.azure_fleet:AzureGpuFleetStack",
            catalog_file="vms.csv",
            spec_sections={"azure": "planner.profile:AzureOptions"},
            commitments_file="vms_commitments.csv",
        ),
        Target(
            kind=AZUREML,
            stack="stacks.azureml_workspace:AzureMlWorkspaceStack",
            catalog_file="azureml.csv",
            spec_sections={
                "canary": "planner.profile:Canary",
                "azure": "planner.profile:AzureOptions",
            },
            endpoint_steps="orchestrator.azureml_endpoint",
            managed_replicas="fixed",
        ),
        Target(
            kind=KUBERNETES,
            stack="stacks.aks_kubernetes:AksServingStack",
            catalog_file="vms.csv",
            spec_sections={
                "kubernetes": "planner.profile:KubernetesOptions",
                "canary": "planner.profile:Canary",
                "serving": "planner.serving:ServingTracks",
                "azure": "planner.profile:AzureOptions",
            },
            control_plane_item="aks.standard.hour",
            commitments_file="vms_commitments.csv",
            system_pool=SystemPool(
                item=vm_hour_item(AKS_SYSTEM_VM_SIZE), nodes=AKS_SYSTEM_NODE_COUNT
            ),
        ),
    )
    spot_max_discount = 0.90
    """Spot VMs "at up to a 90% discount compared to pay-as-you-go prices"
    (https://azure.microsoft.com/pricing/spot-advisor/)."""
    interruption_file = None
    """Azure publishes eviction rates only through Azure Resource Graph (SpotResources), per
    subscription and live; there is no static file to ship."""
    pricing_rules = "planner.cost.resources.azure:RULES"
    value_rules = "providers.cloud_values:azure_value_problem"
    boot_target = "modules.azure.boot:azure_boot_target"
    weights_setting = "deploy.azure.model_blob_container_id"

    def instance_family(self, instance_type: str) -> str:
        return instance_family(instance_type)


_SIZE = re.compile(r"^(Standard_[A-Z]+)\d+")


def instance_family(instance_type: str) -> str:
    """`Standard_NC24ads_A100_v4` -> `Standard_NCads_A100_v4`: the size digits dropped."""
    return _SIZE.sub(r"\1", instance_type)
