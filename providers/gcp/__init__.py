"""Google Cloud: Compute Engine GPU fleets (managed instance groups) and Vertex AI endpoints."""

CATALOG_FILES = {"fleet": "gce.csv", "vertex": "vertex.csv"}
SPOT_KINDS = frozenset({"fleet"})
