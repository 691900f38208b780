"""The Kubernetes serving workload: every combination of engine, KServe, canary and cloud renders
objects that validate against the Kubernetes API (several minor versions) and the KServe, KEDA
and Gateway API CRD schemas; GPUs, identity, weights, secrets and scaling are what they say."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from core.errors import InfraError
from modules.aws import kubernetes_workload as eks
from modules.azure import kubernetes_workload as aks
from modules.gcp import kubernetes_workload as gke
from modules.kubernetes.engines import QUEUE_METRICS, TRITON_METRICS_PORT, engine_args
from modules.kubernetes.workload import (
    GatewayRef,
    SecretKeyRef,
    StableRevision,
    WorkloadProps,
    render_workload,
)
from modules.kubernetes.workload_checks import WorkloadError
from planner.deployment import HEALTH_PATHS
from planner.images import DEFAULT_IMAGES
from planner.secrets import find_secrets
from tests.kubernetes_schemas import KUBERNETES_VERSIONS, InvalidObject, validate
from tests.test_user_data import engine_args as fleet_engine_args
from tests.test_user_data import make_spec

ENGINES = ("vllm", "tgi", "triton")
CORE_KINDS = {"ServiceAccount", "Deployment", "Service", "PodDisruptionBudget"}
MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"
CLOUDS = {"aws": eks, "gcp": gke, "azure": aks}
"""Each cloud's part of the workload: its identity and its weights copy."""
PRINCIPALS = {
    "aws": "arn:aws:iam::123456789012:role/chat-serving",
    "gcp": "chat-serving@my-project.iam.gserviceaccount.com",
    "azure": "00000000-1111-2222-3333-444444444444",
}
ANNOTATIONS = {
    "aws": "eks.amazonaws.com/role-arn",
    "gcp": "iam.gke.io/gcp-service-account",
    "azure": "azure.workload.identity/client-id",
}
WEIGHTS = {
    "aws": "s3://models-bucket/llama-3.1-8b",
    "gcp": "gs://models-bucket/llama-3.1-8b",
    "azure": "https://modelstore.blob.core.windows.net/models/llama-3.1-8b",
}
ZONES = {
    "aws": ("us-east-1a", "us-east-1b"),
    "gcp": ("us-central1-a", "us-central1-b"),
    "azure": ("eastus-1", "eastus-2"),
}
NODE_POOLS = {
    "aws": {"eks.amazonaws.com/nodegroup": "chat-gpu"},
    "gcp": {"cloud.google.com/gke-nodepool": "chat-gpu"},
    "azure": {"kubernetes.azure.com/agentpool": "chatgpu"},
}


def make_props(
    engine: str = "vllm",
    cloud: str = "aws",
    *,
    kserve: bool = False,
    canary: bool = False,
    tensor_parallel: int = 2,
    **changes: Any,
) -> WorkloadProps:
    uri = WEIGHTS[cloud] if engine == "triton" or cloud != "gcp" else None
    weights = CLOUDS[cloud].weights_download(uri) if uri else None
    runtime = make_spec(engine, tensor_parallel=tensor_parallel).runtime
    props = WorkloadProps(
        name="chat",
        namespace="serving",
        engine=engine,  # type: ignore[arg-type]
        image=DEFAULT_IMAGES[engine],
        model_id=MODEL_ID,
        args=engine_args(runtime, weights_downloaded=weights is not None),
        health_path=HEALTH_PATHS[engine],
        tensor_parallel=tensor_parallel,
        cpu="20",
        memory="160Gi",
        min_replicas=1,
        max_replicas=4,
        desired_replicas=2,
        queue_target_per_replica=24,
        prometheus_address="http://prometheus-server.monitoring.svc:80",
        weights=weights,
        identity=CLOUDS[cloud].workload_identity(PRINCIPALS[cloud]),
        hf_token=SecretKeyRef(name="hf-token") if engine != "triton" else None,
        node_selector=NODE_POOLS[cloud],
        zones=ZONES[cloud],
        kserve=kserve,
        serverless=kserve and canary,
        canary_percent=10 if canary else None,
        stable=StableRevision(
            image=DEFAULT_IMAGES[engine].rsplit(":", 1)[0] + ":previous",
            args=engine_args(runtime, weights_downloaded=weights is not None),
            weights=weights,
        )
        if canary and not kserve
        else None,
        gateway=GatewayRef(name="inference", namespace="gateways")
        if canary and not kserve
        else None,
        labels={"team": "ml-platform"},
    )
    return dataclasses.replace(props, **changes)


def pods(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every pod spec in the objects: Deployment templates and KServe predictors."""
    found = []
    for obj in objects:
        if obj["kind"] == "Deployment":
            found.append(obj["spec"]["template"]["spec"])
        elif obj["kind"] == "InferenceService":
            found.append(obj["spec"]["predictor"])
    return found


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


COMBINATIONS = list(itertools.product(ENGINES, (False, True), (False, True), CLOUDS))


@pytest.mark.parametrize(
    ("engine", "kserve", "canary", "cloud"),
    COMBINATIONS,
    ids=[
        f"{e}-{'kserve' if k else 'deployment'}-{'canary' if c else 'single'}-{cloud}"
        for e, k, c, cloud in COMBINATIONS
    ],
)
def test_every_combination_validates(engine: str, kserve: bool, canary: bool, cloud: str) -> None:
    props = make_props(engine, cloud, kserve=kserve, canary=canary)
    objects = render_workload(props)
    for obj in objects:
        validate(obj)
        assert obj["metadata"]["namespace"] == "serving"
    kinds = [obj["kind"] for obj in objects]
    expected = ["ServiceAccount"]
    if kserve:
        expected += ["InferenceService"]
    else:
        expected += ["Deployment", "Service"] * (2 if canary else 1)
        expected += ["HTTPRoute"] if canary else []
    expected += ["PodDisruptionBudget"] + ([] if kserve and canary else ["ScaledObject"])
    assert kinds == expected
    assert list(find_secrets(objects)) == []
    for pod in pods(objects):
        engine_container = pod["containers"][0]
        resources = engine_container["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == str(props.tensor_parallel)
        assert resources["limits"]["nvidia.com/gpu"] == str(props.tensor_parallel)


@pytest.mark.parametrize("tensor_parallel", [1, 2, 4, 8])
@pytest.mark.parametrize("kserve", [False, True])
def test_gpu_request_is_the_tensor_parallel_degree(tensor_parallel: int, kserve: bool) -> None:
    props = make_props(tensor_parallel=tensor_parallel, kserve=kserve)
    (pod,) = pods(render_workload(props))
    (engine,) = pod["containers"]
    assert engine["resources"]["requests"]["nvidia.com/gpu"] == str(tensor_parallel)
    assert engine["resources"]["limits"]["nvidia.com/gpu"] == str(tensor_parallel)
    assert engine["args"][engine["args"].index("--tensor-parallel-size") + 1] == str(
        tensor_parallel
    )
    for init in pod["initContainers"]:
        assert "nvidia.com/gpu" not in json.dumps(init["resources"])


def test_the_hub_token_is_a_secret_reference() -> None:
    objects = render_workload(make_props("tgi", hf_token=SecretKeyRef(name="hub", key="hf")))
    (pod,) = pods(objects)
    (token,) = [v for v in pod["containers"][0]["env"] if v["name"] == "HF_TOKEN"]
    assert token == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hub", "key": "hf"}},
    }
    assert "value" not in token


def test_a_secret_value_in_the_engine_environment_is_refused() -> None:
    token = "hf_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3f"
    with pytest.raises(WorkloadError, match=r"env\.HUB holds what looks like a Hugging Face token"):
        render_workload(make_props(env={"HUB": token}))
    with pytest.raises(WorkloadError, match=r"args\[\d+\] holds") as raised:
        render_workload(make_props(args=("--api-key", "Zx81kQ0pLm2Nb7Vc4Rt9")))
    assert token not in str(raised.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "chat model"}, "the name must be lowercase"),
        ({"name": "a" * 41}, "at most 40 characters"),
        ({"namespace": "n" * 64}, "the namespace 'nnn"),
        ({"namespace": "Serving"}, "the namespace 'Serving'"),
        ({"health_path": "health"}, "must start with '/'"),
        ({"port": 70000}, "not between 1 and 65535"),
        ({"image": "vllm openai"}, "is not an image reference"),
        ({"cpu": "lots"}, "'lots' is not a Kubernetes quantity"),
        ({"min_replicas": 3, "max_replicas": 2}, "replicas must satisfy"),
        ({"desired_replicas": 9}, "desired replicas 9 are outside 1-4"),
        ({"queue_target_per_replica": 0}, "above 0"),
        ({"prometheus_address": "prometheus:9090"}, "must be an http(s) URL"),
        ({"identity": None}, "needs a workload identity"),
        ({"env": {"HF_TOKEN": "x"}}, "sets HF_TOKEN itself"),
        ({"env": {"BAD NAME": "x"}}, "'BAD NAME' is not valid"),
        ({"node_selector": {"pool": "gpu pool"}}, "is not a valid Kubernetes label"),
        ({"zones": ("us east",)}, "is not a valid zone name"),
        ({"hf_token": SecretKeyRef(name="Hub Token")}, "Secret name 'Hub Token'"),
        ({"canary_percent": 100}, "between 1 and 99"),
        ({"canary_percent": 10}, "needs the stable revision"),
        ({"kserve": True, "canary_percent": 10}, "works in its Serverless mode only"),
        ({"serverless": True}, "Serverless mode is KServe's"),
        ({"kserve": True, "serverless": True, "canary_percent": 100}, "between 0 and 99"),
        ({"run_as_user": 0}, "is root"),
    ],
)
def test_a_hostile_value_gets_one_sentence(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InfraError) as raised:
        render_workload(make_props(**changes))
    text = str(raised.value)
    assert message in text
    assert "\n" not in text and text.endswith(".")


def test_an_unknown_engine_is_refused() -> None:
    props = dataclasses.replace(make_props(), engine="sglang")
    with pytest.raises(WorkloadError, match="the engine 'sglang' is not one of vllm, tgi, triton"):
        render_workload(props)


def test_triton_without_a_model_repository_is_refused() -> None:
    with pytest.raises(WorkloadError, match="Triton serves a prebuilt model repository"):
        render_workload(make_props("triton", weights=None))


@pytest.mark.parametrize(
    ("build", "value", "message"),
    [
        (eks.weights_download, "s3://models-bucket/x y", "is not s3://BUCKET/PREFIX"),
        (eks.weights_download, "gs://models-bucket/x", "is not s3://BUCKET/PREFIX"),
        (gke.weights_download, "s3://models-bucket/x", "is not gs://BUCKET/PREFIX"),
        (aks.weights_download, "https://example.com/models/x", "is not https://ACCOUNT.blob"),
        (
            aks.weights_download,
            "https://modelstore.blob.core.windows.net/models/../etc",
            r"an empty, '\.' or '\.\.' path segment",
        ),
        (eks.workload_identity, "admin", "is not an IAM role ARN"),
        (gke.workload_identity, "chat@gmail.com", "is not a service account email"),
        (aks.workload_identity, "chat-serving", "is not a client ID"),
    ],
)
def test_each_cloud_refuses_a_location_or_identity_not_its_own(
    build: Any, value: str, message: str
) -> None:
    with pytest.raises(WorkloadError, match=message) as raised:
        build(value)
    assert "\n" not in str(raised.value) and str(raised.value).endswith(".")


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_the_service_account_carries_the_cloud_identity(cloud: str) -> None:
    objects = render_workload(make_props(cloud=cloud))
    (account,) = of_kind(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {ANNOTATIONS[cloud]: PRINCIPALS[cloud]}
    assert account["automountServiceAccountToken"] is False
    (deployment,) = of_kind(objects, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert (labels.get("azure.workload.identity/use") == "true") == (cloud == "azure")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "chat-serving"


def test_kserve_pods_are_labelled_for_azure_workload_identity() -> None:
    (service,) = of_kind(
        render_workload(make_props(cloud="azure", kserve=True)), "InferenceService"
    )
    assert service["spec"]["predictor"]["labels"] == {"azure.workload.identity/use": "true"}


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_weights_come_through_an_init_container_without_keys(cloud: str) -> None:
    (pod,) = pods(render_workload(make_props("triton", cloud)))
    (init,) = pod["initContainers"]
    assert init["image"] == CLOUDS[cloud].DOWNLOADER_IMAGE
    environment = {v["name"]: v["value"] for v in init["env"]}
    text = json.dumps(init)
    assert not any(word in text.upper() for word in ("SECRET_ACCESS_KEY", "ACCOUNT_KEY", "SAS"))
    if cloud == "azure":
        assert environment["WEIGHTS_ACCOUNT"] == "modelstore"
        assert environment["WEIGHTS_PATTERN"] == "llama-3.1-8b/*"
        assert "--federated-token" in init["command"][-1]
        assert "modelstore" not in init["command"][-1]
    else:
        assert environment["WEIGHTS_URI"] == WEIGHTS[cloud]
        assert init["command"][-2:] == ["$(WEIGHTS_URI)", "/weights"]
    (engine,) = pod["containers"]
    (mount,) = [m for m in engine["volumeMounts"] if m["name"] == "weights"]
    assert mount["mountPath"] == "/models" and mount["readOnly"] is True
    assert mount.get("subPath") == ("llama-3.1-8b" if cloud == "azure" else None)


@pytest.mark.parametrize("engine", ["vllm", "tgi"])
@pytest.mark.parametrize("weights", [False, True])
def test_engine_arguments_are_the_fleet_s(engine: str, weights: bool, tmp_path: Path) -> None:
    spec = make_spec(
        engine, tensor_parallel=2, model_s3_uri="s3://models-bucket/llama" if weights else None
    )
    assert list(engine_args(spec.runtime, weights_downloaded=weights)) == fleet_engine_args(
        spec, tmp_path
    )


def test_triton_arguments_are_the_fleet_s_with_metrics_on(tmp_path: Path) -> None:
    spec = make_spec("triton", tensor_parallel=2)
    fleet = fleet_engine_args(spec, tmp_path)
    ours = list(engine_args(spec.runtime, weights_downloaded=True))
    assert "--allow-metrics=false" in fleet
    assert ours == [
        f"--metrics-port={TRITON_METRICS_PORT}" if arg == "--allow-metrics=false" else arg
        for arg in fleet
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_keda_scales_on_the_engine_s_queue(engine: str) -> None:
    (scaled,) = of_kind(render_workload(make_props(engine)), "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["threshold"] == "24"
    query = trigger["metadata"]["query"]
    for metric in QUEUE_METRICS[engine]:
        assert f'sum({metric}{{namespace="serving",pod=~"chat-[a-z0-9]+-[a-z0-9]+"}})' in query
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "chat",
    }
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 4)


def test_kserve_raw_mode_leaves_scaling_to_keda() -> None:
    objects = render_workload(make_props(kserve=True))
    (service,) = of_kind(objects, "InferenceService")
    assert service["metadata"]["annotations"] == {
        "serving.kserve.io/deploymentMode": "RawDeployment",
        "serving.kserve.io/autoscalerClass": "external",
    }
    predictor = service["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 4)
    assert "canaryTrafficPercent" not in predictor
    (scaled,) = of_kind(objects, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "chat-predictor"
    assert (
        'pod=~"chat-predictor-[a-z0-9]+-[a-z0-9]+"'
        in scaled["spec"]["triggers"][0]["metadata"]["query"]
    )


def test_a_kserve_canary_is_its_traffic_percent_in_serverless_mode() -> None:
    objects = render_workload(make_props(kserve=True, canary=True))
    (service,) = of_kind(objects, "InferenceService")
    assert service["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "Serverless"}
    predictor = service["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("concurrency", 24)
    assert of_kind(objects, "ScaledObject") == []


def test_kserve_serverless_mode_stays_serverless_without_a_canary() -> None:
    """KServe refuses to change an InferenceService's mode: Serverless before, during and after
    a canary; a canary at 0% (rolled back) pins the traffic to the previous revision."""
    for percent in (None, 0, 10):
        props = make_props(kserve=True, serverless=True, canary_percent=percent)
        objects = render_workload(props)
        (service,) = of_kind(objects, "InferenceService")
        annotations = service["metadata"]["annotations"]
        assert annotations == {"serving.kserve.io/deploymentMode": "Serverless"}
        predictor = service["spec"]["predictor"]
        assert predictor.get("canaryTrafficPercent") == percent
        assert of_kind(objects, "ScaledObject") == []


def test_a_canary_without_kserve_is_a_weighted_route_to_two_deployments() -> None:
    props = make_props(canary=True)
    objects = render_workload(props)
    stable, canary = of_kind(objects, "Deployment")
    assert (stable["metadata"]["name"], canary["metadata"]["name"]) == ("chat", "chat-canary")
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":previous")
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == props.image
    assert "replicas" not in stable["spec"]  # KEDA's
    assert canary["spec"]["replicas"] == 1  # 10% of the 2 desired, at least one
    (route,) = of_kind(objects, "HTTPRoute")
    assert route["spec"]["parentRefs"] == [{"name": "inference", "namespace": "gateways"}]
    assert route["spec"]["rules"] == [
        {
            "backendRefs": [
                {"name": "chat", "port": 8000, "weight": 90},
                {"name": "chat-canary", "port": 8000, "weight": 10},
            ]
        }
    ]
    stable_service, canary_service = of_kind(objects, "Service")
    assert stable_service["spec"]["selector"]["infra.serving/track"] == "stable"
    assert canary_service["spec"]["selector"]["infra.serving/track"] == "canary"
    (scaled,) = of_kind(objects, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "chat"


def test_a_canary_without_a_gateway_is_refused() -> None:
    with pytest.raises(WorkloadError, match="needs a Gateway"):
        render_workload(make_props(canary=True, gateway=None))


@pytest.mark.parametrize("kserve", [False, True])
@pytest.mark.parametrize("engine", ENGINES)
def test_every_container_is_locked_down(kserve: bool, engine: str) -> None:
    (pod,) = pods(render_workload(make_props(engine, kserve=kserve)))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
        assert context["privileged"] is False
        assert container["resources"]["limits"]["memory"] == "160Gi"


def test_the_image_s_own_user_only_when_asked() -> None:
    (pod,) = pods(render_workload(make_props(run_as_user=None)))
    assert "runAsNonRoot" not in pod["securityContext"]


@pytest.mark.parametrize("engine", ENGINES)
def test_probes_wait_for_the_model_to_load(engine: str) -> None:
    (pod,) = pods(render_workload(make_props(engine, startup_timeout_s=1200)))
    (container,) = pod["containers"]
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1200
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": HEALTH_PATHS[engine], "port": 8000}


def test_pods_spread_over_the_zones_of_the_gpu_pool() -> None:
    (pod,) = pods(render_workload(make_props(cloud="gcp")))
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == list(ZONES["gcp"])
    assert pod["nodeSelector"] == NODE_POOLS["gcp"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_the_pod_disruption_budget_lets_one_pod_go() -> None:
    (budget,) = of_kind(render_workload(make_props(kserve=True)), "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == {
        "matchLabels": {"serving.kserve.io/inferenceservice": "chat"}
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o["spec"]["predictor"].update(canaryTrafic=5), "canaryTrafic"),
        (lambda o: o["spec"]["predictor"].update(minReplicas="1"), "'1' is not of type"),
    ],
)
def test_the_crd_schemas_catch_a_broken_inference_service(mutate: Any, message: str) -> None:
    (service,) = of_kind(render_workload(make_props(kserve=True)), "InferenceService")
    mutate(service)
    with pytest.raises(InvalidObject, match=message):
        validate(service)


def test_the_api_schemas_catch_a_broken_deployment() -> None:
    (deployment,) = of_kind(render_workload(make_props()), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    with pytest.raises(InvalidObject, match="resourcez"):
        validate(deployment)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_cached_validators_agree_with_kubernetes_validate(version: str) -> None:
    """tests/kubernetes_schemas.py builds each schema once; kubernetes-validate's own entry
    point gives the same verdicts."""
    objects = [o for o in render_workload(make_props()) if o["kind"] in CORE_KINDS]
    assert {o["kind"] for o in objects} == CORE_KINDS
    for obj in objects:
        assert kubernetes_validate.validate(obj, version, strict=True) == version
    (deployment,) = of_kind(objects, "Deployment")
    deployment["spec"]["strategy"]["type"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, version, strict=True)
    with pytest.raises(InvalidObject, match="3 is not of type 'string'"):
        validate(deployment)
