"""The CDK Terrain app for `cdktn synth` (cdktf.json): the same stacks `infra synth` writes.

    INFRA_PROFILE=examples/chat-8b.yaml INFRA_ENV=local cdktn synth
    INFRA_SPEC=spec.yaml cdktn synth

The state of a local backend lives in the deployment's workspace, as with `infra`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.errors import InfraError


def main() -> None:
    from orchestrator.synth import synthesize
    from orchestrator.workflow import prepare

    profile = os.environ.get("INFRA_PROFILE")
    spec = os.environ.get("INFRA_SPEC")
    if bool(profile) == bool(spec):
        raise InfraError("set INFRA_PROFILE (with INFRA_ENV, default local) or INFRA_SPEC.")
    deployment = prepare(
        Path(profile) if profile else None,
        os.environ.get("INFRA_ENV", "local"),
        spec_path=Path(spec) if spec else None,
    )
    deployment.workspace.ensure()
    outdir = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
    synthesize([(deployment.spec, deployment.workspace.root)], outdir, emulated=deployment.emulated)


if __name__ == "__main__":
    try:
        main()
    except InfraError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
