"""The steps Terraform cannot do for a managed endpoint kind, one module per target: `check(spec)`
refuses before planning what the steps could not deploy; `driver(spec, outputs)` builds the cloud's
endpoint driver (providers/managed_endpoint.py) from the stack's outputs, importing the cloud's SDK
only then. A target names its module in its `endpoint_steps` (providers/targets.py)."""
