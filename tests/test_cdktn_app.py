"""`cdktn synth` runs the app in cdktf.json: it writes the same stack `infra synth` does."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from cli.cdktn_app import main
from core.errors import InfraError
from tests.conftest import EXAMPLES, REPO


def test_cdktf_json_names_a_python_app_that_exists() -> None:
    config = json.loads((REPO / "cdktf.json").read_text())
    assert config["language"] == "python"
    assert shlex.split(config["app"])[-2:] == ["-m", "cli.cdktn_app"]


def test_app_synthesizes_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "chat-8b.yaml"
    profile.write_text((EXAMPLES / "chat-8b.yaml").read_text())
    monkeypatch.setenv("INFRA_PROFILE", str(profile))
    monkeypatch.setenv("CDKTF_OUTDIR", str(tmp_path / "out"))
    main()
    (config,) = (tmp_path / "out" / "stacks").glob("chat-8b-local-*/cdk.tf.json")
    stack = json.loads(config.read_text())
    assert "aws_autoscaling_group" in stack["resource"]


def test_app_needs_a_profile_or_a_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFRA_PROFILE", raising=False)
    monkeypatch.delenv("INFRA_SPEC", raising=False)
    with pytest.raises(InfraError, match="set INFRA_PROFILE"):
        main()
