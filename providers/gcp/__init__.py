"""Google Cloud: Compute Engine GPU fleets (managed instance groups) and Vertex AI endpoints."""

CATALOG_FILES = {"fleet": "gce.csv", "vertex": "vertex.csv"}
SPOT_KINDS = frozenset({"fleet"})
SPOT_MAX_DISCOUNT = 0.91
"""The deepest spot discount Google documents: "Spot VMs are available at a discount of up to 91%
off of the on-demand price" (https://cloud.google.com/compute/docs/instances/spot)."""
INTERRUPTION_FILE = None
"""Google publishes no preemption rate per machine type or region."""


def instance_family(instance_type: str) -> str:
    """`a2-highgpu-4g` -> `a2-highgpu`, `n1-standard-8` -> `n1-standard` (the attached GPU is
    part of the family key the catalog builds, so N1 with T4 and N1 with V100 stay apart)."""
    return instance_type.rsplit("-", 1)[0]
