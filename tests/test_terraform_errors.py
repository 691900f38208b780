"""How Terraform's failures become one sentence: the lock holder and lock ID come from the
"Lock Info" block, whatever the backend printed above it."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import StateLocked
from orchestrator.terraform import _failure

S3_LOCKED = """\
Error: Error acquiring the state lock

Error message: operation error S3: PutObject, https response error
StatusCode: 412, RequestID:
oaIKb41gsUkblakp4Qy5JRMzsgaik1IApeax7Ryttf2IxeBkfA6S, HostID:
9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=,
api error PreconditionFailed: At least one of the pre-conditions you specified did not hold
Lock Info:
  ID:        6f1c2e4a-5b3d-4c2e-9f1a-0b8d7e6c5a4b
  Path:      tf-state/infra/chat/prod/terraform.tfstate
  Operation: OperationTypeApply
  Who:       runner@ci-42
  Version:   1.11.4
  Created:   2026-11-23 09:12:00 +0000 UTC
  Info:
"""


def test_s3_lock_names_the_holder_and_the_lock_id(tmp_path: Path) -> None:
    log = tmp_path / "plan.log"
    error = _failure("terraform", "plan", S3_LOCKED, log)
    assert isinstance(error, StateLocked)
    message = str(error)
    assert "locked by runner@ci-42" in message
    assert "`terraform force-unlock 6f1c2e4a-5b3d-4c2e-9f1a-0b8d7e6c5a4b`" in message
    assert "oaIKb41" not in message and str(log) in message
    assert "\n" not in message and message.endswith(".")


def test_other_failures_quote_the_first_error(tmp_path: Path) -> None:
    output = "Error: creating SageMaker Endpoint: ValidationException: bad\n\nError: second\n"
    message = str(_failure("tofu", "apply", output, tmp_path / "apply.log"))
    assert message.startswith("tofu apply failed: creating SageMaker Endpoint")
    assert "(and 1 more)" in message
