"""The GCE startup script: rendered from GCP DeploymentSpecs, then run by bash against fake tools.

The fakes (curl as the metadata server, gcloud, docker, nvidia-smi, systemctl, sleep) stand in for
Compute Engine and Google's APIs and record every call, so the assertions are about what the
script really ran: which metadata requests carried the header, where the token went, what gcloud
and docker received. The AWS script's own tests (tests/test_user_data.py) are untouched: the
cloud-neutral core renders byte for byte what it rendered before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modules.aws.boot import USER_DATA_LIMIT_BYTES
from modules.gcp.boot import STARTUP_SCRIPT_LIMIT_BYTES
from modules.user_data import (
    UserDataError,
    render_user_data,
)
from planner.deployment import DeploymentSpec
from planner.profile import GcpOptions
from tests.conftest import shellcheck
from tests.test_user_data import HF_PARAMETER, Boot, flag, run_boot
from tests.test_user_data import make_spec as make_aws_spec

SECRET = "hf_FakeGcpTokenValue0123456789abcd"
ACCESS_TOKEN = "ya29.fake-access-token-42"
INSTANCE_NAME = "chat-prod-spot-x1z2"
PROJECT = "serving-project-1"
WEIGHTS = "gs://weights-bucket/llama/8b"
AR_IMAGE = "us-docker.pkg.dev/serving-project-1/serving/vllm-openai:v0.10.2"
METADATA = "http://metadata.google.internal/computeMetadata/v1/"

FAKE_TOOL = f"""\
#!{sys.executable}
import json, os, sys
from pathlib import Path

tool, args = Path(sys.argv[0]).name, sys.argv[1:]
record = {{"tool": tool, "args": args}}
status = 0
if tool == "curl":
    (url,) = [arg for arg in args if arg.startswith("http://")]
    if url.startswith({METADATA!r}):
        if "Metadata-Flavor: Google" not in args:
            status = 22  # the metadata server answers 403 without its header
        else:
            print({{
                "instance/name": {INSTANCE_NAME!r},
                "instance/zone": "projects/123456789/zones/us-central1-c",
                "project/project-id": {PROJECT!r},
                "instance/service-accounts/default/token": json.dumps(
                    {{"access_token": {ACCESS_TOKEN!r}, "expires_in": 3599}}),
            }}[url.removeprefix({METADATA!r})])
    elif os.environ["FAKE_HEALTHY"] != "1":
        status = 7
elif tool == "gcloud":
    if args[:4] == ["secrets", "versions", "access", "latest"]:
        sys.stdout.write({SECRET!r})  # Secret Manager returns the payload as stored
    elif args[:2] == ["storage", "rsync"]:
        Path(args[-1], "config.json").write_text("{{}}")
elif tool == "docker":
    if args[0] == "run":
        if "--env-file" in args:
            env_file = Path(args[args.index("--env-file") + 1])
            record["env_file_mode"] = oct(env_file.stat().st_mode & 0o777)
            record["env_file"] = env_file.read_text()
    elif args[0] == "login":
        record["stdin_is_token"] = sys.stdin.read().strip() == {ACCESS_TOKEN!r}
    elif args[0] == "rm":
        status = 1
elif tool == "nvidia-smi":
    calls = Path(os.environ["FAKE_CALLS"]).read_text().count('"nvidia-smi"')
    if calls < int(os.environ["FAKE_DRIVER_LOADS_AFTER"]):
        status = 9  # the driver installed at first boot is not loaded yet
    else:
        for index in range(int(os.environ["FAKE_GPUS"])):
            print(f"GPU {{index}}: NVIDIA L4 (UUID: GPU-{{index}})")
with open(os.environ["FAKE_CALLS"], "a") as calls:
    calls.write(json.dumps(record) + "\\n")
sys.exit(status)
"""
FAKE_TOOLS = ["curl", "gcloud", "docker", "nvidia-smi", "systemctl", "sleep"]


def make_spec(engine: str = "vllm", *, image: str | None = None, **gcp: Any) -> DeploymentSpec:
    """The AWS tests' spec moved to GCP: a g2-standard-48 (four L4) fleet."""
    spec = make_aws_spec(engine, model_s3_uri=None)
    runtime = msgspec.structs.replace(spec.runtime, image=image or spec.runtime.image)
    return msgspec.structs.replace(
        spec,
        cloud="gcp",
        region="us-central1",
        instance_type="g2-standard-48",
        accelerator="L4",
        runtime=runtime,
        gcp=GcpOptions(project=PROJECT, **gcp),
    )


def boot(
    script: str, tmp_path: Path, *, gpus: int = 4, driver_loads_after: int = 0, healthy: bool = True
) -> Boot:
    return run_boot(
        script,
        tmp_path,
        fake_tools=FAKE_TOOLS,
        fake_tool=FAKE_TOOL,
        environment={
            "FAKE_GPUS": str(gpus),
            "FAKE_DRIVER_LOADS_AFTER": str(driver_loads_after),
            "FAKE_HEALTHY": "1" if healthy else "0",
        },
    )


def test_renders_a_bash_script_for_compute_engine(tmp_path: Path) -> None:
    script = render_user_data(make_spec(hf_token_secret="hf-token", model_gcs_uri=WEIGHTS))
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    assert "Deep Learning VM" in script and "169.254.169.254" not in script
    assert "aws " not in script and "IMDS" not in script
    (tmp_path / "s.sh").write_text(script)
    checked = subprocess.run(["bash", "-n", str(tmp_path / "s.sh")], capture_output=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("engine", ["vllm", "tgi", "triton"])
def test_shellcheck_is_clean(engine: str) -> None:
    spec = make_spec(
        engine,
        image=AR_IMAGE,
        hf_token_secret=f"projects/{PROJECT}/secrets/hf-token",
        model_gcs_uri=WEIGHTS,
    )
    spec = msgspec.structs.replace(
        spec,
        runtime=msgspec.structs.replace(
            spec.runtime, tensor_parallel=2, replicas_per_instance=2, extra_args=["--seed", "7"]
        ),
    )
    checked = shellcheck(render_user_data(spec))
    assert checked.returncode == 0, checked.stdout


def test_metadata_server_gives_name_zone_and_project(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec()), tmp_path)
    assert run.returncode == 0, run.output
    metadata = [args for args in run.tool_calls("curl") if any(METADATA in a for a in args)]
    assert metadata and all("Metadata-Flavor: Google" in args for args in metadata)
    assert run.urls(METADATA) == [
        f"{METADATA}instance/name",
        f"{METADATA}instance/zone",
        f"{METADATA}project/project-id",
    ]
    assert f"instance {INSTANCE_NAME} in us-central1-c ({PROJECT})" in run.output
    assert (run.root / "run/serving/ready").read_text() == f"{INSTANCE_NAME}\n"


def test_hugging_face_token_from_secret_manager_reaches_docker_only_in_a_root_only_file(
    tmp_path: Path,
) -> None:
    script = render_user_data(make_spec(hf_token_secret="hf-token"))
    assert SECRET not in script
    run = boot(script, tmp_path)
    assert run.returncode == 0, run.output
    (access,) = [args for args in run.tool_calls("gcloud") if args[0] == "secrets"]
    assert access == [
        "secrets",
        "versions",
        "access",
        "latest",
        "--secret=hf-token",
        f"--project={PROJECT}",
    ]
    (container,) = run.docker_runs()
    assert container["env_file"] == f"HF_TOKEN={SECRET}"
    assert container["env_file_mode"] == "0o600"
    assert not Path(flag(container["args"], "--env-file")).exists()
    assert all(SECRET not in " ".join(call["args"]) for call in run.calls)
    assert SECRET not in run.output
    assert SECRET not in (run.root / "var/log/serving/bootstrap.log").read_text()


def test_a_secret_of_another_project_is_read_from_that_project(tmp_path: Path) -> None:
    spec = make_spec(hf_token_secret="projects/shared-secrets-9/secrets/hf-token")
    run = boot(render_user_data(spec), tmp_path)
    assert run.returncode == 0, run.output
    (access,) = run.tool_calls("gcloud")
    assert access[-2:] == ["--secret=hf-token", "--project=shared-secrets-9"]


def test_without_a_secret_or_weights_gcloud_is_not_called(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec()), tmp_path)
    assert run.returncode == 0, run.output
    assert run.tool_calls("gcloud") == []
    args = run.docker_runs()[0]["args"]
    assert "--env-file" not in args
    assert flag(args, "--model") == "meta-llama/Llama-3.1-8B-Instruct"


def test_weights_sync_from_cloud_storage_and_are_served_from_disk(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec(model_gcs_uri=WEIGHTS)), tmp_path)
    assert run.returncode == 0, run.output
    (sync,) = run.tool_calls("gcloud")
    assert sync == ["storage", "rsync", "--recursive", WEIGHTS, f"{run.root}/opt/serving/model"]
    args = run.docker_runs()[0]["args"]
    assert flag(args, "--volume") == f"{run.root}/opt/serving/model:/model:ro"
    assert flag(args, "--model") == "/model"


def test_artifact_registry_login_uses_the_service_account_token_on_stdin(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec(image=AR_IMAGE)), tmp_path)
    assert run.returncode == 0, run.output
    assert f"{METADATA}instance/service-accounts/default/token" in run.urls(METADATA)
    (login,) = [c for c in run.calls if c["tool"] == "docker" and c["args"][0] == "login"]
    assert login["stdin_is_token"]
    assert login["args"] == [
        "login",
        "--username",
        "oauth2accesstoken",
        "--password-stdin",
        "https://us-docker.pkg.dev",
    ]
    assert ACCESS_TOKEN not in run.output
    assert ["pull", "--quiet", AR_IMAGE] in run.tool_calls("docker")


def test_public_images_need_no_login(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec()), tmp_path)
    assert run.returncode == 0, run.output
    assert [c for c in run.calls if c["tool"] == "docker" and c["args"][0] == "login"] == []


def test_waits_for_a_driver_installed_at_first_boot(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec()), tmp_path, driver_loads_after=3)
    assert run.returncode == 0, run.output
    assert len(run.tool_calls("nvidia-smi")) == 5  # three misses, the wait's hit, the count
    assert ["10"] in run.tool_calls("sleep")


def test_too_few_gpus_stops_before_any_container(tmp_path: Path) -> None:
    spec = make_spec()
    spec = msgspec.structs.replace(
        spec, runtime=msgspec.structs.replace(spec.runtime, tensor_parallel=4)
    )
    run = boot(render_user_data(spec), tmp_path, gpus=2)
    assert run.returncode == 1
    assert "need 4 GPUs but nvidia-smi lists 2" in run.output
    assert run.docker_runs() == []


def test_triton_needs_weights_in_cloud_storage() -> None:
    with pytest.raises(UserDataError, match=r"upload it to GCS and set deploy\.gcp\.model_gcs_uri"):
        render_user_data(make_spec("triton"))


def test_triton_serves_the_repository_synced_from_cloud_storage(tmp_path: Path) -> None:
    script = render_user_data(make_spec("triton", model_gcs_uri=WEIGHTS))
    assert "# Triton + TensorRT-LLM: the model repository synced from GCS" in script
    run = boot(script, tmp_path)
    assert run.returncode == 0, run.output
    assert flag(run.docker_runs()[0]["args"], "--volume").endswith("/opt/serving/model:/models:ro")


def test_compute_engine_takes_a_longer_script_than_ec2() -> None:
    spec = make_spec()
    long_args = ["--chat-template", "x" * USER_DATA_LIMIT_BYTES]
    spec = msgspec.structs.replace(
        spec, runtime=msgspec.structs.replace(spec.runtime, extra_args=long_args)
    )
    assert len(render_user_data(spec).encode()) > USER_DATA_LIMIT_BYTES
    too_long = ["--chat-template", "x" * STARTUP_SCRIPT_LIMIT_BYTES]
    spec = msgspec.structs.replace(
        spec, runtime=msgspec.structs.replace(spec.runtime, extra_args=too_long)
    )
    with pytest.raises(UserDataError, match="over Compute Engine's metadata limit of 262144"):
        render_user_data(spec)


@pytest.mark.parametrize(("cloud", "kind"), [("gcp", "vertex"), ("aws", "sagemaker")])
def test_managed_endpoints_get_no_boot_script(cloud: str, kind: str) -> None:
    spec = msgspec.structs.replace(make_spec(), cloud=cloud, kind=kind)
    with pytest.raises(UserDataError, match=f"fleets, not a {cloud} {kind} deployment"):
        render_user_data(spec)


def test_the_aws_script_reads_nothing_of_gcp() -> None:
    spec = msgspec.structs.replace(
        make_aws_spec(hf_token_ssm_parameter=HF_PARAMETER),
        gcp=GcpOptions(project=PROJECT, hf_token_secret="hf-token", model_gcs_uri=WEIGHTS),
    )
    script = render_user_data(spec)
    assert "gcloud" not in script and "metadata.google.internal" not in script
    assert "aws ssm get-parameter" in script
