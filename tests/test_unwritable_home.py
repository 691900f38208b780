"""An INFRA_HOME that cannot be written: one sentence naming the folder and INFRA_HOME from
every command that keeps the emulator's files there, never an OSError traceback.

Tests run as root, for whom a mode of 0500 stops nothing; a home whose parent is a regular file
fails the same way for everyone (the OS refuses to create anything under it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.local_aws import Run, the_error


@pytest.fixture
def unwritable_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    home = blocker / "infra-home"
    monkeypatch.setenv("INFRA_HOME", str(home))
    return home


def assert_names_the_folder(result: object, home: Path) -> None:
    line = the_error(result)
    assert line == (
        f"error: cannot write to {home / 'local'} (Not a directory); it is under the infra home "
        f"(INFRA_HOME={home}): make it writable, or set INFRA_HOME to a folder that is."
    )


@pytest.mark.parametrize("command", [["local", "status"], ["local", "up"]])
def test_local_commands(unwritable_home: Path, tmp_path: Path, command: list[str]) -> None:
    result = Run(tmp_path)(*command)
    assert result.exit_code == 1
    assert_names_the_folder(result, unwritable_home)


@pytest.mark.skipif(
    shutil.which("terraform") is None and shutil.which("tofu") is None,
    reason="needs terraform or tofu on the PATH (plan looks for it before the emulator)",
)
def test_plan_on_the_local_environment(unwritable_home: Path, tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "chat-8b.yaml", tmp_path / "chat-8b.yaml")
    result = Run(tmp_path)("plan", "chat-8b.yaml", "--env", "local", "--skip-check")
    assert result.exit_code == 1
    assert_names_the_folder(result, unwritable_home)
