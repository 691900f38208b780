"""Predicted vs published for every calibration row, and the median absolute percentage error.

    .venv/bin/python -m bench.perf_model_error                  # with the shipped efficiency.yaml
    .venv/bin/python -m bench.perf_model_error --cross-validate # also k-fold held-out error

The in-sample error says how well the fitted factors reproduce the rows they were fitted on. The
cross-validated error refits without each fold and predicts the fold: closer to what a new,
unseen measurement should expect; it is given per accelerator and per engine with the signed bias
(median of measured speed over predicted speed, minus 1: positive when the hardware is faster
than predicted). The validation rows (bench/data/perf_validation.csv) are published figures the
fit never sees, predicted with the shipped factors. Rows whose prompt/answer lengths the source
does not state are marked `assumed` (see their notes) and reported apart.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

from bench.calibration import (
    VALIDATION_ROWS,
    LlmRow,
    load_llm_rows,
    load_non_llm_rows,
    median,
    percentage_error,
    predict_llm,
    predict_non_llm,
)
from bench.error_bands import residual
from bench.fit_efficiency import cross_validated_predictions, fit_non_llm
from planner.performance import efficiency_table, error_band

TARGET_PERCENT = 12.0
BIAS_LIMIT_PERCENT = 25.0
COVERAGE_LEVELS = (0.8, 0.9, 0.95)


def shipped_prediction(row: LlmRow) -> float | None:
    return predict_llm(row, efficiency_table().for_(row.accelerator, row.engine))


def _summary(label: str, errors: Sequence[float]) -> str:
    if not errors:
        return f"{label}: no rows"
    verdict = "meets" if median(errors) <= TARGET_PERCENT else "misses"
    return (
        f"{label}: median APE {median(errors):.1f}% over {len(errors)} rows "
        f"({verdict} the {TARGET_PERCENT:.0f}% target); worst {max(errors):.0f}%"
    )


def signed_bias_percent(rows: Sequence[LlmRow], predictions: dict[str, float | None]) -> float:
    """Median measured speed over predicted speed, minus 1, in percent."""
    return (math.exp(median([residual(r, predictions[r.id]) for r in rows])) - 1) * 100


def group_table(
    title: str,
    rows: Sequence[LlmRow],
    key: Callable[[LlmRow], str],
    predictions: dict[str, float | None],
) -> None:
    """Per group: rows, median APE and signed bias of these predictions."""
    print(f"\n{title:24} {'rows':>4} {'MdAPE':>7} {'signed bias':>12}")
    groups: dict[str, list[LlmRow]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    for name, members in sorted(groups.items()):
        errors = [percentage_error(predictions[r.id], r.measured) for r in members]
        bias = signed_bias_percent(members, predictions)
        flag = "  beyond the limit" if len(members) >= 5 and abs(bias) > BIAS_LIMIT_PERCENT else ""
        print(f"{name:24} {len(members):4} {median(errors):6.1f}% {bias:+11.1f}%{flag}")


def band_coverage(label: str, rows: Sequence[LlmRow], predictions: dict[str, float | None]) -> None:
    """Share of rows whose measured speed is at least the band's throughput_factor(c) times the
    prediction (the shipped band of each row's accelerator and engine), against c."""
    shares = []
    for confidence in COVERAGE_LEVELS:
        inside = [
            residual(r, predictions[r.id])
            >= math.log(error_band(r.accelerator, r.engine).throughput_factor(confidence))
            for r in rows
        ]
        shares.append(f"{confidence:.0%} -> {sum(inside) / len(inside):.0%}")
    print(f"{label}: error-band coverage {', '.join(shares)} of {len(rows)} rows")


def print_rows(rows: Sequence[LlmRow], held_out: dict[str, float | None]) -> dict[str, float]:
    print(f"{'id':7} {'setup':62} {'metric':20} {'published':>10} {'predicted':>10} {'err':>6}")
    errors: dict[str, float] = {}
    for row in rows:
        predicted = shipped_prediction(row)
        errors[row.id] = percentage_error(predicted, row.measured)
        shown = "infeasible" if predicted is None else f"{predicted:10.1f}"
        extra = ""
        if row.id in held_out:
            extra = f"  held-out {percentage_error(held_out[row.id], row.measured):.0f}%"
        print(
            f"{row.id:7} {row.label[:62]:62} {row.metric:20} {row.measured:10.1f} {shown:>10} "
            f"{errors[row.id]:5.0f}%{extra}"
        )
    return errors


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cross-validate", action="store_true", help="also k-fold refits")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)

    rows = load_llm_rows()
    held_out = cross_validated_predictions(rows, args.folds) if args.cross_validate else {}
    errors = print_rows(rows, held_out)
    published = [errors[r.id] for r in rows if r.shape == "published"]
    assumed = [errors[r.id] for r in rows if r.shape == "assumed"]
    print()
    print(_summary("LLM rows, all (in sample)", list(errors.values())))
    print(_summary("LLM rows with published prompt/answer lengths", published))
    print(_summary("LLM rows with assumed lengths", assumed))
    if held_out:
        cv_errors = [percentage_error(held_out[r.id], r.measured) for r in rows]
        print(_summary(f"LLM rows, {args.folds}-fold cross-validated", cv_errors))
        group_table("held out: accelerator", rows, lambda r: r.accelerator, held_out)
        group_table("held out: engine", rows, lambda r: r.engine, held_out)
        print()
        band_coverage("Cross-validated rows", rows, held_out)

    validation = load_llm_rows(VALIDATION_ROWS)
    print(f"\nValidation rows ({VALIDATION_ROWS.name}, never fitted), shipped factors:")
    shipped = {r.id: shipped_prediction(r) for r in validation}
    validation_errors = print_rows(validation, {})
    print(_summary("Validation rows", list(validation_errors.values())))
    group_table("validation: accelerator", validation, lambda r: r.accelerator, shipped)
    group_table("validation: mode", validation, lambda r: r.mode, shipped)
    print()
    band_coverage("Validation rows", validation, shipped)
    if held_out:
        combined = [percentage_error(held_out[r.id], r.measured) for r in rows]
        combined += list(validation_errors.values())
        print()
        print(_summary("Every figure the factors were not fitted on", combined))

    non_llm_rows = load_non_llm_rows()
    table = efficiency_table().non_llm_compute
    non_llm_errors = []
    print()
    for row in non_llm_rows:
        fraction = table.get(row.family, table["default"])
        predicted = predict_non_llm(row, fraction)
        error = percentage_error(predicted, row.measured)
        non_llm_errors.append(error)
        print(f"{row.id:7} {row.label:62} {row.measured:10.1f} {predicted:10.1f} {error:5.0f}%")
    print(_summary("Encoder/vision rows (requests/s)", non_llm_errors))
    if args.cross_validate:
        loo = []
        for i, row in enumerate(non_llm_rows):
            others = fit_non_llm(non_llm_rows[:i] + non_llm_rows[i + 1 :])
            fraction = others.get(row.family, others["default"])
            loo.append(percentage_error(predict_non_llm(row, fraction), row.measured))
        print(_summary("Encoder/vision rows, leave-one-out", loo))


if __name__ == "__main__":
    main()
