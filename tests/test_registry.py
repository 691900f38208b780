"""The registry of targets (providers/targets.py): every declaration resolves, no shared code
names a cloud or a kind, the README's list is the registry's, and a new cloud is its own folder
plus one line in providers/registered.py."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from cli.targets_render import END, START, targets_markdown
from providers import targets
from tests.conftest import EXAMPLES, REPO, Cli

SHARED_LAYERS = ("core", "planner", "orchestrator", "cli", "modules")
"""Folders whose code serves every cloud: only a folder named after a cloud (modules/aws/,
planner/cost/resources/gcp/) and the stacks (one file per target) may name one."""
NAMES = frozenset(targets.cloud_names()) | frozenset(targets.kind_names())


def _shared_files() -> Iterator[Path]:
    clouds = set(targets.cloud_names())
    for layer in SHARED_LAYERS:
        for path in sorted((REPO / layer).rglob("*.py")):
            if not clouds & set(path.relative_to(REPO).parts):
                yield path


def test_no_shared_code_names_a_cloud_or_a_kind() -> None:
    named = [
        f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}"
        for path in _shared_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in NAMES
    ]
    assert not named, "ask the registry instead:\n" + "\n".join(named)


def test_the_scan_sees_a_name_where_it_is() -> None:
    """The scan above looks where names would be: the clouds' own folders hold them."""
    own = REPO / "providers" / "aws" / "__init__.py"
    tree = ast.parse(own.read_text())
    values = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert {"aws", "sagemaker"} <= values
    assert own not in set(_shared_files())


def _module_exists(dotted: str) -> bool:
    return importlib.util.find_spec(dotted.partition(":")[0]) is not None


@pytest.mark.parametrize("cloud", targets.clouds(), ids=lambda cloud: cloud.name)
def test_every_declaration_resolves(cloud: targets.Cloud) -> None:
    assert cloud.name == cloud.name.lower() and cloud.display_name
    rules = targets.resolve(cloud.pricing_rules)
    assert rules and all(name.startswith(f"{cloud.terraform_provider}_") for name in rules)
    assert callable(targets.resolve(cloud.value_rules))
    if cloud.boot_target is not None:
        assert callable(targets.resolve(cloud.boot_target))
    if cloud.interruption_file is not None:
        assert (cloud.data_dir / cloud.interruption_file).is_file()
    assert len(set(cloud.kinds)) == len(cloud.kinds)
    for target in cloud.targets:
        # Importing a stack loads its provider binding (seconds): its module is enough here;
        # tests/test_synth_golden.py builds every one.
        assert _module_exists(target.stack), target.stack
        assert (cloud.data_dir / target.catalog_file).is_file()
        assert callable(targets.resolve(target.kind.image_rule))
        for section in target.spec_sections.values():
            assert issubclass(targets.resolve(section), msgspec.Struct)
        for check in target.decision_checks:
            assert callable(targets.resolve(check))
        if target.endpoint_steps is not None:
            steps = importlib.import_module(target.endpoint_steps)
            assert callable(steps.check) and callable(steps.driver)
        assert (target.managed_replicas is not None) == (target.endpoint_steps is not None)
        if target.kind.canary_in_configuration is not None:
            # The orchestrator sets the `serving` section; the stack class builds the props.
            assert "serving" in target.spec_sections and "canary" in target.spec_sections
            canary = importlib.import_module(target.kind.canary_in_configuration)
            assert callable(canary.serving_revision) and callable(canary.no_canary)
            assert callable(canary.refused_change)
            stack = ast.parse(
                Path(REPO, *target.stack.partition(":")[0].split("."))
                .with_suffix(".py")
                .read_text()
            )
            methods = {n.name for n in ast.walk(stack) if isinstance(n, ast.FunctionDef)}
            assert "serving_props" in methods, target.stack


def test_a_section_two_targets_carry_has_one_type() -> None:
    seen: dict[str, str] = {}
    for _, target in targets.targets():
        for name, dotted in target.spec_sections.items():
            assert seen.setdefault(name, dotted) == dotted, name


def test_readme_lists_the_registered_targets() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(START), readme.index(END) + len(END)
    assert readme[start:end] == targets_markdown(), "run `python -m cli.targets_render`"


def test_help_names_every_cloud_and_kind(cli: Cli) -> None:
    result = cli("deploy", "--help")
    for name in NAMES:
        assert name in result.stdout


ACME = '''
"""A cloud declared for the test: its own folder, nothing else."""

from providers.targets import FLEET, Cloud, Target


class Acme(Cloud):
    name = "acme"
    display_name = "Acme"
    terraform_provider = "acme"
    reference_region = "acme-west-1"
    targets = (Target(kind=FLEET, stack="acme.stack:AcmeFleetStack", catalog_file="vms.csv"),)
    pricing_rules = "acme:RULES"
    value_rules = "acme:no_problem"
    weights_setting = "deploy.model_s3_uri"

    def instance_family(self, instance_type: str) -> str:
        return instance_type.split(".", 1)[0]


RULES: dict[str, object] = {}


def no_problem(tags, cidrs):
    return None
'''

REGISTER_AND_RUN = """
import json, sys
import providers.registered as registered
registered.CLOUDS = (*registered.CLOUDS, "acme:Acme")  # the one line a new cloud adds
from typer.testing import CliRunner
from cli.main import app
runner = CliRunner()
listed = runner.invoke(app, ["catalog", "list", "--cloud", "acme", "--json"])
chosen = runner.invoke(app, ["recommend", sys.argv[1], "--cloud", "acme", "--json"])
# the decision a lock file records, encoded and read back as the lock file reads it
import msgspec
from pathlib import Path
from planner.decision import Decision, decide
from planner.optimizer import Filters, recommend
from planner.profile import load_profile
from providers.catalog import load_catalog
profile = load_profile(Path(sys.argv[1])).profile
decided = decide(profile, recommend(profile, load_catalog(), Filters(clouds=frozenset({"acme"}))))
read_back = msgspec.json.decode(msgspec.json.encode(decided), type=Decision)
print(json.dumps({"listed": listed.stdout, "chosen": chosen.stdout, "locked": read_back.cloud,
                  "codes": [listed.exit_code, chosen.exit_code]}))
"""


def test_a_new_cloud_is_its_folder_and_one_registry_line(tmp_path: Path) -> None:
    package = tmp_path / "acme"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(ACME))
    source = "own catalog of the test"
    rows = [
        f"acme.l40s,L40S,1,44.7,4,32,acme-west-1,acme-west-1{zone},2.0,0.8,{source},2026-12-01"
        for zone in "ab"
    ]
    header = (REPO / "providers/aws/data/ec2.csv").read_text().splitlines()[0]
    (package / "data" / "vms.csv").write_text("\n".join([header, *rows]) + "\n")
    (package / "data" / "services.csv").write_text(
        "item,unit,region,usd_per_unit,source,retrieved\n"
    )
    example = (EXAMPLES / "chat-8b.yaml").read_text()
    every_cloud = "  clouds: [aws, gcp, azure]\n"  # the example names the clouds it may use
    assert every_cloud in example
    profile = tmp_path / "chat-8b.yaml"
    profile.write_text(example.replace(every_cloud, ""))
    result = subprocess.run(
        [sys.executable, "-c", REGISTER_AND_RUN, str(profile)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**_environment(), "PYTHONPATH": f"{tmp_path}:{REPO}"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["codes"] == [0, 0], outcome
    listed = json.loads(outcome["listed"])
    assert {row["cloud"] for row in listed} == {"acme"}
    chosen = json.loads(outcome["chosen"])["chosen"]
    assert chosen["cloud"] == "acme" and chosen["instance_type"] == "acme.l40s"
    assert outcome["locked"] == "acme"  # a lock file records its decision and reads it back


def _environment() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
