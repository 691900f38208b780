"""KubernetesWorkload synthesizes one `kubernetes_manifest` per rendered object, whose `manifest`
is the object itself: the JSON is read back and compared whole, since jsii can drop data it
does not understand without a word (DESIGN.md, known traps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modules.kubernetes.manifests import KubernetesWorkload, manifest_id
from modules.kubernetes.workload import WorkloadProps
from planner.secrets import find_secrets
from tests.test_kubernetes_workload import make_props

CASES: dict[str, WorkloadProps] = {
    "deployment-canary-azure": make_props("vllm", "azure", canary=True),
    "kserve-single-aws": make_props("triton", "aws", kserve=True),
    "kserve-canary-gcp": make_props("tgi", "gcp", kserve=True, canary=True),
}


class Synthesized:
    def __init__(self, outdir: Path, workloads: dict[str, KubernetesWorkload]) -> None:
        self.outdir = outdir
        self.workloads = workloads

    def document(self, case: str) -> dict[str, Any]:
        return json.loads((self.outdir / "stacks" / case / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """All cases in one App: the provider binding loads once."""
    from orchestrator.synth import ensure_jsii_node

    ensure_jsii_node()
    from cdktn import App, TerraformStack
    from cdktn_provider_kubernetes.provider import KubernetesProvider

    outdir = tmp_path_factory.mktemp("kubernetes") / "cdktf.out"
    app = App(outdir=str(outdir))
    workloads = {}
    for case, props in CASES.items():
        stack = TerraformStack(app, case)
        provider = KubernetesProvider(stack, "kubernetes", config_path="~/.kube/config")
        workloads[case] = KubernetesWorkload(stack, "workload", props, provider=provider)
    app.synth()
    return Synthesized(outdir, workloads)


@pytest.mark.parametrize("case", list(CASES))
def test_each_object_is_one_manifest_holding_it_whole(synthesized: Synthesized, case: str) -> None:
    document = synthesized.document(case)
    resources = document["resource"]["kubernetes_manifest"]
    objects = synthesized.workloads[case].objects
    assert len(resources) == len(objects)
    by_path = {body["//"]["metadata"]["path"]: body for body in resources.values()}
    for obj in objects:
        body = by_path[f"{case}/workload/{manifest_id(obj)}"]
        assert body["manifest"] == obj
        assert body["provider"] == "kubernetes"
    assert document["terraform"]["required_providers"]["kubernetes"]["source"] == (
        "hashicorp/kubernetes"
    )


@pytest.mark.parametrize("case", list(CASES))
def test_the_service_account_comes_first_and_goes_last(synthesized: Synthesized, case: str) -> None:
    resources = synthesized.document(case)["resource"]["kubernetes_manifest"]
    (account,) = [
        name for name, body in resources.items() if body["manifest"]["kind"] == "ServiceAccount"
    ]
    for name, body in resources.items():
        if name != account:
            assert body["depends_on"] == [f"kubernetes_manifest.{account}"]
        else:
            assert "depends_on" not in body


def test_the_synthesized_json_keeps_the_secret_a_reference(synthesized: Synthesized) -> None:
    document = synthesized.document("deployment-canary-azure")
    assert '"secretKeyRef": {"key": "token", "name": "hf-token"}' in json.dumps(document)
    assert list(find_secrets(document)) == []
