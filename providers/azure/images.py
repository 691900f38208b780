"""The image Azure GPU scale sets boot, and which GPU families take trusted launch.

Ubuntu-HPC 22.04 (Microsoft's `microsoft-dsvm:ubuntu-hpc:2204`, built by Azure/azhpc-images) is
to Azure what the Deep Learning Base GPU AMI is to AWS: the NVIDIA driver and Fabric Manager (the
NVSwitch SKUs need it), Docker (moby) with the NVIDIA container toolkit, DCGM and azcopy are in the
image, so the boot script only pulls and runs containers. Microsoft documents it as the supported
image of the ND H100 v5 series, and it boots every N-series SKU of the catalog.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class ImageReference(NamedTuple):
    publisher: str
    offer: str
    sku: str
    version: str


GPU_IMAGE = ImageReference("microsoft-dsvm", "ubuntu-hpc", "2204", "latest")

TRUSTED_LAUNCH_FAMILIES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"^Standard_NC\d+as_T4_v3$",  # NCasT4_v3
        r"^Standard_NC\d+ads_A100_v4$",  # NC_A100_v4
        r"^Standard_NV\d+adm?s_A10_v5$",  # NVadsA10_v5
        r"^Standard_NC\d+s_v3$",  # NCv3
        r"^Standard_ND40rs_v2$",  # NDv2
    )
)
"""GPU families Microsoft lists as supporting trusted launch ("Trusted launch for Azure virtual
machines", sizes table). NDasrA100_v4 and NDm_A100_v4 are listed as not supported; the H100
families are not listed, so they boot as standard VMs rather than fail to deploy."""


def supports_trusted_launch(vm_size: str) -> bool:
    return any(pattern.match(vm_size) for pattern in TRUSTED_LAUNCH_FAMILIES)
