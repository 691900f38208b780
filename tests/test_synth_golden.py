"""The synthesized JSON of every example on every target it fits, byte for byte against the golden
files in tests/golden/synth (the safety net of a refactor: a change to how stacks are synthesized
shows here, a change to the catalog or the performance model does not).

Determinism comes from fixed inputs, not from substitution (tests/golden/build.py): each file is
built from a recorded decision and deployment ID (tests/golden/decisions.yaml), a fixed absolute
state directory, and fixed GOOGLE_CLOUD_PROJECT and ARM_SUBSCRIPTION_ID. The synthesis output
directory is a fresh temporary one on every run, and nothing of it reaches the files.

When a change is meant to change the golden files, regenerate and review the diff:

    .venv/bin/python -m tests.golden.regenerate            # from the recorded decisions
    .venv/bin/python -m tests.golden.regenerate --decide   # a new example, or new decisions
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tests.golden.build import (
    DECISIONS,
    EXAMPLES,
    REGENERATE,
    SYNTH,
    golden_path,
    read_decisions,
    read_exactly,
    specs_of,
    synthesize_all,
)
from tests.golden.compare import mismatch

RECORDED = read_decisions()


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return synthesize_all(specs_of(RECORDED), tmp_path_factory.mktemp("golden-synth"))


def test_every_example_has_decisions_and_every_decision_a_golden_file() -> None:
    examples = {path.stem for path in EXAMPLES.glob("*.yaml")}
    assert {entry.example for entry in RECORDED.values()} == examples, (
        f"an example without a recorded decision: run `{REGENERATE} --decide`"
    )
    golden = {path.name.removesuffix(".tf.json") for path in SYNTH.glob("*.tf.json")}
    assert golden == set(RECORDED), f"golden files and {DECISIONS.name} disagree: `{REGENERATE}`"


def test_every_supported_target_is_covered() -> None:
    from orchestrator.synth import SUPPORTED

    targets = {(entry.decision.cloud, entry.decision.kind) for entry in RECORDED.values()}
    assert targets == SUPPORTED
    assert {entry.env for entry in RECORDED.values()} == {"prod", "local"}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_synthesized_json_is_byte_identical_to_the_golden_file(
    synthesized: dict[str, str], name: str
) -> None:
    problem = mismatch(name, read_exactly(golden_path(name)), synthesized[name])
    if problem:
        pytest.fail(problem, pytrace=False)


def test_a_changed_spec_field_fails_the_comparison(tmp_path: Path) -> None:
    """The check can fail: one field of one spec changed, the diff shows it where it lands (the
    recorded spec and the boot script's vLLM flag) and names the regenerate command."""
    name = "chat-8b-aws-fleet"
    spec = specs_of({name: RECORDED[name]})[name]
    batch = spec.runtime.max_batch
    changed = msgspec.structs.replace(
        spec, runtime=msgspec.structs.replace(spec.runtime, max_batch=batch + 1)
    )
    (actual,) = synthesize_all({name: changed}, tmp_path).values()
    problem = mismatch(name, read_exactly(golden_path(name)), actual)
    assert problem is not None
    lines = problem.splitlines()

    def shown(sign: str, text: str) -> bool:
        return any(line.startswith(sign) and text in line for line in lines)

    assert shown("-", f'"max_batch": {batch},') and shown("+", f'"max_batch": {batch + 1},')
    assert shown("-", f"--max-num-seqs {batch}") and shown("+", f"--max-num-seqs {batch + 1}")
    assert problem.endswith(f"run `{REGENERATE}` and review the diff.")


def test_a_layout_change_shows_the_raw_lines_and_line_endings_are_named() -> None:
    assert mismatch("x", '{"a": 1}\n', '{"a": 1}\n') is None
    problem = mismatch("x", '{\n  "a": 1\n}\n', '{"a": 1}\n')
    assert problem is not None and '+{"a": 1}' in problem.splitlines()
    problem = mismatch("x", '{"a": 1}\n', '{"a": 1}\r\n')
    assert problem is not None and "line endings only" in problem


def test_regenerate_rewrites_the_golden_files_and_removes_stale_ones(tmp_path: Path) -> None:
    from tests.golden.regenerate import regenerate, write_decisions

    name = "tiny-traffic-aws-sagemaker"
    decisions = tmp_path / "decisions.yaml"
    write_decisions([RECORDED[name]], decisions)
    synth = tmp_path / "synth"
    synth.mkdir()
    (synth / "gone-aws-fleet.tf.json").write_text("{}")
    (synth / f"{name}.tf.json").write_text("{}")
    assert regenerate(decisions, synth) == [name]
    assert [path.name for path in synth.iterdir()] == [f"{name}.tf.json"]
    assert golden_path(name, synth).read_bytes() == golden_path(name).read_bytes()


def test_decide_records_what_plan_would_choose_for_a_target(tmp_path: Path) -> None:
    """`--decide` works (its output is not compared: a catalog refresh may change it)."""
    from tests.golden.build import Target, deployment_id
    from tests.golden.regenerate import decide

    recorded = decide("chat-8b", Target("gcp", "vertex"), tmp_path)
    assert recorded is not None and recorded.name == "chat-8b-gcp-vertex"
    assert (recorded.decision.cloud, recorded.decision.kind) == ("gcp", "vertex")
    assert recorded.deployment_id == deployment_id("chat-8b", Target("gcp", "vertex"))
    # The example's placement rules Vertex out: no decision, no golden file.
    assert decide("bert-classifier", Target("gcp", "vertex"), tmp_path) is None


def test_two_golden_files_of_one_stack_name_are_refused(tmp_path: Path) -> None:
    name = "chat-8b-aws-fleet"
    spec = specs_of({name: RECORDED[name]})[name]
    with pytest.raises(ValueError, match=f"share a stack name: {spec.stack_name}"):
        synthesize_all({name: spec, "copy": spec}, tmp_path)
    assert not any(tmp_path.iterdir())
