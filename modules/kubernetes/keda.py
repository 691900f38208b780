"""KEDA installed with Terraform's Helm provider, for a cluster the toolkit creates (an existing
cluster must run KEDA already): the kedacore/keda chart at the KEDA version whose ScaledObject
CRD schema the workload is checked against (modules/kubernetes/schemas/README.md).

The chart installs KEDA's CRDs from its templates (`crds.install`, on by default), so Helm
upgrades them with the release. KEDA's pods tolerate AKS's CriticalAddonsOnly taint (a new AKS
cluster's system pool has it) and the GPU taint (a new AKS cluster's GPU pools keep it; a new EKS
or GKE cluster's GPU pools, its only nodes, carry none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktn import ITerraformDependable, TerraformProvider
from cdktn_provider_helm.release import Release
from constructs import Construct

from modules.kubernetes.workload import GPU_TOLERATIONS, Toleration

KEDA_CHART_REPOSITORY = "https://kedacore.github.io/charts"
KEDA_CHART = "keda"
KEDA_CHART_VERSION = "2.20.2"
"""kedacore/charts keda/Chart.yaml at tag v2.20.2 (commit cbb9bb8ce0809dc9048f72302f7c09765d66ed56,
2026-07-31): chart 2.20.2, appVersion 2.20.2, the KEDA release of the shipped ScaledObject
schema."""
KEDA_NAMESPACE = "keda"
"""The namespace KEDA's install instructions use (`helm install keda kedacore/keda -n keda
--create-namespace`, kedacore/charts release notes)."""
CRITICAL_ADDONS_TOLERATION = Toleration(key="CriticalAddonsOnly")
"""The taint of an AKS system pool with only_critical_addons_enabled (modules/azure/aks.py)."""


@dataclass(frozen=True, kw_only=True)
class KedaProps:
    tolerations: tuple[Toleration, ...] = (*GPU_TOLERATIONS, CRITICAL_ADDONS_TOLERATION)
    """Taints KEDA's pods tolerate. Default: the GPU taint and CriticalAddonsOnly, so that KEDA
    runs on a new cluster's only nodes."""
    timeout_s: int = 600
    """How long the apply waits for KEDA's pods to be ready (the release's `timeout`); a new
    cluster's first nodes may still be joining. Default 600."""


def helm_values(props: KedaProps) -> str:
    """The release's values as YAML (JSON is YAML)."""
    tolerations = [
        {
            "key": t.key,
            "operator": "Exists" if t.value is None else "Equal",
            **({"value": t.value} if t.value is not None else {}),
            "effect": t.effect,
        }
        for t in props.tolerations
    ]
    return json.dumps({"tolerations": tolerations}, sort_keys=True)


class KedaRelease(Construct):
    """KEDA's Helm release (`release`), in its own namespace, which the release creates."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        props: KedaProps,
        *,
        provider: TerraformProvider,
        after: tuple[ITerraformDependable, ...] = (),
    ) -> None:
        super().__init__(scope, id)
        self.release = Release(
            self,
            "release",
            name=KEDA_CHART,
            repository=KEDA_CHART_REPOSITORY,
            chart=KEDA_CHART,
            version=KEDA_CHART_VERSION,
            namespace=KEDA_NAMESPACE,
            create_namespace=True,
            values=[helm_values(props)],
            timeout=props.timeout_s,
            provider=provider,
            depends_on=list(after) or None,
        )
