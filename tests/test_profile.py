"""Profile loading: valid profiles parse; each bad input is one sentence naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ProfileError
from planner.profile import load_profile
from tests.conftest import EXAMPLES, profile_dict, write_profile


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_valid(example: Path) -> None:
    loaded = load_profile(example)
    assert loaded.profile.name
    assert loaded.profile.model_spec().params_b > 0


def error_for(tmp_path: Path, data: dict | str) -> str:
    with pytest.raises(ProfileError) as caught:
        load_profile(write_profile(tmp_path, data))
    return str(caught.value)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, "name: x\nmodel:\n  name: [unclosed\nworkload: {}\n")
    assert "p.yaml, line 4" in message and "YAML syntax error" in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(tmp_path / "absent.yaml")


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "a profile is a YAML mapping" in error_for(tmp_path, "- just\n- a list\n")


def test_wrong_type_names_file_line_and_field(tmp_path: Path) -> None:
    data = profile_dict()
    data["workload"]["requests_per_second"] = "lots"
    message = error_for(tmp_path, data)
    assert message.startswith(f"{tmp_path / 'p.yaml'}, line 6, field workload.requests_per_second:")
    assert "expected `float`, got `str`" in message


def test_negative_rate(tmp_path: Path) -> None:
    data = profile_dict()
    data["workload"]["requests_per_second"] = -1
    assert (
        "field workload.requests_per_second: must be a number from 0.0001 to 1,000,000 (got -1)."
        in error_for(tmp_path, data)
    )


def test_unknown_field_points_at_its_line(tmp_path: Path) -> None:
    data = profile_dict()
    data["targets"]["tpot"] = 40
    message = error_for(tmp_path, data)
    assert "field targets.tpot: unknown field" in message
    lines = (tmp_path / "p.yaml").read_text().splitlines()
    line = int(message.split("line ")[1].split(",")[0])
    assert lines[line - 1].strip().startswith("tpot:")


def test_missing_required_section(tmp_path: Path) -> None:
    data = profile_dict()
    del data["workload"]
    assert "field workload: is required" in error_for(tmp_path, data)


def test_bad_enum_value(tmp_path: Path) -> None:
    data = profile_dict(runtime={"engine": "ollama"})
    assert "field runtime.engine: must be one of tgi, triton, vllm (got 'ollama')." in error_for(
        tmp_path, data
    )


def test_unknown_model_suggests_a_close_name(tmp_path: Path) -> None:
    data = profile_dict(model={"name": "llama-3.1-8", "precision": "bf16"})
    message = error_for(tmp_path, data)
    assert "field model.name: unknown model 'llama-3.1-8'" in message
    assert "did you mean" in message and "infra models list" in message


def test_model_by_hugging_face_id(tmp_path: Path) -> None:
    data = profile_dict(model={"name": "meta-llama/Llama-3.1-8B-Instruct"})
    assert load_profile(write_profile(tmp_path, data)).profile.model_spec().name == "llama-3.1-8b"


def test_p95_below_mean(tmp_path: Path) -> None:
    data = profile_dict()
    data["workload"]["output_tokens"] = {"mean": 300, "p95": 100}
    assert "workload.output_tokens: p95 cannot be below mean" in error_for(tmp_path, data)


def test_llm_needs_token_counts(tmp_path: Path) -> None:
    data = profile_dict()
    del data["workload"]["input_tokens"]
    assert "field workload.input_tokens: an LLM workload needs" in error_for(tmp_path, data)


def test_llm_needs_a_latency_target(tmp_path: Path) -> None:
    data = profile_dict(targets={"headroom": 0.1})
    assert "give at least one latency target" in error_for(tmp_path, data)


def test_non_llm_needs_flops_or_measurement(tmp_path: Path) -> None:
    data = profile_dict(
        model={"name": "whisper-large-v3"},
        workload={"requests_per_second": 3},
        targets={"e2e_ms_p95": 500},
    )
    assert "whisper-large-v3 is not an LLM" in error_for(tmp_path, data)


def test_explicit_architecture(tmp_path: Path) -> None:
    architecture = {
        "params_b": 12,
        "layers": 40,
        "hidden_size": 5120,
        "attention_heads": 32,
        "kv_heads": 8,
        "head_dim": 128,
    }
    data = profile_dict(model={"architecture": architecture, "precision": "fp8"})
    spec = load_profile(write_profile(tmp_path, data)).profile.model_spec()
    assert spec.kv_elements_per_token == 2 * 40 * 8 * 128
    assert spec.total_params == 12e9


def test_architecture_missing_attention_shape(tmp_path: Path) -> None:
    data = profile_dict(model={"architecture": {"params_b": 12, "layers": 40}})
    message = error_for(tmp_path, data)
    assert "field model.architecture: a decoder architecture needs attention_heads" in message


def test_name_and_architecture_are_exclusive(tmp_path: Path) -> None:
    data = profile_dict(
        model={"name": "llama-3.1-8b", "architecture": {"params_b": 1, "family": "encoder"}}
    )
    assert "give either model.name" in error_for(tmp_path, data)


def test_spot_floor_defaults_follow_the_policy() -> None:
    from planner.profile import SpotSettings

    assert SpotSettings(policy="never").floor == 1.0
    assert SpotSettings(policy="allowed").floor == 0.5
    assert SpotSettings(policy="preferred").floor == 0.0
    assert SpotSettings(policy="preferred", on_demand_floor=0.3).floor == 0.3


@pytest.mark.parametrize(
    ("network", "field"),
    [
        (
            {"certificate_arn": "arn:aws:iam::123456789012:server-certificate/chat"},
            "certificate_arn",
        ),
        ({"certificate_domains": ["*.example.com"]}, "certificate_domains[0]"),
        ({"certificate_domains": ["Chat.Example.com"]}, "certificate_domains[0]"),
        ({"certificate_name": "projects/p/global/sslCertificates/chat"}, "certificate_name"),
    ],
    ids=["iam-certificate", "wildcard-domain", "uppercase-domain", "short-project-id"],
)
def test_certificates_are_checked_where_they_are_written(
    tmp_path: Path, network: dict, field: str
) -> None:
    """An ACM ARN, lowercase domains a Google-managed certificate can cover (no wildcards), a
    Compute Engine SSL certificate name or path: anything else names its line and field."""
    message = error_for(tmp_path, profile_dict(deploy={"network": {"public": True, **network}}))
    assert f", field deploy.network.{field}: must be " in message
    assert "\n" not in message


def test_a_profile_may_carry_the_certificate_of_each_cloud(tmp_path: Path) -> None:
    network = {
        "public": True,
        "certificate_arn": (
            "arn:aws:acm:us-east-1:123456789012:certificate/8f14e45f-ceea-467f-a8f5-2b5c1d3e4a70"
        ),
        "certificate_domains": ["chat.example.com", "xn--bcher-kva.example"],
        "certificate_name": "projects/serving-project/global/sslCertificates/chat-2026",
    }
    loaded = load_profile(write_profile(tmp_path, profile_dict(deploy={"network": network})))
    assert loaded.profile.deploy.network.certificate_domains == network["certificate_domains"]
