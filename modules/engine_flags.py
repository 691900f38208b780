"""The serving engine's command-line flags for a managed endpoint's container.

The same choices as the fleet's boot script (templates/user_data/engine_*.j2), for a container
that downloads its weights from the model hub: a managed endpoint has no boot script that syncs
weights from object storage first. tests/test_engine_flags.py checks each flag against the
rendered fleet script, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.deployment import RuntimeSpec

VLLM_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
TGI_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
TGI_QUANTIZE = {"fp8": "fp8", "int8": "eetq"}
PREDICT_ROUTES = {"vllm": "/v1/completions", "tgi": "/v1/completions"}
"""The OpenAI-compatible completions route both engines serve, for base and chat models alike:
where a managed endpoint forwards its prediction requests."""
FLAG_ENGINES = frozenset(PREDICT_ROUTES)
"""Engines that serve a hub model from flags alone; Triton needs a prebuilt model repository."""


def engine_flags(runtime: RuntimeSpec) -> list[str]:
    """The flags after the image's entrypoint (vllm serve, text-generation-launcher)."""
    if runtime.engine == "vllm":
        flags = _vllm(runtime)
    elif runtime.engine == "tgi":
        flags = _tgi(runtime)
    else:
        raise ValueError(f"{runtime.engine} has no flag set for hub weights")
    return [*flags, *runtime.extra_args]


def _vllm(runtime: RuntimeSpec) -> list[str]:
    flags = [
        "--model",
        runtime.model_id,
        "--port",
        str(runtime.port),
        "--tensor-parallel-size",
        str(runtime.tensor_parallel),
        "--max-num-seqs",
        str(runtime.max_batch),
    ]
    if runtime.max_model_len:
        flags += ["--max-model-len", str(runtime.max_model_len)]
    if runtime.precision in VLLM_DTYPES:
        flags += ["--dtype", VLLM_DTYPES[runtime.precision]]
    elif runtime.precision == "fp8":
        flags += ["--quantization", "fp8"]
    if runtime.kv_cache_dtype == "fp8":
        flags += ["--kv-cache-dtype", "fp8"]
    return flags


def _tgi(runtime: RuntimeSpec) -> list[str]:
    flags = [
        "--model-id",
        runtime.model_id,
        "--port",
        str(runtime.port),
        "--num-shard",
        str(runtime.tensor_parallel),
        "--max-concurrent-requests",
        str(runtime.max_batch),
    ]
    if runtime.max_model_len:
        flags += [
            "--max-total-tokens",
            str(runtime.max_model_len),
            "--max-input-tokens",
            str(runtime.max_model_len - 1),
        ]
    if runtime.precision in TGI_DTYPES:
        flags += ["--dtype", TGI_DTYPES[runtime.precision]]
    elif runtime.precision in TGI_QUANTIZE:
        flags += ["--quantize", TGI_QUANTIZE[runtime.precision]]
    if runtime.kv_cache_dtype == "fp8":
        flags += ["--kv-cache-dtype", "fp8_e4m3fn"]
    return flags


def flags_as_environment(flags: list[str]) -> dict[str, str]:
    """TGI's launcher reads every flag from an upper-case variable too (`--num-shard 2` is
    NUM_SHARD=2; a flag without a value is `true`): how a container that takes no command-line
    arguments is configured."""
    environment: dict[str, str] = {}
    index = 0
    while index < len(flags):
        flag = flags[index]
        if not flag.startswith("--"):
            raise ValueError(f"{flag!r} is not a --flag")
        name, equals, value = flag[2:].partition("=")
        if not equals:
            following = flags[index + 1] if index + 1 < len(flags) else None
            if following is not None and not following.startswith("--"):
                value = following
                index += 1
            else:
                value = "true"
        environment[name.replace("-", "_").upper()] = value
        index += 1
    return environment
