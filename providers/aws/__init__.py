"""Amazon Web Services: EC2 GPU fleets and SageMaker real-time endpoints."""

CATALOG_FILES = {"fleet": "ec2.csv", "sagemaker": "sagemaker.csv"}
SPOT_KINDS = frozenset({"fleet"})
