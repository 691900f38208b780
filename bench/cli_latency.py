"""Wall time of `infra` commands as a user runs them: a fresh process each time, start-up included.

    .venv/bin/python bench/cli_latency.py [--runs N] [--infra PATH]

Each command runs once untimed (to warm the page cache and write bytecode), then N times. The
median is compared with the 0.3 s target; the exit status is 1 when any median misses it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 0.3
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("recommend", "examples/chat-8b.yaml", "--json"),
    ("recommend", "examples/chat-8b.yaml"),
)


def default_infra() -> Path:
    """The console script of the interpreter running this, else the repository's venv."""
    beside = Path(sys.executable).with_name("infra")
    return beside if beside.exists() else REPO / ".venv" / "bin" / "infra"


def time_once(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (10)")
    parser.add_argument("--infra", type=Path, default=default_infra(), help="infra executable")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not args.infra.exists():
        parser.error(f"{args.infra} does not exist; pass --infra")

    print(f"{args.runs} runs each of {args.infra}; target: median under {TARGET_S} s")
    print(f"{'command':<45} {'median s':>9} {'min s':>7}  verdict")
    missed = False
    for arguments in COMMANDS:
        command = [str(args.infra), *arguments]
        time_once(command)
        times = [time_once(command) for _ in range(args.runs)]
        median = statistics.median(times)
        verdict = "ok" if median <= TARGET_S else f"SLOW by {median - TARGET_S:.3f} s"
        missed |= median > TARGET_S
        print(f"{'infra ' + ' '.join(arguments):<45} {median:>9.3f} {min(times):>7.3f}  {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
