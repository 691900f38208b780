"""The clouds read the engines' metrics by the same names (modules/engine_prometheus.py): the AWS
exporter, GCP's Ops Agent and Azure's publisher keep the same gauges, and the AWS exporter and
GCP's Ops Agent the same histograms, each the engine's names of one quantity."""

from __future__ import annotations

import pytest

from modules.aws import engine_metrics as aws
from modules.azure import engine_metrics as azure
from modules.engine_prometheus import RUNNING_GAUGE, WAITING_GAUGE, queue_gauges
from modules.gcp import engine_metrics as gcp

ENGINES = ("vllm", "tgi", "triton")


def test_every_fleet_keeps_the_engines_running_and_waiting_gauges() -> None:
    kept = {engine: set(gauges) for engine, gauges in aws.ENGINE_GAUGES.items()}
    assert kept == {
        "vllm": {"vllm:num_requests_running", "vllm:num_requests_waiting"},
        "tgi": {"tgi_batch_current_size", "tgi_queue_size"},
    }
    for cloud in (gcp.ENGINE_GAUGES, azure.ENGINE_GAUGES):
        assert {engine: set(gauges) for engine, gauges in cloud.items()} == kept
    # Triton has a queue gauge and no running one: a fleet cannot add up its requests in flight.
    assert "triton" in WAITING_GAUGE and "triton" not in RUNNING_GAUGE
    assert "triton" not in queue_gauges("running", "waiting")


@pytest.mark.parametrize("engine", ENGINES)
def test_aws_and_gcp_read_the_same_latency_histograms(engine: str) -> None:
    on_aws = aws.latency_histograms(engine)
    on_gcp = gcp.kept_histograms(engine)
    published = {aws.TTFT_METRIC: gcp.TTFT_METRIC, aws.TPOT_METRIC: gcp.TPOT_METRIC}
    assert on_gcp == {name: published[metric] for metric, names in on_aws.items() for name in names}


def test_vllm_time_per_output_token_is_read_under_both_its_names() -> None:
    names = aws.latency_histograms("vllm")[aws.TPOT_METRIC]
    assert names == ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds")
    assert aws.TTFT_METRIC not in aws.latency_histograms("tgi")
    assert aws.latency_histograms("triton") == {}
