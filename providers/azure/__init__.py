"""Microsoft Azure: GPU VM scale sets and Azure ML managed online endpoints."""

import re

CATALOG_FILES = {"fleet": "vms.csv", "azureml": "azureml.csv"}
SPOT_KINDS = frozenset({"fleet"})
SPOT_MAX_DISCOUNT = 0.90
"""The deepest spot discount Azure documents: Spot VMs "at up to a 90% discount compared to
pay-as-you-go prices" (https://azure.microsoft.com/pricing/spot-advisor/)."""
INTERRUPTION_FILE = None
"""Azure publishes eviction rates only through Azure Resource Graph (SpotResources), per
subscription and live; there is no static file to ship."""

_SIZE = re.compile(r"^(Standard_[A-Z]+)\d+")


def instance_family(instance_type: str) -> str:
    """`Standard_NC24ads_A100_v4` -> `Standard_NCads_A100_v4`: the size digits dropped."""
    return _SIZE.sub(r"\1", instance_type)
