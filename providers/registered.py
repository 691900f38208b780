"""The clouds the toolkit deploys to, in the order they are offered and listed: one line each.
Each names its class, in the cloud's own folder (providers/<cloud>/__init__.py, a
providers.targets.Cloud)."""

CLOUDS = (
    "providers.aws:Aws",
    "providers.gcp:Gcp",
    "providers.azure:Azure",
)
