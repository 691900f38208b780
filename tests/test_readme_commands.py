"""The README's example deploy commands pass the gates they meet: a command that would stop at
the budget (exit 4) says --allow-over-budget, and one whose pins make a fleet many times dearer
says --allow-large-fleet, so it works as written."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli

COMMANDS = [
    shlex.split(line.split("#", 1)[0])
    for line in (REPO / "README.md").read_text().splitlines()
    if re.match(r"^infra (deploy|plan) examples/", line)
]
PINS = ("--cloud", "--kind", "--region", "--instance-type", "--env")


def test_the_readme_has_example_deploy_commands() -> None:
    assert COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[1:4]))
def test_an_example_command_is_within_budget_or_says_so(
    command: list[str], cli: Cli, tmp_path: Path
) -> None:
    profile = tmp_path / Path(command[2]).name
    shutil.copy(REPO / command[2], profile)
    pins = [
        part
        for index, part in enumerate(command)
        if part in PINS or (index and command[index - 1] in PINS)
    ]
    result, body = cli.json("cost", profile, *pins)
    assert result.exit_code == 0, result.output
    over = body["over_budget_usd"]
    assert not over or "--allow-over-budget" in command, (
        f"{' '.join(command)} stops at the budget (${over:,.2f} over): add --allow-over-budget"
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[1:4]))
def test_an_example_command_that_pins_a_large_fleet_says_so(
    command: list[str], tmp_path: Path
) -> None:
    """A command whose pins make the plan over 3 times the unpinned optimum says
    --allow-large-fleet (it deploys off a terminal, so it would be refused otherwise)."""
    from cli.options import filters_from_pins
    from orchestrator.decisions import resolve

    profile = tmp_path / Path(command[2]).name
    shutil.copy(REPO / command[2], profile)
    given = {part: command[index + 1] for index, part in enumerate(command) if part in PINS}
    filters = filters_from_pins(
        given.get("--cloud"),
        given.get("--kind"),
        given.get("--region"),
        given.get("--instance-type"),
    )
    recommendation = resolve(profile, given.get("--env", "local"), filters).recommendation
    assert recommendation is not None
    large = recommendation.large_fleet
    assert large is None or "--allow-large-fleet" in command, (
        f"{' '.join(command)} stops at the large-fleet question ({large.sentence()}): add "
        "--allow-large-fleet"
    )
