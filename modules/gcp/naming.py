"""Resource names as Google Cloud accepts them: lowercase letters, digits and dashes, starting
with a letter, at most 63 characters (service accounts: 6 to 30). A stack name can be longer
(profile and environment names are up to 40 characters each), so a long name keeps its start and
gains a short hash of the whole stack name, which keeps two stacks apart. Labels:
providers/gcp/labels.py, shared with the Vertex AI steps.

Also how the profile names GCP things that live outside the stack: a Secret Manager secret (an ID
in the deployment's project, or projects/P/secrets/S) and an Artifact Registry image.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

NAME_LIMIT = 63
_SECRET_PATH = re.compile(r"^projects/(?P<project>[^/]+)/secrets/(?P<secret>[^/]+)$")
_ARTIFACT_REGISTRY_IMAGE = re.compile(
    r"^(?P<host>(?P<location>[a-z0-9-]+)-docker\.pkg\.dev)/(?P<project>[^/]+)/(?P<repository>[^/@:]+)/"
)


class SecretName(NamedTuple):
    project: str | None
    """None: the deployment's own project."""
    secret_id: str


class ArtifactRepository(NamedTuple):
    host: str
    location: str
    project: str
    repository: str


def gcp_name(stack_name: str, suffix: str, limit: int = NAME_LIMIT) -> str:
    """`<stack>-<suffix>`, shortened with a hash of the stack name when over `limit`."""
    base = stack_name if stack_name[:1].isalpha() else f"s{stack_name}"
    name = f"{base}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(stack_name.encode()).hexdigest()[:6]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-')}-{digest}-{suffix}"


def secret_name(name: str) -> SecretName:
    path = _SECRET_PATH.match(name)
    return SecretName(path["project"], path["secret"]) if path else SecretName(None, name)


def artifact_repository(image: str) -> ArtifactRepository | None:
    """The Artifact Registry repository of an image, None for any other registry."""
    found = _ARTIFACT_REGISTRY_IMAGE.match(image)
    if not found:
        return None
    return ArtifactRepository(
        found["host"], found["location"], found["project"], found["repository"]
    )
