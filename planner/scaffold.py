"""`infra profile init`: a commented profile that documents every field and plans as written.

The comments live in templates/profile.yaml.j2; this module picks the values that depend on the
model (token lengths within its context, an LLM or a non-LLM workload, precision) and writes the
file atomically, so an interrupted run never leaves half a profile behind.
"""

from __future__ import annotations

import os
import secrets
from importlib.resources import files
from pathlib import Path
from typing import Any

from core.errors import InfraError, ProfileError
from planner.models import ModelSpec, builtin_models, find_model
from planner.names import check_identifier

DEFAULT_MAX_MODEL_LEN = 4096
FP8_ABOVE_PARAMS_B = 200
"""Bigger models start at fp8: at 16 bits only the largest 8-GPU instances hold them, or none."""


def _model(model: str) -> ModelSpec:
    spec = find_model(model)
    if spec is None:
        from planner.service import _suggest

        raise ProfileError(
            f"unknown model '{model}'{_suggest(model.lower(), builtin_models())}; "
            "`infra models list` shows the built-in models."
        )
    return spec


def scaffold_values(name: str, spec: ModelSpec) -> dict[str, Any]:
    """The template's variables: a modest workload and targets the model can usually meet."""
    values: dict[str, Any] = {"name": name, "model": spec}
    if spec.is_llm:
        length = min(DEFAULT_MAX_MODEL_LEN, spec.max_context or DEFAULT_MAX_MODEL_LEN)
        # p95 prompt + p95 completion = 3/4 of the length: they fit the context together.
        values |= {
            "precision": "fp8" if spec.params_b > FP8_ABOVE_PARAMS_B else "bf16",
            "requests_per_second": 5,
            "input_mean": length // 8,
            "input_p95": length // 2,
            "output_mean": length // 16,
            "output_p95": length // 4,
            "ttft_ms_p95": 2000,
            "tpot_ms": 60,
            "max_batch": 128,
            "max_model_len": length,
        }
    else:
        values |= {
            "precision": "fp16",
            "requests_per_second": 50,
            "gflops_per_request": spec.gflops_per_request or round(2 * spec.params_b * 1000, 1),
            "e2e_ms_p95": 500 if spec.gflops_per_request else 5000,
            "max_batch": 32,
        }
    return values


def render_profile_scaffold(name: str, model: str) -> str:
    """The scaffold's text for profile NAME serving built-in MODEL (its name or an alias)."""
    import jinja2  # ~90 ms to import: only this command pays for it

    check_identifier(name, "profile name")
    spec = _model(model)
    source = files("templates").joinpath("profile.yaml.j2").read_text(encoding="utf-8")
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.from_string(source).render(scaffold_values(name, spec))


def write_profile_scaffold(name: str, model: str, path: Path, *, force: bool = False) -> Path:
    """Write the scaffold to PATH and return PATH; refuse to overwrite unless `force`."""
    text = render_profile_scaffold(name, model)
    if path.is_dir():
        raise InfraError(f"{path} is a directory; give a file path such as {path / name}.yaml.")
    if not path.parent.is_dir():
        raise InfraError(f"cannot write {path}: the directory {path.parent} does not exist.")
    if path.exists() and not force:
        raise InfraError(f"{path} already exists; pass --force to overwrite it.")
    # A hidden temporary next to the target, renamed over it: rename is atomic within a directory.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InfraError(f"cannot write {path}: {error.strerror or error}.") from None
    return path
