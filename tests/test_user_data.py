"""EC2 user data: rendered from DeploymentSpecs, then run by bash against fake tools.

The fakes (curl, aws, docker, nvidia-smi, systemctl, sleep) stand in for IMDS, AWS and the GPU
host; they record every call, so the assertions are about what the script really executed: the
exact argv docker received, which IMDS requests carried the token, where the secret went.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pytest

from modules.aws.boot import USER_DATA_LIMIT_BYTES
from modules.aws.latency_service import exporter_payload
from modules.user_data import (
    PROXY_IMAGE,
    UserDataError,
    render_user_data,
)
from planner.deployment import HEALTH_PATHS, CapacitySpec, DeploymentSpec, RuntimeSpec, ScalingSpec
from planner.images import DEFAULT_IMAGES
from tests.conftest import shellcheck

ENGINES = ["vllm", "tgi", "triton"]
MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"
TRITON_REPOSITORY = "s3://models-bucket/llama-3.1-8b-trtllm/"
HF_PARAMETER = "/serving/hf-token"
SECRET = "hf_FakeTokenValue0123456789abcdef"
IMDS_TOKEN = "imds-session-token-42"
ECR_PASSWORD = "ecr-password-value-42"
INSTANCE_ID = "i-0123456789abcdef0"
AGENT_KEY = "937616F3450B7D806CBD9725D58167303B789C72"
"""The CloudWatch agent's signing key, as AWS publishes its fingerprint."""
AGENT_DIR_LINE = "readonly CW_AGENT_DIR=/opt/aws/amazon-cloudwatch-agent\n"
HOST_FILES = {
    "LATENCY_EXPORTER": "/usr/local/lib/infra-serving/latency_exporter.py",
    "LATENCY_UNIT": "/etc/systemd/system/infra-latency-exporter.service",
}
"""Files the boot script writes outside its state directories (sandboxed when present)."""

FAKE_TOOL = f"""\
#!{sys.executable}
import json, os, sys
from pathlib import Path

tool, args = Path(sys.argv[0]).name, sys.argv[1:]
record = {{"tool": tool, "args": args}}
status = 0
if tool == "curl" and any(arg.startswith("https://") for arg in args):
    Path(args[args.index("-o") + 1]).write_text("downloaded")
elif tool == "gpg":
    if "--fingerprint" in args:
        print("fpr:::::::::" + os.environ.get("FAKE_KEY_FINGERPRINT", {AGENT_KEY!r}) + ":")
elif tool == "dpkg":
    if args == ["--print-architecture"]:
        print("amd64")
    elif args[0] == "-i":
        ctl = Path(os.environ["FAKE_AGENT_DIR"], "bin", "amazon-cloudwatch-agent-ctl")
        ctl.parent.mkdir(parents=True, exist_ok=True)
        ctl.write_text(Path(sys.argv[0]).read_text())
        ctl.chmod(0o755)
elif tool == "curl":
    (url,) = [arg for arg in args if arg.startswith("http://")]
    if "PUT" in args and url.endswith("/api/token"):
        print({IMDS_TOKEN!r})
    elif "/meta-data/" in url:
        if "X-aws-ec2-metadata-token: " + {IMDS_TOKEN!r} not in args:
            status = 22  # an IMDSv2-only instance answers 401 to a request without the token
        else:
            print({{
                "instance-id": {INSTANCE_ID!r},
                "placement/region": "us-east-1",
                "instance-life-cycle": "spot",
            }}[
                url.split("/meta-data/")[1]])
    elif os.environ["FAKE_HEALTHY"] != "1":
        status = 7
elif tool == "aws":
    if args[:2] == ["ssm", "get-parameter"] and args[args.index("--name") + 1].endswith(
        "/latency-exporter"
    ):
        print(os.environ["FAKE_EXPORTER_PAYLOAD"])
    elif args[:2] == ["ssm", "get-parameter"]:
        print({SECRET!r})
    elif args[:2] == ["s3", "sync"]:
        Path(args[-1]).mkdir(parents=True, exist_ok=True)
        Path(args[-1], "config.json").write_text("{{}}")
    elif args[:2] == ["ecr", "get-login-password"]:
        print({ECR_PASSWORD!r})
elif tool == "docker":
    if args[0] == "run":
        if "--env-file" in args:
            env_file = Path(args[args.index("--env-file") + 1])
            record["env_file_mode"] = oct(env_file.stat().st_mode & 0o777)
            record["env_file_dir_mode"] = oct(env_file.parent.stat().st_mode & 0o777)
            record["env_file"] = env_file.read_text()
        print("0f1e2d3c4b5a")
    elif args[0] == "login":
        record["stdin_is_password"] = sys.stdin.read().strip() == {ECR_PASSWORD!r}
    elif args[0] == "logs":
        print("engine: out of memory")
    elif args[0] == "rm":
        status = 1  # no such container: a first boot
elif tool == "nvidia-smi":
    for index in range(int(os.environ["FAKE_GPUS"])):
        print(f"GPU {{index}}: NVIDIA A10G (UUID: GPU-{{index}})")
with open(os.environ["FAKE_CALLS"], "a") as calls:
    calls.write(json.dumps(record) + "\\n")
sys.exit(status)
"""
FAKE_TOOLS = ["curl", "aws", "docker", "nvidia-smi", "systemctl", "sleep", "gpg", "dpkg"]
SANDBOXED_DIRS = {
    "STATE_DIR": "/opt/serving",
    "SECRET_DIR": "/etc/serving",
    "LOG_DIR": "/var/log/serving",
    "RUN_DIR": "/run/serving",
}
SANDBOXED_IF_PRESENT = {"SYSTEMD_DIR": "/etc/systemd/system"}
"""Where AWS's drain watcher installs its unit (templates/user_data/drain_aws.j2)."""


def make_spec(
    engine: str = "vllm", *, accelerators: int = 4, grace_s: int = 900, **runtime: Any
) -> DeploymentSpec:
    fields: dict[str, Any] = {
        "engine": engine,
        "image": DEFAULT_IMAGES[engine],
        "model_id": MODEL_ID,
        "model_s3_uri": TRITON_REPOSITORY if engine == "triton" else None,
        "precision": "bf16",
        "tensor_parallel": 1,
        "max_batch": 128,
        "health_path": HEALTH_PATHS[engine],
    }
    fields.update(runtime)
    return DeploymentSpec(
        name="chat",
        env="prod",
        cloud="aws",
        kind="fleet",
        region="us-east-1",
        instance_type="g5.12xlarge",
        accelerator="A10G",
        accelerators_per_instance=accelerators,
        root_volume_gib=100,
        capacity=CapacitySpec(
            min_size=1,
            desired=1,
            max_size=2,
            on_demand_base=0,
            spot_percentage_above_base=100,
            health_check_grace_s=grace_s,
        ),
        runtime=RuntimeSpec(**fields),
        scaling=ScalingSpec(signal="alb_requests_per_target", target=60.0),
    )


class Boot(NamedTuple):
    """One run of the user data on the fake host."""

    returncode: int
    output: str
    calls: list[dict[str, Any]]
    root: Path

    def tool_calls(self, tool: str) -> list[list[str]]:
        return [call["args"] for call in self.calls if call["tool"] == tool]

    def aws_calls(self) -> list[list[str]]:
        """The AWS CLI's calls but the read of the TTFT/TPOT exporter's code (its own tests are
        in tests/test_latency_exporter.py)."""
        return [
            call
            for call in self.tool_calls("aws")
            if "--name" not in call or not flag(call, "--name").endswith("/latency-exporter")
        ]

    def urls(self, prefix: str) -> list[str]:
        """The URLs curl fetched that start with `prefix`, in order."""
        found = (arg for args in self.tool_calls("curl") for arg in args)
        return [url for url in found if url.startswith(prefix)]

    def docker_runs(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["tool"] == "docker" and c["args"][0] == "run"]


def run_boot(
    script: str,
    tmp_path: Path,
    *,
    fake_tools: list[str],
    fake_tool: str,
    environment: dict[str, str],
) -> Boot:
    """Run a boot script in a sandbox: its state directories under tmp_path, the tools it calls
    replaced by `fake_tool`, which records each call."""
    root = tmp_path / "root"
    for name, path in SANDBOXED_DIRS.items():
        line = f"readonly {name}={path}\n"
        # Tests run as root: never let the script touch the real machine's directories.
        assert script.count(line) == 1, f"{line!r} is no longer in the template"
        script = script.replace(line, f"readonly {name}={root}{path}\n")
    for name, path in SANDBOXED_IF_PRESENT.items():
        script = script.replace(f"readonly {name}={path}\n", f"readonly {name}={root}{path}\n")
    agent_dir = root / "opt" / "aws" / "amazon-cloudwatch-agent"
    script = script.replace(AGENT_DIR_LINE, f"readonly CW_AGENT_DIR={agent_dir}\n")
    for name, path in HOST_FILES.items():
        script = script.replace(f"readonly {name}={path}\n", f"readonly {name}={root}{path}\n")
        assert f"={path}" not in script, f"{name} escaped the sandbox"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in fake_tools:
        (bin_dir / tool).write_text(fake_tool)
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "boot.sh").write_text(script)
    calls = tmp_path / "calls.jsonl"
    calls.touch()
    result = subprocess.run(
        ["bash", str(tmp_path / "boot.sh")],
        cwd=tmp_path,
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "FAKE_CALLS": str(calls),
            "FAKE_AGENT_DIR": str(agent_dir),
            "FAKE_EXPORTER_PAYLOAD": exporter_payload(),
            "TMPDIR": str(tmp_path),
            **environment,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    return Boot(result.returncode, result.stdout + result.stderr, recorded, root)


def boot(
    script: str,
    tmp_path: Path,
    *,
    gpus: int = 4,
    healthy: bool = True,
    environment: dict[str, str] | None = None,
) -> Boot:
    return run_boot(
        script,
        tmp_path,
        fake_tools=FAKE_TOOLS,
        fake_tool=FAKE_TOOL,
        environment={
            "FAKE_GPUS": str(gpus),
            "FAKE_HEALTHY": "1" if healthy else "0",
            **(environment or {}),
        },
    )


def engine_args(spec: DeploymentSpec, tmp_path: Path) -> list[str]:
    """What the first container runs after the image: the engine's own argv."""
    run = boot(render_user_data(spec), tmp_path)
    assert run.returncode == 0, run.output
    args = run.docker_runs()[0]["args"]
    return args[args.index(spec.runtime.image) + 1 :]


def flag(args: list[str], name: str) -> str:
    assert args.count(name) == 1, f"{name} in {args}"
    return args[args.index(name) + 1]


@pytest.mark.parametrize("engine", ENGINES)
def test_renders_a_bash_script_within_the_ec2_limit(engine: str, tmp_path: Path) -> None:
    script = render_user_data(make_spec(engine, hf_token_ssm_parameter=HF_PARAMETER))
    assert script.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in script
    # A quarter of the limit stays free for runtime.extra_args and the Neuron partials (the
    # CloudWatch agent's configuration, the drain watcher and the TTFT/TPOT exporter's
    # installation take their share of the rest; the exporter's code lives in an SSM parameter).
    assert len(script.encode()) < USER_DATA_LIMIT_BYTES * 3 / 4
    (tmp_path / "user-data.sh").write_text(script)
    checked = subprocess.run(["bash", "-n", str(tmp_path / "user-data.sh")], capture_output=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_shellcheck_is_clean(engine: str) -> None:
    spec = make_spec(
        engine,
        tensor_parallel=2,
        replicas_per_instance=2,
        hf_token_ssm_parameter=HF_PARAMETER,
        image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{engine}:1",
        extra_args=["--seed", "7"],
    )
    checked = shellcheck(render_user_data(spec))
    assert checked.returncode == 0, checked.stdout


def test_instance_metadata_only_through_an_imdsv2_token(tmp_path: Path) -> None:
    script = render_user_data(make_spec())
    assert "-X PUT" in script and "X-aws-ec2-metadata-token-ttl-seconds" in script
    metadata_lines = [line for line in script.splitlines() if "meta-data" in line]
    assert metadata_lines
    assert all("X-aws-ec2-metadata-token: $IMDS_TOKEN" in line for line in metadata_lines)
    # The fake IMDS refuses tokenless reads, as an instance with IMDSv2 required does.
    run = boot(script, tmp_path)
    assert run.returncode == 0, run.output
    imds = [args for args in run.tool_calls("curl") if "169.254.169.254" in " ".join(args)]
    assert "PUT" in imds[0] and all("PUT" not in args for args in imds[1:])
    assert run.urls("http://169.254.169.254/") == [
        "http://169.254.169.254/latest/api/token",
        "http://169.254.169.254/latest/meta-data/instance-id",
        "http://169.254.169.254/latest/meta-data/placement/region",
        "http://169.254.169.254/latest/meta-data/instance-life-cycle",
    ]
    assert (run.root / "run/serving/ready").read_text() == f"{INSTANCE_ID}\n"


def test_hugging_face_token_reaches_docker_only_through_a_root_only_env_file(
    tmp_path: Path,
) -> None:
    script = render_user_data(make_spec(hf_token_ssm_parameter=HF_PARAMETER))
    assert SECRET not in script
    assert "HF_TOKEN=" not in script.replace("s/^/HF_TOKEN=/", "")  # only the sed that writes it
    run = boot(script, tmp_path)
    assert run.returncode == 0, run.output
    (ssm,) = [args for args in run.aws_calls() if args[0] == "ssm"]
    assert flag(ssm, "--name") == HF_PARAMETER and "--with-decryption" in ssm
    (container,) = run.docker_runs()
    assert container["env_file"] == f"HF_TOKEN={SECRET}\n"
    assert container["env_file_mode"] == "0o600"
    assert container["env_file_dir_mode"] == "0o700"
    assert not Path(flag(container["args"], "--env-file")).exists()  # removed when the script ends
    assert all(SECRET not in " ".join(call["args"]) for call in run.calls)
    assert SECRET not in run.output
    assert SECRET not in (run.root / "var/log/serving/bootstrap.log").read_text()


def test_without_a_token_parameter_no_secret_is_fetched(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec()), tmp_path)
    assert run.returncode == 0, run.output
    assert run.aws_calls() == []
    assert "--env-file" not in run.docker_runs()[0]["args"]


def test_one_replica_takes_all_gpus_and_the_engine_downloads_the_model(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec()), tmp_path)
    assert run.returncode == 0, run.output
    (container,) = run.docker_runs()
    args = container["args"]
    assert flag(args, "--gpus") == "all"
    assert flag(args, "--restart") == "unless-stopped"
    assert flag(args, "--publish") == "0.0.0.0:8000:8000"
    assert flag(args, "--log-opt") == "tag=serving-0"
    assert "--ipc=host" in args
    volume = f"{run.root}/opt/serving/huggingface:/root/.cache/huggingface"
    assert flag(args, "--volume") == volume
    assert flag(args, "--model") == MODEL_ID
    health = run.urls("http://127.0.0.1")
    assert health == ["http://127.0.0.1:8000/health"]


def test_vllm_flags(tmp_path: Path) -> None:
    spec = make_spec(
        "vllm",
        tensor_parallel=4,
        max_batch=64,
        max_model_len=8192,
        precision="fp8",
        kv_cache_dtype="fp8",
        port=9000,
    )
    args = engine_args(spec, tmp_path)
    assert flag(args, "--tensor-parallel-size") == "4"
    assert flag(args, "--max-num-seqs") == "64"
    assert flag(args, "--max-model-len") == "8192"
    assert flag(args, "--quantization") == "fp8"
    assert flag(args, "--kv-cache-dtype") == "fp8"
    assert flag(args, "--port") == "9000"
    assert "--dtype" not in args


@pytest.mark.parametrize(
    ("precision", "kv_cache_dtype", "expected", "absent"),
    [
        ("bf16", "auto", ["--dtype", "bfloat16"], ["--quantization", "--kv-cache-dtype"]),
        ("fp16", "fp16", ["--dtype", "float16"], ["--quantization", "--kv-cache-dtype"]),
        ("int4", "auto", [], ["--dtype", "--quantization", "--kv-cache-dtype"]),
    ],
)
def test_vllm_precision(
    precision: str, kv_cache_dtype: str, expected: list[str], absent: list[str], tmp_path: Path
) -> None:
    spec = make_spec("vllm", precision=precision, kv_cache_dtype=kv_cache_dtype)
    args = engine_args(spec, tmp_path)
    assert " ".join(expected) in " ".join(args)
    assert not set(absent) & set(args)


def test_tgi_flags(tmp_path: Path) -> None:
    spec = make_spec(
        "tgi",
        tensor_parallel=2,
        max_batch=64,
        max_model_len=8192,
        precision="fp8",
        kv_cache_dtype="fp8",
    )
    args = engine_args(spec, tmp_path)
    assert flag(args, "--model-id") == MODEL_ID
    assert flag(args, "--num-shard") == "2"
    assert flag(args, "--max-concurrent-requests") == "64"
    assert flag(args, "--max-total-tokens") == "8192"
    assert flag(args, "--max-input-tokens") == "8191"
    assert flag(args, "--quantize") == "fp8"
    assert flag(args, "--kv-cache-dtype") == "fp8_e4m3fn"
    assert flag(args, "--port") == "8000"
    assert not {"--dtype", "--max-batch-size"} & set(args)


@pytest.mark.parametrize(
    ("precision", "expected", "absent"),
    [
        ("bf16", ["--dtype", "bfloat16"], ["--quantize"]),
        ("int8", ["--quantize", "eetq"], ["--dtype"]),
        ("int4", [], ["--quantize", "--dtype"]),
    ],
)
def test_tgi_precision(
    precision: str, expected: list[str], absent: list[str], tmp_path: Path
) -> None:
    args = engine_args(make_spec("tgi", precision=precision), tmp_path)
    assert " ".join(expected) in " ".join(args)
    assert not {*absent, "--max-total-tokens", "--kv-cache-dtype"} & set(args)


def test_tgi_refuses_fp32() -> None:
    with pytest.raises(UserDataError, match="TGI does not serve fp32"):
        render_user_data(make_spec("tgi", precision="fp32"))


def test_triton_serves_the_repository_synced_from_s3(tmp_path: Path) -> None:
    spec = make_spec("triton", tensor_parallel=2, port=8080)
    run = boot(render_user_data(spec), tmp_path)
    assert run.returncode == 0, run.output
    (sync,) = [args for args in run.tool_calls("aws") if args[:2] == ["s3", "sync"]]
    assert sync[-2:] == [TRITON_REPOSITORY, f"{run.root}/opt/serving/model"]
    (container,) = run.docker_runs()
    args = container["args"]
    assert flag(args, "--volume") == f"{run.root}/opt/serving/model:/models:ro"
    assert flag(args, "--env") == "TRTLLM_ORCHESTRATOR=1"
    assert flag(args, "--publish") == "0.0.0.0:8080:8080"
    assert args[args.index(spec.runtime.image) + 1 :] == [
        "tritonserver",
        "--model-repository=/models",
        "--http-port=8080",
        "--allow-grpc=false",
        "--allow-metrics=false",
    ]
    health = run.urls("http://127.0.0.1")
    assert health == ["http://127.0.0.1:8080/v2/health/ready"]


def test_triton_without_a_model_repository_is_refused() -> None:
    with pytest.raises(UserDataError, match=r"chat-prod: Triton .*model_s3_uri"):
        render_user_data(make_spec("triton", model_s3_uri=None))


def test_weights_synced_from_s3_are_served_from_the_root_volume(tmp_path: Path) -> None:
    spec = make_spec("vllm", model_s3_uri="s3://models-bucket/llama/")
    run = boot(render_user_data(spec), tmp_path)
    assert run.returncode == 0, run.output
    (sync,) = run.aws_calls()
    assert sync[-2:] == ["s3://models-bucket/llama/", f"{run.root}/opt/serving/model"]
    assert (run.root / "opt/serving/model/config.json").exists()
    args = run.docker_runs()[0]["args"]
    assert flag(args, "--volume") == f"{run.root}/opt/serving/model:/model:ro"
    assert flag(args, "--model") == "/model"
    assert flag(args, "--served-model-name") == MODEL_ID


def test_extra_args_reach_the_engine_literally(tmp_path: Path) -> None:
    extra = [
        "--chat-template",
        "a template with spaces",
        "$(touch pwned-by-substitution)",
        "`touch pwned-by-backticks`",
        "it's; touch pwned-by-semicolon",
        "$HOME",
        "",
    ]
    spec = make_spec("vllm", extra_args=extra)
    run = boot(render_user_data(spec), tmp_path)
    assert run.returncode == 0, run.output
    args = run.docker_runs()[0]["args"]
    assert args[-len(extra) :] == extra
    assert not list(tmp_path.glob("pwned*"))


def test_every_value_is_quoted_even_outside_extra_args(tmp_path: Path) -> None:
    spec = make_spec("tgi", model_id="org/model; touch pwned-by-model-id")
    assert engine_args(spec, tmp_path)[:2] == ["--model-id", "org/model; touch pwned-by-model-id"]
    assert not list(tmp_path.glob("pwned*"))


def test_user_data_over_16_kb_is_refused() -> None:
    spec = make_spec(extra_args=["--chat-template", "x" * USER_DATA_LIMIT_BYTES])
    with pytest.raises(UserDataError, match="over EC2's limit of 16384"):
        render_user_data(spec)


def test_replicas_get_disjoint_gpus_and_loopback_ports_behind_the_proxy(tmp_path: Path) -> None:
    spec = make_spec("vllm", tensor_parallel=2, replicas_per_instance=2, accelerators=4)
    run = boot(render_user_data(spec), tmp_path)
    assert run.returncode == 0, run.output
    containers = [call["args"] for call in run.docker_runs()]
    names = [flag(args, "--name") for args in containers]
    assert names == ["serving-0", "serving-1", "serving-proxy"]
    replicas, proxy = containers[:2], containers[2]
    gpus = [flag(args, "--gpus") for args in replicas]
    assert gpus == ['"device=0,1"', '"device=2,3"']
    first, second = ({*g.strip('"').removeprefix("device=").split(",")} for g in gpus)
    assert not first & second
    # Replicas only on loopback; the proxy alone holds the serving port the load balancer uses.
    assert [flag(args, "--publish") for args in replicas] == [
        "127.0.0.1:8001:8000",
        "127.0.0.1:8002:8000",
    ]
    assert flag(proxy, "--network") == "host" and proxy[-1] == PROXY_IMAGE
    conf = (run.root / "opt/serving/proxy.conf").read_text()
    assert "listen 8000;" in conf and "least_conn;" in conf and "proxy_buffering off;" in conf
    assert conf.count("server 127.0.0.1:") == 2
    assert "server 127.0.0.1:8001 " in conf and "server 127.0.0.1:8002 " in conf
    health = run.urls("http://127.0.0.1")
    assert health == [
        "http://127.0.0.1:8001/health",
        "http://127.0.0.1:8002/health",
        "http://127.0.0.1:8000/health",
    ]
    assert (run.root / "run/serving/ready").exists()


def test_one_replica_needs_no_proxy(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec()), tmp_path)
    assert [flag(args, "--name") for args in (c["args"] for c in run.docker_runs())] == [
        "serving-0"
    ]
    assert not (run.root / "opt/serving/proxy.conf").exists()


def test_replicas_that_need_more_gpus_than_the_instance_has_are_refused() -> None:
    with pytest.raises(UserDataError, match=r"need 8 GPUs but g5\.12xlarge has 4"):
        render_user_data(make_spec(tensor_parallel=4, replicas_per_instance=2))


def test_only_aws_fleets_get_user_data() -> None:
    spec = msgspec.structs.replace(make_spec(), kind="sagemaker")
    with pytest.raises(UserDataError, match="fleets, not a aws sagemaker deployment"):
        render_user_data(spec)


def test_fewer_visible_gpus_than_needed_stops_before_any_container(tmp_path: Path) -> None:
    spec = make_spec(tensor_parallel=2, replicas_per_instance=2)
    run = boot(render_user_data(spec), tmp_path, gpus=2)
    assert run.returncode == 1
    assert "need 4 GPUs but nvidia-smi lists 2" in run.output
    assert run.docker_runs() == []


def test_a_replica_that_never_gets_healthy_fails_the_boot(tmp_path: Path) -> None:
    run = boot(render_user_data(make_spec(grace_s=1)), tmp_path, healthy=False)
    assert run.returncode == 1
    assert "serving-0 did not answer /health within 1s" in run.output
    assert "engine: out of memory" in run.output  # the container's last lines, for diagnosis
    assert not (run.root / "run/serving/ready").exists()


def test_private_ecr_images_log_in_with_the_password_on_stdin(tmp_path: Path) -> None:
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/serving/vllm:0.10.2"
    run = boot(render_user_data(make_spec(image=image)), tmp_path)
    assert run.returncode == 0, run.output
    assert ["ecr", "get-login-password", "--region", "eu-west-1"] in run.tool_calls("aws")
    (login,) = [c for c in run.calls if c["tool"] == "docker" and c["args"][0] == "login"]
    assert login["stdin_is_password"]
    assert login["args"][-1] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert ECR_PASSWORD not in " ".join(login["args"])
    assert ["pull", "--quiet", image] in run.tool_calls("docker")


def test_importing_the_module_does_not_load_jinja2() -> None:
    probe = "import sys, modules.user_data; print('jinja2' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"
