"""Rewrite the golden synthesized JSON (tests/test_synth_golden.py checks it byte for byte).

    .venv/bin/python -m tests.golden.regenerate            # from the recorded decisions
    .venv/bin/python -m tests.golden.regenerate --decide   # decide anew first

Without `--decide`, the golden files are rewritten from `tests/golden/decisions.yaml`: run it
after a change to how stacks are synthesized that is meant to change them, and review the diff.
`--decide` first rewrites `decisions.yaml` with what the optimizer chooses today for every example
and target it fits (the shipped catalog, not ~/.infra's refreshed prices): run it when an example
is added or changed, or when a catalog refresh or a refit should show in the golden files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import msgspec
import yaml

from tests.golden.build import (
    DECISIONS,
    EXAMPLES,
    REPO,
    SYNTH,
    TARGETS,
    Recorded,
    Target,
    deployment_id,
    fixed_environment,
    golden_path,
    read_decisions,
    specs_of,
    synthesize_all,
    write_profile,
)

HEADER = (
    "# The decisions the golden synthesized JSON (tests/golden/synth) is built from, one per\n"
    "# example and target it fits. Written by `.venv/bin/python -m tests.golden.regenerate\n"
    "# --decide`; kept fixed so that a catalog or performance-model change churns no golden file.\n"
)


def decide(example: str, target: Target, workdir: Path) -> Recorded | None:
    """What `infra plan --env <env> --cloud --kind` decides for the example; None if nothing
    fits (or the example's placement rules the target out)."""
    from core.errors import NoFeasibleCandidate
    from orchestrator.decisions import recommend_for_env
    from planner.decision import decide as decide_on
    from planner.deployment import check_decision
    from planner.optimizer import Filters, unconfigured_kind
    from planner.profile import load_profile

    profile_path = write_profile(example, target, workdir)
    profile = load_profile(profile_path).profile
    if unconfigured_kind(target.kind, profile) is not None:
        return None  # the example does not say what the kind needs (which cluster)
    pins = Filters(clouds=frozenset({target.cloud}), kinds=frozenset({target.kind}))
    try:
        recommendation = recommend_for_env(profile_path, target.env, pins)
    except NoFeasibleCandidate:
        return None
    decision = decide_on(profile, recommendation)
    check_decision(profile, decision, lambda: recommendation)
    return Recorded(
        example=example,
        env=target.env,
        deployment_id=deployment_id(example, target),
        decision=decision,
    )


def decide_all() -> list[Recorded]:
    examples = sorted(path.stem for path in EXAMPLES.glob("*.yaml"))
    with tempfile.TemporaryDirectory(prefix="golden-decide-") as workdir:
        # The shipped catalog only: no refreshed prices from the user's ~/.infra.
        home = Path(workdir) / "home"
        with fixed_environment({"INFRA_HOME": str(home), "INFRA_CATALOG_MAX_AGE_DAYS": "off"}):
            found = [
                decide(example, target, Path(workdir)) for example in examples for target in TARGETS
            ]
    return [entry for entry in found if entry is not None]


def write_decisions(entries: list[Recorded], path: Path = DECISIONS) -> None:
    from planner.decision import decision_data

    data = msgspec.to_builtins(entries)
    for entry, written in zip(entries, data, strict=True):
        written["decision"] = decision_data(entry.decision)  # a flat decision as it always was
    path.write_text(HEADER + yaml.safe_dump(data, sort_keys=False, width=100))


def regenerate(decisions: Path = DECISIONS, synth: Path = SYNTH) -> list[str]:
    """Rewrite every golden file from the recorded decisions; remove those no decision names."""
    recorded = read_decisions(decisions)
    with tempfile.TemporaryDirectory(prefix="golden-synth-") as outdir:
        texts = synthesize_all(specs_of(recorded), Path(outdir))
    synth.mkdir(exist_ok=True)
    for stale in synth.glob("*.tf.json"):
        if stale.name.removesuffix(".tf.json") not in texts:
            stale.unlink()
    for name, text in texts.items():
        golden_path(name, synth).write_bytes(text.encode())
    return sorted(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.golden.regenerate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--decide",
        action="store_true",
        help="first decide anew for every example and target (rewrites decisions.yaml)",
    )
    args = parser.parse_args(argv)
    if args.decide:
        entries = decide_all()
        write_decisions(entries)
        print(f"{DECISIONS.relative_to(REPO)}: {len(entries)} decisions")
    names = regenerate()
    print(f"{SYNTH.relative_to(REPO)}: {len(names)} golden files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
