"""Hostile profiles: every one is refused by `infra recommend`, `infra cost` and `infra synth` with
one sentence naming the file (and the line and field where there is one), a non-zero exit, no
traceback, no hang, and nothing written. Then the rules behind the refusals, one by one.

The hostile profiles all pin AWS fleets, so each command judges them for the same cloud and stops
before CDK Terrain: synthesizing is never reached, which keeps the suite fast.
"""

from __future__ import annotations

import copy
import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from core.errors import ProfileError
from orchestrator.decisions import resolve
from orchestrator.synth import RefusedValue, check_values
from orchestrator.workspace import Workspace
from planner.deployment import DeploymentSpec, dump_spec, spec_from_recommendation
from planner.lock import LockError, LockFile, lock_path, read_lock, render_lock
from planner.names import (
    S3_BUCKET_PATTERN,
    S3_KEY_PREFIX_PATTERN,
    InvalidName,
    check_identifier,
)
from planner.optimizer import Filters
from planner.profile import Profile, load_profile
from planner.profile_checks import cidr_problem
from planner.schema_errors import describe, type_at
from planner.service import recommend_for_profile
from planner.yaml_source import MAX_BYTES, MAX_DEPTH, MAX_VALUES, load_located_yaml
from providers.cloud_values import cloud_value_problem
from tests.conftest import CHAT_PROFILE, EXAMPLES, Cli
from tests.local_aws import Run

GUARD_SECONDS = 60
"""Not a speed check: a command still running after this long is hung, and fails the test."""

BASE: dict[str, Any] = {
    **copy.deepcopy(CHAT_PROFILE),
    "placement": {"clouds": ["aws"], "kinds": ["fleet"], "zones": 1},
    "tags": {"team": "ml", "cost-center": "cc-1", "env": "dev"},
}


@contextmanager
def hang_guard() -> Iterator[None]:
    def hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {GUARD_SECONDS} s: a hang")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the base profile: `path` is dotted (`workload.requests_per_second`)."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return mutate


def _text(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _base_text() -> str:
    return _text(copy.deepcopy(BASE))


BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
DEEP = _base_text() + "deploy:\n  sagemaker:\n    environment: " + "[" * 40 + "]" * 40 + "\n"
ENVIRONMENTS = """\
deploy:
  environments:
    prod:
      backend: {s3_bucket: my-state}
    ../../../tmp/evil:
      protected: true
"""


@dataclass(frozen=True)
class Hostile:
    id: str
    content: Callable[[dict[str, Any]], None] | str | bytes
    says: str
    """A fragment of the refusal: its field ("field x.y: must ...") or what it says."""


HOSTILE = [
    # --- the YAML itself
    Hostile("billion-laughs", BILLION_LAUGHS, "expands to more than"),
    Hostile("recursive-alias", _base_text() + "extra: &loop [*loop]\n", "recursive alias"),
    Hostile("deep-nesting", DEEP, "nested more than"),
    Hostile("huge-file", _base_text() + "#" * (MAX_BYTES + 10) + "\n", "larger than 256 KiB"),
    Hostile(
        "duplicate-section",
        _base_text() + "workload: {requests_per_second: 1}\n",
        "field workload: the key",
    ),
    Hostile(
        "duplicate-nested-key",
        _base_text().replace("workload:\n", "workload:\n  requests_per_second: 7\n", 1),
        "field workload.requests_per_second: the key",
    ),
    Hostile("undefined-alias", _base_text() + "extra: *nothing\n", "YAML syntax error"),
    Hostile("two-documents", _base_text() + "---\nname: other\n", "YAML syntax error"),
    Hostile("syntax-error", _base_text() + "tags: {unclosed\n", "YAML syntax error"),
    Hostile("raw-control-character", _base_text() + "note: a\x07b\n", "YAML syntax error"),
    Hostile("escaped-control-character", _set("name", "chat\x1b[31m"), "field name: contains"),
    Hostile("trailing-newline-in-name", _set("name", "chat\n"), "field name: contains"),
    Hostile("not-utf8", _base_text().encode() + b"note: \xff\xfe\n", "not UTF-8"),
    Hostile("empty-file", "", "a profile is a YAML mapping"),
    Hostile("a-list", "- name: chat\n", "a profile is a YAML mapping"),
    Hostile("a-scalar", "just text\n", "a profile is a YAML mapping"),
    # --- numbers out of bounds, NaN, infinity, wrong types
    Hostile(
        "rate-infinite",
        _set("workload.requests_per_second", float("inf")),
        "field workload.requests_per_second: must be a number from 0.0001 to 1,000,000",
    ),
    Hostile(
        "rate-nan",
        _set("workload.requests_per_second", float("nan")),
        "field workload.requests_per_second: must be",
    ),
    Hostile(
        "rate-trillion",
        _set("workload.requests_per_second", 1e12),
        "field workload.requests_per_second: must be",
    ),
    Hostile(
        "rate-negative",
        _set("workload.requests_per_second", -5),
        "field workload.requests_per_second: must be",
    ),
    Hostile(
        "rate-zero",
        _set("workload.requests_per_second", 0),
        "field workload.requests_per_second: must be",
    ),
    Hostile(
        "rate-text",
        _set("workload.requests_per_second", "lots"),
        "field workload.requests_per_second: expected `float`, got `str`",
    ),
    Hostile(
        "rate-list",
        _set("workload.requests_per_second", [1, 2]),
        "field workload.requests_per_second: expected `float`",
    ),
    Hostile(
        "rate-bool",
        _set("workload.requests_per_second", True),
        "field workload.requests_per_second: expected `float`",
    ),
    Hostile(
        "replicas-10-to-the-26",
        _set("placement.min_replicas", 10**26),
        "field placement.min_replicas: must be a whole number from 1 to 10,000 (got 1000",
    ),
    Hostile(
        "replicas-1e26-text",
        _set("placement.min_replicas", "1e26"),
        "field placement.min_replicas: expected `int`, got `str`",
    ),
    Hostile(
        "replicas-1e26-float",
        _set("placement.min_replicas", 1e26),
        "field placement.min_replicas: expected `int`, got `float`",
    ),
    Hostile(
        "replicas-zero", _set("placement.min_replicas", 0), "field placement.min_replicas: must be"
    ),
    Hostile(
        "zones-empty",
        _set("placement.zones", []),
        "field placement.zones: must be a list of 1 to 6 items",
    ),
    Hostile(
        "zones-zero",
        _set("placement.zones", 0),
        "field placement.zones: must be a whole number from 1 to 6",
    ),
    Hostile(
        "zones-many",
        _set("placement.zones", list("abcdefgh")),
        "field placement.zones: must be a list of 1 to 6",
    ),
    Hostile(
        "zones-twice",
        _set("placement.zones", ["us-east-1a", "us-east-1a"]),
        "field placement.zones[1]: the zone",
    ),
    Hostile(
        "zones-unknown",
        _set("placement.zones", ["atlantis-1a"]),
        "field placement.zones[0]: unknown zone 'atlantis-1a'",
    ),
    Hostile(
        "headroom-huge",
        _set("targets.headroom", 1e9),
        "field targets.headroom: must be a number from 0 to 5",
    ),
    Hostile(
        "tokens-zero",
        _set("workload.input_tokens", {"mean": 0, "p95": 10}),
        "field workload.input_tokens.mean: must be",
    ),
    Hostile(
        "tokens-huge",
        _set("workload.output_tokens", {"mean": 1e300, "p95": 1e301}),
        "field workload.output_tokens.mean: must be",
    ),
    Hostile(
        "latency-infinite",
        _set("targets.ttft_ms_p95", float("inf")),
        "field targets.ttft_ms_p95: must be",
    ),
    Hostile(
        "budget-negative",
        _set("budget", {"monthly_usd": -100}),
        "field budget.monthly_usd: must be",
    ),
    Hostile(
        "batch-huge",
        _set("runtime.max_batch", 10**9),
        "field runtime.max_batch: must be a whole number from 1 to 4,096",
    ),
    Hostile(
        "model-len-zero", _set("runtime.max_model_len", 0), "field runtime.max_model_len: must be"
    ),
    Hostile(
        "port-out-of-range",
        _set("runtime.port", 70000),
        "field runtime.port: must be a whole number from 1 to 65,535",
    ),
    Hostile(
        "floor-above-one",
        _set("placement.spot", {"on_demand_floor": 2}),
        "field placement.spot.on_demand_floor: must be a number from 0 to 1",
    ),
    Hostile(
        "measured-tiny",
        _set("workload.measured", [{"accelerator": "L4", "requests_per_second": 1e-300}]),
        "field workload.measured[0].requests_per_second: must be",
    ),
    Hostile(
        "architecture-huge",
        _set(
            "model",
            {
                "architecture": {
                    "params_b": 1e300,
                    "layers": 32,
                    "attention_heads": 32,
                    "kv_heads": 8,
                    "head_dim": 128,
                }
            },
        ),
        "field model.architecture.params_b: must be",
    ),
    Hostile(
        "architecture-negative-layers",
        _set(
            "model",
            {
                "architecture": {
                    "params_b": 8,
                    "layers": -1,
                    "attention_heads": 32,
                    "kv_heads": 8,
                    "head_dim": 128,
                }
            },
        ),
        "field model.architecture.layers: must be a whole number from 1 to 1,024",
    ),
    # --- names, text, lists
    Hostile(
        "name-path", _set("name", "../../etc"), "field name: must be 1 to 40 lowercase letters"
    ),
    Hostile("name-huge", _set("name", "a" * 10_000), "field name: must be 1 to 40"),
    Hostile("name-unicode", _set("name", "chät-😀"), "field name: must be 1 to 40"),
    Hostile("name-number", _set("name", 123), "field name: expected `str`, got `int`"),
    Hostile(
        "model-name-huge",
        _set("model.name", "x" * 100_000),
        "field model.name: must be text of 1 to 200 characters",
    ),
    Hostile("model-name-unicode", _set("model.name", "лама-3"), "field model.name: unknown model"),
    Hostile("unknown-section", _set("workloads", {}), "field workloads: unknown field"),
    Hostile(
        "section-wrong-type", _set("workload", 5), "field workload: expected `object`, got `int`"
    ),
    Hostile(
        "clouds-empty",
        _set("placement.clouds", []),
        "field placement.clouds: must be a list of at least 1 items",
    ),
    Hostile(
        "clouds-unknown",
        _set("placement.clouds", ["ibm"]),
        "field placement.clouds[0]: must be one of aws, azure, gcp",
    ),
    Hostile(
        "regions-many",
        _set("placement.regions", ["us-east-1"] * 100),
        "field placement.regions: must be a list of at most 64",
    ),
    Hostile(
        "regions-unknown",
        _set("placement.regions", ["mars-central-1"]),
        "field placement.regions[0]: unknown region",
    ),
    Hostile(
        "extra-args-many",
        _set("runtime.extra_args", ["--x"] * 100),
        "field runtime.extra_args: must be a list of at most 64",
    ),
    Hostile(
        "measured-unknown-accelerator",
        _set("workload.measured", [{"accelerator": "FOO9000", "requests_per_second": 5}]),
        "field workload.measured[0].accelerator: unknown accelerator",
    ),
    # --- where state and workspaces go
    Hostile(
        "environment-path",
        _base_text() + ENVIRONMENTS,
        "field deploy.environments: the environment name '../../../tmp/evil'",
    ),
    Hostile(
        "bucket-path",
        _set("deploy", {"environments": {"prod": {"backend": {"s3_bucket": "../../etc/passwd"}}}}),
        "field deploy.environments.prod.backend.s3_bucket: must be an S3 bucket name",
    ),
    Hostile(
        "bucket-ip",
        _set("deploy", {"environments": {"prod": {"backend": {"s3_bucket": "192.168.5.4"}}}}),
        "field deploy.environments.prod.backend.s3_bucket: must be an S3 bucket name",
    ),
    Hostile(
        "bucket-reserved",
        _set("deploy", {"environments": {"prod": {"backend": {"s3_bucket": "xn--state"}}}}),
        "backend.s3_bucket: must be an S3 bucket name",
    ),
    Hostile(
        "key-prefix-path",
        _set(
            "deploy",
            {
                "environments": {
                    "prod": {"backend": {"s3_bucket": "my-state", "key_prefix": "../../x"}}
                }
            },
        ),
        "field deploy.environments.prod.backend.key_prefix: must be an S3 key prefix",
    ),
    Hostile(
        "key-prefix-absolute",
        _set(
            "deploy",
            {
                "environments": {
                    "prod": {"backend": {"s3_bucket": "my-state", "key_prefix": "/abs"}}
                }
            },
        ),
        "backend.key_prefix: must be an S3 key prefix",
    ),
    Hostile(
        "backend-region",
        _set(
            "deploy",
            {"environments": {"prod": {"backend": {"s3_bucket": "my-state", "region": "mars 1"}}}},
        ),
        "backend.region: must be an AWS region name",
    ),
    Hostile(
        "ssm-parameter",
        _set("deploy", {"hf_token_ssm_parameter": "no-slash"}),
        "field deploy.hf_token_ssm_parameter: must be an SSM parameter name",
    ),
    Hostile(
        "challenger-type",
        _set("deploy", {"sagemaker": {"challenger": {"instance_type": "g5.xlarge"}}}),
        "challenger.instance_type: must be a SageMaker instance type",
    ),
    Hostile(
        "azure-subscription",
        _set("deploy", {"azure": {"subscription_id": "abc"}}),
        "field deploy.azure.subscription_id: must be a subscription ID",
    ),
    # --- tags and client ranges
    Hostile(
        "tag-aws-prefix",
        _set("tags", {**BASE["tags"], "aws:owner": "me"}),
        "field tags.aws:owner: tag keys starting with 'aws:' are reserved",
    ),
    Hostile(
        "tag-forbidden-character",
        _set("tags", {**BASE["tags"], "team<script>": "x"}),
        "field tags.team<script>: AWS refuses '<'",
    ),
    Hostile(
        "tag-emoji", _set("tags", {**BASE["tags"], "mood": "😀"}), "field tags.mood: AWS refuses"
    ),
    Hostile(
        "tag-value-long",
        _set("tags", {**BASE["tags"], "team": "x" * 300}),
        "field tags.team: the tag value is 300 characters; at most 256",
    ),
    Hostile(
        "tag-key-long",
        _set("tags", {**BASE["tags"], "k" * 200: "x"}),
        "the tag key is 200 characters; at most 128",
    ),
    Hostile(
        "tag-key-blank",
        _set("tags", {**BASE["tags"], " ": "x"}),
        "a tag key cannot be empty or blank",
    ),
    Hostile(
        "tags-many",
        _set("tags", {f"t{index}": "x" for index in range(60)}),
        "field tags: 60 tags, more than the 50",
    ),
    Hostile(
        "tag-value-number",
        _set("tags", {**BASE["tags"], "cost-center": 1234}),
        "field tags.cost-center: expected `str`, got `int`",
    ),
    Hostile(
        "cidr-garbage",
        _set("deploy", {"network": {"ingress_cidrs": ["not-a-cidr/8"]}}),
        "field deploy.network.ingress_cidrs[0]: 'not-a-cidr/8' is not a CIDR range",
    ),
    Hostile(
        "cidr-host-bits",
        _set("deploy", {"network": {"ingress_cidrs": ["10.0.0.1/8"]}}),
        "has host bits set; the range is 10.0.0.0/8",
    ),
    Hostile(
        "cidr-prefix-too-long",
        _set("deploy", {"network": {"ingress_cidrs": ["10.0.0.0/33"]}}),
        "is not a CIDR range",
    ),
    Hostile(
        "cidr-no-prefix",
        _set("deploy", {"network": {"ingress_cidrs": ["10.0.0.1"]}}),
        "write the prefix length too",
    ),
    Hostile(
        "cidr-ipv6-on-aws",
        _set("deploy", {"network": {"ingress_cidrs": ["2001:db8::/32"]}}),
        "field deploy.network.ingress_cidrs[0]: 2001:db8::/32 is an IPv6 range",
    ),
]


def _write(directory: Path, hostile: Hostile) -> Path:
    path = directory / "hostile.yaml"
    content = hostile.content
    if callable(content):
        data = copy.deepcopy(BASE)
        content(data)
        content = _text(data)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _refusal(result: Any, path: Path) -> str:
    """The one `error:` line, after checking there is no traceback and nothing else was said."""
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("  → ")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [("recommend",), ("cost",), ("synth",)], ids=" ".join)
@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.id)
def test_hostile_profile_is_refused(
    tmp_path: Path, cli: Cli, hostile: Hostile, command: tuple[str, ...]
) -> None:
    path = _write(tmp_path, hostile)
    with hang_guard():
        result = cli(*command, path)
    message = _refusal(result, path)
    assert hostile.says in message
    if "field " in hostile.says:
        assert re.match(rf"error: {re.escape(str(path))}, line \d+, field ", message), message
    assert message.endswith("."), message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.yaml"]  # nothing written


def test_hostile_catalog_is_broad() -> None:
    assert len(HOSTILE) >= 60
    assert len({hostile.id for hostile in HOSTILE}) == len(HOSTILE)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, cli: Cli) -> None:
    fifo = tmp_path / "profile.yaml"
    os.mkfifo(fifo)
    with hang_guard():
        result = cli("recommend", fifo)
    assert "is not a regular file" in _refusal(result, fifo)


def test_a_directory_is_refused(tmp_path: Path, cli: Cli) -> None:
    assert "is a directory" in _refusal(cli("recommend", tmp_path), tmp_path)


# --- extreme but real profiles are served, not refused ------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        _set("workload.requests_per_second", 0.0001),
        _set("placement.min_replicas", 10_000),
        _set("workload.output_tokens", {"mean": 10_000_000, "p95": 10_000_000}),
        _set("targets.headroom", 5),
        _set("workload.requests_per_second", 1_000_000),
    ],
    ids=[
        "one-request-a-day",
        "ten-thousand-replicas",
        "ten-million-tokens",
        "headroom-5",
        "million-rps",
    ],
)
def test_values_at_the_bounds_are_planned_or_explained(
    tmp_path: Path, cli: Cli, mutate: Callable[[dict[str, Any]], None]
) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    path = tmp_path / "p.yaml"
    path.write_text(_text(data))
    with hang_guard():
        result = cli("recommend", path)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 3), (
        result.output
    )  # a plan, or no feasible candidate with reasons
    if result.exit_code == 3:
        assert "no offering can serve" in result.stderr


def test_a_fleet_beyond_ten_thousand_instances_is_no_candidate(tmp_path: Path, cli: Cli) -> None:
    data = copy.deepcopy(BASE)
    data["model"] = {"name": "llama-3.3-70b"}
    data["workload"]["requests_per_second"] = 1_000_000
    path = tmp_path / "p.yaml"
    path.write_text(_text(data))
    result = cli("recommend", path)
    assert result.exit_code == 3, result.output
    assert "would take more than 10,000 instances" in result.stderr


def test_tiny_memory_per_request_does_not_overflow_the_batch(tmp_path: Path, cli: Cli) -> None:
    data = yaml.safe_load((EXAMPLES / "bert-classifier.yaml").read_text())
    data["workload"]["memory_gib_per_request"] = 5e-324  # the smallest float above zero
    path = tmp_path / "p.yaml"
    path.write_text(_text(data))
    result = cli("recommend", path)
    assert result.exit_code == 0, result.output


# --- lines: the refusal points at the right place -----------------------------------------------


def test_duplicate_key_names_the_second_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: chat\nworkload: {requests_per_second: 1}\nx: 1\nworkload: {}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert str(caught.value) == (
        f"{path}, line 4, field workload: the key 'workload' is given twice (first on line 2); "
        "keep one."
    )


def test_environment_name_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(_base_text() + ENVIRONMENTS)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    line = path.read_text().splitlines().index("    ../../../tmp/evil:") + 1
    assert str(caught.value).startswith(f"{path}, line {line}, field deploy.environments: ")


def test_alias_bomb_is_refused_at_the_line_that_crosses_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(ProfileError, match=r"p\.yaml, line 5: the document expands to more than"):
        load_located_yaml(path)


def test_the_tag_refusal_for_the_chosen_cloud_names_its_line(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["placement"]["clouds"] = ["azure"]
    data["placement"]["kinds"] = ["azureml"]
    data["tags"]["Team"] = "ml"
    path = tmp_path / "p.yaml"
    path.write_text(_text(data))
    with pytest.raises(ProfileError) as caught:
        recommend_for_profile(path)
    line = path.read_text().splitlines().index("  Team: ml") + 1
    assert str(caught.value) == (
        f"{path}, line {line}, field tags.Team: 'team' and 'Team' become the same tag ('team') "
        "on this cloud; keep one (azure is the chosen cloud)."
    )


# --- the YAML bounds are far above a real profile ------------------------------------------------


def test_anchors_and_aliases_within_the_bound_still_load(tmp_path: Path) -> None:
    text = (
        "shared: &backend {s3_bucket: my-state, region: us-east-1}\n"
        + "".join(f"e{index}: {{backend: *backend}}\n" for index in range(100))
        + "nested: "
        + "[" * (MAX_DEPTH - 1)
        + "]" * (MAX_DEPTH - 1)
        + "\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(text)
    document = load_located_yaml(path)
    assert document.data["e99"]["backend"]["s3_bucket"] == "my-state"


def test_the_value_bound_counts_expanded_aliases(tmp_path: Path) -> None:
    items = ", ".join(["x"] * 99)
    path = tmp_path / "p.yaml"
    path.write_text(f"a: &a [{items}]\nb: [{', '.join(['*a'] * (MAX_VALUES // 100 + 1))}]\n")
    with pytest.raises(ProfileError, match="expands to more than 10,000 values"):
        load_located_yaml(path)


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_far_inside_the_yaml_bounds(example: Path) -> None:
    assert example.stat().st_size < MAX_BYTES // 20
    assert load_located_yaml(example).data


# --- names: identifiers, never paths -------------------------------------------------------------


@pytest.mark.parametrize("env", ["../x", "/abs/dir", "Prod", "a/b", "", "x" * 41, "-x", "ok\n"])
def test_a_name_that_is_not_an_identifier_is_refused(env: str) -> None:
    with pytest.raises(InvalidName, match="use 1 to 40 lowercase letters, digits and dashes"):
        Workspace.for_deployment(Path("/srv/p"), "chat", env)


def test_an_identifier_is_accepted() -> None:
    check_identifier("prod-eu-1", "environment name")
    assert Workspace.for_deployment(Path("/p"), "chat", "prod").root == Path("/p/.infra/chat/prod")


def test_a_stack_name_that_is_a_path_is_refused() -> None:
    with pytest.raises(InvalidName, match=re.escape("invalid stack name 'chat-prod-../x'")):
        Workspace.for_deployment(Path("/p"), "chat", "prod", "chat-prod-../x")


def test_a_lock_file_has_the_profile_bounds(tmp_path: Path) -> None:
    path = tmp_path / "chat.lock.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(LockError, match="expands to more than 10,000 values"):
        read_lock(path)


def test_a_lock_file_cannot_name_a_path_as_deployment_id(tmp_path: Path) -> None:
    profile = tmp_path / "chat.yaml"
    profile.write_text(_base_text())
    entry = resolve(profile, "local", Filters()).entry(None)
    lock = LockFile(environments={"local": msgspec.structs.replace(entry, deployment_id="0000")})
    path = lock_path(profile)
    path.write_text(render_lock(lock).replace("deployment_id: '0000'", "deployment_id: ../../x"))
    with pytest.raises(LockError, match=r"environments\[\.\.\.\]\.deployment_id"):
        read_lock(path)


def test_tags_added_after_the_lock_are_checked_for_the_locked_cloud(tmp_path: Path) -> None:
    profile = tmp_path / "chat.yaml"
    profile.write_text(_base_text())
    entry = resolve(profile, "local", Filters()).entry(None)
    lock_path(profile).write_text(render_lock(LockFile(environments={"local": entry})))
    data = copy.deepcopy(BASE)
    data["tags"]["aws:owner"] = "me"
    profile.write_text(_text(data))
    with pytest.raises(ProfileError) as caught:
        resolve(profile, "local", Filters())
    line = profile.read_text().splitlines().index("  aws:owner: me") + 1
    assert str(caught.value).startswith(f"{profile}, line {line}, field tags.aws:owner: ")
    assert str(caught.value).endswith("(aws is the chosen cloud).")


@pytest.mark.parametrize("env", ["../x", "/tmp/evil-abs-env"])
def test_synth_refuses_an_env_that_is_a_path_before_writing(tmp_path: Path, env: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "chat-8b.yaml").write_text((EXAMPLES / "chat-8b.yaml").read_text())
    with hang_guard():
        result = Run(project)("synth", "chat-8b.yaml", "--env", env)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        f"error: invalid environment name {env!r}: use 1 to 40 lowercase letters, digits and "
        "dashes, starting and ending with a letter or digit."
    )
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["chat-8b.yaml", "project"]
    assert not Path(env).exists()


@pytest.mark.parametrize(
    ("bucket", "valid"),
    [
        ("my-terraform-state", True),
        ("a.b-c", True),
        ("abc", True),
        ("ab", False),
        ("a" * 64, False),
        ("My-Bucket", False),
        ("-start", False),
        ("end-", False),
        ("a..b", False),
        ("192.168.5.4", False),
        ("xn--bucket", False),
        ("sthree-bucket", False),
        ("amzn-s3-demo-bucket", False),
        ("bucket-s3alias", False),
        ("bucket--ol-s3", False),
        ("bucket.mrap", False),
        ("state\n", False),
    ],
)
def test_s3_bucket_rules(bucket: str, valid: bool) -> None:
    assert (re.search(S3_BUCKET_PATTERN, bucket) is not None) is valid


@pytest.mark.parametrize(
    ("prefix", "valid"),
    [
        ("infra", True),
        ("teams/ml/state", True),
        ("a.b/c_d", True),
        ("../x", False),
        ("a/../b", False),
        ("./a", False),
        ("/abs", False),
        ("trailing/", False),
        ("a//b", False),
        ("space here", False),
        ("x" * 201, False),
    ],
)
def test_s3_key_prefix_rules(prefix: str, valid: bool) -> None:
    assert (re.search(S3_KEY_PREFIX_PATTERN, prefix) is not None) is valid


# --- errors in words -----------------------------------------------------------------------------


def _constrained_types(info: Any, seen: set[int]) -> Iterator[Any]:
    """Every leaf type under a schema type that carries a pattern or a numeric bound."""
    import msgspec.inspect as schema

    if id(info) in seen:
        return
    seen.add(id(info))
    base = info.type if isinstance(info, schema.Metadata) else info
    if isinstance(base, schema.StructType):
        for struct_field in base.fields:
            yield from _constrained_types(struct_field.type, seen)
    elif isinstance(base, schema.UnionType):
        for member in base.types:
            yield from _constrained_types(member, seen)
    elif isinstance(base, schema.ListType | schema.DictType):
        if isinstance(base, schema.DictType):
            yield from _constrained_types(base.value_type, seen)
        else:
            yield from _constrained_types(base.item_type, seen)
        yield info
    elif isinstance(base, schema.StrType | schema.IntType | schema.FloatType):
        yield info


@pytest.mark.parametrize(("root", "bounded"), [(Profile, True), (DeploymentSpec, False)])
def test_every_pattern_has_words_and_every_number_has_bounds(root: type, bounded: bool) -> None:
    """Every number of a profile has both bounds; every pattern, in a profile or a spec, is said
    in words (and anchored with \\Z)."""
    import msgspec.inspect as schema

    for info in _constrained_types(schema.type_info(root), set()):
        base = info.type if isinstance(info, schema.Metadata) else info
        words = describe(info)
        assert "^" not in words and "\\" not in words, words
        if isinstance(base, schema.StrType) and base.pattern:
            assert isinstance(info, schema.Metadata), f"{base.pattern} has no description"
            assert base.pattern.endswith("\\Z"), base.pattern  # `$` also matches before "\n"
        if bounded and isinstance(base, schema.IntType | schema.FloatType):
            lower = base.ge if base.ge is not None else base.gt
            upper = base.le if base.le is not None else base.lt
            assert lower is not None and upper is not None, words


def test_the_words_for_a_bounded_number() -> None:
    info = type_at(Profile, ("workload", "requests_per_second"))
    assert info is not None
    assert describe(info) == "a number from 0.0001 to 1,000,000"


def test_a_spec_error_is_in_words_too(tmp_path: Path) -> None:
    from planner.deployment import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text("name: Bad_Name\n")
    with pytest.raises(ProfileError, match="field name: must be 1 to 40 lowercase letters"):
        load_spec(path)


# --- per-cloud values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "tags", "says"),
    [
        ("aws", {"AWS:x": "1"}, "reserved by AWS"),
        ("aws", {"team": "a|b"}, "AWS refuses '|' in a tag value"),
        ("azure", {"a/b": "1"}, "Azure refuses / in a tag name"),
        ("azure", {"Microsoft-owner": "1"}, "reserved by Azure"),
        ("azure", {"Team": "1", "team": "2"}, "become the same tag ('team')"),
        ("gcp", {"Cost Center": "1", "cost_center": "2"}, "become the same tag ('cost_center')"),
    ],
)
def test_cloud_tag_rules(cloud: str, tags: dict[str, str], says: str) -> None:
    found = cloud_value_problem(cloud, tags, [])
    assert found is not None and says in found.problem
    keys = list(tags)
    assert found.field == ("tags", keys[-1] if "same tag" in says else keys[0])


@pytest.mark.parametrize(
    ("cloud", "tags"),
    [
        ("aws", {"kubernetes.io/cluster": "on", "owner": "jane@example.com", "équipe": "ml"}),
        ("azure", {"aws:owner": "x", "équipe": "a|b"}),
        ("gcp", {"aws:owner": "x", "Team/Sub": "ML Ops"}),
    ],
)
def test_tags_each_cloud_accepts(cloud: str, tags: dict[str, str]) -> None:
    assert cloud_value_problem(cloud, tags, []) is None


def test_ipv6_ranges_are_for_azure_and_gcp_only() -> None:
    assert cloud_value_problem("aws", {}, ["2001:db8::/32"]) is not None
    assert cloud_value_problem("azure", {}, ["2001:db8::/32"]) is None
    assert cloud_value_problem("gcp", {}, ["2001:db8::/32", "10.0.0.0/8"]) is None


@pytest.mark.parametrize(
    ("cidr", "problem"),
    [
        ("10.0.0.0/8", None),
        ("0.0.0.0/0", None),
        ("2001:db8::/32", None),
        ("10.0.0.1/8", "host bits set; the range is 10.0.0.0/8"),
        ("10.0.0.1", "write the prefix length too"),
        ("300.0.0.0/8", "is not a CIDR range"),
    ],
)
def test_cidr_rules(cidr: str, problem: str | None) -> None:
    found = cidr_problem(cidr)
    assert (found is None) if problem is None else (found is not None and problem in found)


def _hand_written_spec(tmp_path: Path, **changes: Any) -> Any:
    path = tmp_path / "p.yaml"
    path.write_text(_base_text())
    recommendation = recommend_for_profile(path)
    spec = spec_from_recommendation(recommendation.profile, recommendation, "local")
    return msgspec.structs.replace(spec, **changes)


def test_a_hand_written_spec_with_a_refused_tag_stops_before_synth(tmp_path: Path) -> None:
    spec = _hand_written_spec(tmp_path, tags={"team": "ml", "aws:owner": "x"})
    with pytest.raises(RefusedValue) as caught:
        check_values(spec)
    assert str(caught.value) == (
        f"stack {spec.stack_name}, field tags.aws:owner: tag keys starting with 'aws:' are "
        "reserved by AWS; rename 'aws:owner'."
    )


def test_a_hand_written_spec_with_a_bad_range_is_refused_through_the_cli(
    tmp_path: Path, cli: Cli
) -> None:
    spec = _hand_written_spec(tmp_path)
    network = msgspec.structs.replace(spec.network, ingress_cidrs=["10.0.0.1/8"])
    path = tmp_path / "spec.yaml"
    path.write_text(dump_spec(msgspec.structs.replace(spec, network=network)))
    result = cli("synth", "--spec", path)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: stack {spec.stack_name}, field network.ingress_cidrs[0]: '10.0.0.1/8' has host "
        "bits set; the range is 10.0.0.0/8."
    )
    assert not (tmp_path / ".infra" / spec.name / "local" / "cdktf.out").exists()
