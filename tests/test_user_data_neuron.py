"""EC2 user data on Inferentia2: rendered from Neuron DeploymentSpecs, then run by bash against the
fake tools of test_user_data.py plus a fake `neuron-ls`, which lists the instance's Neuron devices.
The assertions are about what the script executed: the Neuron devices each container got, the
engine's NeuronCore count, where the compiled model is kept, and that nothing NVIDIA is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from modules.user_data import UserDataError, render_user_data
from planner.deployment import DeploymentSpec
from planner.images import NEURON_IMAGES
from providers.aws.neuron import COMPILE_GRACE_S
from tests.conftest import shellcheck
from tests.test_user_data import (
    FAKE_TOOL,
    FAKE_TOOLS,
    HF_PARAMETER,
    MODEL_ID,
    SECRET,
    Boot,
    flag,
    make_spec,
    run_boot,
)

NEURON_FAKE_TOOL = FAKE_TOOL.replace(
    'elif tool == "nvidia-smi":',
    'elif tool == "neuron-ls":\n'
    "    chips = int(os.environ['FAKE_CHIPS'])\n"
    "    print(json.dumps([{'neuron_device': i, 'nc_count': 2} for i in range(chips)]))\n"
    'elif tool == "nvidia-smi":',
)
NEURON_TOOLS = [*FAKE_TOOLS, "neuron-ls", "apt-get"]
WEIGHTS = "s3://models-bucket/llama-3.1-8b-neuron/"


def neuron_spec(
    engine: str = "vllm", *, chips: int = 1, instance_type: str = "inf2.xlarge", **runtime: Any
) -> DeploymentSpec:
    fields: dict[str, Any] = {"image": NEURON_IMAGES[engine], "max_model_len": 4096}
    fields.update(runtime)
    spec = make_spec(engine, accelerators=chips, grace_s=COMPILE_GRACE_S, **fields)
    return msgspec.structs.replace(
        spec,
        instance_type=instance_type,
        accelerator="Inferentia2",
        accelerators_per_instance=chips,
    )


def boot(
    spec: DeploymentSpec, tmp_path: Path, *, chips: int = 1, tools: list[str] = NEURON_TOOLS
) -> Boot:
    run = run_boot(
        render_user_data(spec),
        tmp_path,
        fake_tools=tools,
        fake_tool=NEURON_FAKE_TOOL,
        environment={"FAKE_GPUS": "0", "FAKE_CHIPS": str(chips), "FAKE_HEALTHY": "1"},
    )
    return run


def container_args(run: Boot, index: int = 0) -> list[str]:
    assert run.returncode == 0, run.output
    return run.docker_runs()[index]["args"]


def after_image(args: list[str], image: str) -> list[str]:
    return args[args.index(image) + 1 :]


def devices(args: list[str], image: str) -> list[str]:
    """The `--device` docker gave the container (the engine's own `--device neuron` excluded)."""
    docker = args[: args.index(image)]
    return [docker[i + 1] for i, arg in enumerate(docker) if arg == "--device"]


def test_vllm_gets_the_neuron_devices_and_the_neuron_core_count(tmp_path: Path) -> None:
    spec = neuron_spec("vllm", chips=1, max_batch=32)
    run = boot(spec, tmp_path)
    args = container_args(run)
    assert devices(args, spec.runtime.image) == ["/dev/neuron0"]
    assert "--gpus" not in args and "--ipc=host" not in args
    assert run.tool_calls("nvidia-smi") == []
    assert run.tool_calls("neuron-ls") == [["--json-output"]]
    assert args[args.index("--cap-add") : args.index("--cap-add") + 2] == ["--cap-add", "IPC_LOCK"]
    environment = [args[i + 1] for i, arg in enumerate(args) if arg == "--env"]
    assert "VLLM_NEURON_FRAMEWORK=neuronx-distributed-inference" in environment
    assert "NEURON_COMPILED_ARTIFACTS=/neuron-compiled" in environment
    volumes = [args[i + 1] for i, arg in enumerate(args) if arg == "--volume"]
    assert f"{run.root}/opt/serving/neuron-compiled/serving-0:/neuron-compiled" in volumes
    assert f"{run.root}/opt/serving/huggingface:/root/.cache/huggingface" in volumes
    engine = after_image(args, spec.runtime.image)
    assert engine[:3] == ["python", "-m", "vllm.entrypoints.openai.api_server"]
    assert flag(engine, "--model") == MODEL_ID
    assert flag(engine, "--device") == "neuron"
    assert flag(engine, "--tensor-parallel-size") == "2"  # one Inferentia2 chip, two NeuronCores
    assert flag(engine, "--max-num-seqs") == "32"
    assert flag(engine, "--max-model-len") == "4096"
    assert flag(engine, "--dtype") == "bfloat16"
    assert (run.root / "run/serving/ready").exists()


def test_the_health_check_waits_for_compilation(tmp_path: Path) -> None:
    script = render_user_data(neuron_spec())
    assert f"readonly HEALTH_TIMEOUT_S={COMPILE_GRACE_S}\n" in script
    assert "from a few minutes to more than an hour" in script
    assert "nvidia" not in script.lower() and "--gpus" not in script


def test_replicas_get_disjoint_neuron_devices_and_their_own_compile_cache(tmp_path: Path) -> None:
    spec = neuron_spec(
        "vllm", chips=6, instance_type="inf2.24xlarge", tensor_parallel=2, replicas_per_instance=3
    )
    run = boot(spec, tmp_path, chips=6)
    assert run.returncode == 0, run.output
    replicas = [call["args"] for call in run.docker_runs()][:3]
    assert [devices(args, spec.runtime.image) for args in replicas] == [
        ["/dev/neuron0", "/dev/neuron1"],
        ["/dev/neuron2", "/dev/neuron3"],
        ["/dev/neuron4", "/dev/neuron5"],
    ]
    caches = {
        next(
            v
            for v in (args[i + 1] for i, a in enumerate(args) if a == "--volume")
            if "neuron-compiled" in v
        )
        for args in replicas
    }
    assert len(caches) == 3
    assert all(
        flag(after_image(args, spec.runtime.image), "--tensor-parallel-size") == "4"
        for args in replicas
    )
    assert [flag(args, "--publish") for args in replicas] == [
        "127.0.0.1:8001:8000",
        "127.0.0.1:8002:8000",
        "127.0.0.1:8003:8000",
    ]


def test_compiled_artifacts_from_s3_seed_each_replica_cache(tmp_path: Path) -> None:
    spec = neuron_spec("vllm", model_s3_uri=WEIGHTS)
    script = render_user_data(spec)
    # The fake `aws s3 sync` writes config.json; add the compiled artifacts it would have synced.
    script = script.replace(
        'wait "$pull_pid"\n',
        'wait "$pull_pid"\ninstall -d "$MODEL_DIR/neuron-compiled-artifacts"\n'
        'echo neff >"$MODEL_DIR/neuron-compiled-artifacts/model.pt"\n',
    )
    run = run_boot(
        script,
        tmp_path,
        fake_tools=NEURON_TOOLS,
        fake_tool=NEURON_FAKE_TOOL,
        environment={"FAKE_GPUS": "0", "FAKE_CHIPS": "1", "FAKE_HEALTHY": "1"},
    )
    args = container_args(run)
    (sync,) = [call for call in run.tool_calls("aws") if call[:2] == ["s3", "sync"]]
    assert sync[-2:] == [WEIGHTS, f"{run.root}/opt/serving/model"]
    assert (run.root / "opt/serving/neuron-compiled/serving-0/model.pt").read_text() == "neff\n"
    volumes = [args[i + 1] for i, arg in enumerate(args) if arg == "--volume"]
    assert f"{run.root}/opt/serving/model:/model:ro" in volumes
    engine = after_image(args, spec.runtime.image)
    assert flag(engine, "--model") == "/model" and flag(engine, "--served-model-name") == MODEL_ID


def test_tgi_neuron_exports_the_hub_model_for_the_neuron_cores(tmp_path: Path) -> None:
    spec = neuron_spec(
        "tgi", chips=2, instance_type="inf2.8xlarge", tensor_parallel=2, precision="fp16"
    )
    run = boot(spec, tmp_path, chips=2)
    args = container_args(run)
    assert devices(args, spec.runtime.image) == [
        "/dev/neuron0",
        "/dev/neuron1",
    ]
    environment = [args[i + 1] for i, arg in enumerate(args) if arg == "--env"]
    assert {"HF_NUM_CORES=4", "HF_AUTO_CAST_TYPE=fp16"} <= set(environment)
    engine = after_image(args, spec.runtime.image)
    assert flag(engine, "--model-id") == MODEL_ID
    assert flag(engine, "--max-batch-size") == "128"
    assert flag(engine, "--max-total-tokens") == "4096"
    assert flag(engine, "--max-input-tokens") == "4095"
    assert "--num-shard" not in engine and "--dtype" not in engine


def test_the_token_reaches_the_neuron_container_only_through_the_env_file(tmp_path: Path) -> None:
    run = boot(neuron_spec(hf_token_ssm_parameter=HF_PARAMETER), tmp_path)
    (container,) = run.docker_runs()
    assert container["env_file"] == f"HF_TOKEN={SECRET}\n"
    assert all(SECRET not in " ".join(call["args"]) for call in run.calls)


def test_fewer_neuron_devices_than_needed_stops_before_any_container(tmp_path: Path) -> None:
    spec = neuron_spec("vllm", chips=2, instance_type="inf2.8xlarge", tensor_parallel=2)
    run = boot(spec, tmp_path, chips=1)
    assert run.returncode == 1
    assert "need 2 Neuron devices but neuron-ls lists 1" in run.output
    assert run.docker_runs() == []


def test_missing_docker_and_aws_cli_are_installed_first(tmp_path: Path) -> None:
    script = render_user_data(neuron_spec())
    # A host without them: `command -v` finds neither (the fakes stay on PATH for the rest).
    script = script.replace("command -v docker", "false").replace("command -v aws", "false")
    run = run_boot(
        script,
        tmp_path,
        fake_tools=NEURON_TOOLS,
        fake_tool=NEURON_FAKE_TOOL,
        environment={"FAKE_GPUS": "0", "FAKE_CHIPS": "1", "FAKE_HEALTHY": "1"},
    )
    assert run.returncode == 0, run.output
    assert run.tool_calls("apt-get") == [
        ["update", "-q"],
        ["install", "-y", "-q", "docker.io", "awscli"],
    ]
    first_docker = next(i for i, call in enumerate(run.calls) if call["tool"] == "docker")
    assert (
        run.calls.index({"tool": "apt-get", "args": ["install", "-y", "-q", "docker.io", "awscli"]})
        < first_docker
    )


def test_present_tools_are_not_installed(tmp_path: Path) -> None:
    run = boot(neuron_spec(), tmp_path)
    assert run.returncode == 0, run.output
    assert run.tool_calls("apt-get") == []


@pytest.mark.parametrize(
    ("runtime", "problem"),
    [
        ({"engine": "triton", "model_s3_uri": WEIGHTS}, "the triton engine does not run on Neuron"),
        ({"precision": "fp8"}, "compiles bf16 or fp16 models, not fp8"),
        ({"max_model_len": None}, "set runtime.max_model_len"),
        ({"kv_cache_dtype": "fp8"}, "not fp8"),
    ],
)
def test_what_neuron_cannot_serve_is_refused_in_one_sentence(
    runtime: dict[str, Any], problem: str
) -> None:
    spec = neuron_spec("vllm")
    spec = msgspec.structs.replace(spec, runtime=msgspec.structs.replace(spec.runtime, **runtime))
    with pytest.raises(
        UserDataError, match=r"^chat-prod: inf2\.xlarge has Inferentia2 chips, and "
    ) as caught:
        render_user_data(spec)
    assert problem in str(caught.value)


def test_more_chips_than_the_instance_has_are_refused() -> None:
    spec = neuron_spec("vllm", tensor_parallel=2)
    with pytest.raises(UserDataError, match=r"need 2 Inferentia2 chips but inf2\.xlarge has 1"):
        render_user_data(spec)


def test_neuron_is_aws_only() -> None:
    spec = msgspec.structs.replace(neuron_spec(), cloud="gcp")
    with pytest.raises(UserDataError, match="Inferentia2 chips are on AWS only, not GCP"):
        render_user_data(spec)


@pytest.mark.parametrize("engine", ["vllm", "tgi"])
@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_shellcheck_is_clean(engine: str, weights: str | None) -> None:
    spec = neuron_spec(
        engine,
        chips=6,
        instance_type="inf2.24xlarge",
        tensor_parallel=2,
        replicas_per_instance=3,
        model_s3_uri=weights,
        hf_token_ssm_parameter=HF_PARAMETER,
        extra_args=["--seed", "7"],
    )
    checked = shellcheck(render_user_data(spec))
    assert checked.returncode == 0, checked.stdout
