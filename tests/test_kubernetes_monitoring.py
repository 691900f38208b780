"""`kind: kubernetes` observed through the Prometheus operator (issue 15): the PodMonitor, the
PrometheusRule's alerts on the profile's targets and the Grafana dashboard ConfigMap, validated
against the operator's CRD schemas and Kubernetes' own, every PromQL expression parsed by a
PromQL parser and compared with the exact string; the refusals, one sentence each; and
`infra synth --kind kubernetes` of the office-hours example through the CLI."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import promql_parser
import pytest

from core.errors import ProfileError
from modules.kubernetes.monitoring import DASHBOARD_LABEL, MonitoringProps
from modules.kubernetes.workload import KSERVE_POD_LABEL, render_workload
from modules.kubernetes.workload_checks import WorkloadError
from orchestrator.errors import TerraformFailed
from orchestrator.terraform import _failure
from planner.decision import decide
from planner.deployment import DeploymentSpec, spec_as_json, spec_from_decision
from planner.optimizer import Filters, recommend
from planner.profile import load_profile
from providers.catalog import load_catalog
from stacks.kubernetes_common import workload_props
from tests.conftest import EXAMPLES, Cli, profile_dict, write_profile
from tests.kubernetes_schemas import validate
from tests.stack_json import one_sentence, resources
from tests.test_kubernetes_workload import make_props

OFFICE_HOURS = EXAMPLES / "chat-8b-kubernetes-office-hours.yaml"
WITHOUT_MONITORING = EXAMPLES / "chat-8b-kubernetes.yaml"
MONITORING_KINDS = ("PodMonitor", "PrometheusRule", "ConfigMap")
JOB = 'job="serving/chat-8b-office-hours-prod"'
GPU = 'namespace="serving",pod=~"chat-8b-office-hours-prod-.+"'


@cache
def spec_of(path: Path, cloud: str = "aws", env: str = "prod") -> DeploymentSpec:
    profile = load_profile(path).profile
    found = recommend(profile, load_catalog(), Filters(environment=env, clouds=frozenset({cloud})))
    return spec_from_decision(profile, decide(profile, found), env)


def objects_of(spec: DeploymentSpec) -> dict[str, dict[str, Any]]:
    objects = render_workload(workload_props(spec, identity=None, weights=None))
    return {obj["kind"]: obj for obj in objects}


def dashboard_of(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (text,) = objects["ConfigMap"]["data"].values()
    return json.loads(text)


def expressions(objects: dict[str, dict[str, Any]]) -> list[str]:
    rules = [r["expr"] for g in objects["PrometheusRule"]["spec"]["groups"] for r in g["rules"]]
    panels = [t["expr"] for p in dashboard_of(objects)["panels"] for t in p["targets"]]
    return rules + panels


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_office_hours_workload_is_monitored_and_every_object_validates(cloud: str) -> None:
    objects = objects_of(spec_of(OFFICE_HOURS, cloud))
    assert set(MONITORING_KINDS) <= set(objects)
    for obj in objects.values():
        validate(obj)
    for expr in expressions(objects):
        promql_parser.parse(expr)


def test_the_alerts_are_the_profile_s_targets_in_exact_promql() -> None:
    spec = spec_of(OFFICE_HOURS)
    profile = load_profile(OFFICE_HOURS).profile
    assert spec.slo is not None
    assert (spec.slo.ttft_ms_p95, spec.slo.tpot_ms) == (
        profile.targets.ttft_ms_p95,
        profile.targets.tpot_ms,
    )
    rule = objects_of(spec)["PrometheusRule"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    ((group),) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert {a: r["expr"] for a, r in alerts.items()} == {
        "ServingTimeToFirstTokenP95AboveTarget": (
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(vllm:time_to_first_token_seconds_bucket{{{JOB}}}[5m]))) > 1.5"
        ),
        "ServingTimePerOutputTokenAboveTarget": (
            # Every name vLLM releases give the histogram (0.11 renamed it, 0.13 dropped the old).
            'sum(rate({__name__=~"vllm:inter_token_latency_seconds_sum|'
            f'vllm:time_per_output_token_seconds_sum",{JOB}}}[5m])) / '
            'sum(rate({__name__=~"vllm:inter_token_latency_seconds_count|'
            f'vllm:time_per_output_token_seconds_count",{JOB}}}[5m])) > 0.05'
        ),
        "ServingRequestsWaitingAbovePlan": (
            f"max by (pod) (vllm:num_requests_waiting{{{JOB}}}) > {spec.runtime.max_batch}"
        ),
        "ServingGpuMemoryNearFull": (
            f"max by (pod) (DCGM_FI_DEV_FB_USED{{{GPU}}} / "
            f"(DCGM_FI_DEV_FB_USED{{{GPU}}} + DCGM_FI_DEV_FB_FREE{{{GPU}}})) > 0.95"
        ),
    }
    assert profile.targets.ttft_ms_p95 == 1500 and profile.targets.tpot_ms == 50
    assert spec.runtime.max_batch == profile.runtime.max_batch == 128
    assert all(r["for"] == "5m" for r in alerts.values())
    assert all(r["labels"]["deployment"] == "chat-8b-office-hours-prod" for r in alerts.values())


def test_the_pod_monitor_scrapes_the_engine_s_port_on_the_workload_s_pods() -> None:
    spec = spec_of(OFFICE_HOURS)
    monitor = objects_of(spec)["PodMonitor"]
    assert monitor["metadata"]["name"] == "chat-8b-office-hours-prod"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "chat-8b-office-hours-prod"}
    }
    assert monitor["spec"]["podMetricsEndpoints"] == [
        {"portNumber": spec.runtime.port, "path": "/metrics", "interval": "30s"}
    ]


def test_the_dashboard_draws_the_targets_as_thresholds() -> None:
    objects = objects_of(spec_of(OFFICE_HOURS))
    config_map = objects["ConfigMap"]
    assert DASHBOARD_LABEL.items() <= config_map["metadata"]["labels"].items()
    assert DASHBOARD_LABEL == {"grafana_dashboard": "1"}
    panels = {p["title"]: p for p in dashboard_of(objects)["panels"]}
    assert list(panels) == [
        "Requests per second",
        "Time to first token",
        "Time per output token",
        "Requests running and waiting per pod",
        "KV-cache use",
        "GPU utilization",
        "GPU memory (fullest GPU)",
    ]

    def threshold(title: str) -> float | None:
        steps = panels[title]["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
        return steps[-1]["value"] if steps else None

    assert threshold("Time to first token") == 1.5
    assert threshold("Time per output token") == 0.05
    assert threshold("Requests running and waiting per pod") == 128
    assert threshold("GPU memory (fullest GPU)") == 0.95
    ttft = [t["expr"] for t in panels["Time to first token"]["targets"]]
    assert ttft == [
        "histogram_quantile(0.5, sum by (le) "
        f"(rate(vllm:time_to_first_token_seconds_bucket{{{JOB}}}[5m])))",
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(vllm:time_to_first_token_seconds_bucket{{{JOB}}}[5m])))",
    ]
    assert [t["expr"] for t in panels["KV-cache use"]["targets"]] == [
        f"max by (pod) (vllm:kv_cache_usage_perc{{{JOB}}})"
    ]
    assert [t["expr"] for t in panels["Requests per second"]["targets"]] == [
        f"sum(rate(vllm:request_success_total{{{JOB}}}[5m]))"
    ]


MONITORED = MonitoringProps(ttft_p95_s=1.5, tpot_s=0.05, waiting_per_pod=64)


@pytest.mark.parametrize(
    ("engine", "alerts"),
    [
        (
            "vllm",
            [
                "ServingTimeToFirstTokenP95AboveTarget",
                "ServingTimePerOutputTokenAboveTarget",
                "ServingRequestsWaitingAbovePlan",
                "ServingGpuMemoryNearFull",
            ],
        ),
        (
            "tgi",
            [
                "ServingTimePerOutputTokenAboveTarget",
                "ServingRequestsWaitingAbovePlan",
                "ServingGpuMemoryNearFull",
            ],
        ),
        ("triton", ["ServingRequestsWaitingAbovePlan", "ServingGpuMemoryNearFull"]),
    ],
)
def test_each_engine_gets_the_alerts_its_metrics_allow(engine: str, alerts: list[str]) -> None:
    props = dataclasses.replace(make_props(engine), monitoring=MONITORED)
    objects = {obj["kind"]: obj for obj in render_workload(props)}
    for kind in MONITORING_KINDS:
        validate(objects[kind])
    for expr in expressions(objects):
        promql_parser.parse(expr)
    rules = objects["PrometheusRule"]["spec"]["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == alerts
    if engine == "tgi":
        assert rules[0]["expr"] == (
            'sum(rate(tgi_request_mean_time_per_token_duration_sum{job="serving/chat"}[5m])) / '
            'sum(rate(tgi_request_mean_time_per_token_duration_count{job="serving/chat"}[5m])) '
            "> 0.05"
        )
    if engine == "triton":
        # Triton publishes its metrics on their own port.
        assert objects["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["portNumber"] == 8002


def test_kserve_pods_are_selected_by_kserve_s_label() -> None:
    props = dataclasses.replace(make_props(kserve=True), monitoring=MONITORED)
    monitor = next(o for o in render_workload(props) if o["kind"] == "PodMonitor")
    assert monitor["spec"]["selector"] == {"matchLabels": {KSERVE_POD_LABEL: "chat"}}


def test_without_monitoring_nothing_of_the_operator_s_is_rendered_or_recorded() -> None:
    spec = spec_of(WITHOUT_MONITORING)
    assert spec.slo is None
    assert not set(MONITORING_KINDS) & set(objects_of(spec))
    assert "slo" not in json.loads(spec_as_json(spec))
    monitored = json.loads(spec_as_json(spec_of(OFFICE_HOURS)))
    assert monitored["slo"] == {"ttft_ms_p95": 1500.0, "tpot_ms": 50.0}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": {"release": "bad value!"}}, "is not a valid Kubernetes label"),
        ({"gpu_memory_full": 1.5}, "must be a share in"),
        ({"waiting_per_pod": 0}, "must be at least 1"),
        ({"ttft_p95_s": 0.0}, "must be above 0"),
        ({"scrape_interval_s": 0}, "scrape interval"),
    ],
)
def test_bad_monitoring_props_get_one_sentence(changes: dict[str, Any], message: str) -> None:
    props = dataclasses.replace(make_props(), monitoring=dataclasses.replace(MONITORED, **changes))
    with pytest.raises(WorkloadError, match=message) as error:
        render_workload(props)
    one_sentence(str(error.value))


@pytest.mark.parametrize(
    ("kubernetes", "words"),
    [
        (
            {"create_cluster": True, "monitoring": "prometheus_operator"},
            "a cluster the toolkit creates has none",
        ),
        (
            {"cluster": "a", "monitoring_labels": {"release": "x"}},
            "monitoring: prometheus_operator",
        ),
        ({"cluster": "a", "monitoring": "datadog"}, "prometheus_operator"),
        (
            {
                "cluster": "a",
                "monitoring": "prometheus_operator",
                "monitoring_labels": {"../x": "y"},
            },
            "is not a Kubernetes label key",
        ),
        (
            {
                "cluster": "a",
                "monitoring": "prometheus_operator",
                "monitoring_labels": {"release": "a" * 64},
            },
            "must be a Kubernetes label value",
        ),
    ],
)
def test_hostile_monitoring_settings_get_one_sentence(
    tmp_path: Path, kubernetes: dict[str, object], words: str
) -> None:
    path = write_profile(tmp_path, profile_dict(deploy={"kubernetes": kubernetes}))
    with pytest.raises(ProfileError) as refused:
        load_profile(path)
    sentence = str(refused.value)
    assert words in sentence and "deploy.kubernetes" in sentence and "\n" not in sentence


CRD_MISSING = """
Planning failed. Terraform encountered an error while generating this plan.

╷
│ Error: API did not recognize GroupVersionKind from manifest (CRD may not be installed)
│
│   with kubernetes_manifest.workload_podmonitor-chat_1A2B3C4D,
│   on cdk.tf.json line 120, in resource "kubernetes_manifest" "workload_podmonitor-chat":
│  120:       }
│
│ no matches for kind "PodMonitor" in group "monitoring.coreos.com"
╵
"""


@pytest.mark.parametrize(
    ("group", "words"),
    [
        ("monitoring.coreos.com", "set deploy.kubernetes.monitoring: none"),
        ("keda.sh", "KEDA is not installed there"),
        ("example.dev", "install the operator that defines it"),
    ],
)
def test_a_missing_crd_is_named_in_one_sentence(tmp_path: Path, group: str, words: str) -> None:
    output = CRD_MISSING.replace("monitoring.coreos.com", group)
    error = _failure("terraform", "plan", output, tmp_path / "plan.log")
    assert isinstance(error, TerraformFailed)
    message = str(error)
    assert f"no PodMonitor resource type (API group {group})" in message
    assert words in message
    one_sentence(message)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The office-hours Kubernetes example in a directory of its own (synth writes .infra/)."""
    profile = tmp_path / OFFICE_HOURS.name
    profile.write_text(OFFICE_HOURS.read_text())
    return profile


def test_synth_of_the_office_hours_example_through_the_cli(cli: Cli, example: Path) -> None:
    result = cli("synth", example, "--env", "prod", "--cloud", "aws", "--kind", "kubernetes")
    assert result.exit_code == 0, result.output
    (config,) = (example.parent / ".infra").rglob("cdk.tf.json")
    doc = json.loads(config.read_text())
    found = [body["manifest"] for body in resources(doc, "kubernetes_manifest").values()]
    by_kind = {obj["kind"]: obj for obj in found}
    assert set(MONITORING_KINDS) | {"ScaledObject", "Deployment"} <= set(by_kind)
    triggers = by_kind["ScaledObject"]["spec"]["triggers"]
    assert [t["type"] for t in triggers] == ["prometheus", "cron"]
    assert triggers[1]["metadata"]["start"] == "0 9 * * 1-5"
    assert triggers[1]["metadata"]["timezone"] == "Europe/Berlin"
    spec = msgspec.json.decode(doc["output"]["infra_deployment"]["value"])
    assert spec["slo"] == {"ttft_ms_p95": 1500.0, "tpot_ms": 50.0}
    assert spec["kubernetes"]["monitoring"] == "prometheus_operator"
