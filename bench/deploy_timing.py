"""Wall time of synthesizing a stack (one cold process) and of a full `infra deploy` to the local
emulated AWS, a second plan, then `infra destroy`.

    .venv/bin/python -m bench.deploy_timing [--profile examples/chat-8b.yaml] [--kind sagemaker]

Runs in a temporary directory with its own INFRA_HOME, so it neither touches nor needs a running
emulator. Set INFRA_PROVIDER_MIRROR on an offline machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INFRA = Path(sys.executable).with_name("infra")


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, default=Path("examples/chat-8b.yaml"))
    parser.add_argument("--kind", choices=["fleet", "sagemaker"], default="fleet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        profile = work / args.profile.name
        shutil.copy(args.profile, profile)
        env = {**os.environ, "INFRA_HOME": str(work / "home")}
        target = [profile.name, "--kind", args.kind]
        try:
            synth = timed([str(INFRA), "synth", *target], work, env)
            deploy = timed([str(INFRA), "deploy", *target, "--auto-approve"], work, env)
            plan = timed([str(INFRA), "plan", *target], work, env)
            destroy = timed([str(INFRA), "destroy", *target, "--auto-approve"], work, env)
        finally:
            subprocess.run([str(INFRA), "local", "down"], cwd=work, env=env, capture_output=True)
    print(f"synth (cold process, {args.kind} stack){' ' * (18 - len(args.kind))}{synth:6.1f} s")
    print(f"deploy to the emulator (synth..apply)   {deploy:6.1f} s")
    print(f"second plan (no changes)                {plan:6.1f} s")
    print(f"destroy                                 {destroy:6.1f} s")


if __name__ == "__main__":
    main()
