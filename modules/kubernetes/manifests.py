"""The serving workload applied through Terraform: one `kubernetes_manifest` per rendered object
(the hashicorp/kubernetes provider's server-side apply), so plan, drift and destroy work as for
every other kind.

The provider reads the cluster's API at plan time (it needs each kind's schema, the KServe, KEDA
and Gateway API CRDs included): on a cluster the stack creates, the manifests are planned in a
later stage of the deploy than the cluster (orchestrator/staging.py), and the ScaledObject after
the KEDA release that installs its CRD.
"""

from __future__ import annotations

from typing import Any

from cdktn import ITerraformDependable, TerraformProvider
from cdktn_provider_kubernetes.manifest import Manifest
from constructs import Construct

from modules.kubernetes.workload import MANAGED_BY, WorkloadProps, render_workload

POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}
"""Pod Security Admission on a namespace the workload creates: the baseline profile enforced
(no privileged or host-namespace pods), the restricted one reported."""
SCALER_KIND = "ScaledObject"


def namespace(props: WorkloadProps) -> dict[str, Any]:
    """The workload's namespace, for a cluster that has none yet (one the toolkit creates)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": props.namespace,
            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY, **POD_SECURITY_LABELS},
        },
    }


def manifest_id(obj: dict[str, Any]) -> str:
    """A construct id that stays the same while the object's kind and name do."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}"


class KubernetesWorkload(Construct):
    """Every object of `props`' workload as a `kubernetes_manifest` resource. The workload's
    objects depend on its ServiceAccount, so Terraform creates the account first and removes it
    last.

    `create_namespace`: the namespace is one of the objects, first of all (a new cluster has
    none). `after`: what every object waits for (the rights to write them). `scaler_after`: what
    the ScaledObject waits for besides the account (KEDA's Helm release on a new cluster, which
    installs the ScaledObject CRD)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        props: WorkloadProps,
        *,
        provider: TerraformProvider | None = None,
        create_namespace: bool = False,
        after: tuple[ITerraformDependable, ...] = (),
        scaler_after: tuple[ITerraformDependable, ...] = (),
    ) -> None:
        super().__init__(scope, id)
        self.objects = [namespace(props)] if create_namespace else []
        self.objects += render_workload(props)
        self.manifests: dict[str, Manifest] = {}
        first: list[ITerraformDependable] = list(after)
        for obj in self.objects:
            after = [*first, *(scaler_after if obj["kind"] == SCALER_KIND else ())]
            manifest = Manifest(
                self,
                manifest_id(obj),
                manifest=obj,
                provider=provider,
                depends_on=after or None,
            )
            if obj["kind"] in ("Namespace", "ServiceAccount"):
                first = [manifest]
            self.manifests[manifest_id(obj)] = manifest
