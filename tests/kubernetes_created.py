"""What every `kind: kubernetes` stack holds on a cluster it creates, whichever the cloud: the
Kubernetes and Helm providers configured from the new cluster (an exec plugin, no token), KEDA's
Helm release at the shipped CRD's version, the workload's namespace first, the ScaledObject after
KEDA, and an output saying the deploy goes in stages. Used by the three stack test files."""

from __future__ import annotations

from typing import Any

from modules.kubernetes.keda import (
    KEDA_CHART,
    KEDA_CHART_REPOSITORY,
    KEDA_CHART_VERSION,
    KEDA_NAMESPACE,
)
from modules.kubernetes.manifests import POD_SECURITY_LABELS
from planner.secrets import find_secrets
from stacks.kubernetes_common import HELM_PROVIDER_VERSION, in_stages_note
from tests.stack_json import only, resources, service_outputs


def assert_serves_on_the_created_cluster(doc: dict[str, Any], cluster_type: str) -> None:
    """`doc` creates a `cluster_type` and applies KEDA and the workload on it."""
    cluster_key, _ = only(doc, cluster_type)
    created = f"{cluster_type}.{cluster_key}."
    (kubernetes,) = doc["provider"]["kubernetes"]
    (helm,) = doc["provider"]["helm"]
    on_cluster = helm["kubernetes"]
    for settings in (kubernetes, on_cluster):
        assert created in settings["host"] and created in settings["cluster_ca_certificate"]
        assert "data." not in settings["host"]
        assert not {"token", "client_key", "client_certificate", "password"} & set(settings)
    (kubernetes_exec,) = kubernetes["exec"]
    assert on_cluster["exec"]["command"] == kubernetes_exec["command"]
    assert on_cluster["exec"].get("args", []) == kubernetes_exec.get("args", [])
    assert doc["terraform"]["required_providers"]["helm"] == {
        "source": "hashicorp/helm",
        "version": HELM_PROVIDER_VERSION,
    }
    assert not list(find_secrets(doc))

    release_key, release = only(doc, "helm_release")
    assert (release["chart"], release["version"]) == (KEDA_CHART, KEDA_CHART_VERSION)
    assert release["repository"] == KEDA_CHART_REPOSITORY
    assert (release["namespace"], release["create_namespace"]) == (KEDA_NAMESPACE, True)

    manifests = resources(doc, "kubernetes_manifest")
    by_kind = {body["manifest"]["kind"]: (key, body) for key, body in manifests.items()}
    namespace_key, namespace = by_kind["Namespace"]
    assert namespace["manifest"]["metadata"]["labels"].items() >= POD_SECURITY_LABELS.items()
    _, account = by_kind["ServiceAccount"]
    assert f"kubernetes_manifest.{namespace_key}" in account["depends_on"]
    _, scaler = by_kind["ScaledObject"]
    assert f"helm_release.{release_key}" in scaler["depends_on"]
    assert "InferenceService" not in by_kind  # KServe is never installed on a new cluster

    applied = service_outputs(doc)["kubernetes_workload"]["value"]
    assert applied.startswith("applied: ") and in_stages_note() in applied
