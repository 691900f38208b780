"""Model architectures: the built-in list (data/models.yaml) and explicit ones from profiles."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import msgspec

from planner.datafiles import PLANNER_DATA, load_yaml

ModelFamily = Literal["decoder", "encoder", "vision", "speech"]


class ModelSpec(msgspec.Struct, frozen=True):
    """What the performance model needs to know about one model.

    Decoder LLMs need the attention shape (for KV-cache bytes) and parameter counts; other
    families need parameters and FLOPs per request.
    """

    name: str
    family: ModelFamily
    params_b: float
    active_params_b: float | None = None
    layers: int | None = None
    hidden_size: int | None = None
    attention_heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    max_context: int | None = None
    experts: int | None = None
    active_experts: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    gflops_per_request: float | None = None
    typical_input: str | None = None
    hf_id: str | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""
    notes: str = ""
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def is_llm(self) -> bool:
        return self.family == "decoder"

    @property
    def is_moe(self) -> bool:
        return bool(self.experts and self.active_experts)

    @property
    def active_params(self) -> float:
        return (self.active_params_b or self.params_b) * 1e9

    @property
    def total_params(self) -> float:
        return self.params_b * 1e9

    @property
    def kv_elements_per_token(self) -> int:
        """Cached K and V elements per token across all layers (MLA caches one latent vector)."""
        assert self.layers is not None
        if self.kv_lora_rank:
            return self.layers * (self.kv_lora_rank + (self.qk_rope_head_dim or 0))
        assert self.kv_heads is not None and self.head_dim is not None
        return 2 * self.layers * self.kv_heads * self.head_dim

    def expert_split(self) -> tuple[float, float]:
        """(always-read parameters, parameters of one routed expert), derived from total/active.

        total = dense + experts * e and active = dense + active_experts * e.
        """
        if not self.is_moe:
            return self.total_params, 0.0
        assert self.experts is not None and self.active_experts is not None
        per_expert = (self.total_params - self.active_params) / (self.experts - self.active_experts)
        return self.total_params - self.experts * per_expert, per_expert

    def tensor_parallel_ok(self, degree: int) -> bool:
        """vLLM/TGI shard attention heads evenly; KV heads are split or replicated evenly."""
        if degree == 1:
            return True
        heads, kv_heads = self.attention_heads, self.kv_heads
        if heads is None or heads % degree:
            return False
        if kv_heads is None or self.kv_lora_rank:
            return True
        return kv_heads % degree == 0 or degree % kv_heads == 0


_SPEC_FIELDS = set(ModelSpec.__struct_fields__) - {"extra"}


def spec_from_mapping(data: dict[str, Any]) -> ModelSpec:
    known = {key: value for key, value in data.items() if key in _SPEC_FIELDS}
    known["aliases"] = tuple(known.get("aliases") or ())
    extra = {key: value for key, value in data.items() if key not in _SPEC_FIELDS}
    return ModelSpec(**known, extra=extra)


@cache
def builtin_models() -> dict[str, ModelSpec]:
    raw = load_yaml(PLANNER_DATA / "models.yaml")
    return {item["name"]: spec_from_mapping(item) for item in raw["models"]}


def find_model(name: str) -> ModelSpec | None:
    """Look a model up by its id or any alias (Hugging Face id), case-insensitively."""
    wanted = name.strip().lower()
    for spec in builtin_models().values():
        if spec.name == wanted or wanted in (alias.lower() for alias in spec.aliases):
            return spec
        if spec.hf_id and spec.hf_id.lower() == wanted:
            return spec
    return None
