"""Predicted vs published for every calibration row, and the median absolute percentage error.

    .venv/bin/python -m bench.perf_model_error                  # with the shipped efficiency.yaml
    .venv/bin/python -m bench.perf_model_error --cross-validate # also k-fold held-out error

The in-sample error says how well the fitted factors reproduce the rows they were fitted on. The
cross-validated error refits without each fold and predicts the fold: closer to what a new,
unseen measurement should expect. Rows whose prompt/answer lengths the source does not state are
marked `assumed` (see their notes in bench/data/perf_calibration.csv) and reported apart.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.calibration import (
    LlmRow,
    load_llm_rows,
    load_non_llm_rows,
    median,
    percentage_error,
    predict_llm,
    predict_non_llm,
)
from bench.fit_efficiency import fit, fit_non_llm, starting_parameters
from planner.performance import efficiency_table

TARGET_PERCENT = 20.0


def _shipped_prediction(row: LlmRow) -> float | None:
    return predict_llm(row, efficiency_table().for_(row.accelerator, row.engine))


def _summary(label: str, errors: Sequence[float]) -> str:
    if not errors:
        return f"{label}: no rows"
    verdict = "meets" if median(errors) <= TARGET_PERCENT else "misses"
    return (
        f"{label}: median APE {median(errors):.1f}% over {len(errors)} rows "
        f"({verdict} the {TARGET_PERCENT:.0f}% target); worst {max(errors):.0f}%"
    )


def cross_validated_errors(rows: Sequence[LlmRow], folds: int) -> dict[str, float]:
    """Refit on all rows but one fold (warm-started from the full fit), predict the fold."""
    full = fit(rows)
    errors: dict[str, float] = {}
    for fold in range(folds):
        held_out = [r for i, r in enumerate(rows) if i % folds == fold]
        training = [r for i, r in enumerate(rows) if i % folds != fold]
        start = starting_parameters(training)
        start.compute, start.bandwidth = full.compute, full.bandwidth
        start.step_overhead_ms = full.step_overhead_ms
        params = fit(training, start, sweeps=2)
        for row in held_out:
            errors[row.id] = percentage_error(
                predict_llm(row, params.efficiency(row)), row.measured
            )
    return errors


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cross-validate", action="store_true", help="also k-fold refits")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)

    rows = load_llm_rows()
    held_out = cross_validated_errors(rows, args.folds) if args.cross_validate else {}
    print(f"{'id':7} {'setup':62} {'metric':20} {'published':>10} {'predicted':>10} {'err':>6}")
    errors: dict[str, float] = {}
    for row in rows:
        predicted = _shipped_prediction(row)
        errors[row.id] = percentage_error(predicted, row.measured)
        shown = "infeasible" if predicted is None else f"{predicted:10.1f}"
        extra = f"  held-out {held_out[row.id]:.0f}%" if row.id in held_out else ""
        print(
            f"{row.id:7} {row.label[:62]:62} {row.metric:20} {row.measured:10.1f} {shown:>10} "
            f"{errors[row.id]:5.0f}%{extra}"
        )
    published = [errors[r.id] for r in rows if r.shape == "published"]
    assumed = [errors[r.id] for r in rows if r.shape == "assumed"]
    print()
    print(_summary("LLM rows, all", list(errors.values())))
    print(_summary("LLM rows with published prompt/answer lengths", published))
    print(_summary("LLM rows with assumed lengths", assumed))
    if held_out:
        print(_summary(f"LLM rows, {args.folds}-fold cross-validated", list(held_out.values())))

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
