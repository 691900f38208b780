"""The deployment commands share one set of target options (cli/options.py), and the CLI has one
--json: checked on the click commands typer builds, so a command that re-declares an option
with its own help text, or leaves one out, fails here."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from cli import options
from cli.main import app
from planner.profile import ALL_CLOUDS, ALL_KINDS
from tests.conftest import REPO

# command path -> the shared declarations it takes (parameter name -> its Annotated alias)
TARGET = {
    "env": options.EnvOption,
    "cloud": options.CloudOption,
    "kind": options.KindOption,
    "region": options.RegionOption,
    "instance_type": options.InstanceOption,
    "json_output": options.JsonOption,
}
PROFILE_OR_SPEC = {"profile": options.ProfileArgument, "spec": options.SpecOption}
ON_PROFILE_OR_SPEC = ("synth", "plan", "deploy", "destroy", "status", "drift", "rollback")
DEPLOYMENT_COMMANDS: dict[str, dict[str, typing.Any]] = {
    **{name: {**PROFILE_OR_SPEC, **TARGET} for name in (*ON_PROFILE_OR_SPEC, "check", "repair")},
    "cost report": {**PROFILE_OR_SPEC, **TARGET, "region": options.PricingRegionOption},
    "cost diff": {**TARGET, "region": options.PricingRegionOption},
    "lock update": {**TARGET, "profile": options.RequiredProfileArgument},
}


def _commands(group: typing.Any, path: str = "") -> Iterator[tuple[str, typing.Any]]:
    """Every command below GROUP, by its path (typer 0.28 builds on its own copy of click)."""
    if isinstance(group, TyperGroup):
        for name, command in group.commands.items():
            yield from _commands(command, f"{path} {name}".strip())
    else:
        yield path, group


ALL_COMMANDS = dict(_commands(typer.main.get_command(app)))


def _declared(alias: typing.Any) -> typing.Any:
    """The typer.Option / typer.Argument an Annotated alias carries."""
    return typing.get_args(alias)[1]


def test_the_deployment_commands_are_all_there() -> None:
    assert set(DEPLOYMENT_COMMANDS) <= set(ALL_COMMANDS)
    taking_pins = {path for path, c in ALL_COMMANDS.items() if _param(c, "instance_type")}
    assert taking_pins == set(DEPLOYMENT_COMMANDS), "a command with pins is missing from the list"


def _param(command: typing.Any, name: str) -> typing.Any:
    return next((p for p in command.params if p.name == name), None)


@pytest.mark.parametrize("path", sorted(DEPLOYMENT_COMMANDS))
def test_a_deployment_command_takes_the_shared_options(path: str) -> None:
    command = ALL_COMMANDS[path]
    for name, alias in DEPLOYMENT_COMMANDS[path].items():
        param = _param(command, name)
        declared = _declared(alias)
        assert param is not None, f"infra {path} lacks {name}"
        assert getattr(param, "help", None) == declared.help, f"infra {path} {name}"
        if isinstance(param, TyperOption):  # every shared option names its flag (in Annotated,
            flags = [declared.default, *declared.param_decls]  # typer keeps the first as default)
            assert param.opts == flags, f"infra {path} {name}"
    env = _param(command, "env")
    assert env is not None and env.default == "local"


def test_one_json_option_in_the_whole_cli() -> None:
    declared = _declared(options.JsonOption)
    with_json = {
        path: param
        for path, command in ALL_COMMANDS.items()
        for param in command.params
        if "--json" in getattr(param, "opts", ())
    }
    assert set(DEPLOYMENT_COMMANDS) <= set(with_json)
    for path, param in with_json.items():
        assert isinstance(param, TyperOption) and param.is_flag, path
        assert (param.help, param.default) == (declared.help, False), path
    sources = {p.name: p.read_text() for p in (REPO / "cli").glob("*.py")}
    declaring = sorted(name for name, text in sources.items() if '"--json"' in text)
    assert declaring == ["options.py"]
    assert len(re.findall(r'"--json"', sources["options.py"])) == 1


def test_clouds_and_kinds_in_the_help_come_from_the_profile_schema() -> None:
    assert _declared(options.CloudOption).help == f"Pin the cloud ({', '.join(ALL_CLOUDS)})."
    assert _declared(options.KindOption).help == f"Pin the kind ({', '.join(ALL_KINDS)})."
    listing = ALL_COMMANDS["catalog list"]
    assert _param(listing, "cloud").help == "aws, gcp or azure."
    assert options.either(("fleet",)) == "fleet"


def test_pins_become_filters() -> None:
    filters = options.filters_from_pins("AWS", "Fleet", "us-east-1", "G5.XLarge")
    assert filters.clouds == frozenset({"aws"})
    assert filters.kinds == frozenset({"fleet"})
    assert filters.regions == frozenset({"us-east-1"})  # region names are case-sensitive
    assert filters.instance_types == frozenset({"g5.xlarge"})
    unpinned = options.filters_from_pins(None, None, None, None)
    assert (unpinned.clouds, unpinned.kinds, unpinned.regions, unpinned.instance_types) == (
        None,
        None,
        None,
        None,
    )


def test_on_target_hands_the_command_one_target_and_its_own_options() -> None:
    seen: list[tuple[options.Target, bool]] = []
    probe = typer.Typer()

    @probe.command()
    @options.on_target
    def look(target: options.Target, json_output: options.JsonOption = False) -> None:
        """Probe."""
        seen.append((target, json_output))

    args = ["p.yaml", "--env", "prod", "--cloud", "gcp", "--region", "us-central1", "--json"]
    result = CliRunner().invoke(probe, args)
    assert result.exit_code == 0, result.output
    target = options.Target(Path("p.yaml"), "prod", None, "gcp", None, "us-central1", None)
    assert seen == [(target, True)]
    assert target.pinned and not target.unpinned().pinned
    assert target.unpinned().env == "prod" and target.filters().clouds == frozenset({"gcp"})
    result = CliRunner().invoke(probe, ["--help"])
    assert result.stdout.index("--env") < result.stdout.index("--instance-type")
    assert result.stdout.index("--instance-type") < result.stdout.index("--json")
