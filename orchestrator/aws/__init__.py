"""AWS alone: how `infra bench` calls a SageMaker endpoint (named in providers/aws)."""
