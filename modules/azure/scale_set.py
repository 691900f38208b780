"""GPU virtual machine scale sets and their autoscale settings.

An Azure scale set has one priority, so the plan's mix becomes two sets behind the same load
balancer, as the AWS group's mixed-instances policy splits one group: a Regular set of exactly the
on-demand base, and a Spot set (or, with no spot, a Regular set) that autoscales over the rest.
"""

from __future__ import annotations

import base64
import math
from typing import Literal

from cdktn import TerraformResourceLifecycle
from cdktn_provider_azurerm.linux_virtual_machine_scale_set import (
    LinuxVirtualMachineScaleSet,
    LinuxVirtualMachineScaleSetAdminSshKey,
    LinuxVirtualMachineScaleSetAutomaticInstanceRepair,
    LinuxVirtualMachineScaleSetIdentity,
    LinuxVirtualMachineScaleSetNetworkInterface,
    LinuxVirtualMachineScaleSetNetworkInterfaceIpConfiguration,
    LinuxVirtualMachineScaleSetOsDisk,
    LinuxVirtualMachineScaleSetRollingUpgradePolicy,
    LinuxVirtualMachineScaleSetSourceImageReference,
)
from cdktn_provider_azurerm.monitor_autoscale_setting import (
    MonitorAutoscaleSetting,
    MonitorAutoscaleSettingProfile,
    MonitorAutoscaleSettingProfileCapacity,
    MonitorAutoscaleSettingProfileRule,
    MonitorAutoscaleSettingProfileRuleMetricTrigger,
    MonitorAutoscaleSettingProfileRuleScaleAction,
)
from constructs import Construct

from modules.azure.names import bounded_name
from planner.deployment import DeploymentSpec
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
SCALE_OUT_WINDOW_MINUTES = 5
SCALE_IN_WINDOW_MINUTES = 15
SCALE_IN_FRACTION = 0.5
"""Scale in below half the target, so one instance more or less does not flap."""

Priority = Literal["Regular", "Spot"]


def iso_minutes(minutes: int) -> str:
    return f"PT{minutes}M"


def grace_minutes(spec: DeploymentSpec) -> int:
    return math.ceil(spec.capacity.health_check_grace_s / 60)


def scale_set_zones(spec: DeploymentSpec) -> list[str] | None:
    """Azure zones ("1", "2", "3") when the spec names them; the catalog prices Azure per region
    (zone ""), and then the scale set is regional."""
    zones = [zone for zone in spec.zones if zone]
    return sorted(zones) if zones and set(zones) <= ZONES else None


class GpuScaleSet(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: DeploymentSpec,
        name: str,
        resource_group_name: str,
        location: str,
        priority: Priority,
        instances: int,
        autoscaled: bool,
        subnet_id: str,
        security_group_id: str,
        backend_pool_id: str,
        health_probe_id: str,
        identity_id: str,
        custom_data: str,
    ) -> None:
        super().__init__(scope, id)
        trusted = supports_trusted_launch(spec.instance_type)
        grace = min(max(grace_minutes(spec), REPAIR_GRACE_MINUTES[0]), REPAIR_GRACE_MINUTES[1])
        spot = {"eviction_policy": "Delete", "max_bid_price": SPOT_PRICE_CAP}
        self.scale_set = LinuxVirtualMachineScaleSet(
            self,
            "scale-set",
            name=bounded_name(name, 64),
            computer_name_prefix=bounded_name(name, 50),
            resource_group_name=resource_group_name,
            location=location,
            sku=spec.instance_type,
            instances=instances,
            zones=scale_set_zones(spec),
            priority=priority,
            **(spot if priority == "Spot" else {}),  # type: ignore[arg-type]
            # GPU VMs bill from the moment they exist: no extra instances to discard.
            overprovision=False,
            admin_username=ADMIN_USER,
            disable_password_authentication=True,
            admin_ssh_key=[
                LinuxVirtualMachineScaleSetAdminSshKey(
                    username=ADMIN_USER,
                    public_key=spec.azure.admin_ssh_public_key or UNUSABLE_SSH_KEY,
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
                disk_size_gb=spec.root_volume_gib,
            ),
            # Managed disks are encrypted at rest by the platform; at the host, the temp disk
            # and the disk caches are encrypted too.
            encryption_at_host_enabled=spec.azure.encryption_at_host,
            # Trusted launch where the family supports it: the vTPM measures the boot chain.
            # Secure boot stays off: the image's NVIDIA driver is an unsigned DKMS module that
            # secure boot would refuse to load.
            vtpm_enabled=trusted or None,
            secure_boot_enabled=False if trusted else None,
            identity=LinuxVirtualMachineScaleSetIdentity(
                type="UserAssigned", identity_ids=[identity_id]
            ),
            custom_data=base64.b64encode(custom_data.encode()).decode(),
            network_interface=[
                LinuxVirtualMachineScaleSetNetworkInterface(
                    name="serving",
                    primary=True,
                    network_security_group_id=security_group_id,
                    ip_configuration=[
                        # No public_ip_address block: instances have private addresses only.
                        LinuxVirtualMachineScaleSetNetworkInterfaceIpConfiguration(
                            name="serving",
                            primary=True,
                            subnet_id=subnet_id,
                            load_balancer_backend_address_pool_ids=[backend_pool_id],
                        )
                    ],
                )
            ],
            health_probe_id=health_probe_id,
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
            if autoscaled
            else None,
        )


class RequestAutoscale(Construct):
    """Scale on new connections per instance at the load balancer.

    The spec's signal is requests per instance and minute (target tracking on ALB requests per
    target on AWS). An Azure load balancer works at layer 4 and counts no requests; the nearest
    metric is SYNCount, new TCP connections at the frontend, divided by the scale set's instance
    count. Each request of a client without keep-alive is one connection, so the thresholds are
    the spec's target over the window; clients that reuse connections scale later. With an
    on-demand base set beside it, the count is divided by this set's instances only, so it
    scales out early rather than late.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: DeploymentSpec,
        name: str,
        resource_group_name: str,
        location: str,
        scale_set_id: str,
        load_balancer_id: str,
        minimum: int,
        default: int,
        maximum: int,
    ) -> None:
        super().__init__(scope, id)
        cooldown = iso_minutes(grace_minutes(spec))

        def rule(window: int, operator: str, threshold: float, direction: str):
            return MonitorAutoscaleSettingProfileRule(
                metric_trigger=MonitorAutoscaleSettingProfileRuleMetricTrigger(
                    metric_name="SYNCount",
                    metric_namespace="Microsoft.Network/loadBalancers",
                    metric_resource_id=load_balancer_id,
                    time_grain="PT1M",
                    statistic="Average",
                    time_window=iso_minutes(window),
                    time_aggregation="Total",
                    operator=operator,
                    threshold=round(threshold, 2),
                    divide_by_instance_count=True,
                ),
                scale_action=MonitorAutoscaleSettingProfileRuleScaleAction(
                    direction=direction, type="ChangeCount", value=1, cooldown=cooldown
                ),
            )

        target = spec.scaling.target
        self.setting = MonitorAutoscaleSetting(
            self,
            "setting",
            name=bounded_name(f"{name}-autoscale", 80),
            resource_group_name=resource_group_name,
            location=location,
            target_resource_id=scale_set_id,
            profile=[
                MonitorAutoscaleSettingProfile(
                    name="requests-per-instance",
                    capacity=MonitorAutoscaleSettingProfileCapacity(
                        minimum=minimum, default=default, maximum=maximum
                    ),
                    rule=[
                        rule(
                            SCALE_OUT_WINDOW_MINUTES,
                            "GreaterThan",
                            target * SCALE_OUT_WINDOW_MINUTES,
                            "Increase",
                        ),
                        rule(
                            SCALE_IN_WINDOW_MINUTES,
                            "LessThan",
                            target * SCALE_IN_WINDOW_MINUTES * SCALE_IN_FRACTION,
                            "Decrease",
                        ),
                    ],
                )
            ],
        )
