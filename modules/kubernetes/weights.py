"""The init container that copies a model's weights from object storage into the pod, signed in
by the pod's workload identity (EKS IRSA, GKE Workload Identity, Azure Workload Identity): no key
is ever written into a manifest.

What runs is the cloud's to say (`modules/<cloud>/kubernetes_workload.py`: its CLI image, pinned
by tag, and its copy command); this module runs it the same way everywhere: as a non-root user
with a read-only root filesystem, HOME and the CLI's configuration on the pod's /tmp volume, the
location in environment variables and never through a shell interpolation, so a hostile URI
cannot run a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

WEIGHTS_VOLUME = "weights"
SCRATCH_DIR = "/tmp"
DOWNLOAD_DIR = "/weights"
"""Where the init container writes; the engine mounts the same volume read-only."""
_SAFE_SUBDIRECTORY = re.compile(r"^(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*\Z")


@dataclass(frozen=True, kw_only=True)
class WeightsDownload:
    """How one cloud copies one weights location into DOWNLOAD_DIR."""

    uri: str
    """The location, as the user gave it (for messages). Required."""
    image: str
    """The cloud CLI's image. Required."""
    command: tuple[str, ...]
    """The container's command; it writes under DOWNLOAD_DIR. Required."""
    env: dict[str, str] = field(default_factory=dict)
    """The location and the CLI's settings. Default: none."""
    subdirectory: str = ""
    """The part of DOWNLOAD_DIR the engine mounts, when the copy keeps a prefix in its paths.
    Default: the whole volume."""


def safe_subdirectory(path: str) -> bool:
    """A relative path with no empty, '.' or '..' segment (a volume subPath)."""
    return path == "" or bool(_SAFE_SUBDIRECTORY.match(path))


def download_container(
    download: WeightsDownload,
    *,
    resources: dict[str, Any],
    security_context: dict[str, Any],
) -> dict[str, Any]:
    """The init container that fills the weights volume before the engine starts. It runs before
    the engine, never beside it, so it takes the engine's CPU and memory (less its GPUs) without
    raising what the pod asks of its node."""
    environment = {"HOME": SCRATCH_DIR, **download.env}
    return {
        "name": "download-weights",
        "image": download.image,
        "command": list(download.command),
        "env": [{"name": name, "value": value} for name, value in environment.items()],
        "resources": resources,
        "securityContext": security_context,
        "volumeMounts": [
            {"name": WEIGHTS_VOLUME, "mountPath": DOWNLOAD_DIR},
            {"name": "tmp", "mountPath": SCRATCH_DIR},
        ],
    }
