"""The instance template of a GPU fleet: machine type and GPUs, the Deep Learning VM image, a
Shielded VM, no external IP, OS Login, spot or standard scheduling, and the startup script. The
security settings are props whose defaults are the secure values; no stack relaxes them.

GPUs: accelerator-optimized machines (A2, A3, A4, G2, G4) carry theirs; N1 machines take them as
guest accelerators of the plan's type and count. GPU instances cannot live-migrate, so host
maintenance terminates them (on_host_maintenance TERMINATE); a standard one restarts by itself.

Spot: provisioning model SPOT (with `preemptible`, which the API still expects alongside it), no
automatic restart, and a preempted VM is deleted rather than stopped: the group recreates it
wherever capacity is (a stopped VM would wait for its own zone, and keep billing for its disk).

Disks are encrypted at rest with Google-managed keys: a customer-managed key adds a key whose loss
or disablement stops every instance from booting, and a grant to the Compute Engine service agent,
for a disk that holds only the image and public or already-protected weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.compute_instance_template import (
    ComputeInstanceTemplate,
    ComputeInstanceTemplateDisk,
    ComputeInstanceTemplateGuestAccelerator,
    ComputeInstanceTemplateNetworkInterface,
    ComputeInstanceTemplateNetworkInterfaceAccessConfig,
    ComputeInstanceTemplateScheduling,
    ComputeInstanceTemplateServiceAccount,
    ComputeInstanceTemplateShieldedInstanceConfig,
)
from constructs import Construct

from core.errors import InfraError
from modules.gcp.naming import gcp_name

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
"""N1 machines: the plan's accelerator as Compute Engine names it."""
ACCELERATOR_OPTIMIZED = ("a2-", "a3-", "a4-", "g2-", "g4-")
HYPERDISK_ONLY = ("a3-ultragpu-", "a4-")
"""Machines whose boot disk must be Hyperdisk; the others take Balanced Persistent Disk."""
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The scope Google recommends with a dedicated service account: IAM roles decide access."""


class InstanceTemplateError(InfraError):
    pass


@dataclass(frozen=True, kw_only=True)
class GpuInstanceTemplateProps:
    """What a GPU instance template is made of. The security settings default to the secure
    value, so a caller has to ask for anything less."""

    stack_name: str
    """The stack the template belongs to: its name prefix and description. Required."""
    machine_type: str
    """The Compute Engine machine type, e.g. g2-standard-8. Required."""
    accelerator: str
    """The GPU the plan chose (T4, L4, H100, ...): N1 machines take it as guest accelerators,
    accelerator-optimized ones carry it already. Required."""
    accelerators_per_instance: int
    """How many GPUs an N1 machine gets attached. Required."""
    engine: str
    """The serving engine, named in the template's description. Required."""
    boot_disk_gib: int
    """Size of the boot disk, which holds the image and the weights. Required."""
    startup_script: str
    """The boot script (modules/user_data.py). Required."""
    subnetwork: str
    """Self link of the subnet the instances' one interface is in. Required."""
    subnetwork_project: str
    """The project of that subnet (a Shared VPC host project, or the deployment's). Required."""
    service_account_email: str
    """The dedicated service account the instances run as (service_account.py), never the
    Compute Engine default one. Required."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the boot disk (the provider's default labels cover the template). Default: none."""
    spot: bool = False
    """Spot provisioning (deleted on preemption, no automatic restart). Default: standard."""
    external_ip: bool = False
    """An ephemeral external IP on the interface. Default: none; egress goes through Cloud NAT
    and ingress only through the load balancer."""
    can_ip_forward: bool = False
    """Whether the instances may send and receive packets not addressed to them. Default: no."""
    secure_boot: bool = True
    """Shielded VM secure boot: only signed boot components run. Default: on."""
    vtpm: bool = True
    """Shielded VM virtual TPM (measured boot). Default: on."""
    integrity_monitoring: bool = True
    """Shielded VM integrity monitoring of the boot against its baseline. Default: on."""
    os_login: bool = True
    """SSH access through OS Login, i.e. IAM, instead of metadata keys. Default: on."""
    block_project_ssh_keys: bool = True
    """Ignore SSH keys in the project's metadata. Default: on."""
    serial_port_access: bool = False
    """Interactive access to the serial console. Default: off."""


def _metadata_flag(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def guest_accelerators(
    props: GpuInstanceTemplateProps,
) -> list[ComputeInstanceTemplateGuestAccelerator]:
    machine = props.machine_type
    if machine.startswith(ACCELERATOR_OPTIMIZED):
        return []
    if machine.startswith("n1-") and props.accelerator in GUEST_ACCELERATORS:
        return [
            ComputeInstanceTemplateGuestAccelerator(
                type=GUEST_ACCELERATORS[props.accelerator], count=props.accelerators_per_instance
            )
        ]
    raise InstanceTemplateError(
        f"stack {props.stack_name}: {machine} with {props.accelerator} is not a GPU machine this "
        "stack can build (accelerator-optimized A2/A3/A4/G2/G4, or N1 with "
        f"{', '.join(GUEST_ACCELERATORS)})."
    )


def boot_disk_type(machine_type: str) -> str:
    return "hyperdisk-balanced" if machine_type.startswith(HYPERDISK_ONLY) else "pd-balanced"


class GpuInstanceTemplate(Construct):
    def __init__(self, scope: Construct, id: str, props: GpuInstanceTemplateProps) -> None:
        super().__init__(scope, id)
        spot = props.spot
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
            name_prefix=f"{gcp_name(props.stack_name, provisioning, limit=36)}-",
            description=f"{props.stack_name}: {props.engine} on {props.machine_type} "
            f"({provisioning})",
            machine_type=props.machine_type,
            guest_accelerator=guest_accelerators(props) or None,
            disk=[
                ComputeInstanceTemplateDisk(
                    boot=True,
                    auto_delete=True,
                    source_image=DLVM_IMAGE,
                    disk_size_gb=props.boot_disk_gib,
                    disk_type=boot_disk_type(props.machine_type),
                    labels=dict(props.labels),
                )
            ],
            network_interface=[
                # Without access_config, no external IP.
                ComputeInstanceTemplateNetworkInterface(
                    subnetwork=props.subnetwork,
                    subnetwork_project=props.subnetwork_project,
                    access_config=[ComputeInstanceTemplateNetworkInterfaceAccessConfig()]
                    if props.external_ip
                    else None,
                )
            ],
            service_account=ComputeInstanceTemplateServiceAccount(
                email=props.service_account_email, scopes=[CLOUD_PLATFORM_SCOPE]
            ),
            shielded_instance_config=ComputeInstanceTemplateShieldedInstanceConfig(
                enable_secure_boot=props.secure_boot,
                enable_vtpm=props.vtpm,
                enable_integrity_monitoring=props.integrity_monitoring,
            ),
            scheduling=scheduling,
            can_ip_forward=props.can_ip_forward,
            metadata={
                "startup-script": props.startup_script,
                "install-nvidia-driver": "True",
                "enable-oslogin": _metadata_flag(props.os_login),
                "block-project-ssh-keys": _metadata_flag(props.block_project_ssh_keys),
                "serial-port-enable": _metadata_flag(props.serial_port_access),
            },
            # A template is immutable: a change makes a new one, which the group rolls out,
            # before the old one is deleted.
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
