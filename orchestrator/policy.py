"""Policy scan of synthesized stacks: checkov's Terraform JSON checks, our severities, our
suppressions, one report per configuration.

checkov runs as a separate program from an environment of its own (see `_checkov_command`): it
imports hundreds of modules, which must never load into the `infra` process, and pins its own
dependencies. It runs offline and quietly:
`--skip-download` (and BC_SKIP_MAPPING) stop it fetching policy metadata and guidelines from
Prisma Cloud, CKV_SKIP_PACKAGE_UPDATE_CHECK stops it asking PyPI for a newer release, and
`--soft-fail` makes its exit code mean "ran" (0) or "broke" (anything else), findings or not.
What it checks is ours alone: checkov's own settings in the environment (CKV_*, BC_*, PRISMA_*)
are dropped and it runs with HOME and the working directory in the stack's directory, so neither
a skip list in a .checkov.yaml nor an API key of the user's can change the result.
Without the platform, checkov gives neither severities nor guideline links; the severities come
from orchestrator.policy_severities.

One check is the toolkit's own, merged into the same report: SECRETS_CHECK, a secret-shaped
value anywhere in the configuration (planner.secrets). checkov's CKV_AWS_46 looks for secrets
in the user data of `aws_instance` only, and the stacks write user data to launch templates,
scale sets and instance templates.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InfraError
from orchestrator.policy_severities import (
    DEFAULT_THRESHOLD,
    LEVELS,
    SECRETS_CHECK,
    at_or_above,
    severity_of,
)
from orchestrator.policy_suppressions import suppression_for
from planner.secrets import SecretFinding, find_secrets

CHECKOV_ENV = "INFRA_CHECKOV"
FRAMEWORK = "terraform_json"
OFFLINE_ENVIRONMENT = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
CHECKOV_SETTINGS = ("CKV_", "BC_", "PRISMA_")
"""Prefixes of the environment variables checkov takes settings from (checks to run or skip,
the platform's API key and URL)."""
TIMEOUT_S = 600
LOG_NAME = "checkov.log"

BLOCKING = "blocking"
BELOW_THRESHOLD = "below threshold"
SUPPRESSED = "suppressed"
_STATUS_ORDER = (BLOCKING, BELOW_THRESHOLD, SUPPRESSED)


class CheckovNotInstalled(InfraError):
    pass


class CheckovFailed(InfraError):
    pass


class PolicyInputError(InfraError):
    pass


class PolicyFindings(InfraError):
    """Unsuppressed findings at or above the threshold (`infra plan` refuses to go on)."""

    exit_code = 5


def refuse_blocking(report: PolicyReport) -> None:
    blocking = report.blocking
    if not blocking:
        return
    listed = ", ".join(f"{f.check_id} on {f.address}" for f in blocking[:3])
    more = f" and {len(blocking) - 3} more" if len(blocking) > 3 else ""
    raise PolicyFindings(
        f"{len(blocking)} policy finding(s) at {report.threshold} or above ({listed}{more}); "
        "`infra check` lists them: fix the stack, add a justified suppression, or pass "
        "--skip-check."
    )


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    address: str
    """The Terraform address, e.g. aws_lb.load-balancer_alb_15AADC07."""
    severity: str
    status: str
    """BLOCKING, BELOW_THRESHOLD or SUPPRESSED."""
    reason: str | None
    """Why it is suppressed (None unless suppressed)."""
    guideline: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "check_id": self.check_id,
            "check_name": self.check_name,
            "address": self.address,
            "severity": self.severity,
            "status": self.status,
            "suppressed": self.status == SUPPRESSED,
            "reason": self.reason,
            "guideline": self.guideline,
        }


@dataclass(frozen=True)
class PolicyReport:
    config: Path
    threshold: str
    checkov_version: str
    passed: int
    findings: tuple[Finding, ...]
    """Every failed check: blocking first, then below the threshold, then suppressed."""

    @property
    def blocking(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.status == BLOCKING]

    @property
    def suppressed(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.status == SUPPRESSED]

    def to_dict(self) -> dict[str, object]:
        return {
            "config": str(self.config),
            "threshold": self.threshold,
            "checkov_version": self.checkov_version,
            "passed": self.passed,
            "failed": len(self.findings),
            "blocking": len(self.blocking),
            "suppressed": len(self.suppressed),
            "findings": [finding.to_dict() for finding in self.findings],
        }


def threshold_level(threshold: str) -> str:
    level = threshold.strip().lower()
    if level not in LEVELS:
        raise PolicyInputError(f"unknown severity '{threshold}'; use one of {', '.join(LEVELS)}.")
    return level


def check_config(config_path: Path, threshold: str = DEFAULT_THRESHOLD) -> PolicyReport:
    """Scan one synthesized configuration (cdk.tf.json)."""
    (report,) = check_configs([config_path], threshold)
    return report


def check_configs(
    config_paths: Sequence[Path], threshold: str = DEFAULT_THRESHOLD
) -> list[PolicyReport]:
    """Scan several configurations in one checkov run (it costs seconds to start), one report
    each, in the order given."""
    level = threshold_level(threshold)
    configs = [_existing(path) for path in config_paths]
    if not configs:
        return []
    scan = run_checkov(configs)
    return [report_from_scan(scan, config, level) for config in configs]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise PolicyInputError(
            f"{path} does not exist; synthesize the stack first (`infra synth`)."
        )
    return path.resolve()


def _checkov_command() -> list[str]:
    """checkov is a tool, not a library of ours: it pins its own dependencies (boto3 exactly),
    so it lives in an environment of its own (scripts/bootstrap installs one and links its
    `checkov` beside this interpreter's `infra`) and is found as `$INFRA_CHECKOV`, else beside
    this interpreter, else on the PATH."""
    configured = os.environ.get(CHECKOV_ENV)
    if configured:
        if shutil.which(configured) is None:
            raise CheckovNotInstalled(f"{CHECKOV_ENV}={configured} is not an executable checkov.")
        return [configured]
    beside = Path(sys.executable).with_name("checkov")
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("checkov")
    if found is None:
        raise CheckovNotInstalled(
            "checkov is not installed: run scripts/bootstrap (it installs checkov in an "
            f"environment of its own), `pipx install checkov`, or set {CHECKOV_ENV} to its path; "
            "`infra plan --skip-check` plans without the policy scan."
        )
    return [found]


def run_checkov(configs: Sequence[Path]) -> dict[str, Any]:
    """checkov's JSON report of its Terraform JSON checks over `configs` (absolute paths)."""
    files = [argument for config in configs for argument in ("--file", str(config))]
    command = [
        *_checkov_command(),
        *files,
        "--framework",
        FRAMEWORK,
        "--output",
        "json",
        "--compact",
        "--skip-download",
        "--soft-fail",
    ]
    isolated = configs[0].parent
    log = isolated / LOG_NAME
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=isolated,
            env=_checkov_environment(isolated),
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CheckovFailed(f"checkov did not finish within {TIMEOUT_S} s.") from None
    if result.returncode != 0:
        log.write_text(result.stderr)
        raise CheckovFailed(
            f"checkov failed (exit {result.returncode}): {_last_line(result.stderr)}; "
            f"its full output is in {log}."
        )
    try:
        printed = json.loads(result.stdout)
    except ValueError:
        log.write_text(result.stdout + result.stderr)
        raise CheckovFailed(f"checkov printed no JSON report; its output is in {log}.") from None
    # One report per framework; checkov prints a list when more than one ran.
    for scan in printed if isinstance(printed, list) else [printed]:
        if isinstance(scan, dict) and scan.get("check_type") == FRAMEWORK:
            return scan
    log.write_text(result.stdout)
    raise CheckovFailed(f"checkov's report has no {FRAMEWORK} results; it is in {log}.")


def _checkov_environment(home: Path) -> dict[str, str]:
    inherited = {
        name: value for name, value in os.environ.items() if not name.startswith(CHECKOV_SETTINGS)
    }
    return {**inherited, **OFFLINE_ENVIRONMENT, "HOME": str(home)}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def report_from_scan(scan: dict[str, Any], config: Path, threshold: str) -> PolicyReport:
    """The findings of one configuration in checkov's report, with our severities and
    suppressions applied against `threshold`."""
    results = scan.get("results", {})
    if str(config) in results.get("parsing_errors", []):
        raise PolicyInputError(f"checkov could not read {config} as Terraform JSON.")
    mine = [
        {**record, "result": result}
        for result in ("passed_checks", "failed_checks")
        for record in results.get(result, [])
        if record.get("file_abs_path") == str(config)
    ]
    if not mine:
        raise PolicyInputError(f"checkov found no Terraform resources to check in {config}.")
    document = _document(config)
    types = _resource_types(document)
    failed = [
        _finding(record, types, threshold) for record in mine if record["result"] == "failed_checks"
    ]
    findings = failed + [_secret_finding(found, threshold) for found in find_secrets(document)]
    findings.sort(
        key=lambda f: (
            _STATUS_ORDER.index(f.status),
            -LEVELS.index(f.severity),
            f.check_id,
            f.address,
        )
    )
    return PolicyReport(
        config=config,
        threshold=threshold,
        checkov_version=str(scan.get("summary", {}).get("checkov_version", "unknown")),
        passed=len(mine) - len(failed),
        findings=tuple(findings),
    )


def _document(config: Path) -> dict[str, Any]:
    try:
        return json.loads(config.read_text())
    except ValueError:
        raise PolicyInputError(f"{config} is not JSON.") from None


def _resource_types(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(block, name) -> type for every resource and data source of the configuration.

    checkov names a resource `resource.<name>` in some checks and `<type>.<name>` in its graph
    checks; CDK Terrain names are unique within a stack (the construct path), so the name alone
    finds the type.
    """
    return {
        (block, name): rtype
        for block in ("resource", "data")
        for rtype, bodies in document.get(block, {}).items()
        for name in bodies
    }


def _address(resource: str, types: dict[tuple[str, str], str]) -> str:
    block, _, name = resource.partition(".")
    rtype = types.get((block, name))
    if rtype is None:
        return resource
    return f"{rtype}.{name}" if block == "resource" else f"data.{rtype}.{name}"


def _type_and_name(address: str) -> tuple[str, str]:
    parts = address.split(".")
    if parts[0] == "data" and len(parts) > 2:
        return parts[1], parts[2]
    return parts[0], ".".join(parts[1:])


def _finding(record: dict[str, Any], types: dict[tuple[str, str], str], threshold: str) -> Finding:
    reported = record.get("severity")
    return _judged(
        record["check_id"],
        record.get("check_name", ""),
        _address(record["resource"], types),
        threshold,
        reported if isinstance(reported, str) else None,
        record.get("guideline"),
    )


def _secret_finding(found: SecretFinding, threshold: str) -> Finding:
    """The toolkit's own check: the resource (or block) holding the value is the address; the
    attribute, what the value looks like and its masked prefix make the check name."""
    parts = [str(part) for part in found.path]
    depth = 3 if parts[0] in ("resource", "data") else 2  # resource.TYPE.NAME, provider.aws
    address = ".".join(parts[:depth]).removeprefix("resource.")
    return _judged(
        SECRETS_CHECK,
        f"secret in {found.field_below(depth) or 'the value'}: {found.kind} ({found.masked})",
        address,
        threshold,
    )


def _judged(
    check_id: str,
    check_name: str,
    address: str,
    threshold: str,
    reported: str | None = None,
    guideline: str | None = None,
) -> Finding:
    """A failed check with our severity, and our suppression or the threshold's verdict."""
    severity = severity_of(check_id, reported)
    suppression = suppression_for(check_id, *_type_and_name(address))
    if suppression is not None:
        status = SUPPRESSED
    elif at_or_above(severity, threshold):
        status = BLOCKING
    else:
        status = BELOW_THRESHOLD
    return Finding(
        check_id=check_id,
        check_name=check_name,
        address=address,
        severity=severity,
        status=status,
        reason=suppression.reason if suppression else None,
        guideline=guideline,
    )
