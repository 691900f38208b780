"""The drain watchers as the boot scripts write them, and a run of one with fake tools: what the
AWS, Azure and GCP drain tests share."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from modules.user_data import render_user_data

FAKE_SLEEP = "#!/bin/bash\nexec /bin/sleep 0.05\n"
QUIET_LOGGER = "#!/bin/bash\n"


def drain_script(spec: Any) -> str:
    """The watcher's own script, as `spec`'s boot script writes it to disk."""
    found = re.search(r"<<'DRAIN'\n(.*?)\nDRAIN\n", render_user_data(spec), re.DOTALL)
    assert found, "the boot script writes no drain watcher"
    return found.group(1) + "\n"


def with_deadline(script: str, deadline_s: int) -> str:
    return re.sub(r"DEADLINE_S=\d+", f"DEADLINE_S={deadline_s}", script)


def run_with_fakes(
    script: str, tmp_path: Path, *, tools: dict[str, str], files: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run `script` with `tools` (name -> script) first on the PATH and `files` in $FAKE (the
    fakes read and log there; curl.log starts empty)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"sleep": FAKE_SLEEP, "logger": QUIET_LOGGER, **tools}.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    for name, text in {"curl.log": "", **files}.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "drain.sh").write_text(script)
    return subprocess.run(
        ["bash", str(tmp_path / "drain.sh")],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
