"""The serving workload applied through Terraform: one `kubernetes_manifest` per rendered object
(the hashicorp/kubernetes provider's server-side apply), so plan, drift and destroy work as for
every other kind.

The provider reads the cluster's API at plan time (it needs each kind's schema, the KServe, KEDA
and Gateway API CRDs included): the stack configures it for the cluster and depends on the
cluster when it creates one.
"""

from __future__ import annotations

from typing import Any

from cdktn import TerraformProvider
from cdktn_provider_kubernetes.manifest import Manifest
from constructs import Construct

from modules.kubernetes.workload import WorkloadProps, render_workload


def manifest_id(obj: dict[str, Any]) -> str:
    """A construct id that stays the same while the object's kind and name do."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}"


class KubernetesWorkload(Construct):
    """Every object of `props`' workload as a `kubernetes_manifest` resource. The workload's
    objects depend on its ServiceAccount, so Terraform creates the account first and removes it
    last."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        props: WorkloadProps,
        *,
        provider: TerraformProvider | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.objects = render_workload(props)
        self.manifests: dict[str, Manifest] = {}
        account: Manifest | None = None
        for obj in self.objects:
            manifest = Manifest(
                self,
                manifest_id(obj),
                manifest=obj,
                provider=provider,
                depends_on=[account] if account is not None else None,
            )
            if obj["kind"] == "ServiceAccount":
                account = manifest
            self.manifests[manifest_id(obj)] = manifest
