"""One place that turns an InfraError into one sentence on stderr and its exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import typer


def run_guarded(work: Callable[[], None], *, as_json: bool) -> None:
    from core.errors import InfraError, NoFeasibleCandidate

    try:
        work()
    except InfraError as error:
        if as_json:
            payload: dict[str, object] = {"error": str(error), "exit_code": error.exit_code}
            if isinstance(error, NoFeasibleCandidate):
                payload["excluded"] = error.reasons
            print(json.dumps(payload, indent=2))
        else:
            print(f"error: {error}", file=sys.stderr)
            if isinstance(error, NoFeasibleCandidate):
                for reason in error.reasons:
                    print(f"  - {reason['reason']}", file=sys.stderr)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
