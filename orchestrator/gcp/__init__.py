"""Google Cloud alone: how `infra bench` calls a Vertex AI endpoint (named in providers/gcp)."""
