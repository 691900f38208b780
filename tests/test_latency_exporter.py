"""The TTFT/TPOT exporter that runs on each AWS fleet instance (modules/aws/latency_exporter.py):
its histogram windows and quantiles on real-looking exposition text, its reads and sends over real
sockets, and how the boot script installs it (run on the fake host of tests/test_user_data.py)."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modules.aws import latency_exporter as exporter
from modules.aws.engine_metrics import agent_config, latency_histograms, latency_metrics
from modules.aws.latency_exporter import TPOT_METRIC, TTFT_METRIC, Exporter, quantile
from modules.aws.latency_service import (
    PARAMETER_LIMIT,
    exporter_args,
    exporter_parameter,
    exporter_payload,
)
from modules.user_data import render_user_data
from tests import test_user_data as boot_tests

BOUNDS = ["0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1", "0.25", "0.5", "+Inf"]


def vllm_text(
    ttft: list[float], tpot: list[float], *, tpot_name: str = "inter_token_latency"
) -> str:
    """vLLM's exposition of two histograms, two engine cores each (as vLLM labels them), with
    the cumulative counts `ttft` and `tpot` split over the cores."""
    lines = [
        "# HELP vllm:num_requests_running Number of requests in model execution batches.",
        "# TYPE vllm:num_requests_running gauge",
        'vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B"} 3.0',
    ]
    for name, counts in (
        ("vllm:time_to_first_token_seconds", ttft),
        (f"vllm:{tpot_name}_seconds", tpot),
    ):
        lines += [f"# HELP {name} Histogram.", f"# TYPE {name} histogram"]
        for engine, share in (("0", 0.25), ("1", 0.75)):
            labels = f'engine="{engine}",model_name="meta-llama/Llama-3.1-8B"'
            lines.append(f"{name}_sum{{{labels}}} 12.5")
            for bound, count in zip(BOUNDS, counts, strict=True):
                lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {count * share}')
            lines.append(f"{name}_count{{{labels}}} {counts[-1] * share}")
    return "\n".join(lines) + "\n"


FLAT = [0.0] * 11


def counts(**per_bound: float) -> list[float]:
    """Cumulative counts from observations per bucket (keyed b0..b10)."""
    running, out = 0.0, []
    for index in range(len(BOUNDS)):
        running += per_bound.get(f"b{index}", 0.0)
        out.append(running)
    return out


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    # 100 observations: 50 in (0, 0.1], 40 in (0.1, 0.25], 10 in (0.25, 0.5].
    buckets = {0.1: 50.0, 0.25: 90.0, 0.5: 100.0, float("inf"): 100.0}
    # rank 95 falls in (0.25, 0.5] with 90 below: 0.25 + 0.25 * 5/10.
    assert quantile(0.95, buckets) == pytest.approx(0.375)
    # rank 50 is the first bucket's whole count: its upper bound, from 0.
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.25, buckets) == pytest.approx(0.05)


def test_a_rank_in_the_inf_bucket_reports_the_highest_finite_bound() -> None:
    assert quantile(0.95, {0.1: 10.0, 0.5: 50.0, float("inf"): 100.0}) == 0.5


def test_no_observations_and_no_inf_bucket_have_no_quantile() -> None:
    assert quantile(0.95, {0.1: 0.0, float("inf"): 0.0}) is None
    assert quantile(0.95, {0.1: 3.0, 0.5: 4.0}) is None


def test_the_window_is_the_increase_since_the_previous_read() -> None:
    live = Exporter(
        latency_histograms("vllm"), "chat-prod-fleet", "/infra/chat-prod/engine-metrics"
    )
    first = vllm_text(counts(b7=400), counts(b3=4000))
    assert live.record({"8000": first}, 1_000) is None  # nothing to compare with yet
    # In the minute since: 90 first tokens in (0.1, 0.25], 10 in (0.25, 0.5];
    # every TPOT in (0.02, 0.04].
    second = vllm_text(counts(b7=400, b8=90, b9=10), counts(b3=4000, b4=1000))
    record = live.record({"8000": second}, 61_000)
    assert record is not None
    assert record[TTFT_METRIC] == pytest.approx(250 + 250 * (95 - 90) / 10)
    assert record[TPOT_METRIC] == pytest.approx(30.0)  # midpoint of (20, 40] ms
    assert record["AutoScalingGroupName"] == "chat-prod-fleet"
    assert record["_aws"] == {
        "Timestamp": 61_000,
        "LogGroupName": "/infra/chat-prod/engine-metrics",
        "CloudWatchMetrics": [
            {
                "Namespace": "InfraServing",
                "Dimensions": [["AutoScalingGroupName"]],
                "Metrics": [
                    {"Name": TTFT_METRIC, "Unit": "Milliseconds"},
                    {"Name": TPOT_METRIC, "Unit": "Milliseconds"},
                ],
            }
        ],
    }


def test_a_minute_without_requests_sends_nothing() -> None:
    live = Exporter(latency_histograms("vllm"), "g", "/l")
    text = vllm_text(counts(b7=400), counts(b3=4000))
    live.record({"8000": text}, 0)
    assert live.record({"8000": text}, 60_000) is None


def test_a_restarted_replica_counts_from_zero() -> None:
    live = Exporter(latency_histograms("vllm"), "g", "/l")
    live.record({"8000": vllm_text(counts(b7=400), counts(b3=4000))}, 0)
    # The engine restarted: its counters start again; all 20 of them are the window's.
    record = live.record({"8000": vllm_text(counts(b1=20), counts(b0=20))}, 60_000)
    assert record is not None
    assert record[TTFT_METRIC] == pytest.approx(1 + 4 * 0.95)  # (0.001, 0.005], rank 19 of 20
    assert record[TPOT_METRIC] == pytest.approx(0.5)


def test_replicas_windows_are_added_before_the_quantile() -> None:
    live = Exporter(latency_histograms("vllm"), "g", "/l")
    idle = vllm_text(FLAT, FLAT)
    live.record({"8001": idle, "8002": idle}, 0)
    fast = vllm_text(counts(b7=95), counts(b3=10))
    slow = vllm_text(counts(b9=5), counts(b3=10))
    record = live.record({"8001": fast, "8002": slow}, 60_000)
    assert record is not None
    assert record[TTFT_METRIC] == pytest.approx(100.0)  # rank 95 of 100: the top of (0.08, 0.1]


def test_older_vllm_tpot_and_tgi_tpot_are_read_and_tgi_has_no_ttft() -> None:
    old = Exporter(latency_histograms("vllm"), "g", "/l")
    old.record({"8000": vllm_text(FLAT, FLAT, tpot_name="time_per_output_token")}, 0)
    text = vllm_text(counts(b8=10), counts(b5=10), tpot_name="time_per_output_token")
    assert old.record({"8000": text}, 60_000)[TPOT_METRIC] == pytest.approx(50.0)  # type: ignore[index]

    def tgi(observed: float) -> str:
        name = "tgi_request_mean_time_per_token_duration"
        return (
            f"# TYPE {name} histogram\n"
            f'{name}_bucket{{le="0.01"}} 0\n{name}_bucket{{le="0.05"}} {observed}\n'
            f'{name}_bucket{{le="+Inf"}} {observed}\n{name}_sum 1.0\n{name}_count {observed}\n'
        )

    live = Exporter(latency_histograms("tgi"), "g", "/l")
    live.record({"8001": tgi(0)}, 0)
    record = live.record({"8001": tgi(8)}, 60_000)
    assert record is not None and TTFT_METRIC not in record
    assert record[TPOT_METRIC] == pytest.approx(30.0)


class _Metrics(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 404)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def test_reads_metrics_over_http_and_sends_a_json_line_to_the_agent() -> None:
    _Metrics.body = vllm_text(counts(b7=4), counts(b3=4)).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    agent = socket.create_server(("127.0.0.1", 0))
    try:
        text = exporter.read(server.server_address[1])
        assert text is not None and "vllm:time_to_first_token_seconds_bucket" in text
        exporter.send({"TimeToFirstTokenP95Ms": 1.5}, agent.getsockname())
        connection, _ = agent.accept()
        with connection:
            received = connection.makefile().readline()
        assert json.loads(received) == {"TimeToFirstTokenP95Ms": 1.5}
    finally:
        server.shutdown()
        agent.close()


def test_an_unreachable_replica_or_agent_is_logged_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert exporter.read(port) is None
    exporter.send({}, ("127.0.0.1", port))
    err = capsys.readouterr().err
    assert f"replica on port {port}:" in err and f"CloudWatch agent at 127.0.0.1:{port}:" in err


# ---------------------------------------------------------------------------------------------
# On the instance


def test_the_boot_script_installs_the_exporter_as_an_unprivileged_service(tmp_path: Path) -> None:
    spec = boot_tests.make_spec("vllm", replicas_per_instance=2)
    run = boot_tests.boot(render_user_data(spec), tmp_path)
    assert run.returncode == 0, run.output
    installed = run.root / "usr/local/lib/infra-serving/latency_exporter.py"
    assert installed.read_text() == gzip.decompress(base64.b64decode(exporter_payload())).decode()
    (read,) = [call for call in run.tool_calls("aws") if call[:2] == ["ssm", "get-parameter"]]
    assert read[read.index("--name") + 1] == exporter_parameter(spec.stack_name)
    unit = (run.root / "etc/systemd/system/infra-latency-exporter.service").read_text()
    assert (
        f"ExecStart=/usr/bin/python3 {installed} chat-prod-fleet /infra/chat-prod/engine-metrics "
        "8001,8002 vllm:time_to_first_token_seconds "
        "vllm:inter_token_latency_seconds,vllm:time_per_output_token_seconds spot\n"
    ) in unit
    assert unit.startswith("[Service]\n")
    for hardening in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert f"\n{hardening}\n" in unit
    assert ["enable", "--now", "infra-latency-exporter.service"] in run.tool_calls("systemctl")
    assert "latency exporter started" in run.output
    config = json.loads(
        (run.root / "opt/aws/amazon-cloudwatch-agent/etc/infra-serving.json").read_text()
    )
    assert config["logs"]["metrics_collected"]["emf"] == {}


@pytest.mark.parametrize("engine", ["vllm", "tgi", "triton"])
def test_the_arguments_carry_the_engines_histogram_names(engine: str) -> None:
    args = exporter_args(boot_tests.make_spec(engine))
    assert exporter.histograms_of(*args[3:5]) == latency_histograms(engine)


def test_the_code_in_the_parameter_is_the_exporter_and_fits_a_standard_parameter() -> None:
    payload = exporter_payload()
    assert len(payload) <= PARAMETER_LIMIT
    namespace: dict[str, object] = {"__name__": "shipped"}
    exec(gzip.decompress(base64.b64decode(payload)).decode(), namespace)
    shipped = namespace["Exporter"](latency_histograms("vllm"), "g", "/l")  # type: ignore[operator]
    ours = Exporter(latency_histograms("vllm"), "g", "/l")
    before, after = vllm_text(FLAT, FLAT), vllm_text(counts(b7=95, b9=5), counts(b3=10))
    for live in (shipped, ours):
        live.record({"8000": before}, 0)
    assert shipped.record({"8000": after}, 1) == ours.record({"8000": after}, 1)


def test_a_failing_systemctl_leaves_serving_running(tmp_path: Path) -> None:
    script = render_user_data(boot_tests.make_spec("vllm"))
    script = script.replace("systemctl daemon-reload && ", "false && ")
    run = boot_tests.boot(script, tmp_path)
    assert run.returncode == 0, run.output
    assert "the latency exporter did not start: no TTFT/TPOT from this instance" in run.output


def test_the_instance_is_counted_under_its_purchase_option() -> None:
    live = Exporter(
        latency_histograms("triton"), "chat-prod-fleet", "/infra/chat-prod/engine-metrics"
    )
    record = live.instance_record("spot", 5_000)
    assert record is not None and record["SpotInstances"] == 1
    assert record["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [  # type: ignore[index]
        {"Name": "SpotInstances", "Unit": "Count"}
    ]
    assert live.instance_record("on-demand", 5_000)["OnDemandInstances"] == 1  # type: ignore[index]
    assert live.instance_record("unknown", 5_000) is None
    assert live.record({"8000": "# no histograms\n"}, 5_000) is None


def test_triton_gets_no_exporter_and_no_emf_listener() -> None:
    spec = boot_tests.make_spec("triton")
    assert latency_metrics(spec) == ()
    assert "latency_exporter" not in render_user_data(spec)
    assert "emf" not in json.loads(agent_config(spec) or "{}").get("logs", {}).get(
        "metrics_collected", {}
    )
