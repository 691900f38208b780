"""KEDA on a cluster the toolkit creates (modules/kubernetes/keda.py): the chart is the KEDA
release whose ScaledObject schema is shipped, the Helm provider pin admits the binding's
provider, and the release's values make KEDA's pods tolerate a new cluster's only taints."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

from modules.kubernetes.keda import (
    CRITICAL_ADDONS_TOLERATION,
    KEDA_CHART_VERSION,
    KedaProps,
    helm_values,
)
from modules.kubernetes.workload import GPU_RESOURCE, Toleration
from stacks.kubernetes_common import HELM_PROVIDER_VERSION
from tests.conftest import REPO


def test_the_chart_is_the_keda_release_of_the_shipped_scaledobject_schema() -> None:
    sources = (REPO / "modules" / "kubernetes" / "schemas" / "README.md").read_text()
    (row,) = [r for r in sources.splitlines() if r.startswith("| `scaledobject-keda.sh")]
    tag = re.search(r"\| (v[0-9.]+) \|", row)
    assert tag is not None and tag[1] == f"v{KEDA_CHART_VERSION}"


def test_the_helm_pin_admits_the_binding_s_provider() -> None:
    import cdktn_provider_helm

    (archive,) = (Path(cdktn_provider_helm.__file__).parent / "_jsii").glob("*.jsii.tgz")
    with tarfile.open(archive) as bundle:
        package = json.load(bundle.extractfile("package/package.json"))  # type: ignore[arg-type]
    major = int(package["cdktn"]["provider"]["version"].split(".")[0])
    assert f">= {major}.0, < {major + 1}" == HELM_PROVIDER_VERSION


def test_keda_tolerates_the_gpu_taint_and_critical_addons_only() -> None:
    values = json.loads(helm_values(KedaProps()))
    assert values == {
        "tolerations": [
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
            {"key": CRITICAL_ADDONS_TOLERATION.key, "operator": "Exists", "effect": "NoSchedule"},
        ]
    }
    pinned = KedaProps(tolerations=(Toleration(key="dedicated", value="keda"),))
    assert json.loads(helm_values(pinned))["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "keda", "effect": "NoSchedule"}
    ]
