"""A managed endpoint's engine flags are the fleet's: the same spec, rendered into the fleet's
boot script and run against fake tools (tests/test_user_data.py), starts the engine with exactly
the flags Vertex AI gets as container arguments and Azure ML as environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modules.engine_flags import engine_flags, flags_as_environment
from tests.test_user_data import engine_args, make_spec

VARIANTS: list[dict[str, Any]] = [
    {},
    {"tensor_parallel": 2, "max_model_len": 8192, "kv_cache_dtype": "fp8"},
    {"precision": "fp8", "port": 8080},
    {"precision": "int8", "extra_args": ["--enable-prefix-caching"]},
    {"precision": "fp16", "max_batch": 32},
]


@pytest.mark.parametrize("engine", ["vllm", "tgi"])
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(v) or "defaults")
def test_flags_match_the_fleet_boot_script(
    engine: str, variant: dict[str, Any], tmp_path: Path
) -> None:
    spec = make_spec(engine, **variant)
    assert engine_flags(spec.runtime) == engine_args(spec, tmp_path)


def test_triton_has_no_flags_for_hub_weights() -> None:
    with pytest.raises(ValueError, match="triton has no flag set"):
        engine_flags(make_spec("triton").runtime)


@pytest.mark.parametrize(
    ("flags", "environment"),
    [
        (["--num-shard", "2", "--port=8000"], {"NUM_SHARD": "2", "PORT": "8000"}),
        (
            ["--trust-remote-code", "--max-batch-prefill-tokens", "-1"],
            {
                "TRUST_REMOTE_CODE": "true",
                "MAX_BATCH_PREFILL_TOKENS": "-1",
            },
        ),
        (["--disable-custom-kernels"], {"DISABLE_CUSTOM_KERNELS": "true"}),
    ],
)
def test_flags_become_tgi_environment_variables(
    flags: list[str], environment: dict[str, str]
) -> None:
    assert flags_as_environment(flags) == environment


def test_a_value_without_its_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="'stray' is not a --flag"):
        flags_as_environment(["--num-shard", "2", "stray"])
