"""The `infra` command line: JSON shapes, exit codes and one-sentence errors, end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cli import __version__
from core.errors import InfraError
from planner.models import builtin_models
from planner.profile import Profile, load_profile
from planner.scaffold import render_profile_scaffold, write_profile_scaffold
from planner.service import recommend_for_profile
from tests.conftest import EXAMPLES, REPO, Cli, profile_dict, write_profile

INFRA = Path(sys.executable).with_name("infra")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
CANDIDATE_FIELDS = {
    "cloud",
    "region",
    "kind",
    "instance_type",
    "accelerator",
    "accelerators_per_instance",
    "tensor_parallel",
    "instances",
    "replicas",
    "spot_fraction",
    "hourly_usd",
    "monthly_usd",
    "usd_per_million_output_tokens",
    "usd_per_thousand_requests",
    "predicted",
}
PREDICTED_FIELDS = {"throughput_tokens_per_s", "ttft_ms_p95", "tpot_ms"}


def one_error(result: Any, exit_code: int = 1) -> str:
    """The single `error: ...` line on stderr, after checking nothing else was printed."""
    assert result.exit_code == exit_code, result.output
    assert result.exc_info is None or result.exc_info[0] is SystemExit, "raised, not reported"
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def json_error(result: Any, exit_code: int = 1) -> dict[str, Any]:
    assert result.exit_code == exit_code, result.output
    assert result.stderr == ""
    payload = json.loads(result.stdout)
    assert payload["exit_code"] == exit_code
    assert isinstance(payload["error"], str) and "\n" not in payload["error"]
    return payload


# --- recommend -----------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_recommend_json_shape(cli: Cli, example: Path) -> None:
    result, data = cli.json("recommend", example)
    assert result.exit_code == 0
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data["catalog_date"])
    rows = [data["chosen"], *data["alternatives"]]
    assert data["alternatives"], "the examples all have more than one feasible candidate"
    for row in rows:
        assert row.keys() >= CANDIDATE_FIELDS
        assert row["predicted"].keys() >= PREDICTED_FIELDS
        assert row["accelerators_per_instance"] >= row["tensor_parallel"] >= 1
        assert 0 <= row["spot_fraction"] <= 1
        assert row["flat_monthly_usd"] == pytest.approx(row["hourly_usd"] * 730, rel=1e-3)
        if row["hourly_sizes"] is None:  # flat: the peak hour for 730 hours
            assert row["monthly_usd"] == row["flat_monthly_usd"]
        else:  # traffic over the week: the sum over its hours (with its commitments)
            expected = row["hourly_sizes"]["expected_monthly_usd"]
            if row["commitment"] is not None:
                expected += row["commitment"]["delta_monthly_usd"]
            assert row["monthly_usd"] == pytest.approx(expected, abs=0.02)
    monthly = [row["monthly_usd"] for row in rows]
    assert monthly == sorted(monthly)
    for item in data["excluded"]:
        assert item.keys() == {"class", "reason"}
        assert item["reason"].startswith(f"{item['class']}: ")
    for row in rows:
        per_instance = row["model_replicas_per_instance"]
        assert row["accelerators_per_instance"] >= per_instance * row["tensor_parallel"]
        assert (row["replicas"], row["on_demand_replicas"], row["spot_replicas"]) == (
            row["instances"] * per_instance,
            row["on_demand_instances"] * per_instance,
            row["spot_instances"] * per_instance,
        )
    assert_also_fits(data)


def assert_also_fits(data: dict[str, Any]) -> None:
    """One line per other accelerator class with a feasible candidate: its cheapest fleet and
    what it costs a month more than the chosen; no class is both fitting and excluded."""
    chosen = data["chosen"]
    classes = [item["class"] for item in data["also_fits"]]
    assert chosen["accelerator"] not in classes and len(set(classes)) == len(classes)
    assert not set(classes) & {item["class"] for item in data["excluded"]}
    extra = [item["extra_monthly_usd"] for item in data["also_fits"]]
    assert extra == sorted(extra) and all(value >= 0 for value in extra)
    for item in data["also_fits"]:
        assert item["monthly_usd"] == pytest.approx(
            chosen["monthly_usd"] + item["extra_monthly_usd"], abs=0.02
        )
        assert item["reason"] == (
            f"{item['class']}: fits, ${item['extra_monthly_usd']:,.0f}/month more "
            f"({item['instances']}× {item['instance_type']})."
        )


def test_llm_rows_have_token_figures(cli: Cli) -> None:
    _, data = cli.json("recommend", EXAMPLES / "chat-8b.yaml")
    for row in [data["chosen"], *data["alternatives"]]:
        assert row["usd_per_million_output_tokens"] > 0
        assert all(row["predicted"][name] > 0 for name in PREDICTED_FIELDS)


def test_bert_classifier_has_no_output_token_figures(cli: Cli) -> None:
    _, data = cli.json("recommend", EXAMPLES / "bert-classifier.yaml")
    for row in [data["chosen"], *data["alternatives"]]:
        assert row["usd_per_million_output_tokens"] is None
        assert all(row["predicted"][name] is None for name in PREDICTED_FIELDS)
        assert row["usd_per_thousand_requests"] > 0


def test_top_limits_the_alternatives(cli: Cli) -> None:
    _, data = cli.json("recommend", EXAMPLES / "chat-8b.yaml", "--top", "2")
    assert len(data["alternatives"]) == 2


def test_filters_pin_the_choice(cli: Cli) -> None:
    _, data = cli.json(
        "recommend", EXAMPLES / "chat-8b.yaml", "--cloud", "GCP", "--accelerator", "l4"
    )
    for row in [data["chosen"], *data["alternatives"]]:
        assert (row["cloud"], row["accelerator"]) == ("gcp", "L4")


def test_recommend_table(cli: Cli) -> None:
    result = cli("recommend", EXAMPLES / "chat-8b.yaml")
    assert result.exit_code == 0
    assert "Cheapest first" in result.stdout and "Chosen:" in result.stdout
    _, data = cli.json("recommend", EXAMPLES / "chat-8b.yaml")
    assert data["chosen"]["instance_type"] in result.stdout
    assert data["also_fits"], "other accelerators serve an 8B model too"
    assert "Other accelerators that fit, at a higher cost:" in result.stdout
    for item in data["also_fits"]:
        assert f"  - {item['reason']}" in result.stdout


def test_the_replicas_column_counts_model_replicas(cli: Cli) -> None:
    """An 8-GPU instance at tensor parallel 4 runs 2 model replicas: the column says 2 (and how
    many are on spot); the chosen line counts instances and then model replicas."""
    args = ("recommend", EXAMPLES / "llama-70b.yaml", "--cloud", "gcp", "--top", "10")
    _, data = cli.json(*args)
    lines = [" ".join(line.split()) for line in cli(*args).stdout.splitlines()]
    rows = [data["chosen"], *data["alternatives"]]
    several = [row for row in rows if row["model_replicas_per_instance"] > 1]
    assert several, "some GCP instance runs several 70B replicas"
    for row in several:
        cells = (
            f"│ {row['instance_type']} │ {row['accelerators_per_instance']}×{row['accelerator']} "
            f"│ {row['tensor_parallel']} │ {row['replicas']} ({row['spot_replicas']}) │"
        )
        assert row["replicas"] > row["instances"]
        assert any(cells in line for line in lines), cells
    chosen = data["chosen"]
    replicas = (
        "one model replica each"
        if chosen["model_replicas_per_instance"] == 1
        else f"{chosen['replicas']} model replicas ({chosen['spot_replicas']} on spot)"
    )
    assert any(
        line.startswith(f"Chosen: {chosen['instances']}× {chosen['instance_type']} ")
        and f"{chosen['on_demand_instances']} on-demand + {chosen['spot_instances']} spot, "
        f"{replicas}, "
        in line
        for line in lines
    ), lines


@pytest.fixture
def impossible(tmp_path: Path) -> Path:
    """The chat profile with a time per output token no accelerator reaches."""
    return write_profile(tmp_path, profile_dict(targets={"tpot_ms": 0.5}))


def test_impossible_target_exits_3_with_reasons(cli: Cli, impossible: Path) -> None:
    result = cli("recommend", impossible)
    assert result.exit_code == 3
    first, *reasons = result.stderr.splitlines()
    assert first == "error: no offering can serve llama-3.1-8b at 5 requests/s within the targets"
    assert reasons and all(line.startswith("  - ") for line in reasons)
    assert any("time per output token" in line and "> target 0.5 ms" in line for line in reasons)


def test_impossible_target_json(cli: Cli, impossible: Path) -> None:
    payload = json_error(cli("recommend", impossible, "--json"), exit_code=3)
    assert payload.keys() == {"error", "exit_code", "excluded"}
    assert payload["excluded"] and all(r.keys() == {"class", "reason"} for r in payload["excluded"])


# --- bad input: exit 1, one sentence, no traceback -----------------------------------------------


def test_malformed_yaml(cli: Cli, tmp_path: Path) -> None:
    path = write_profile(tmp_path, "name: x\nmodel: {name: [unclosed\n")
    message = one_error(cli("recommend", path))
    assert f"{path}, line " in message and "YAML syntax error" in message


def test_unknown_model_in_profile(cli: Cli, tmp_path: Path) -> None:
    path = write_profile(tmp_path, profile_dict(model={"name": "llama-3.1-8"}))
    message = one_error(cli("recommend", path))
    assert f"{path}, line 3, field model.name: unknown model 'llama-3.1-8'" in message
    assert "did you mean 'llama-3.1-8b'" in message


def test_wrong_type_names_file_line_and_field(cli: Cli, tmp_path: Path) -> None:
    data = profile_dict()
    data["workload"]["requests_per_second"] = "lots"
    path = write_profile(tmp_path, data)
    message = one_error(cli("recommend", path))
    assert f"{path}, line 6, field workload.requests_per_second: expected `float`" in message


def test_unknown_region_in_profile(cli: Cli, tmp_path: Path) -> None:
    data = profile_dict(placement={"regions": ["us-east-1", "us-east-9"]})
    path = write_profile(tmp_path, data)
    message = one_error(cli("recommend", path))
    assert f"{path}, line " in message
    assert "field placement.regions[1]: unknown region 'us-east-9'" in message


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--region", "us-east-9", "unknown region 'us-east-9' (did you mean"),
        ("--cloud", "oracle", "unknown cloud 'oracle'; choose from aws, azure, gcp."),
        ("--kind", "lambda", "unknown kind 'lambda'"),
        ("--accelerator", "H101", "unknown accelerator 'h101' (did you mean 'h100'?)"),
    ],
)
def test_unknown_filter(cli: Cli, option: str, value: str, expected: str) -> None:
    message = one_error(cli("recommend", EXAMPLES / "chat-8b.yaml", option, value))
    assert expected.lower() in message.lower()


def test_missing_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert one_error(cli("recommend", path)) == f"error: {path}: no such file."


def test_error_as_json(cli: Cli, tmp_path: Path) -> None:
    payload = json_error(cli("recommend", tmp_path / "absent.yaml", "--json"))
    assert payload == {"error": f"{tmp_path / 'absent.yaml'}: no such file.", "exit_code": 1}


# --- catalog and models --------------------------------------------------------------------------


def test_catalog_list_filters(cli: Cli) -> None:
    args = ("--cloud", "aws", "--accelerator", "h100", "--region", "us-east-1")
    result, rows = cli.json("catalog", "list", *args)
    assert result.exit_code == 0 and rows
    assert {(r["cloud"], r["accelerator"], r["region"]) for r in rows} == {
        ("aws", "H100", "us-east-1")
    }
    result, managed = cli.json("catalog", "list", *args, "--kind", "sagemaker")
    assert managed and {r["kind"] for r in managed} == {"sagemaker"}
    table = cli("catalog", "list", *args)
    assert table.exit_code == 0 and f"{len(rows)} offerings" in table.stdout


def test_catalog_list_unknown_cloud(cli: Cli) -> None:
    assert "unknown cloud 'oracle'" in one_error(cli("catalog", "list", "--cloud", "oracle"))


def test_catalog_show(cli: Cli) -> None:
    result, rows = cli.json("catalog", "show", "g5.xlarge")
    assert result.exit_code == 0 and rows
    assert {r["instance_type"] for r in rows} == {"g5.xlarge"}
    assert all(r["prices"] and "spot_note" in r["prices"][0] for r in rows)
    table = cli("catalog", "show", "g5.xlarge")
    assert table.exit_code == 0 and table.stdout.startswith("g5.xlarge: 1× A10G")


def test_catalog_show_unknown_instance(cli: Cli) -> None:
    message = one_error(cli("catalog", "show", "g5.xlarg"))
    assert "no instance type 'g5.xlarg' in the catalog (did you mean 'g5.xlarge'?)" in message
    assert json_error(cli("catalog", "show", "g5.xlarg", "--json"))["error"] == message[7:]


def test_models_list(cli: Cli) -> None:
    result, rows = cli.json("models", "list")
    assert result.exit_code == 0
    assert [r["name"] for r in rows] == list(builtin_models())
    table = cli("models", "list")
    assert table.exit_code == 0 and f"{len(rows)} built-in models" in table.stdout


# --- profile init and check ----------------------------------------------------------------------


def test_init_check_recommend(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("profile", "init", "my-chat")
    assert result.exit_code == 0
    assert result.stdout == "wrote my-chat.yaml; next: infra recommend my-chat.yaml\n"
    check = cli("profile", "check", "my-chat.yaml")
    assert check.stdout == "my-chat.yaml: valid profile 'my-chat' for llama-3.1-8b.\n"
    recommended, data = cli.json("recommend", "my-chat.yaml")
    assert recommended.exit_code == 0
    assert (data["profile"], data["model"]) == ("my-chat", "llama-3.1-8b")


def test_init_with_model_and_output(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "profiles" / "bert.yaml"
    path.parent.mkdir()
    result = cli("profile", "init", "bert", "--model", "bert-base-uncased", "-o", path)
    assert result.exit_code == 0
    _, data = cli.json("recommend", path)
    assert data["model"] == "bert-base-uncased"
    assert data["chosen"]["usd_per_million_output_tokens"] is None


@pytest.mark.parametrize("model", list(builtin_models()))
def test_scaffold_of_every_builtin_model_plans(tmp_path: Path, model: str) -> None:
    path = write_profile_scaffold("scaffold", model, tmp_path / "p.yaml")
    assert load_profile(path).profile.model_spec().name == model
    assert recommend_for_profile(path).chosen.hourly_usd > 0


def test_scaffold_accepts_a_hugging_face_id() -> None:
    text = render_profile_scaffold("chat", "meta-llama/Llama-3.1-8B-Instruct")
    assert "\n  name: llama-3.1-8b\n" in text


def _field_names(struct: type[msgspec.Struct]) -> set[str]:
    """Every field name in a struct and the structs nested in it, however deep."""
    names = set(struct.__struct_fields__)
    for hint in typing.get_type_hints(struct, include_extras=True).values():
        pending = [hint]
        while pending:
            kind = pending.pop()
            if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
                names |= _field_names(kind)
            pending.extend(typing.get_args(kind))
    return names


def test_scaffold_documents_every_field() -> None:
    text = render_profile_scaffold("chat", "llama-3.1-8b")
    undocumented = {name for name in _field_names(Profile) if f"{name}:" not in text}
    assert not undocumented
    for tag in ("team:", "cost-center:", "env:"):
        assert f"\n  {tag}" in text


@pytest.mark.parametrize("model", ["llama-3.1-8b", "bert-base-uncased"])
def test_scaffold_examples_are_valid(tmp_path: Path, model: str) -> None:
    """Uncommenting every optional field (architecture instead of name) still gives a profile."""
    text = render_profile_scaffold("chat", model).replace(f"\n  name: {model}\n", "\n", 1)
    field = re.compile(r"^(\s*)# ( *(?:- )?[a-z0-9_-]+:(?: .*)?)$", re.MULTILINE)
    uncommented = field.sub(r"\1\2", text)
    profile = load_profile(write_profile(tmp_path, uncommented)).profile
    assert profile.model.architecture is not None and profile.budget is not None
    assert profile.workload.measured[0].latency_ms_p95 == 850
    assert profile.runtime.extra_args == ["--enable-prefix-caching"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["Chat"], "invalid profile name 'Chat'"),
        (["chat_bot"], "invalid profile name 'chat_bot'"),
        (["chat-"], "invalid profile name 'chat-'"),
        (["a" * 41], "invalid profile name"),
        (["chat", "--model", "llama-3-8b"], "unknown model 'llama-3-8b' (did you mean"),
        (["chat", "--model", "falcon-180b"], "unknown model 'falcon-180b'; `infra models list`"),
    ],
)
def test_init_rejects_bad_input(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert expected in one_error(cli("profile", "init", *args))
    assert not list(tmp_path.iterdir())


def test_init_does_not_overwrite_without_force(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "chat.yaml"
    path.write_text("mine\n")
    message = one_error(cli("profile", "init", "chat", "-o", path))
    assert message == f"error: {path} already exists; pass --force to overwrite it."
    assert path.read_text() == "mine\n"
    assert cli("profile", "init", "chat", "-o", path, "--force").exit_code == 0
    assert load_profile(path).profile.name == "chat"
    assert [p.name for p in tmp_path.iterdir()] == ["chat.yaml"]


def test_init_into_a_missing_directory(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "chat.yaml"
    message = one_error(cli("profile", "init", "chat", "-o", path))
    assert "directory" in message and str(path.parent) in message


def test_init_onto_a_directory(cli: Cli, tmp_path: Path) -> None:
    assert "is a directory" in one_error(cli("profile", "init", "chat", "-o", tmp_path))


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chat.yaml"
    path.write_text("mine\n")

    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(InfraError) as caught:
        write_profile_scaffold("chat", "llama-3.1-8b", path, force=True)
    assert str(caught.value) == f"cannot write {path}: No space left on device."
    assert path.read_text() == "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["chat.yaml"]


def test_profile_check_reports_one_sentence(cli: Cli, tmp_path: Path) -> None:
    data = profile_dict()
    data["targets"]["tpot"] = 40
    path = write_profile(tmp_path, data)
    message = one_error(cli("profile", "check", path))
    assert f"{path}, line " in message and "field targets.tpot: unknown field" in message


# --- the application itself ----------------------------------------------------------------------


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert (result.exit_code, result.stdout) == (0, f"infra {__version__}\n")


def test_help_lists_commands_and_shell_completion(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for word in ("recommend", "catalog", "models", "profile", "--version"):
        assert word in result.stdout
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
    for group in ("catalog", "models", "profile"):
        assert cli(group, "--help").exit_code == 0


# --- through the installed console script --------------------------------------------------------

needs_script = pytest.mark.skipif(not INFRA.exists(), reason="no infra script next to python")


def run_infra(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INFRA, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, **env} if env else None,
    )


@needs_script
def test_script_recommends() -> None:
    result = run_infra("recommend", "examples/chat-8b.yaml", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "llama-3.1-8b"


@needs_script
def test_script_error_has_no_traceback(tmp_path: Path) -> None:
    result = run_infra("recommend", tmp_path / "absent.yaml")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {tmp_path / 'absent.yaml'}: no such file.\n"


@needs_script
def test_script_shows_a_completion_script() -> None:
    # Typer detects the shell from the process tree (none under cron or a detached CI runner);
    # its test switch makes --show-completion take the shell's name instead.
    detection_off = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = run_infra("--show-completion", "bash", env=detection_off)
    assert result.returncode == 0 and "_INFRA_COMPLETE" in result.stdout


def test_top_zero_lists_no_alternatives(cli: Cli) -> None:
    result, body = cli.json("recommend", EXAMPLES / "chat-8b.yaml", "--top", "0")
    assert result.exit_code == 0, result.output
    assert body["alternatives"] == []
