"""`infra bench` against a real local server streaming chat completions (tests/sse_server.py):
the measured latencies are the server's, a sweep finds its capacity, errors are counted, every
bad input is one sentence, and `--record` changes what `recommend` decides."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from orchestrator.loadtest.inputs import BenchError
from orchestrator.loadtest.run import deployed_transport
from orchestrator.loadtest.summary import percentile
from orchestrator.loadtest.traffic import TokenDistribution, arrival_times
from planner.profile import TokenStats
from providers import targets
from tests.conftest import Cli
from tests.sse_server import Behaviour, serving

PROFILE = """\
# A small chat profile for the bench tests.
name: bench-chat
model:
  name: llama-3.1-8b
workload:
  requests_per_second: 10   # what bench sends unless told
  input_tokens: {mean: 50, p95: 80}
  output_tokens: {mean: 6, p95: 6}
targets:
  ttft_ms_p95: 300
  tpot_ms: 50
tags: {team: t, cost-center: c, env: dev}
"""
TOKENS = 6
SHORT = ("--duration", "1.5s", "--replicas", "1")


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "bench-chat.yaml"
    path.write_text(PROFILE)
    return path


def bench(cli: Cli, profile: Path, url: str, *args: str) -> tuple[Any, dict[str, Any]]:
    result = cli("bench", profile, "--env", "local", "--url", url, *SHORT, *args, "--json")
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout)


def within(measured: float, expected: float, share: float = 0.10) -> bool:
    return abs(measured - expected) <= share * expected


def test_measured_ttft_and_tpot_are_the_servers_within_ten_percent(
    cli: Cli, profile: Path, tmp_path: Path
) -> None:
    # 400 ms and 20 ms: the milliseconds the client and server take per request (tens of them
    # on a machine running several suites) stay inside 10%
    behaviour = Behaviour(ttft_s=0.4, tpot_s=0.02, concurrency=16)  # no queueing at 10/s
    html, markdown = tmp_path / "bench.html", tmp_path / "bench.md"
    with serving(behaviour) as server:
        _, body = bench(cli, profile, server.url, "--rate", "10", "--report", str(html))
        cli(
            "bench",
            profile,
            "--url",
            server.url,
            *SHORT,
            "--max-requests",
            "3",
            "--report",
            markdown,
        )
        sent = server.bodies
    (step,) = body["steps"]
    assert step["errors"] == {} and step["succeeded"] == step["requests"] > 5
    assert within(step["ttft_ms"]["p50"], 400), step["ttft_ms"]
    assert within(step["tpot_ms"]["p50"], 20), step["tpot_ms"]
    assert within(step["e2e_ms"]["p50"], 400 + (TOKENS - 1) * 20), step["e2e_ms"]
    assert step["predicted"]["tpot_ms"] > 0  # the planner's figure for the same accelerator
    assert body["predicted_capacity_requests_per_s"] > 0
    # the profile's shape: max_tokens from the output distribution, a prompt of ~50 words
    assert {b["max_tokens"] for b in sent} == {TOKENS} and all(b["stream"] for b in sent)
    words = [len(b["messages"][0]["content"].split()) for b in sent]
    assert 30 <= percentile(words, 50) <= 70
    page = html.read_text()
    assert page.count("<svg") == 3 and "<polyline" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert "| rate/s |" in markdown.read_text()


def test_a_sweep_finds_the_saturation_rate_concurrency_over_service_time(
    cli: Cli, profile: Path
) -> None:
    """Service time S = ttft + (tokens - 1) × tpot = 100 + 5 × 40 = 300 ms; 8 at a time complete
    at most 8 / S = 26.7 requests/s, whatever is sent above that."""
    behaviour = Behaviour(ttft_s=0.1, tpot_s=0.04, concurrency=8)
    capacity = behaviour.concurrency / (behaviour.ttft_s + (TOKENS - 1) * behaviour.tpot_s)
    with serving(behaviour) as server:
        _, body = bench(cli, profile, server.url, "--sweep", "45,10", "--max-requests", "70")
    assert [step["rate"] for step in body["steps"]] == [10, 45]
    assert within(body["saturation_requests_per_s"], capacity), body["saturation_requests_per_s"]
    assert body["holds_up_to_requests_per_s"] == 10
    assert body["breaks_at_requests_per_s"] == 45
    assert not body["steps"][1]["holds"]


def test_errors_are_counted_when_the_server_answers_500_or_drops(cli: Cli, profile: Path) -> None:
    behaviour = Behaviour(concurrency=16, fail_every=4, drop_every=5)
    with serving(behaviour) as server:
        _, body = bench(cli, profile, server.url, "--rate", "20")
        count = server.count
    numbers = range(1, count + 1)
    failed = sum(1 for n in numbers if n % 4 == 0)
    dropped = sum(1 for n in numbers if n % 5 == 0 and n % 4 != 0)
    (step,) = body["steps"]
    assert step["errors"] == {"HTTP 500": failed, "dropped": dropped}
    assert step["succeeded"] == count - failed - dropped
    assert not step["holds"] and any("failed" in why for why in step["broken"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("--url", "ftp://host"), "is not an http(s) URL"),
        (("--url", "http://host:99999"), "has an invalid port"),
        (("--url", "http://h", "--rate", "0"), "is not a request rate"),
        (("--url", "http://h", "--rate", "fast"), "is not a request rate"),
        (("--url", "http://h", "--sweep", "1,,2"), "is not a request rate"),
        (("--url", "http://h", "--rate", "1", "--sweep", "1,2"), "not both"),
        (("--url", "http://h", "--duration", "soon"), "is not a duration"),
        (("--url", "http://h", "--timeout", "0s"), "--timeout '0s' is not a duration"),
        (("--url", "http://h", "--report", "out.pdf"), "give a file ending in .html"),
    ],
)
def test_bad_input_is_one_sentence(
    cli: Cli, profile: Path, args: tuple[str, ...], sentence: str
) -> None:
    result = cli("bench", profile, *args)
    assert result.exit_code == 1
    assert sentence in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def failing(cli: Cli, profile: Path, url: str, *args: str) -> str:
    result = cli("bench", profile, "--url", url, *SHORT, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("  ✓")]
    return line


def test_an_endpoint_that_refuses_is_one_sentence(cli: Cli, profile: Path) -> None:
    line = failing(cli, profile, f"http://127.0.0.1:{free_port()}", "--max-requests", "2")
    assert "refused the connection" in line


def test_an_endpoint_that_times_out_is_one_sentence(cli: Cli, profile: Path) -> None:
    with serving(Behaviour(ttft_s=2.0)) as server:
        line = failing(cli, profile, server.url, "--max-requests", "2", "--timeout", "200ms")
    assert "did not finish a request within 0.2 s" in line


def test_an_endpoint_failing_every_request_is_one_sentence(cli: Cli, profile: Path) -> None:
    with serving(Behaviour(fail_every=1)) as server:
        line = failing(cli, profile, server.url, "--max-requests", "3")
    assert "answered HTTP 500 to every request" in line


def test_a_rate_that_sends_nothing_is_one_sentence(cli: Cli, profile: Path) -> None:
    line = failing(cli, profile, "http://127.0.0.1:9", "--rate", "0.001", "--duration", "1ms")
    assert "sends no request" in line


def test_without_url_an_undeployed_profile_is_one_sentence(cli: Cli, profile: Path) -> None:
    result = cli("bench", profile, "--env", "local", *SHORT)
    assert result.exit_code == 1
    assert "has not been deployed from here" in result.stderr


def recommended(cli: Cli, profile: Path) -> tuple[int, dict[str, Any]]:
    result = cli("recommend", profile, "--json", "--top", "0")
    return result.exit_code, json.loads(result.stdout)


def test_record_writes_the_measured_figures_and_recommend_uses_them(
    cli: Cli, profile: Path
) -> None:
    _, before = recommended(cli, profile)
    with serving(Behaviour(concurrency=16)) as server:
        result = cli("bench", profile, "--url", server.url, *SHORT, "--rate", "10", "--record")
    assert result.exit_code == 0, result.output
    text = profile.read_text()
    assert text.startswith(PROFILE.split("\n")[0])  # comments and layout kept
    assert "requests_per_second: 10   # what bench sends unless told" in text
    (entry,) = yaml.safe_load(text)["workload"]["measured"]
    assert set(entry) == {
        "accelerator",
        "requests_per_second",
        "latency_ms_p95",
        "ttft_ms_p95",
        "tpot_ms",
    }
    assert within(entry["tpot_ms"], 10)
    code, after = recommended(cli, profile)
    assert code == 0
    chosen = after["chosen"]
    assert chosen["accelerator"] == entry["accelerator"]
    assert before["chosen"]["uncertainty"] is not None  # the model's figures, with their band
    assert chosen["uncertainty"] is None  # measured figures, as given
    needed = math.ceil(after["demand_requests_per_second"] / entry["requests_per_second"])
    assert chosen["replicas"] == max(needed, 1)
    assert chosen["predicted"]["capacity_requests_per_s"] == pytest.approx(
        chosen["replicas"] * entry["requests_per_second"], rel=1e-3
    )


def test_a_recorded_ttft_over_the_target_rules_the_accelerator_out(cli: Cli, profile: Path) -> None:
    data = yaml.safe_load(PROFILE)
    data["workload"]["measured"] = [
        {"accelerator": "A10G", "requests_per_second": 5, "ttft_ms_p95": 400, "tpot_ms": 10}
    ]
    profile.write_text(yaml.safe_dump(data))
    code, body = recommended(cli, profile)
    assert code == 3
    assert any(
        "time to first token 400 ms > target 300 ms" in r["reason"] for r in body["excluded"]
    )


def test_record_refuses_when_no_rate_held_and_leaves_the_profile(cli: Cli, profile: Path) -> None:
    with serving(Behaviour(ttft_s=0.4, concurrency=16)) as server:  # TTFT over the 300 ms target
        line = failing(cli, profile, server.url, "--max-requests", "3", "--record")
    assert "held at no rate" in line and "nothing was written" in line
    assert profile.read_text() == PROFILE


def test_the_token_distribution_keeps_the_profiles_mean_and_p95() -> None:
    import random

    fitted = TokenDistribution.fitted(TokenStats(mean=512, p95=2048))
    rng = random.Random(1)
    draws = [fitted.draw(rng) for _ in range(20_000)]
    assert within(sum(draws) / len(draws), 512, 0.05)
    assert within(percentile(draws, 95) or 0, 2048, 0.05)
    assert TokenDistribution.fitted(TokenStats(mean=6, p95=6)).draw(rng) == 6


def test_arrivals_are_poisson_at_the_rate_and_bounded() -> None:
    times = arrival_times(50, 20, None, seed=3)
    assert within(len(times) / 20, 50, 0.05) and max(times) < 20
    assert len(arrival_times(50, 20, 7, seed=3)) == 7


def test_without_url_the_fleets_endpoint_output_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import orchestrator.workflow

    fleet = next(kind for kind in targets.kinds() if kind.runs_instances)
    deployment = SimpleNamespace(spec=SimpleNamespace(kind=fleet.name, stack_name="chat-prod"))
    outputs: dict[str, object] = {"endpoint_url": "http://internal-lb.example"}
    monkeypatch.setattr(orchestrator.workflow, "status", lambda _: {"outputs": outputs})
    transport = deployed_transport(deployment)  # type: ignore[arg-type]
    assert transport.url == "http://internal-lb.example/v1/chat/completions"
    outputs.clear()
    with pytest.raises(BenchError, match=r"chat-prod has no endpoint_url output .* give --url"):
        deployed_transport(deployment)  # type: ignore[arg-type]


def test_a_profile_without_token_counts_is_one_sentence(cli: Cli, tmp_path: Path) -> None:
    from tests.conftest import EXAMPLES

    encoder = tmp_path / "bert.yaml"
    encoder.write_text((EXAMPLES / "bert-classifier.yaml").read_text())
    line = failing(cli, encoder, "http://127.0.0.1:9")
    assert "has no workload.input_tokens and output_tokens" in line
