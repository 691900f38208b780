"""The instance template of a GPU fleet: machine type and GPUs, the Deep Learning VM image, a
Shielded VM, no external IP, spot or standard scheduling, and the startup script.

GPUs: accelerator-optimized machines (A2, A3, A4, G2, G4) carry theirs; N1 machines take them as
guest accelerators of the spec's type and count. GPU instances cannot live-migrate, so host
maintenance terminates them (on_host_maintenance TERMINATE); a standard one restarts by itself.

Spot: provisioning model SPOT (with `preemptible`, which the API still expects alongside it), no
automatic restart, and a preempted VM is deleted rather than stopped: the group recreates it
wherever capacity is (a stopped VM would wait for its own zone, and keep billing for its disk).

Disks are encrypted at rest with Google-managed keys: a customer-managed key adds a key whose loss
or disablement stops every instance from booting, and a grant to the Compute Engine service agent,
for a disk that holds only the image and public or already-protected weights.
"""

from __future__ import annotations

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.compute_instance_template import (
    ComputeInstanceTemplate,
    ComputeInstanceTemplateDisk,
    ComputeInstanceTemplateGuestAccelerator,
    ComputeInstanceTemplateNetworkInterface,
    ComputeInstanceTemplateScheduling,
    ComputeInstanceTemplateServiceAccount,
    ComputeInstanceTemplateShieldedInstanceConfig,
)
from constructs import Construct

from core.errors import InfraError
from modules.gcp.naming import gcp_name
from planner.deployment import DeploymentSpec

DLVM_FAMILY = "common-cu128-ubuntu-2204-nvidia-570"
DLVM_IMAGE = f"projects/deeplearning-platform-release/global/images/family/{DLVM_FAMILY}"
"""Deep Learning VM, CUDA 12.8 with the NVIDIA 570 driver (what vLLM 0.10 needs), Ubuntu 22.04;
the family always names its newest image."""
GUEST_ACCELERATORS = {
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
    "P100": "nvidia-tesla-p100",
    "P4": "nvidia-tesla-p4",
}
"""N1 machines: the spec's accelerator as Compute Engine names it."""
ACCELERATOR_OPTIMIZED = ("a2-", "a3-", "a4-", "g2-", "g4-")
HYPERDISK_ONLY = ("a3-ultragpu-", "a4-")
"""Machines whose boot disk must be Hyperdisk; the others take Balanced Persistent Disk."""
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The scope Google recommends with a dedicated service account: IAM roles decide access."""


class InstanceTemplateError(InfraError):
    pass


def guest_accelerators(spec: DeploymentSpec) -> list[ComputeInstanceTemplateGuestAccelerator]:
    machine = spec.instance_type
    if machine.startswith(ACCELERATOR_OPTIMIZED):
        return []
    if machine.startswith("n1-") and spec.accelerator in GUEST_ACCELERATORS:
        return [
            ComputeInstanceTemplateGuestAccelerator(
                type=GUEST_ACCELERATORS[spec.accelerator], count=spec.accelerators_per_instance
            )
        ]
    raise InstanceTemplateError(
        f"stack {spec.stack_name}: {machine} with {spec.accelerator} is not a GPU machine this "
        "stack can build (accelerator-optimized A2/A3/A4/G2/G4, or N1 with "
        f"{', '.join(GUEST_ACCELERATORS)})."
    )


def boot_disk_type(machine_type: str) -> str:
    return "hyperdisk-balanced" if machine_type.startswith(HYPERDISK_ONLY) else "pd-balanced"


class GpuInstanceTemplate(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: DeploymentSpec,
        spot: bool,
        startup_script: str,
        labels: dict[str, str],
        subnetwork: str,
        subnetwork_project: str,
        service_account_email: str,
    ) -> None:
        super().__init__(scope, id)
        provisioning = "spot" if spot else "standard"
        scheduling = ComputeInstanceTemplateScheduling(
            provisioning_model="SPOT" if spot else "STANDARD",
            preemptible=spot,
            automatic_restart=not spot,
            on_host_maintenance="TERMINATE",
            **({"instance_termination_action": "DELETE"} if spot else {}),
        )
        self.template = ComputeInstanceTemplate(
            self,
            "template",
            name_prefix=f"{gcp_name(spec.stack_name, provisioning, limit=36)}-",
            description=f"{spec.stack_name}: {spec.runtime.engine} on {spec.instance_type} "
            f"({provisioning})",
            machine_type=spec.instance_type,
            guest_accelerator=guest_accelerators(spec) or None,
            disk=[
                ComputeInstanceTemplateDisk(
                    boot=True,
                    auto_delete=True,
                    source_image=DLVM_IMAGE,
                    disk_size_gb=spec.root_volume_gib,
                    disk_type=boot_disk_type(spec.instance_type),
                    labels=labels,
                )
            ],
            network_interface=[
                # No access_config: no external IP; egress goes through Cloud NAT.
                ComputeInstanceTemplateNetworkInterface(
                    subnetwork=subnetwork, subnetwork_project=subnetwork_project
                )
            ],
            service_account=ComputeInstanceTemplateServiceAccount(
                email=service_account_email, scopes=[CLOUD_PLATFORM_SCOPE]
            ),
            shielded_instance_config=ComputeInstanceTemplateShieldedInstanceConfig(
                enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            scheduling=scheduling,
            can_ip_forward=False,
            metadata={
                "startup-script": startup_script,
                "install-nvidia-driver": "True",
                "enable-oslogin": "TRUE",
                "block-project-ssh-keys": "TRUE",
                "serial-port-enable": "FALSE",
            },
            # A template is immutable: a change makes a new one, which the group rolls out,
            # before the old one is deleted.
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
