"""Secret-shaped values: the detector (planner/secrets.py), its two nets in synthesize (the spec
before anything is written, each cdk.tf.json after), and the CLI refusing in one sentence with
the secret in no file. The examples, synthesized for every target they fit, raise no finding."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from core.errors import NoFeasibleCandidate
from orchestrator.synth import SUPPORTED, synthesize
from planner.deployment import DeploymentSpec, spec_from_recommendation
from planner.optimizer import Filters
from planner.secrets import SecretInConfiguration, decode_base64, find_secrets, looks_random
from providers import targets
from tests import test_fleet_stack as fleet
from tests.conftest import EXAMPLES, Cli, profile_dict, write_profile
from tests.stack_json import one_sentence

# Documented example keys and made-up tokens of the right shape (none of them works).
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HF_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4" * 5
GITLAB_TOKEN = "glpat-" + "x1Y2z3W4v5U6t7S8r9Q0"
SLACK_TOKEN = "xoxb-" + "123456789012-123456789012-" + "AbCdEfGhIjKlMnOp"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----\n"
RANDOM = "q8f3Kd92mZx7Lp04"
SLACK_WEBHOOK = "https://hooks.slack.com/services/T0123/B0456/" + RANDOM * 2


def findings(document: object) -> list[tuple[str, str, str]]:
    return [(f.field, f.kind, f.masked) for f in find_secrets(document)]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ---------------------------------------------------------------------------------------------
# The detector


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"runtime": {"extra_args": ["--x", AWS_KEY_ID]}}, ("runtime.extra_args[1]", "AWS")),
        ({"cmd": f"aws_secret_access_key = {AWS_SECRET}"}, ("cmd", "AWS secret access key")),
        ({"environment": {"HF_AUTH": HF_TOKEN}}, ("environment.HF_AUTH", "Hugging Face")),
        ({"args": [f"--token={GITHUB_TOKEN}"]}, ("args[0]", "GitHub")),
        ({"args": ["--note", GITLAB_TOKEN]}, ("args[1]", "GitLab")),
        ({"tags": {"owner": SLACK_TOKEN}}, ("tags.owner", "Slack token")),
        ({"labels": {"hook": SLACK_WEBHOOK}}, ("labels.hook", "Slack webhook")),
        (
            {"metadata": {"startup-script": f"curl -H 'X: {JWT}'"}},
            ("metadata.startup-script", "JSON"),
        ),
        ({"custom_data": b64(PEM)}, ("custom_data (decoded)", "private key")),
        ({"tags": {"api_token": RANDOM}}, ("tags.api_token", "a secret value for api_token")),
        ({"args": ["--api-key", "sk-proj-" + RANDOM]}, ("args[1]", "for --api-key")),
        (
            {"env": [{"name": "DB_PASSWORD", "value": "Tr0ub4dor&3xyz"}]},
            ("env[0].value", "DB_PASS"),
        ),
        ({"script": "export SERVICE_SECRET=" + RANDOM}, ("script", "for SERVICE_SECRET")),
        ({"args": ["--upstream", "https://bot:Tr0ub4dor3xyz@git.example.com"]}, ("args[1]", "URL")),
    ],
    ids=[
        "aws-key-id",
        "aws-secret",
        "hf",
        "github",
        "gitlab",
        "slack",
        "slack-webhook",
        "jwt",
        "pem-in-base64",
        "named-tag",
        "flag-and-value",
        "name-value-pair",
        "assignment-in-text",
        "password-in-url",
    ],
)
def test_each_kind_is_found_and_masked(document: dict[str, Any], expected: tuple[str, str]) -> None:
    ((field, kind, masked),) = findings(document)
    assert field == expected[0] and expected[1] in kind
    assert masked.endswith("…")
    shown = masked.removesuffix("…")
    # A masked prefix: at most four characters of the value (a key's header is no secret).
    assert len(shown) <= 4 or shown == "-----BEGIN RSA PRIVATE KEY-----"


def test_an_aws_key_pair_in_base64_and_gzip_user_data_is_found() -> None:
    script = f"#!/bin/bash\nexport AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nexport X={AWS_SECRET}\n"
    zipped = base64.b64encode(gzip.compress(script.encode())).decode()
    for user_data in (b64(script), zipped):
        ((field, kind, masked),) = findings({"user_data": user_data})
        assert (field, kind, masked) == ("user_data (decoded)", "an AWS access key ID", "AKIA…")


@pytest.mark.parametrize(
    "document",
    [
        {"hf_token_ssm_parameter": "/serving/hf-token"},
        {"hf_token_secret": "projects/my-project/secrets/hf-token"},
        {"hf_token_secret": "serving-token-2025-prod"},
        {"hf_token_secret_id": "/subscriptions/0b1c/resourceGroups/rg/providers/x/secrets/t"},
        {"secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-AbC123"},
        {"image_token": "vllm/vllm-openai@sha256:" + "ab12" * 16},
        {"token_ref": "${aws_ssm_parameter.token_9A22B037.arn}"},
        {
            "MAX_TOTAL_TOKENS": "4096",
            "auth_mode": "key",
            "access_key": "test",
            "secret_key": "test",
        },
        {
            "args": [
                "--tokenizer",
                "meta-llama/Llama-3.1-8B-Instruct",
                "--max-num-batched-tokens",
                "8192",
            ]
        },
        {
            "script": "IMDS_TOKEN=$(curl -sX PUT http://169.254.169.254/latest/api/token)\n"
            'curl -H "X-aws-ec2-metadata-token: $IMDS_TOKEN"'
            ' -H "X-aws-ec2-metadata-token-ttl-seconds: 300"'
        },
        {"subnet_ids": ["subnet-0a1b2c3d4e5f60718"], "ami": "/aws/service/deeplearning/ami/x"},
        {"policy": json.dumps({"Action": "secretsmanager:GetSecretValue", "Resource": "*"})},
        {"user_data": b64("#!/bin/bash\nHF_TOKEN_PARAMETER=/serving/hf-token\n")},
        {"url": "https://user:${var.password}@example.com", "plain": "https://example.com:443/"},
    ],
    ids=[
        "ssm-path",
        "secret-manager-path",
        "secret-name",
        "key-vault-id",
        "arn",
        "digest",
        "interpolation",
        "short-values",
        "tokenizer-flags",
        "imds-token",
        "resource-ids",
        "iam-policy",
        "user-data",
        "urls",
    ],
)
def test_references_and_the_toolkits_own_values_are_not_secrets(document: dict[str, Any]) -> None:
    assert findings(document) == []


def test_random_means_a_long_mix_not_a_word_or_a_name() -> None:
    assert looks_random(RANDOM) and looks_random(AWS_SECRET) and looks_random("Summer2024!x")
    for value in ("password", "hf-token-2025", "GetSecretValue", "12345678901234", "aaaaaaaa1"):
        assert not looks_random(value), value


def test_only_base64_of_text_is_decoded() -> None:
    assert (
        decode_base64(b64("#!/bin/bash\necho hello world\n")) == "#!/bin/bash\necho hello world\n"
    )
    assert decode_base64(base64.b64encode(bytes(range(256))).decode()) is None  # not text
    assert decode_base64("not base64 at all, it has spaces") is None


# ---------------------------------------------------------------------------------------------
# synthesize: the spec before anything is written, each configuration after


def test_a_secret_in_the_spec_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    spec = fleet.make_spec("leaky", runtime={"extra_args": ["--hf-token", HF_TOKEN]})
    with pytest.raises(SecretInConfiguration) as caught:
        synthesize([(spec, tmp_path / "state")], tmp_path / "out", emulated=True)
    message = str(caught.value)
    one_sentence(message)
    assert message.startswith("stack leaky-prod: runtime.extra_args[1] holds what looks like a ")
    assert "Hugging Face token (hf_A…)" in message and HF_TOKEN not in message
    assert not (tmp_path / "out").exists()


def test_a_secret_a_stack_writes_is_refused_and_its_configuration_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second net: whatever a stack derives from the spec is scanned before Terraform
    reads it (here a boot script with an AWS key pair in it)."""
    script = f"#!/bin/bash\nexport AWS_ACCESS_KEY_ID={AWS_KEY_ID}\n"
    monkeypatch.setattr("stacks.aws_fleet.render_user_data", lambda spec: script)
    spec = fleet.make_spec("derived")
    outdir = tmp_path / "out"
    with pytest.raises(SecretInConfiguration) as caught:
        synthesize([(spec, tmp_path / "state")], outdir, emulated=True)
    message = str(caught.value)
    one_sentence(message)
    assert message.startswith("stack derived-prod (synthesized): resource.aws_launch_template.")
    assert ".user_data (decoded) holds what looks like an AWS access key ID (AKIA…)" in message
    assert not (outdir / "stacks" / spec.stack_name / "cdk.tf.json").exists()
    assert not any(AWS_KEY_ID in path.read_text() for path in outdir.rglob("*") if path.is_file())


# ---------------------------------------------------------------------------------------------
# The CLI: exit 1, one sentence, the secret in no file


TAGS = {"team": "ml-platform", "cost-center": "cc-4242"}
"""What the profiles need besides the secret to synthesize."""


def error_of(result: Any) -> str:
    """The `error: ...` line the CLI ends with (progress lines come before it)."""
    assert result.exit_code == 1, result.output
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ")
    return last.removeprefix("error: ")


def files_holding(root: Path, secret: str, but: Path) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and path != but and secret in path.read_text(errors="replace")
    ]


@pytest.mark.parametrize("command", ["synth", "check", "plan"])
def test_a_token_in_extra_args_is_refused_by_every_command(
    cli: Cli, tmp_path: Path, command: str
) -> None:
    data = profile_dict(runtime={"extra_args": ["--hf-token", HF_TOKEN]}, tags=TAGS)
    profile = write_profile(tmp_path, data)
    result = cli(command, profile, "--env", "prod", "--cloud", "aws", "--kind", "fleet")
    message = error_of(result)
    one_sentence(message)
    assert "runtime.extra_args[1] holds what looks like a Hugging Face token (hf_A…)" in message
    assert HF_TOKEN not in result.output
    assert files_holding(tmp_path, HF_TOKEN, but=profile) == []


def test_a_token_in_a_sagemaker_environment_value_is_refused(cli: Cli, tmp_path: Path) -> None:
    data = profile_dict(deploy={"sagemaker": {"environment": {"HF_AUTH": HF_TOKEN}}}, tags=TAGS)
    profile = write_profile(tmp_path, data)
    result = cli("synth", profile, "--env", "prod", "--cloud", "aws", "--kind", "sagemaker")
    message = error_of(result)
    one_sentence(message)
    assert "sagemaker.environment.HF_AUTH holds what looks like a Hugging Face token" in message
    assert HF_TOKEN not in result.output
    assert files_holding(tmp_path, HF_TOKEN, but=profile) == []


# ---------------------------------------------------------------------------------------------
# No false positive: every example, synthesized for every target it fits

ARM = "/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups"
TARGETS = sorted(SUPPORTED)
WHAT_EACH_CLOUD_READS: dict[str, dict[str, Any]] = {
    # Weights and a token secret, so the boot scripts and roles read both (Triton needs weights).
    "aws": {"model_s3_uri": "s3://models-bucket/example", "hf_token_ssm_parameter": "/hf/token"},
    "gcp": {"gcp": {"model_gcs_uri": "gs://models-bucket/example", "hf_token_secret": "hf-token"}},
    "azure": {
        "azure": {
            "hf_token_secret_id": f"{ARM}/rg/providers/Microsoft.KeyVault/vaults/kvs/secrets/hf",
            "model_blob_container_id": f"{ARM}/rg/providers/Microsoft.Storage/storageAccounts"
            "/models/blobServices/default/containers/weights",
        }
    },
}
VERTEX_IMAGE = "us-docker.pkg.dev/demo-project-1/serving/vllm-openai:v0.10.2"


def example_spec(example: Path, cloud: str, kind: str, workdir: Path) -> DeploymentSpec | None:
    """The example's spec for one target as `infra plan --cloud --kind` makes it,
    with what that cloud reads the weights and token from; None where no offering fits or the
    example does not configure the kind (kubernetes without a cluster)."""
    from orchestrator.decisions import deployable_filters
    from planner.profile import load_profile
    from planner.service import recommend_for_profile

    data = yaml.safe_load(example.read_text())
    deploy = data.setdefault("deploy", {})
    for field, value in WHAT_EACH_CLOUD_READS[cloud].items():
        # Beside what the example's own section says (an AKS cluster's resource group).
        deploy[field] = {**deploy.get(field, {}), **value} if isinstance(value, dict) else value
    if kind == "vertex":
        data["runtime"] = {**data.get("runtime", {}), "image": VERTEX_IMAGE}
    profile = write_profile(workdir, data, f"{cloud}-{kind}-{example.name}")
    loaded = load_profile(profile).profile
    configured_by = targets.kind(kind).configured_by
    if configured_by and targets.resolve(configured_by)(loaded) is not None:
        return None
    filters = deployable_filters(
        "prod", Filters(clouds=frozenset({cloud}), kinds=frozenset({kind})), loaded
    )
    try:
        recommendation = recommend_for_profile(profile, filters)
    except NoFeasibleCandidate:
        return None
    spec = spec_from_recommendation(recommendation.profile, recommendation, "prod")
    return msgspec.structs.replace(spec, name=f"{spec.name[:24]}-{cloud}-{kind}")


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every example for every target it fits, in one App: stack name -> (spec, cdk.tf.json)."""
    root = tmp_path_factory.mktemp("examples")
    specs = [
        spec
        for example in sorted(EXAMPLES.glob("*.yaml"))
        for cloud, kind in TARGETS
        if (spec := example_spec(example, cloud, kind, root)) is not None
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project-1")
        patch.setenv("ARM_SUBSCRIPTION_ID", "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")
        outdir = root / "cdktf.out"
        synthesize([(spec, root / spec.stack_name) for spec in specs], outdir, emulated=False)
    yield {
        spec.stack_name: (
            spec,
            json.loads((outdir / "stacks" / spec.stack_name / "cdk.tf.json").read_text()),
        )
        for spec in specs
    }


def test_every_example_fits_aws_fleet_and_sagemaker_and_the_other_clouds(examples) -> None:
    targets = {(spec.cloud, spec.kind) for spec, _ in examples.values()}
    assert targets == set(TARGETS)
    for example in EXAMPLES.glob("*.yaml"):
        data = yaml.safe_load(example.read_text())
        name = data["name"][:24]
        placement = data.get("placement", {})
        kinds = placement.get("kinds") or ["fleet", "sagemaker"]
        clouds = placement.get("clouds") or ["aws"]
        cloud = "aws" if "aws" in clouds else clouds[0]  # one naming only Azure: on Azure
        offered = {kind for target_cloud, kind in TARGETS if target_cloud == cloud}
        wanted = {f"{name}-{cloud}-{kind}-prod" for kind in kinds if kind in offered}
        assert wanted and wanted <= set(examples), example.name


def test_no_example_spec_or_configuration_holds_a_secret(examples) -> None:
    found = {
        stack: findings(msgspec.to_builtins(spec)) + findings(document)
        for stack, (spec, document) in examples.items()
    }
    assert found == {stack: [] for stack in examples}


def test_the_boot_scripts_were_decoded_and_scanned(examples) -> None:
    """The no-false-positive test above means something: the scanned user data is the script."""
    for spec, document in examples.values():
        if (spec.cloud, spec.kind) == ("aws", "fleet"):
            (template,) = document["resource"]["aws_launch_template"].values()
            assert (decode_base64(template["user_data"]) or "").startswith("#!/bin/bash")
