"""Tag keys the toolkit sets itself, importable without loading CDK Terrain (the orchestrator
looks resources up by them)."""

STACK_TAG = "infra:stack"
"""On every taggable resource: the name of the stack that made it (`<profile name>-<env>`)."""
