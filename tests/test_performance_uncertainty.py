"""The performance model's error bands: quantile maths, which band an accelerator gets, and the
bands shipped in planner/data/efficiency.yaml."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from planner.datafiles import PLANNER_DATA, load_yaml
from planner.performance import ErrorBand, error_band

BANDS = load_yaml(PLANNER_DATA / "efficiency.yaml")["error_bands"]


def test_throughput_factor_is_the_lower_quantile_of_the_residuals() -> None:
    band = ErrorBand(rows=9, pooled=False, bias=0.0, spread=0.2)
    z90 = NormalDist().inv_cdf(0.9)
    assert band.throughput_factor(0.9) == pytest.approx(math.exp(-0.2 * z90))
    assert band.latency_factor(0.9) == pytest.approx(math.exp(0.2 * z90))
    assert band.throughput_factor(0.5) == pytest.approx(1.0)
    assert band.throughput_factor(0.95) < band.throughput_factor(0.9) < 1 < band.latency_factor(0.9)


def test_bias_moves_both_factors() -> None:
    """Hardware measured 10% faster than predicted: at the median, capacity ×1.1, latency /1.1."""
    band = ErrorBand(rows=9, pooled=False, bias=math.log(1.1), spread=0.0)
    assert band.throughput_factor(0.99) == pytest.approx(1.1)
    assert band.latency_factor(0.99) == pytest.approx(1 / 1.1)


def test_factors_cover_the_stated_share_of_a_normal_sample() -> None:
    band = ErrorBand(rows=9, pooled=False, bias=-0.05, spread=0.3)
    sample = [band.bias + band.spread * NormalDist().inv_cdf((i + 0.5) / 2000) for i in range(2000)]
    floor = math.log(band.throughput_factor(0.8))
    assert sum(r >= floor for r in sample) / len(sample) == pytest.approx(0.8, abs=0.002)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.1, 1.5])
def test_confidence_outside_zero_one_is_refused(confidence: float) -> None:
    band = ErrorBand(rows=9, pooled=False, bias=0.0, spread=0.2)
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        band.throughput_factor(confidence)
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        band.latency_factor(confidence)


def test_unknown_accelerator_gets_the_widened_pooled_band() -> None:
    band = error_band("no-such-accelerator", "vllm")
    assert band == ErrorBand(
        rows=0, pooled=True, bias=BANDS["pooled"]["bias"], spread=BANDS["unseen_spread"]
    )
    assert band.spread > BANDS["pooled"]["spread"]


def test_accelerator_with_few_rows_falls_back_to_the_pooled_band() -> None:
    few = [
        name
        for name, group in BANDS["groups"].items()
        if "/" not in name and 0 < group["rows"] < BANDS["min_rows"]
    ]
    assert few, "the shipped bands have an accelerator with a few rows"
    band = error_band(few[0], "vllm")
    assert band.pooled
    assert band.rows == BANDS["groups"][few[0]]["rows"]
    assert band.spread == BANDS["unseen_spread"]


def test_accelerator_with_enough_rows_has_its_own_band() -> None:
    own = [
        name
        for name, group in BANDS["groups"].items()
        if "/" not in name and group["rows"] >= BANDS["min_rows"]
    ]
    assert own
    for name in own:
        band = error_band(name, "an-engine-without-rows")
        group = BANDS["groups"][name]
        assert band == ErrorBand(group["rows"], False, group["bias"], group["spread"])


def test_accelerator_and_engine_band_wins_when_it_has_enough_rows() -> None:
    pairs = [
        name
        for name, group in BANDS["groups"].items()
        if "/" in name and group["rows"] >= BANDS["min_rows"]
    ]
    assert pairs
    accelerator, engine = pairs[0].split("/")
    group = BANDS["groups"][pairs[0]]
    assert error_band(accelerator, engine) == ErrorBand(
        group["rows"], False, group["bias"], group["spread"]
    )


def test_shipped_bands_are_finite_and_honest() -> None:
    assert BANDS["unseen_spread"] >= BANDS["pooled"]["spread"] > 0
    for group in BANDS["groups"].values():
        assert group["rows"] >= 1
        assert math.isfinite(group["bias"]) and group["spread"] >= 0
