"""One sub-package per cloud: its catalog data, price refresh and SDK calls.

`CLOUDS` is the registry: adding a cloud means adding its folder and naming it here.
"""

CLOUDS: tuple[str, ...] = ("aws", "gcp", "azure")
