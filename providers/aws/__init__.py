"""Amazon Web Services: EC2 GPU fleets and SageMaker real-time endpoints."""

CATALOG_FILES = {"fleet": "ec2.csv", "sagemaker": "sagemaker.csv"}
SPOT_KINDS = frozenset({"fleet"})
SPOT_MAX_DISCOUNT = 0.90
"""The deepest spot discount AWS documents: "up to a 90% discount compared to On-Demand prices"
(https://aws.amazon.com/ec2/spot/). A listed spot price below 10% of on-demand is not a price."""
INTERRUPTION_FILE = "spot_interruption.csv"
"""Interruption frequency per instance type and region, from the Spot Instance Advisor."""


def instance_family(instance_type: str) -> str:
    """`g5.12xlarge` -> `g5`: the sizes of one family share a price structure."""
    return instance_type.removeprefix("ml.").split(".", 1)[0]
