"""GkeServingStack (`kind: kubernetes` on GKE): assertions on the synthesized Terraform JSON, its
refusals, and `infra recommend`, `synth` and `cost` of the Kubernetes example through the CLI.

Every spec of the module is synthesized in one App (the Google and Kubernetes bindings load
once). Expectations come from the specs and from the constants the stack is meant to use, so a
change of behaviour fails a test. No Google or Kubernetes Terraform provider is available offline
here: the JSON assertions and the bindings' own type checks stand in for `terraform validate`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from core.errors import InfraError
from modules.gcp.gke import GPU_TAINT, NODE_ROLE, WORKLOAD_IDENTITY_USER, workload_account_id
from modules.gcp.kubernetes_workload import ACCOUNT_ANNOTATION, DOWNLOADER_IMAGE
from modules.kubernetes.workload import GPU_RESOURCE
from modules.readiness import pricing_only
from orchestrator.synth import synthesize
from planner.deployment import (
    HEALTH_PATHS,
    CapacitySpec,
    DeploymentSpec,
    RuntimeSpec,
    ScalingSpec,
)
from planner.profile import GcpOptions, KubernetesOptions
from planner.secrets import find_secrets
from stacks.common import GCP_PROJECT_ENV
from stacks.gke_kubernetes import (
    AUTH_PLUGIN,
    EXEC_API_VERSION,
    KUBERNETES_PROVIDER_VERSION,
)
from stacks.kubernetes_common import DEPLOYMENT_LABEL, pool_ranges, workload_name
from tests.conftest import EXAMPLES, Cli
from tests.kubernetes_created import assert_serves_on_the_created_cluster
from tests.stack_json import (
    Synthesized,
    assert_records_its_spec,
    data_sources,
    empty_structs,
    one_sentence,
    only,
    ref,
    resources,
    service_outputs,
    synthesize_specs,
)

PROJECT = "serving-project-1"
REGION = "us-central1"
ZONES = ["us-central1-a", "us-central1-c"]
CLUSTER = "gpu-serving"
WEIGHTS_BUCKET = "weights-bucket"
WEIGHTS = f"gs://{WEIGHTS_BUCKET}/llama/8b"
HF_SECRET = "hf-token"
TAGS = {"team": "ML Platform", "cost-center": "CC.4242", "env": "prod"}
LABELS = {"team": "ml_platform", "cost-center": "cc_4242", "env": "prod"}
EXAMPLE = EXAMPLES / "chat-8b-kubernetes.yaml"


def make_spec(
    name: str,
    *,
    kubernetes: dict[str, Any],
    capacity: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    gcp: dict[str, Any] | None = None,
    **fields: Any,
) -> DeploymentSpec:
    """Two-L4 g2-standard-24 nodes over two zones, two pods per node, one on-demand node under
    a spot range, the weights in Cloud Storage; sections and fields overridable."""
    capacity_fields: dict[str, Any] = {
        "min_size": 2,
        "desired": 3,
        "max_size": 6,
        "on_demand_base": 1,
        "spot_percentage_above_base": 100,
        "health_check_grace_s": 840,
        **(capacity or {}),
    }
    runtime_fields: dict[str, Any] = {
        "engine": "vllm",
        "image": "vllm/vllm-openai:v0.10.2",
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "precision": "bf16",
        "tensor_parallel": 1,
        "replicas_per_instance": 2,
        "max_batch": 64,
        "health_path": HEALTH_PATHS["vllm"],
        **(runtime or {}),
    }
    spec_fields: dict[str, Any] = {
        "name": name,
        "env": "prod",
        "cloud": "gcp",
        "kind": "kubernetes",
        "region": REGION,
        "zones": list(ZONES),
        "instance_type": "g2-standard-24",
        "accelerator": "L4",
        "accelerators_per_instance": 2,
        "root_volume_gib": 150,
        "tags": dict(TAGS),
        "required_tags": ["team", "env"],
        **fields,
    }
    return DeploymentSpec(
        capacity=CapacitySpec(**capacity_fields),
        runtime=RuntimeSpec(**runtime_fields),
        scaling=ScalingSpec(signal="requests_in_flight_per_replica", target=12.0),
        gcp=GcpOptions(**{"project": PROJECT, "model_gcs_uri": WEIGHTS, **(gcp or {})}),
        kubernetes=KubernetesOptions(**kubernetes),
        **spec_fields,
    )


KSERVE = make_spec(
    "gke-kserve", kubernetes={"cluster": CLUSTER, "kserve": True, "hf_token_secret": HF_SECRET}
)
PLAIN = make_spec(
    "gke-plain",
    kubernetes={"cluster": CLUSTER, "cluster_location": "us-central1-b", "namespace": "llm"},
    capacity={"min_size": 1, "desired": 2, "max_size": 3, "spot_percentage_above_base": 0},
    gcp={"model_gcs_uri": None},
    runtime={"tensor_parallel": 2, "replicas_per_instance": 1},
)
NEW = make_spec("gke-new", kubernetes={"create_cluster": True, "kubernetes_version": "1.33"})
PRICED = make_spec("gke-priced", kubernetes={"cluster": CLUSTER}, gcp={"project": None})
EXISTING = [KSERVE, PLAIN]
ALL_SPECS = [*EXISTING, NEW, PRICED]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """All specs in one App, priced-only (PRICED names no project, and the environment none)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(GCP_PROJECT_ENV, raising=False)
        with pricing_only() as deferred:
            result = synthesize_specs(ALL_SPECS, tmp_path_factory.mktemp("gke"), emulated=False)
        assert len(deferred) == 1 and "gke-priced" in deferred[0], deferred
        yield result


def pools(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Node pools by their role (the `infra.dev/pool` node label)."""
    found = resources(doc, "google_container_node_pool").values()
    return {pool["node_config"]["labels"]["infra.dev/pool"]: pool for pool in found}


def manifests(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Kubernetes objects the stack applies, by kind."""
    found = [body["manifest"] for body in resources(doc, "kubernetes_manifest").values()]
    by_kind = {obj["kind"]: obj for obj in found}
    assert len(by_kind) == len(found), "one object of each kind"
    return by_kind


def pod_specs(node: Any) -> Iterator[dict[str, Any]]:
    """Every pod spec inside an object (a Deployment's template, KServe's predictor)."""
    if isinstance(node, dict):
        if "containers" in node:
            yield node
        for value in node.values():
            yield from pod_specs(value)
    elif isinstance(node, list):
        for value in node:
            yield from pod_specs(value)


def workload_account(doc: dict[str, Any], spec: DeploymentSpec) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (key, body)
        for key, body in resources(doc, "google_service_account").items()
        if body["account_id"] == workload_account_id(spec.stack_name)
    ]
    return found


def email_of(spec: DeploymentSpec) -> str:
    return f"{workload_account_id(spec.stack_name)}@{PROJECT}.iam.gserviceaccount.com"


# ---------------------------------------------------------------------------------------------
# Node pools


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_pools_follow_the_planned_ranges_machine_and_zones(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    found = pools(synthesized[spec])
    ranges = pool_ranges(spec.capacity)
    planned = {"on-demand": ranges.on_demand, "spot": ranges.spot}
    assert set(found) == {role for role, size in planned.items() if size is not None}
    for role, pool in found.items():
        size = planned[role]
        assert size is not None
        assert pool["autoscaling"]["total_min_node_count"] == size.min_nodes
        assert pool["autoscaling"]["total_max_node_count"] == size.max_nodes
        assert pool["autoscaling"]["location_policy"] == ("ANY" if role == "spot" else "BALANCED")
        assert pool["node_locations"] == spec.zones
        if spec is not PRICED:  # else the provider's own project, read at plan time
            assert pool["project"] == PROJECT
        config = pool["node_config"]
        assert config["spot"] is (role == "spot")
        assert config["machine_type"] == spec.instance_type
        assert config["disk_size_gb"] == spec.root_volume_gib
        assert config["resource_labels"] == LABELS
    # jsii drops struct fields it does not know (an empty `{}`); a manifest's emptyDir is `{}`.
    doc = synthesized[spec]
    assert not empty_structs(
        {k: v for k, v in doc["resource"].items() if k != "kubernetes_manifest"}
    )


def test_existing_kserve_cluster_has_an_on_demand_base_and_a_spot_pool(
    synthesized: Synthesized,
) -> None:
    found = pools(synthesized[KSERVE])
    assert found["on-demand"]["autoscaling"]["total_max_node_count"] == 1
    assert found["spot"]["autoscaling"]["total_min_node_count"] == 1
    assert found["spot"]["autoscaling"]["total_max_node_count"] == 5


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_nodes_have_gpus_with_automatic_drivers_shielded_boot_and_the_gpu_taint(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    for pool in pools(synthesized[spec]).values():
        config = pool["node_config"]
        (gpu,) = config["guest_accelerator"]
        assert gpu["type"] == "nvidia-l4" and gpu["count"] == spec.accelerators_per_instance
        assert gpu["gpu_driver_installation_config"] == {"gpu_driver_version": "LATEST"}
        assert config["shielded_instance_config"] == {
            "enable_secure_boot": True,
            "enable_integrity_monitoring": True,
        }
        assert config["workload_metadata_config"] == {"mode": "GKE_METADATA"}
        assert config["metadata"] == {"disable-legacy-endpoints": "true"}
        # A created cluster has no other pool: kube-dns and KEDA run on these nodes too.
        taint = {"key": GPU_TAINT.key, "value": GPU_TAINT.value, "effect": GPU_TAINT.effect}
        assert config["taint"] == ([] if spec.kubernetes.create_cluster else [taint])
        assert pool["management"] == {"auto_repair": True, "auto_upgrade": True}


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_every_node_carries_the_deployment_label_its_pods_select(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    name = workload_name(spec)
    for role, pool in pools(synthesized[spec]).items():
        assert pool["node_config"]["labels"] == {DEPLOYMENT_LABEL: name, "infra.dev/pool": role}


@pytest.mark.parametrize(
    ("spec", "location"), [(KSERVE, REGION), (PLAIN, "us-central1-b")], ids=["region", "zone"]
)
def test_pools_join_the_existing_cluster_by_name_and_location(
    synthesized: Synthesized, spec: DeploymentSpec, location: str
) -> None:
    doc = synthesized[spec]
    assert not resources(doc, "google_container_cluster")
    assert not resources(doc, "google_compute_network")
    for pool in pools(doc).values():
        assert pool["cluster"] == f"projects/{PROJECT}/locations/{location}/clusters/{CLUSTER}"
        assert pool["location"] == location
    ((_, cluster),) = data_sources(doc, "google_container_cluster").items()
    assert {k: cluster[k] for k in ("name", "location", "project")} == {
        "name": CLUSTER,
        "location": location,
        "project": PROJECT,
    }


def test_node_account_has_the_node_role_only(synthesized: Synthesized) -> None:
    doc = synthesized[KSERVE]
    (_, member) = only(doc, "google_project_iam_member")
    assert member["role"] == NODE_ROLE and member["project"] == PROJECT
    for pool in pools(doc).values():
        key = pool["node_config"]["service_account"].split(".")[1]
        assert resources(doc, "google_service_account")[key]["account_id"].endswith("gke-nodes")
        assert pool["node_config"]["service_account"] == ref("google_service_account", key, "email")


# ---------------------------------------------------------------------------------------------
# A new cluster


def test_create_cluster_makes_a_private_workload_identity_cluster_with_keda_and_the_workload(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[NEW]
    key, cluster = only(doc, "google_container_cluster")
    assert cluster["location"] == REGION
    assert cluster["private_cluster_config"]["enable_private_nodes"] is True
    assert cluster["private_cluster_config"]["enable_private_endpoint"] is True
    assert cluster["workload_identity_config"] == {"workload_pool": f"{PROJECT}.svc.id.goog"}
    assert cluster["enable_shielded_nodes"] is True
    assert cluster["remove_default_node_pool"] is True
    assert cluster["min_master_version"] == "1.33"
    for pool in pools(doc).values():
        assert pool["cluster"] == ref("google_container_cluster", key, "id")
        assert pool["location"] == REGION
    assert not doc.get("data", {}).get("google_container_cluster")
    assert_serves_on_the_created_cluster(doc, "google_container_cluster")
    (kubernetes,) = doc["provider"]["kubernetes"]
    assert kubernetes["host"] == f"https://{ref('google_container_cluster', key, 'endpoint')}"
    outputs = service_outputs(doc)
    assert outputs["cluster_name"]["value"] == ref("google_container_cluster", key, "name")
    sentence = outputs["kubernetes_workload"]["value"]
    assert sentence.startswith(f"applied: a Deployment and a Service serving/{NEW.stack_name} ")
    assert f"in cluster {ref('google_container_cluster', key, 'name')}" in sentence


def test_a_new_cluster_without_a_version_takes_the_channel_default(
    synthesized: Synthesized,
) -> None:
    """Only NEW asks for a version; the existing clusters' stacks create no cluster at all."""
    assert NEW.kubernetes.kubernetes_version == "1.33"
    for spec in EXISTING:
        assert not resources(synthesized[spec], "google_container_cluster")


# ---------------------------------------------------------------------------------------------
# The workload's identity


@pytest.mark.parametrize("spec", [KSERVE, PLAIN, NEW], ids=lambda s: s.name)
def test_workload_identity_binds_the_pods_service_account_to_the_google_account(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    key, _ = workload_account(doc, spec)
    (_, binding) = only(doc, "google_service_account_iam_member")
    namespace = spec.kubernetes.namespace
    account = f"{workload_name(spec)}-serving"
    assert binding == {
        **binding,
        "service_account_id": ref("google_service_account", key, "name"),
        "role": WORKLOAD_IDENTITY_USER,
        "member": f"serviceAccount:{PROJECT}.svc.id.goog[{namespace}/{account}]",
    }


@pytest.mark.parametrize("spec", [KSERVE, NEW], ids=lambda s: s.name)
def test_the_google_account_reads_only_the_weights_prefix(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    key, _ = workload_account(doc, spec)
    (_, grant) = only(doc, "google_storage_bucket_iam_member")
    assert grant["bucket"] == WEIGHTS_BUCKET
    assert grant["role"] == "roles/storage.objectViewer"
    assert grant["member"] == ref("google_service_account", key, "member")
    expression = grant["condition"]["expression"]
    assert 'objects/llama/8b/")' in expression
    assert "objectListPrefix" in expression


def test_without_weights_the_google_account_reads_no_storage(synthesized: Synthesized) -> None:
    assert not resources(synthesized[PLAIN], "google_storage_bucket_iam_member")


# ---------------------------------------------------------------------------------------------
# The workload's manifests and the Kubernetes provider


@pytest.mark.parametrize(
    ("spec", "kinds"),
    [
        (KSERVE, {"ServiceAccount", "InferenceService", "PodDisruptionBudget", "ScaledObject"}),
        (PLAIN, {"ServiceAccount", "Deployment", "Service", "PodDisruptionBudget", "ScaledObject"}),
    ],
    ids=["kserve", "deployment"],
)
def test_an_existing_cluster_gets_the_workload(
    synthesized: Synthesized, spec: DeploymentSpec, kinds: set[str]
) -> None:
    doc = synthesized[spec]
    objects = manifests(doc)
    assert set(objects) == kinds
    for body in resources(doc, "kubernetes_manifest").values():
        assert body["provider"] == "kubernetes"
        assert body["manifest"]["metadata"]["namespace"] == spec.kubernetes.namespace
    account = objects["ServiceAccount"]
    assert account["metadata"]["name"] == f"{workload_name(spec)}-serving"
    assert account["metadata"]["annotations"] == {ACCOUNT_ANNOTATION: email_of(spec)}
    (pod,) = [pod for kind in kinds for pod in pod_specs(objects[kind])]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["nodeSelector"] == {DEPLOYMENT_LABEL: workload_name(spec)}
    (engine,) = pod["containers"]
    gpus = str(spec.runtime.tensor_parallel)
    assert engine["resources"]["limits"][GPU_RESOURCE] == gpus
    assert {"key": GPU_TAINT.key, "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert objects["ScaledObject"]["spec"]["minReplicaCount"] == max(
        spec.capacity.min_size * spec.runtime.replicas_per_instance, 1
    )


def test_weights_come_from_cloud_storage_and_the_token_from_a_secret(
    synthesized: Synthesized,
) -> None:
    (pod,) = pod_specs(manifests(synthesized[KSERVE])["InferenceService"])
    (download,) = pod["initContainers"]
    assert download["image"] == DOWNLOADER_IMAGE
    assert {"name": "WEIGHTS_URI", "value": WEIGHTS} in download["env"]
    (engine,) = pod["containers"]
    token = {"secretKeyRef": {"name": HF_SECRET, "key": "token"}}
    assert {"name": "HF_TOKEN", "valueFrom": token} in engine["env"]
    (plain,) = pod_specs(manifests(synthesized[PLAIN])["Deployment"])
    assert "initContainers" not in plain


@pytest.mark.parametrize("spec", EXISTING, ids=lambda s: s.name)
def test_the_kubernetes_provider_signs_in_with_the_gke_plugin_and_holds_no_token(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    ((key, _),) = data_sources(doc, "google_container_cluster").items()
    (provider,) = doc["provider"]["kubernetes"]
    cluster = f"data.google_container_cluster.{key}"
    assert provider == {
        "host": f"https://${{{cluster}.endpoint}}",
        "cluster_ca_certificate": (
            f"${{base64decode({cluster}.master_auth[0].cluster_ca_certificate)}}"
        ),
        "exec": [{"api_version": EXEC_API_VERSION, "command": AUTH_PLUGIN}],
    }
    assert doc["terraform"]["required_providers"]["kubernetes"] == {
        "source": "hashicorp/kubernetes",
        "version": KUBERNETES_PROVIDER_VERSION,
    }
    text = json.dumps(doc)
    assert "google_client_config" not in text and "access_token" not in text
    assert not list(find_secrets(doc))


def test_the_kubernetes_pin_admits_the_binding_s_provider() -> None:
    import tarfile

    import cdktn_provider_kubernetes

    (archive,) = (Path(cdktn_provider_kubernetes.__file__).parent / "_jsii").glob("*.jsii.tgz")
    with tarfile.open(archive) as bundle:
        package = json.load(bundle.extractfile("package/package.json"))  # type: ignore[arg-type]
    major = int(package["cdktn"]["provider"]["version"].split(".")[0])
    assert KUBERNETES_PROVIDER_VERSION.endswith(f"< {major + 1}")


# ---------------------------------------------------------------------------------------------
# Outputs, the record, priced-only


@pytest.mark.parametrize(
    ("spec", "served"),
    [(KSERVE, "a KServe InferenceService"), (PLAIN, "a Deployment and a Service")],
    ids=["kserve", "deployment"],
)
def test_outputs_name_the_cluster_and_say_what_was_applied(
    synthesized: Synthesized, spec: DeploymentSpec, served: str
) -> None:
    outputs = service_outputs(synthesized[spec])
    assert set(outputs) == {"cluster_name", "kubernetes_workload"}
    assert outputs["cluster_name"]["value"] == CLUSTER
    sentence = outputs["kubernetes_workload"]["value"]
    assert sentence.startswith(f"applied: {served} {spec.kubernetes.namespace}/")
    assert f"in cluster {CLUSTER}" in sentence and "\n" not in sentence


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_every_stack_records_its_spec(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    assert_records_its_spec(synthesized[spec], spec)


def test_priced_only_without_a_project_has_the_pools_and_no_workload(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[PRICED]
    assert set(pools(doc)) == {"on-demand", "spot"}
    assert not resources(doc, "kubernetes_manifest") and "kubernetes" not in doc["provider"]
    sentence = service_outputs(doc)["kubernetes_workload"]["value"]
    assert sentence.startswith("not applied: no Google Cloud project is named")


# ---------------------------------------------------------------------------------------------
# Refusals


def _refusal(tmp_path: Path, spec: DeploymentSpec, *, emulated: bool = False) -> str:
    with pytest.raises(InfraError) as caught:
        synthesize([(spec, tmp_path / "state")], tmp_path / "out", emulated=emulated)
    message = str(caught.value)
    one_sentence(message)
    assert not (tmp_path / "out" / "stacks" / spec.stack_name).exists()
    return message


@pytest.mark.parametrize(
    ("kubernetes", "gcp", "fields", "expected"),
    [
        (
            {"create_cluster": True, "cluster_location": "us-central1-a"},
            {},
            {},
            "a cluster the toolkit creates is regional in the deployment's region",
        ),
        (
            {"cluster": CLUSTER, "cluster_location": "europe-west4-a"},
            {},
            {},
            "is not in the deployment's region us-central1",
        ),
        (
            {"cluster": CLUSTER, "cluster_location": "us-east1"},
            {},
            {},
            "is not in the deployment's region us-central1",
        ),
        (
            {"cluster": CLUSTER},
            {"hf_token_secret": "hf-token"},
            {},
            "name it in deploy.kubernetes.hf_token_secret",
        ),
        (
            {"cluster": CLUSTER},
            {},
            {"instance_type": "n2-standard-8"},
            "is not in the gcp catalog",
        ),
        ({}, {}, {}, "name the existing cluster (deploy.kubernetes.cluster)"),
    ],
    ids=[
        "location-with-create",
        "zone-elsewhere",
        "region-elsewhere",
        "secret-manager",
        "catalog",
        "no-cluster",
    ],
)
def test_refusals_are_one_sentence_and_write_nothing(
    synthesized: Synthesized,
    tmp_path: Path,
    kubernetes: dict[str, Any],
    gcp: dict[str, Any],
    fields: dict[str, Any],
    expected: str,
) -> None:
    spec = make_spec("refused", kubernetes=kubernetes, gcp=gcp, **fields)
    assert expected in _refusal(tmp_path, spec)


def test_a_cluster_in_a_zone_of_the_region_is_accepted() -> None:
    from modules.gcp.spec_checks import check_gcp_spec

    check_gcp_spec(
        make_spec("zonal", kubernetes={"cluster": CLUSTER, "cluster_location": "us-central1-f"})
    )


def test_no_project_is_refused_outside_pricing(
    synthesized: Synthesized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(GCP_PROJECT_ENV, raising=False)
    assert "no Google Cloud project is named" in _refusal(tmp_path, PRICED)


def test_the_local_emulator_is_refused(synthesized: Synthesized, tmp_path: Path) -> None:
    assert "emulates AWS only" in _refusal(tmp_path, KSERVE, emulated=True)


# ---------------------------------------------------------------------------------------------
# Through the CLI, with the example


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Kubernetes example in a directory of its own (synth writes .infra/ beside it)."""
    monkeypatch.setenv(GCP_PROJECT_ENV, PROJECT)
    profile = tmp_path / EXAMPLE.name
    profile.write_text(EXAMPLE.read_text())
    return profile


def _creating_a_cluster(profile: Path) -> Path:
    data = yaml.safe_load(profile.read_text())
    data["deploy"]["kubernetes"] = {"create_cluster": True}
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    return profile


PINS = ("--env", "prod", "--cloud", "gcp", "--kind", "kubernetes")


def test_recommend_picks_gke_and_prices_a_control_plane_only_when_it_creates_one(
    cli: Cli, example: Path
) -> None:
    result, data = cli.json("recommend", example, "--cloud", "gcp", "--kind", "kubernetes")
    assert result.exit_code == 0, result.output
    assert (data["chosen"]["cloud"], data["chosen"]["kind"]) == ("gcp", "kubernetes")
    assert data["chosen"]["cluster_usd_per_hour"] == 0.0
    result, data = cli.json(
        "recommend", _creating_a_cluster(example), "--cloud", "gcp", "--kind", "kubernetes"
    )
    assert result.exit_code == 0, result.output
    # providers/gcp/data/services.csv: GKE's cluster management fee, $0.10 per cluster-hour
    assert data["chosen"]["cluster_usd_per_hour"] == 0.10


def test_synth_of_the_example_through_the_cli(cli: Cli, example: Path) -> None:
    result = cli("synth", example, *PINS)
    assert result.exit_code == 0, result.output
    (config,) = (example.parent / ".infra").rglob("cdk.tf.json")
    doc = json.loads(config.read_text())
    assert set(manifests(doc)) == {
        "ServiceAccount",
        "InferenceService",
        "PodDisruptionBudget",
        "ScaledObject",
    }
    assert set(pools(doc)) == {"on-demand", "spot"}
    assert service_outputs(doc)["cluster_name"]["value"] == CLUSTER
    spec = msgspec.json.decode(doc["output"]["infra_deployment"]["value"])
    assert spec["kubernetes"]["hf_token_secret"] == "hf-token"


def test_cost_of_the_example_prices_the_pools_and_nothing_is_unknown(
    cli: Cli, example: Path
) -> None:
    result, report = cli.json("cost", example, *PINS)
    assert result.exit_code == 0, result.output
    assert report["unpriced"] == []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in report["resources"]:
        by_type.setdefault(row["type"], []).append(row)
    pools = by_type["google_container_node_pool"]
    assert len(pools) == 2
    assert all(row["status"] == "priced" and row["monthly_usd"] > 0 for row in pools)
    objects = by_type["kubernetes_manifest"]
    assert len(objects) == 4
    assert all(row["status"] == "free" and row["monthly_usd"] == 0 for row in objects)
    assert {row["status"] for row in report["resources"]} == {"priced", "free"}
    assert "google_container_cluster" not in by_type
    assert not (example.parent / ".infra").exists()


def test_cost_of_a_created_cluster_adds_gke_s_cluster_fee(cli: Cli, example: Path) -> None:
    result, report = cli.json("cost", _creating_a_cluster(example), *PINS)
    assert result.exit_code == 0, result.output
    statuses = {row["type"]: row["status"] for row in report["resources"]}
    # The new cluster's network: Cloud NAT bills by the VMs and traffic it sees (usage-based).
    assert {t for t, status in statuses.items() if status not in ("priced", "free")} == {
        "google_compute_router_nat"
    }
    assert statuses["google_compute_router_nat"] == "usage-based"
    (cluster,) = [r for r in report["resources"] if r["type"] == "google_container_cluster"]
    assert cluster["monthly_usd"] == pytest.approx(0.10 * report["hours_per_month"])
    # The workload and KEDA on the new cluster run on its priced nodes.
    assert statuses["kubernetes_manifest"] == statuses["helm_release"] == "free"
