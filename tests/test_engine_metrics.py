"""An AWS fleet's engine and GPU metrics: the CloudWatch agent the boot script installs and
configures (run on the fake host of tests/test_user_data.py), the agent's least-privilege grant,
the dashboard and the alarms on the synthesized stack, and deploy.alerts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modules.aws.engine_alarms import GPU_MEMORY_ALARM_PERCENT, SUSTAINED_MINUTES
from modules.aws.engine_metrics import (
    ENGINE_METRICS_NAMESPACE,
    GROUP_DIMENSION,
    PROMETHEUS_CONFIG_PATH,
    RUNNING_METRIC,
    WAITING_METRIC,
    fleet_group_name,
    metrics_log_group,
)
from modules.aws.fleet import GROUP_METRICS
from modules.aws.latency_exporter import TPOT_METRIC, TTFT_METRIC
from modules.aws.latency_service import exporter_parameter, exporter_payload
from modules.user_data import render_user_data
from planner.images import NEURON_IMAGES
from planner.profile import load_profile
from providers.aws.neuron import COMPILE_GRACE_S
from tests import test_fleet_stack as fleet
from tests import test_user_data as boot_tests
from tests.conftest import EXAMPLES, profile_dict, write_profile
from tests.stack_json import Synthesized, only, resources, synthesize_specs

TOPIC = "arn:aws:sns:us-east-1:123456789012:serving-alerts"
ALERTED = fleet.make_spec(
    "alerted",
    alerts_topic_arn=TOPIC,
    scaling={"ttft_alarm_ms": 800.0, "tpot_alarm_ms": 60.0},
)
QUIET = fleet.make_spec("quiet")
TGI = fleet.make_spec(
    "tgi",
    runtime={
        "engine": "tgi",
        "image": boot_tests.DEFAULT_IMAGES["tgi"],
        "health_path": "/health",
        "replicas_per_instance": 2,
        "tensor_parallel": 2,
    },
    scaling={"ttft_alarm_ms": 800.0, "tpot_alarm_ms": 60.0},
)
TRITON = fleet.make_spec(
    "triton",
    runtime={
        "engine": "triton",
        "image": boot_tests.DEFAULT_IMAGES["triton"],
        "health_path": "/v2/health/ready",
        "model_s3_uri": "s3://models-bucket/llama/trtllm",
    },
)
NEURON = fleet.make_spec(
    "neuron",
    instance_type="inf2.xlarge",
    equivalent_instance_types=[],
    accelerator="Inferentia2",
    accelerators_per_instance=1,
    capacity={"health_check_grace_s": COMPILE_GRACE_S},
    runtime={"image": NEURON_IMAGES["vllm"], "max_model_len": 4096},
)
SPECS = [ALERTED, QUIET, TGI, TRITON, NEURON]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_specs(SPECS, tmp_path_factory.mktemp("observed"), emulated=True)


def agent_files(run: boot_tests.Boot) -> tuple[dict[str, Any], dict[str, Any] | None]:
    etc = run.root / "opt" / "aws" / "amazon-cloudwatch-agent" / "etc"
    prometheus = etc / "infra-prometheus.yaml"
    return (
        json.loads((etc / "infra-serving.json").read_text()),
        json.loads(prometheus.read_text()) if prometheus.exists() else None,
    )


# ---------------------------------------------------------------------------------------------
# The boot script


def test_the_agent_is_installed_only_after_its_signature_checks_out(tmp_path: Path) -> None:
    run = boot_tests.boot(render_user_data(ALERTED), tmp_path)
    assert run.returncode == 0, run.output
    downloads = run.urls("https://amazoncloudwatch-agent.s3.amazonaws.com/")
    assert [url.rsplit("/", 1)[1] for url in downloads] == [
        "amazon-cloudwatch-agent.deb",
        "amazon-cloudwatch-agent.deb.sig",
        "amazon-cloudwatch-agent.gpg",
    ]
    assert "/ubuntu/amd64/latest/" in downloads[0]
    order = [
        (call["tool"], call["args"][0])
        for call in run.calls
        if call["tool"] in {"gpg", "dpkg", "amazon-cloudwatch-agent-ctl"}
        and call["args"] != ["--print-architecture"]
    ]
    assert [tool for tool, _ in order] == [
        "gpg",
        "gpg",
        "gpg",
        "dpkg",
        "amazon-cloudwatch-agent-ctl",
    ]
    (verify,) = [args for args in run.tool_calls("gpg") if "--verify" in args]
    assert verify[-2:][0].endswith("agent.deb.sig") and verify[-1].endswith("agent.deb")
    (ctl,) = run.tool_calls("amazon-cloudwatch-agent-ctl")
    assert ctl[:6] == ["-a", "fetch-config", "-m", "ec2", "-s", "-c"]
    assert ctl[6].startswith("file:") and ctl[6].endswith("/etc/infra-serving.json")
    assert "CloudWatch agent started" in run.output


def test_a_key_that_is_not_aws_is_refused_and_serving_goes_on(tmp_path: Path) -> None:
    run = boot_tests.boot(
        render_user_data(ALERTED),
        tmp_path,
        environment={"FAKE_KEY_FINGERPRINT": "0" * 40},
    )
    assert run.returncode == 0, run.output
    assert [args for args in run.tool_calls("dpkg") if args[0] == "-i"] == []
    assert run.tool_calls("amazon-cloudwatch-agent-ctl") == []
    assert "the CloudWatch agent's key is not AWS's" in run.output
    assert "no engine or GPU metrics from this instance" in run.output
    assert (run.root / "run" / "serving" / "ready").exists()


def test_the_agent_scrapes_vllm_gauges_and_publishes_gpu_metrics(tmp_path: Path) -> None:
    run = boot_tests.boot(render_user_data(ALERTED), tmp_path)
    config, prometheus = agent_files(run)
    gpu = config["metrics"]
    assert gpu["namespace"] == ENGINE_METRICS_NAMESPACE
    assert gpu["aggregation_dimensions"] == [[GROUP_DIMENSION]]
    nvidia = gpu["metrics_collected"]["nvidia_gpu"]
    assert {m["name"] for m in nvidia["measurement"]} == {
        "utilization_gpu",
        "memory_used",
        "memory_total",
        "power_draw",
        "temperature_gpu",
    }
    assert nvidia["append_dimensions"] == {GROUP_DIMENSION: fleet_group_name(ALERTED.stack_name)}
    scraped = config["logs"]["metrics_collected"]["prometheus"]
    assert scraped["log_group_name"] == metrics_log_group(ALERTED.stack_name)
    assert scraped["prometheus_config_path"] == PROMETHEUS_CONFIG_PATH
    emf = scraped["emf_processor"]
    assert emf["metric_namespace"] == ENGINE_METRICS_NAMESPACE
    (declaration,) = emf["metric_declaration"]
    assert declaration["dimensions"] == [[GROUP_DIMENSION]]
    assert prometheus is not None
    (job,) = prometheus["scrape_configs"]
    (targets,) = job["static_configs"]
    assert targets == {
        "targets": ["127.0.0.1:8000"],
        "labels": {GROUP_DIMENSION: fleet_group_name(ALERTED.stack_name)},
    }
    renames = {
        r["regex"]: r["replacement"] for r in job["metric_relabel_configs"] if "replacement" in r
    }
    assert renames == {
        "vllm:num_requests_running": RUNNING_METRIC,
        "vllm:num_requests_waiting": WAITING_METRIC,
    }


def test_tgi_replicas_are_each_scraped_on_their_own_port(tmp_path: Path) -> None:
    run = boot_tests.boot(render_user_data(TGI), tmp_path)
    assert run.returncode == 0, run.output
    _, prometheus = agent_files(run)
    assert prometheus is not None
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8001", "127.0.0.1:8002"]
    renames = {
        r["regex"]: r["replacement"] for r in job["metric_relabel_configs"] if "replacement" in r
    }
    assert renames == {"tgi_batch_current_size": RUNNING_METRIC, "tgi_queue_size": WAITING_METRIC}


def test_triton_gets_gpu_metrics_only(tmp_path: Path) -> None:
    run = boot_tests.boot(render_user_data(TRITON), tmp_path)
    assert run.returncode == 0, run.output
    config, prometheus = agent_files(run)
    assert prometheus is None and "logs" not in config
    assert "nvidia_gpu" in config["metrics"]["metrics_collected"]


def test_neuron_instances_scrape_the_engine_without_gpu_metrics() -> None:
    script = render_user_data(NEURON)
    assert "nvidia_gpu" not in script
    assert "vllm:num_requests_waiting" in script


# ---------------------------------------------------------------------------------------------
# The stack: least privilege, log group, alarms, dashboard


def agent_policy(doc: dict[str, Any]) -> dict[str, Any]:
    return fleet.inline_policies(doc)["cloudwatch-agent"]


def test_the_agent_may_publish_in_its_namespace_and_write_its_one_log_group(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[ALERTED]
    publish, ship = fleet.statements(agent_policy(doc))
    assert publish["Action"] == "cloudwatch:PutMetricData"
    assert publish["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": ENGINE_METRICS_NAMESPACE}
    }
    group_key, group = only(doc, "aws_cloudwatch_log_group")
    assert group["name"] == metrics_log_group(ALERTED.stack_name)
    arn = f"${{aws_cloudwatch_log_group.{group_key}.arn}}"
    assert ship["Resource"] == [arn, f"{arn}:log-stream:*"]
    assert sorted(ship["Action"]) == [
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    granted = {
        a
        for doc_ in fleet.policy_documents(doc)
        for s in fleet.statements(doc_)
        for a in fleet.actions(s)
    }
    assert not {a for a in granted if a.startswith(("logs:", "cloudwatch:"))} - {
        "cloudwatch:PutMetricData",
        *ship["Action"],
    }


def test_without_scraped_gauges_no_log_group_and_no_logs_grant(synthesized: Synthesized) -> None:
    doc = synthesized[TRITON]
    assert resources(doc, "aws_cloudwatch_log_group") == {}
    (publish,) = fleet.statements(agent_policy(doc))
    assert publish["Action"] == "cloudwatch:PutMetricData"


def alarms(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        body["alarm_name"]: body for body in resources(doc, "aws_cloudwatch_metric_alarm").values()
    }


def test_alarm_thresholds_come_from_the_spec(synthesized: Synthesized) -> None:
    found = alarms(synthesized[ALERTED])
    name = ALERTED.stack_name
    assert found[f"{name}-p99-latency"]["threshold"] == ALERTED.scaling.p99_latency_alarm_s
    queue = found[f"{name}-requests-waiting"]
    assert queue["threshold"] == ALERTED.runtime.max_batch
    assert (queue["namespace"], queue["metric_name"]) == (ENGINE_METRICS_NAMESPACE, WAITING_METRIC)
    _, group = only(synthesized[ALERTED], "aws_autoscaling_group")
    assert queue["dimensions"] == {GROUP_DIMENSION: group["name"]}
    memory = found[f"{name}-gpu-memory"]
    assert memory["threshold"] == GPU_MEMORY_ALARM_PERCENT
    (expression,) = [q for q in memory["metric_query"] if q.get("expression")]
    assert expression["expression"] == "100 * used / total"


def test_latency_alarms_fire_above_the_profiles_targets(synthesized: Synthesized) -> None:
    found = alarms(synthesized[ALERTED])
    name = ALERTED.stack_name
    for slug, metric, target in (
        ("ttft", TTFT_METRIC, ALERTED.scaling.ttft_alarm_ms),
        ("tpot", TPOT_METRIC, ALERTED.scaling.tpot_alarm_ms),
    ):
        alarm = found[f"{name}-{slug}"]
        assert (alarm["namespace"], alarm["metric_name"]) == (ENGINE_METRICS_NAMESPACE, metric)
        assert alarm["threshold"] == target
        assert alarm["statistic"] == "Maximum" and alarm["unit"] == "Milliseconds"
        assert alarm["evaluation_periods"] == SUSTAINED_MINUTES and alarm["period"] == 60
        assert alarm["dimensions"] == {GROUP_DIMENSION: fleet_group_name(name)}
        assert alarm["treat_missing_data"] == "notBreaching"


def test_tgi_has_no_ttft_alarm_and_no_target_no_alarm(synthesized: Synthesized) -> None:
    tgi = alarms(synthesized[TGI])
    assert f"{TGI.stack_name}-tpot" in tgi and f"{TGI.stack_name}-ttft" not in tgi
    quiet = alarms(synthesized[QUIET])
    assert not any(name.endswith(("-ttft", "-tpot")) for name in quiet)


def test_the_group_publishes_its_instance_counts(synthesized: Synthesized) -> None:
    _, group = only(synthesized[QUIET], "aws_autoscaling_group")
    assert group["enabled_metrics"] == list(GROUP_METRICS)
    assert group["metrics_granularity"] == "1Minute"
    widget = titled(dashboard(synthesized[QUIET])[1])["Instances in the group"]
    split = ["SpotInstances", "OnDemandInstances"]
    assert [m[1] for m in widget["metrics"]] == [*GROUP_METRICS, *split]
    assert {m[3] for m in widget["metrics"]} == {fleet_group_name(QUIET.stack_name)}
    assert [m[-1]["stat"] for m in widget["metrics"][-2:]] == ["Sum", "Sum"]
    triton = titled(dashboard(synthesized[TRITON])[1])["Instances in the group"]
    assert [m[1] for m in triton["metrics"]] == list(GROUP_METRICS)


def test_every_alarm_notifies_the_topic(synthesized: Synthesized) -> None:
    found = alarms(synthesized[ALERTED])
    assert len(found) == 7
    for alarm in found.values():
        assert alarm["alarm_actions"] == [TOPIC] and alarm["ok_actions"] == [TOPIC]


def test_without_a_topic_no_alarm_has_actions(synthesized: Synthesized) -> None:
    found = alarms(synthesized[QUIET])
    assert len(found) == 5
    assert all("alarm_actions" not in a and "ok_actions" not in a for a in found.values())


def test_what_is_not_published_gets_no_alarm(synthesized: Synthesized) -> None:
    assert f"{TRITON.stack_name}-requests-waiting" not in alarms(synthesized[TRITON])
    assert f"{NEURON.stack_name}-gpu-memory" not in alarms(synthesized[NEURON])


def dashboard(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    _, body = only(doc, "aws_cloudwatch_dashboard")
    return body, json.loads(body["dashboard_body"])


def titled(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["properties"]["title"]: w["properties"] for w in board["widgets"]}


def test_the_dashboard_draws_the_alarms_thresholds(synthesized: Synthesized) -> None:
    resource, board = dashboard(synthesized[ALERTED])
    assert resource["dashboard_name"] == ALERTED.stack_name
    widgets = titled(board)
    assert list(widgets) == [
        "Requests per minute",
        "Response time (s)",
        "Time to first token and per output token (ms)",
        "Requests per replica",
        "GPUs (%)",
        "Healthy instances",
        "Instances in the group",
    ]
    tokens = widgets["Time to first token and per output token (ms)"]
    assert tokens["annotations"]["horizontal"] == [
        {"label": "TTFT p95 target", "value": 800.0},
        {"label": "TPOT target", "value": 60.0},
    ]
    assert {(m[1], m[-1]["stat"]) for m in tokens["metrics"]} == {
        (metric, stat) for metric in (TTFT_METRIC, TPOT_METRIC) for stat in ("Maximum", "Average")
    }
    assert all(w["region"] == ALERTED.region for w in widgets.values())
    latency = widgets["Response time (s)"]["annotations"]["horizontal"]
    assert latency == [{"label": "p99 alarm", "value": ALERTED.scaling.p99_latency_alarm_s}]
    (in_flight,) = [m for m in widgets["Requests per replica"]["metrics"] if "expression" in m[0]]
    assert in_flight[0]["expression"] == "running + waiting"
    queue = widgets["Requests per replica"]["annotations"]["horizontal"]
    assert queue == [{"label": "planned queue", "value": ALERTED.runtime.max_batch}]
    placed = {(w["x"], w["y"]) for w in board["widgets"]}
    assert len(placed) == len(board["widgets"])


def test_the_dashboard_leaves_out_what_is_not_published(synthesized: Synthesized) -> None:
    assert "Requests per replica" not in titled(dashboard(synthesized[TRITON])[1])
    assert "GPUs (%)" not in titled(dashboard(synthesized[NEURON])[1])
    assert "Time to first token and per output token (ms)" not in titled(
        dashboard(synthesized[TRITON])[1]
    )


# ---------------------------------------------------------------------------------------------
# deploy.alerts


def test_the_profile_topic_reaches_the_spec(tmp_path: Path) -> None:
    data = profile_dict()
    data.setdefault("deploy", {})["alerts"] = {"sns_topic_arn": TOPIC}
    loaded = load_profile(write_profile(tmp_path, data))
    assert loaded.profile.deploy.alerts.sns_topic_arn == TOPIC


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:sqs:us-east-1:123456789012:queue", "arn:aws:sns:us-east-1:1234:topic", "topic"],
)
def test_an_alerts_value_that_is_not_an_sns_topic_is_one_sentence(tmp_path: Path, arn: str) -> None:
    data = profile_dict()
    data.setdefault("deploy", {})["alerts"] = {"sns_topic_arn": arn}
    message = profile_error(tmp_path, data)
    assert "deploy.alerts.sns_topic_arn" in message and "an SNS topic ARN" in message
    assert "\n" not in message


def profile_error(tmp_path: Path, data: dict[str, Any]) -> str:
    from core.errors import ProfileError

    with pytest.raises(ProfileError) as caught:
        load_profile(write_profile(tmp_path, data))
    return str(caught.value)


def test_the_alerts_example_notifies_its_topic_from_every_fleet_alarm() -> None:
    """The example's topic, through the recorded decision, into the golden synth."""
    topic = load_profile(EXAMPLES / "public-chat.yaml").profile.deploy.alerts.sns_topic_arn
    assert topic is not None
    golden = Path(__file__).parent / "golden" / "synth" / "public-chat-aws-fleet.tf.json"
    found = alarms(json.loads(golden.read_text()))
    name = next(iter(found)).rsplit("-", 2)[0]
    assert {f"{name}-5xx-rate", f"{name}-p99-latency", f"{name}-requests-waiting"} <= set(found)
    assert all(alarm["alarm_actions"] == [topic] for alarm in found.values())


def test_the_exporters_code_is_an_encrypted_parameter_only_the_role_reads(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[QUIET]
    key, parameter = only(doc, "aws_ssm_parameter")
    assert parameter["name"] == exporter_parameter(QUIET.stack_name)
    assert (parameter["type"], parameter["tier"]) == ("SecureString", "Standard")
    assert parameter["value"] == exporter_payload()
    (grant,) = fleet.statements(fleet.inline_policies(doc)["latency-exporter"])
    assert grant["Action"] == "ssm:GetParameter"
    assert grant["Resource"] == fleet.ref("aws_ssm_parameter", key, "arn")
    assert resources(synthesized[TRITON], "aws_ssm_parameter") == {}
    assert "latency-exporter" not in fleet.inline_policies(synthesized[TRITON])
