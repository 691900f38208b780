"""GPU virtual machine scale sets (their autoscale setting: modules/azure/autoscale.py).

An Azure scale set has one priority, so the plan's mix becomes two sets behind the same load
balancer, as the AWS group's mixed-instances policy splits one group: a Regular set of exactly the
on-demand base, and a Spot set (or, with no spot, a Regular set) that autoscales over the rest.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cdktn import TerraformResourceLifecycle
from cdktn_provider_azurerm.linux_virtual_machine_scale_set import (
    LinuxVirtualMachineScaleSet,
    LinuxVirtualMachineScaleSetAdminSshKey,
    LinuxVirtualMachineScaleSetAutomaticInstanceRepair,
    LinuxVirtualMachineScaleSetIdentity,
    LinuxVirtualMachineScaleSetNetworkInterface,
    LinuxVirtualMachineScaleSetNetworkInterfaceIpConfiguration,
    LinuxVirtualMachineScaleSetNetworkInterfaceIpConfigurationPublicIpAddress,
    LinuxVirtualMachineScaleSetOsDisk,
    LinuxVirtualMachineScaleSetRollingUpgradePolicy,
    LinuxVirtualMachineScaleSetSourceImageReference,
    LinuxVirtualMachineScaleSetTerminationNotification,
)
from constructs import Construct

from modules.azure.names import bounded_name
from providers.azure.images import GPU_IMAGE, supports_trusted_launch

ADMIN_USER = "azureuser"
UNUSABLE_SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)
"""The scale set resource needs an admin key even with password login disabled. This Ed25519
public key is the all-zero encoding, a point of small order: no private key maps to it, so it
admits nobody, and no private key is ever generated or kept in state."""
SPOT_PRICE_CAP = -1
"""Pay up to the on-demand price: spot VMs are then evicted for capacity only, never because the
spot price moved past a cap copied from a catalog that ages."""
ZONES = frozenset({"1", "2", "3"})
REPAIR_GRACE_MINUTES = (10, 90)
"""Azure's bounds on the automatic repair grace period."""
NOTIFICATION_MINUTES = (5, 15)
"""Azure's bounds on the terminate notification's timeout (notBeforeTimeout)."""

Priority = Literal["Regular", "Spot"]


def iso_minutes(minutes: int) -> str:
    return f"PT{minutes}M"


def grace_minutes(grace_s: int) -> int:
    return math.ceil(grace_s / 60)


def scale_set_zones(zones: Iterable[str]) -> tuple[str, ...]:
    """Azure zones ("1", "2", "3") when the spec names them; the catalog prices Azure per region
    (zone ""), and then the scale set is regional (no zones)."""
    named = [zone for zone in zones if zone]
    return tuple(sorted(named)) if named and set(named) <= ZONES else ()


@dataclass(frozen=True, kw_only=True)
class GpuScaleSetProps:
    """Fixed whatever the props: password login disabled (no password is ever made or kept in
    state, so there is none to enable), trusted launch where the VM family supports it."""

    name: str
    """(Required) The scale set's name (cut to 64 characters) and instance name prefix."""
    resource_group_name: str
    """(Required) The resource group the scale set lives in."""
    location: str
    """(Required) The scale set's Azure region."""
    instance_type: str
    """(Required) The VM size, e.g. Standard_NC24ads_A100_v4."""
    instances: int
    """(Required) The instance count the scale set is created with."""
    os_disk_size_gib: int
    """(Required) The Premium SSD OS disk's size; it holds the image and the model weights."""
    health_check_grace_s: int
    """(Required) How long a new instance has to boot and load the model before a failing
    probe has it replaced (rounded up to minutes, within Azure's 10 to 90)."""
    subnet_id: str
    """(Required) The subnet the instances' private addresses are in."""
    security_group_id: str
    """(Required) The network security group on the instances' interfaces."""
    backend_pool_id: str
    """(Required) The load balancer backend pool the instances join."""
    health_probe_id: str
    """(Required) The load balancer probe that decides an instance's health and repair."""
    identity_id: str
    """(Required) The user-assigned managed identity the instances run as (the scale set gets
    no system identity, so the instances hold only that identity's roles)."""
    custom_data: str
    """(Required) The boot script (plain text; base64-encoded here)."""
    priority: Priority = "Regular"
    """(Optional) "Spot" for spot VMs, deleted on eviction and capped at the on-demand price.
    Defaults to "Regular"."""
    autoscaled: bool = False
    """(Optional) Whether an autoscale setting moves the instance count (Terraform then
    ignores it on a re-plan). Defaults to False: the count is exactly `instances`."""
    zones: tuple[str, ...] = ()
    """(Optional) The availability zones to spread over ("1", "2", "3"). Defaults to none: a
    regional scale set."""
    encryption_at_host: bool = True
    """(Optional) Encrypt the temp disk and the disk caches on the host, beside the managed
    disks' encryption at rest (the subscription needs the EncryptionAtHost feature). Defaults
    to True."""
    admin_ssh_public_key: str | None = None
    """(Optional) One OpenSSH public key for break-glass login as the admin user. Defaults to
    None: a key no private key matches (UNUSABLE_SSH_KEY), so nobody can sign in."""
    termination_notification_minutes: int | None = None
    """(Optional) Minutes a deleted instance has to approve its Terminate scheduled event (its
    drain watcher, modules/azure/drain.py) before the deletion goes on anyway, 5 to 15. Azure
    offers no terminate notification on Spot instances. Defaults to None: instances are deleted
    without notice."""
    public_ip_per_instance: bool = False
    """(Optional) Give each instance a public address besides its private one (reachable as
    the security group allows). Defaults to False: private addresses only, reached through the
    load balancer, leaving through the subnet's egress."""


class GpuScaleSet(Construct):
    def __init__(self, scope: Construct, id: str, props: GpuScaleSetProps) -> None:
        super().__init__(scope, id)
        name, priority = props.name, props.priority
        notice = props.termination_notification_minutes
        if notice is not None and priority == "Spot":
            raise ValueError(f"scale set {name}: Azure has no terminate notification on Spot")
        if notice is not None and not NOTIFICATION_MINUTES[0] <= notice <= NOTIFICATION_MINUTES[1]:
            raise ValueError(
                f"scale set {name}: a terminate notification's timeout is "
                f"{NOTIFICATION_MINUTES[0]}-{NOTIFICATION_MINUTES[1]} minutes, not {notice}"
            )
        trusted = supports_trusted_launch(props.instance_type)
        grace = grace_minutes(props.health_check_grace_s)
        grace = min(max(grace, REPAIR_GRACE_MINUTES[0]), REPAIR_GRACE_MINUTES[1])
        spot = {"eviction_policy": "Delete", "max_bid_price": SPOT_PRICE_CAP}
        public_address = (
            [
                LinuxVirtualMachineScaleSetNetworkInterfaceIpConfigurationPublicIpAddress(
                    name="public"
                )
            ]
            if props.public_ip_per_instance
            else None
        )
        self.scale_set = LinuxVirtualMachineScaleSet(
            self,
            "scale-set",
            name=bounded_name(name, 64),
            computer_name_prefix=bounded_name(name, 50),
            resource_group_name=props.resource_group_name,
            location=props.location,
            sku=props.instance_type,
            instances=props.instances,
            zones=list(props.zones) or None,
            priority=priority,
            **(spot if priority == "Spot" else {}),  # type: ignore[arg-type]
            # GPU VMs bill from the moment they exist: no extra instances to discard.
            overprovision=False,
            admin_username=ADMIN_USER,
            disable_password_authentication=True,
            admin_ssh_key=[
                LinuxVirtualMachineScaleSetAdminSshKey(
                    username=ADMIN_USER,
                    public_key=props.admin_ssh_public_key or UNUSABLE_SSH_KEY,
                )
            ],
            source_image_reference=LinuxVirtualMachineScaleSetSourceImageReference(
                publisher=GPU_IMAGE.publisher,
                offer=GPU_IMAGE.offer,
                sku=GPU_IMAGE.sku,
                version=GPU_IMAGE.version,
            ),
            os_disk=LinuxVirtualMachineScaleSetOsDisk(
                caching="ReadWrite",
                storage_account_type="Premium_LRS",
                disk_size_gb=props.os_disk_size_gib,
            ),
            # Managed disks are encrypted at rest by the platform; at the host, the temp disk
            # and the disk caches are encrypted too.
            encryption_at_host_enabled=props.encryption_at_host,
            # Trusted launch where the family supports it: the vTPM measures the boot chain.
            # Secure boot stays off: the image's NVIDIA driver is an unsigned DKMS module that
            # secure boot would refuse to load.
            vtpm_enabled=trusted or None,
            secure_boot_enabled=False if trusted else None,
            identity=LinuxVirtualMachineScaleSetIdentity(
                type="UserAssigned", identity_ids=[props.identity_id]
            ),
            custom_data=base64.b64encode(props.custom_data.encode()).decode(),
            network_interface=[
                LinuxVirtualMachineScaleSetNetworkInterface(
                    name="serving",
                    primary=True,
                    network_security_group_id=props.security_group_id,
                    ip_configuration=[
                        LinuxVirtualMachineScaleSetNetworkInterfaceIpConfiguration(
                            name="serving",
                            primary=True,
                            subnet_id=props.subnet_id,
                            load_balancer_backend_address_pool_ids=[props.backend_pool_id],
                            public_ip_address=public_address,
                        )
                    ],
                )
            ],
            health_probe_id=props.health_probe_id,
            termination_notification=LinuxVirtualMachineScaleSetTerminationNotification(
                enabled=True, timeout=iso_minutes(notice)
            )
            if notice is not None
            else None,
            automatic_instance_repair=LinuxVirtualMachineScaleSetAutomaticInstanceRepair(
                enabled=True, grace_period=iso_minutes(grace), action="Replace"
            ),
            upgrade_mode="Rolling",
            rolling_upgrade_policy=LinuxVirtualMachineScaleSetRollingUpgradePolicy(
                max_batch_instance_percent=20,
                max_unhealthy_instance_percent=20,
                max_unhealthy_upgraded_instance_percent=20,
                pause_time_between_batches="PT0S",
            ),
            # Autoscale moves the instance count; a re-plan must not undo it.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["instances"])
            if props.autoscaled
            else None,
        )
