"""Accelerator facts: memory, bandwidth and dense tensor throughput per precision."""

from __future__ import annotations

from functools import cache

import msgspec

from planner.datafiles import PLANNER_DATA, load_yaml


class Accelerator(msgspec.Struct, frozen=True):
    name: str
    vendor: str
    memory_gib: float
    bandwidth_tb_s: float
    fp16_tflops: float
    bf16: bool
    fp8_tflops: float | None
    int8_tops: float | None
    interconnect: str
    source: str

    @property
    def memory_bytes(self) -> float:
        return self.memory_gib * 2**30

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.bandwidth_tb_s * 1e12

    def compute_flops_per_s(self, precision: str) -> float:
        """Dense peak for the matrix path this precision runs on.

        FP8/INT8 weights on hardware without that tensor path are served weight-only and computed
        at 16-bit; INT4 is weight-only everywhere; FP32 runs on TF32/FP16 paths in serving runtimes.
        """
        if precision == "fp8" and self.fp8_tflops:
            return self.fp8_tflops * 1e12
        if precision == "int8" and self.int8_tops:
            return self.int8_tops * 1e12
        return self.fp16_tflops * 1e12


@cache
def accelerators() -> dict[str, Accelerator]:
    raw = load_yaml(PLANNER_DATA / "accelerators.yaml")
    return {item["name"]: Accelerator(**item) for item in raw["accelerators"]}
