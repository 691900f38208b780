"""The CLI side of sizing with the model's uncertainty: the band, the binding target and the
published rows per candidate in `recommend` (JSON and table), and `plan`/`deploy` asking before a
pinned fleet many times dearer than the unpinned optimum (refused without a terminal unless
--allow-large-fleet; nothing saved)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from cli import gates
from core.errors import InfraError
from orchestrator.decisions import record, resolve
from planner import service
from planner.lock import lock_path
from planner.optimizer import Filters, LargeFleet
from tests.conftest import EXAMPLES, Cli, catalog_of, make_profile, offering, write_profile, zone

BINDINGS = {"tpot", "ttft", "e2e", "memory", "max_batch", "compute"}


def test_recommend_json_carries_the_band_the_binding_target_and_the_rows(cli: Cli) -> None:
    result, body = cli.json("recommend", EXAMPLES / "chat-8b.yaml", "--top", "3")
    assert result.exit_code == 0, result.output
    assert body["confidence"] == 0.8
    for row in [body["chosen"], *body["alternatives"]]:
        assert row["binding_target"] in BINDINGS
        assert row["cliff"] is None
        band = row["uncertainty"]
        assert band["confidence"] == 0.8
        assert isinstance(band["published_rows"], int) and isinstance(band["pooled"], bool)
        predicted = row["predicted"]
        for name in ("ttft_ms_p95", "tpot_ms", "e2e_ms_p95"):
            assert band[name]["low"] <= predicted[name] <= band[name]["high"], name
        capacity = band["capacity_requests_per_s"]
        assert capacity["low"] == predicted["capacity_requests_per_s"] <= capacity["high"]
    tpot = body["chosen"]["uncertainty"]["tpot_ms"]["high"]
    assert tpot <= 50, "the pessimistic time per token of the chosen fleet is within the target"


def test_recommend_table_shows_the_band_the_binding_target_and_the_rows(cli: Cli) -> None:
    _, body = cli.json("recommend", EXAMPLES / "chat-8b.yaml", "--top", "0")
    result = cli("recommend", EXAMPLES / "chat-8b.yaml", "--top", "0")
    assert result.exit_code == 0, result.output
    chosen = body["chosen"]
    header = next(line for line in result.stdout.splitlines() if "cloud/kind" in line)
    assert "binds" in header and "rows" in header
    row = next(line for line in result.stdout.splitlines() if "chosen" in line)
    band = chosen["uncertainty"]
    assert f"{chosen['predicted']['tpot_ms']:.1f} ({band['tpot_ms']['low']:.1f}–" in row
    assert f" {chosen['binding_target']} " in row
    rows = f"{band['published_rows']}{' pooled' if band['pooled'] else ''}"
    assert f" {rows} " in row
    assert "at 80% confidence" in result.stdout
    assert "binds: what caps a replica" in result.stdout


def test_measured_candidates_show_no_band(cli: Cli, tmp_path: Path) -> None:
    path = write_profile(
        tmp_path,
        msgspec.to_builtins(
            make_profile(
                model={"name": "bert-base-uncased", "precision": "fp16"},
                workload={
                    "requests_per_second": 100,
                    "measured": [{"accelerator": "T4", "requests_per_second": 400}],
                },
                targets={"e2e_ms_p95": 100, "confidence": 0.95},
            )
        ),
    )
    result, body = cli.json("recommend", path, "--top", "0")
    assert result.exit_code == 0, result.output
    assert body["confidence"] == 0.95
    assert body["chosen"]["uncertainty"] is None
    assert body["chosen"]["binding_target"] == "measured"
    table = cli("recommend", path, "--top", "0").stdout
    assert " measured " in next(line for line in table.splitlines() if "chosen" in line)


@pytest.mark.parametrize("confidence", [0.3, 1, 1.5])
def test_a_confidence_out_of_range_is_one_sentence(
    cli: Cli, tmp_path: Path, confidence: float
) -> None:
    data = msgspec.to_builtins(make_profile())
    data["targets"]["confidence"] = confidence
    path = write_profile(tmp_path, data)
    line = path.read_text().splitlines().index(f"  confidence: {confidence}") + 1
    result = cli("recommend", path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {path}, line {line}, field targets.confidence: must be a number at least 0.5 "
        f"and less than 1 (got {confidence})."
    )


# --- a pinned fleet many times dearer ---------------------------------------------------------

CHEAP_AND_DEAR = catalog_of(
    offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]),
    offering("g6.xlarge", "L4", 1, 22.4, [zone("use1-az1", 1.0)]),
)


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """10 req/s: 5 g5.xlarge unpinned, 20 g6.xlarge when pinned (4 times the cost)."""
    monkeypatch.setattr(service, "load_catalog", lambda: CHEAP_AND_DEAR)
    data = msgspec.to_builtins(
        make_profile(
            workload={
                "requests_per_second": 8,
                "input_tokens": {"mean": 512, "p95": 1024},
                "output_tokens": {"mean": 128, "p95": 256},
                "measured": [
                    {"accelerator": "A10G", "requests_per_second": 2},
                    {"accelerator": "L4", "requests_per_second": 0.5},
                ],
            },
            targets={"ttft_ms_p95": 2000, "headroom": 0.25},
            placement={"zones": 1, "spot": {"policy": "never"}},
            tags={"team": "assistant", "cost-center": "cc-1"},
        )
    )
    return write_profile(tmp_path, data, "chat.yaml")


REFUSAL = (
    "error: the pins make the plan 20× g6.xlarge (aws/fleet, us-east-1) at $14,600/month, 4.0 "
    "times the cheapest plan without them, 5× g5.xlarge (aws/fleet, us-east-1) at $3,650/month; "
    "pass --allow-large-fleet to plan it anyway (nothing was saved)."
)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "--out", "plan.zip"],
        ["deploy"],
        ["deploy", "--auto-approve"],  # approves the Terraform plan, not the fleet
    ],
    ids=" ".join,
)
def test_a_large_pinned_fleet_is_refused_without_a_terminal(
    cli: Cli, profile: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(profile.parent)
    result = cli(command[0], profile, *command[1:], "--instance-type", "g6.xlarge")
    assert result.exit_code == 1, result.output
    assert last_line(result.stderr) == REFUSAL
    assert not lock_path(profile).exists()
    assert not (profile.parent / "plan.zip").exists()
    result, body = cli.json(command[0], profile, *command[1:], "--instance-type", "g6.xlarge")
    assert result.exit_code == 1 and body["error"] == REFUSAL.removeprefix("error: ")
    assert not lock_path(profile).exists()


def reaching_the_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop where the policy scan and the budget would run: the large-fleet gate was passed."""

    def stop(*args: Any, **kwargs: Any) -> Any:
        raise InfraError("the plan gates were reached")

    monkeypatch.setattr(gates, "plan_gates", stop)


@pytest.mark.parametrize("command", ["plan", "deploy"])
def test_allow_large_fleet_goes_on(
    cli: Cli, profile: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reaching_the_gates(monkeypatch)
    result = cli(command, profile, "--instance-type", "g6.xlarge", "--allow-large-fleet")
    assert last_line(result.stderr) == "error: the plan gates were reached"


def test_no_pins_or_a_locked_decision_goes_on(
    cli: Cli, profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reaching_the_gates(monkeypatch)
    result = cli("plan", profile)
    assert last_line(result.stderr) == "error: the plan gates were reached"
    record(resolve(profile, "local", Filters(instance_types=frozenset({"g6.xlarge"}))), None)
    result = cli("plan", profile, "--instance-type", "g6.xlarge")  # the lock's, approved before
    assert last_line(result.stderr) == "error: the plan gates were reached"


def large_deployment() -> Any:
    large = LargeFleet("20× g6.xlarge (aws/fleet, us-east-1)", 14600.0, "5× g5.xlarge", 3650.0)
    return SimpleNamespace(
        resolved=SimpleNamespace(recommendation=SimpleNamespace(large_fleet=large))
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("answer", [True, False])
def test_at_a_terminal_the_large_fleet_is_asked_about(
    monkeypatch: pytest.MonkeyPatch, answer: bool
) -> None:
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return answer

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr(gates.typer, "confirm", confirm)
    if answer:
        gates.confirm_large_fleet(large_deployment(), allowed=False, ask=True)
    else:
        with pytest.raises(InfraError) as caught:
            gates.confirm_large_fleet(large_deployment(), allowed=False, ask=True)
        assert str(caught.value).startswith("cancelled: the pins make the plan 20× g6.xlarge")
        assert str(caught.value).endswith("; nothing was saved.")
    assert asked == [
        "Note: the pins make the plan 20× g6.xlarge (aws/fleet, us-east-1) at $14,600/month, "
        "4.0 times the cheapest plan without them, 5× g5.xlarge at $3,650/month. Plan it anyway?"
    ]


def test_at_a_terminal_json_or_auto_approve_does_not_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr(gates.typer, "confirm", lambda question: pytest.fail("asked"))
    with pytest.raises(InfraError, match="pass --allow-large-fleet"):
        gates.confirm_large_fleet(large_deployment(), allowed=False, ask=False)
    gates.confirm_large_fleet(large_deployment(), allowed=True, ask=False)


def test_lock_update_asks_the_same(cli: Cli, profile: Path) -> None:
    """Recording a decision is what plan and deploy guard, so `lock update` guards it too."""
    result = cli("lock", "update", profile, "--instance-type", "g6.xlarge")
    assert result.exit_code == 1 and last_line(result.stderr) == REFUSAL
    assert not lock_path(profile).exists()
    result = cli("lock", "update", profile, "--instance-type", "g6.xlarge", "--allow-large-fleet")
    assert result.exit_code == 0, result.output
    assert lock_path(profile).exists()
