"""Microsoft Azure: GPU VM scale sets and Azure ML managed online endpoints."""

CATALOG_FILES = {"fleet": "vms.csv", "azureml": "azureml.csv"}
SPOT_KINDS = frozenset({"fleet"})
