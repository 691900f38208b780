"""What the rollout needs from a managed endpoint, whichever cloud runs it.

A *revision* is one serving configuration deployed on the endpoint: a Vertex AI deployed model or
an Azure ML online deployment. Its name carries a hash of everything the revision is made of (the
exact arguments sent to the SDK), so a re-run with the same spec finds it and changes nothing,
and any change to the serving configuration is a new revision that goes live as a canary.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Protocol

REVISION_PREFIX = "rev-"
HASH_LENGTH = 12
"""48 bits: collisions between two configurations of one endpoint are not a practical concern,
and the name stays within Azure's 32 characters for a deployment."""
_REVISION_NAME = re.compile(rf"^{REVISION_PREFIX}(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})$")


def config_hash(configuration: object) -> str:
    """A stable hash of a JSON-able configuration (key order does not matter)."""
    text = json.dumps(configuration, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def revision_name(configuration_hash: str) -> str:
    return f"{REVISION_PREFIX}{configuration_hash}"


def hash_of(name: str) -> str | None:
    """The configuration hash a revision name carries; None for a name the toolkit did not make."""
    match = _REVISION_NAME.match(name)
    return match["hash"] if match else None


@dataclass(frozen=True)
class EndpointRevision:
    id: str
    """The cloud's ID, the key of the endpoint's traffic split (Vertex: the deployed model ID;
    Azure ML: the deployment name)."""
    name: str
    traffic: int
    """Percent of the endpoint's requests it receives."""
    ready: bool = True
    """False while it is being created or after its creation failed (Azure ML keeps it then)."""
    details: dict[str, object] = field(default_factory=dict)
    """What `infra status` shows: machine or instance type, replicas, state."""

    @property
    def config_hash(self) -> str | None:
        return hash_of(self.name)


class EndpointDriver(Protocol):
    """One cloud's endpoint (orchestrator/vertex_endpoint.py, orchestrator/azureml_endpoint.py),
    seen through its SDK boundary (providers/gcp/vertex_api.py, providers/azure/azureml_api.py).
    Every method is one or a few SDK calls and waits for them."""

    cloud_name: str
    """For progress lines and messages: "Vertex AI", "Azure ML"."""
    endpoint_name: str

    def target_hash(self) -> str:
        """The hash of the serving configuration the spec asks for."""
        ...

    def describe_target(self) -> str:
        """One line: what the new revision runs on (for progress lines)."""
        ...

    def prepare_endpoint(self) -> bool:
        """Create or update what the endpoint itself needs; True when something changed."""
        ...

    def revisions(self) -> list[EndpointRevision]: ...

    def create_revision(self, share: int, others: dict[str, int]) -> None:
        """Deploy the target configuration (or repair its failed revision), then give it `share`
        percent of the traffic and `others` the rest (by revision ID)."""
        ...

    def set_traffic(self, split: dict[str, int]) -> None:
        """The whole traffic split, by revision ID; percentages add up to 100."""
        ...

    def remove_revision(self, revision_id: str) -> None:
        """Remove a revision that receives no traffic."""
        ...

    def remove_everything(self) -> list[str]:
        """Before `terraform destroy`: remove what the SDK created (revisions, models, the
        endpoint when the SDK made it); return what was removed."""
        ...
