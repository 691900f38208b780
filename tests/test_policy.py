"""`infra check`: checkov's report parsed into findings with our severities and suppressions,
the error paths, and a real checkov run over the stacks the toolkit generates.

tests/data/checkov-fleet-onezone.json is a real report of checkov 3.3.30
(`--framework terraform_json --output json --compact --skip-download --soft-fail`) over
tests/data/fleet-onezone.cdk.tf.json, the emulated one-zone fleet stack as it was before the
default security group and the metadata hop limit were fixed, with its path replaced by
@CONFIG@. Synthesis and the real checkov run happen once for the module.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator import policy
from orchestrator.policy import (
    BELOW_THRESHOLD,
    BLOCKING,
    SUPPRESSED,
    CheckovFailed,
    CheckovNotInstalled,
    PolicyInputError,
    PolicyReport,
    check_config,
    check_configs,
    report_from_scan,
    threshold_level,
)
from orchestrator.policy_severities import (
    LEVELS,
    SECRETS_CHECK,
    SEVERITIES,
    at_or_above,
    severity_of,
)
from orchestrator.policy_suppressions import NO_CERTIFICATE, PUBLIC_WORKSPACE, SUPPRESSIONS
from orchestrator.synth import synthesize
from planner.deployment import DeploymentSpec
from tests import test_azure_stacks as azure
from tests import test_fleet_stack as fleet
from tests import test_gcp_stacks as gcp
from tests import test_sagemaker_stack as sagemaker
from tests.conftest import EXAMPLES

DATA = Path(__file__).parent / "data"
RECORDED_CONFIG = DATA / "fleet-onezone.cdk.tf.json"
RECORDED_SCAN = DATA / "checkov-fleet-onezone.json"
RUN_CHECKOV = policy.run_checkov


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The recorded configuration in a fresh directory, and checkov's report pointing at it."""
    config = tmp_path / "stacks" / "onezone" / "cdk.tf.json"
    config.parent.mkdir(parents=True)
    shutil.copy(RECORDED_CONFIG, config)
    scan = json.loads(RECORDED_SCAN.read_text().replace("@CONFIG@", str(config.resolve())))
    return config.resolve(), scan


def by_check(report: PolicyReport) -> dict[str, Any]:
    return {finding.check_id: finding for finding in report.findings}


def failed_record(scan: dict[str, Any], recorded_id: str, **changes: Any) -> dict[str, Any]:
    """The recorded failed check `recorded_id`, with fields changed."""
    (record,) = [r for r in scan["results"]["failed_checks"] if r["check_id"] == recorded_id]
    return {**record, **changes}


def scan_with(scan: dict[str, Any], *failed: dict[str, Any]) -> dict[str, Any]:
    """The recorded report with these failed checks instead of its own."""
    return {**scan, "results": {**scan["results"], "failed_checks": list(failed)}}


# ---------------------------------------------------------------------------------------------
# Parsing a recorded report


def test_recorded_report_parses_into_terraform_addresses(recorded) -> None:
    config, scan = recorded
    report = report_from_scan(scan, config, "medium")
    assert (report.passed, len(report.findings)) == (64, 10)
    assert report.checkov_version == "3.3.30"
    assert report.config == config
    found = {(f.check_id, f.address) for f in report.findings}
    # checkov says `resource.<name>`, `data.<name>` or `<type>.<name>`; all become addresses.
    assert ("CKV_AWS_341", "aws_launch_template.launch-template_9A22B037") in found
    assert ("CKV_AWS_394", "data.aws_availability_zones.network_zones_2241F3F0") in found
    assert ("CKV2_AWS_12", "aws_vpc.network_vpc_4E8F0223") in found
    document = json.loads(config.read_text())
    for _, address in found:
        parts = address.split(".")
        block, rtype, name = ("data", *parts[1:]) if parts[0] == "data" else ("resource", *parts)
        assert name in document[block][rtype], address
    assert all(f.guideline is None for f in report.findings)  # offline: no platform links


def test_findings_carry_our_severities_and_sort_blocking_first(recorded) -> None:
    config, scan = recorded
    report = report_from_scan(scan, config, "medium")
    for finding in report.findings:
        assert finding.severity == SEVERITIES[finding.check_id]
    statuses = [finding.status for finding in report.findings]
    assert statuses == sorted(statuses, key=[BLOCKING, BELOW_THRESHOLD, SUPPRESSED].index)
    # Before the fixes: the hop limit blocked, the open default security group was low.
    assert [(f.check_id, f.status) for f in report.findings[:2]] == [
        ("CKV_AWS_341", BLOCKING),
        ("CKV2_AWS_12", BELOW_THRESHOLD),
    ]


def test_suppressed_findings_are_reported_with_their_reason(recorded) -> None:
    config, scan = recorded
    report = report_from_scan(scan, config, "low")
    findings = by_check(report)
    listener = findings["CKV_AWS_2"]
    assert listener.status == SUPPRESSED
    assert listener.reason == NO_CERTIFICATE
    assert listener.address == "aws_lb_listener.load-balancer_http_44626CBC"
    assert {f.check_id for f in report.suppressed} == {
        "CKV_AWS_2",
        "CKV_AWS_103",
        "CKV2_AWS_20",
        "CKV_AWS_378",
        "CKV_AWS_91",
        "CKV_AWS_150",
        "CKV2_AWS_11",
        "CKV_AWS_394",
    }
    data = report.to_dict()
    json.dumps(data)
    assert (data["passed"], data["failed"], data["blocking"], data["suppressed"]) == (64, 10, 2, 8)
    as_dict = {f["check_id"]: f for f in data["findings"]}
    assert as_dict["CKV_AWS_2"]["suppressed"] is True
    assert as_dict["CKV_AWS_2"]["reason"] == NO_CERTIFICATE
    assert as_dict["CKV_AWS_341"] | {"suppressed": False, "reason": None} == as_dict["CKV_AWS_341"]


@pytest.mark.parametrize("threshold", LEVELS)
def test_threshold_blocks_unsuppressed_findings_at_or_above_it(recorded, threshold: str) -> None:
    config, scan = recorded
    report = report_from_scan(scan, config, threshold)
    for finding in report.findings:
        if finding.status != SUPPRESSED:
            expected = BLOCKING if at_or_above(finding.severity, threshold) else BELOW_THRESHOLD
            assert finding.status == expected, finding
    blocking = {f.check_id for f in report.blocking}
    assert (
        blocking
        == {
            "low": {"CKV_AWS_341", "CKV2_AWS_12"},
            "medium": {"CKV_AWS_341"},
            "high": set(),
            "critical": set(),
        }[threshold]
    )


def test_suppression_applies_only_to_the_resources_it_names(recorded) -> None:
    """World HTTP ingress is suppressed on the load balancer's rules (listed by the profile),
    never on another rule, e.g. the one reaching the instances."""
    config, scan = recorded
    rules = json.loads(config.read_text())["resource"]["aws_vpc_security_group_ingress_rule"]
    (listed,) = [name for name in rules if name.startswith("security_load-balancer-in-")]
    (other,) = [name for name in rules if name.startswith("security_instances-")]
    record = failed_record(scan, "CKV_AWS_2", check_id="CKV_AWS_260", check_name="world on 80")
    report = report_from_scan(
        scan_with(
            scan,
            {**record, "resource": f"resource.{listed}"},
            {**record, "resource": f"resource.{other}"},
        ),
        config,
        "medium",
    )
    statuses = {f.address: (f.status, f.severity) for f in report.findings}
    assert statuses == {
        f"aws_vpc_security_group_ingress_rule.{listed}": (SUPPRESSED, "high"),
        f"aws_vpc_security_group_ingress_rule.{other}": (BLOCKING, "high"),
    }


def test_unknown_check_is_medium_and_blocks_by_default(recorded) -> None:
    config, scan = recorded
    record = failed_record(scan, "CKV_AWS_341", check_id="CKV_AWS_99999", check_name="new")
    (finding,) = report_from_scan(scan_with(scan, record), config, "medium").findings
    assert (finding.severity, finding.status) == ("medium", BLOCKING)


AWS_KEY_PAIR = (
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
)
"""AWS's documented example key pair."""


def leak_into_user_data(config: Path) -> None:
    """Append the key pair to the launch template's boot script, base64 as EC2 takes it."""
    document = json.loads(config.read_text())
    (template,) = document["resource"]["aws_launch_template"].values()
    script = base64.b64decode(template["user_data"]).decode() + AWS_KEY_PAIR
    template["user_data"] = base64.b64encode(script.encode()).decode()
    config.write_text(json.dumps(document))


def test_a_secret_in_launch_template_user_data_is_a_critical_finding(recorded) -> None:
    """checkov's CKV_AWS_46 looks at aws_instance only: the toolkit's own check covers the
    launch template (and every other resource)."""
    config, scan = recorded
    leak_into_user_data(config)
    report = report_from_scan(scan, config, "medium")
    finding = report.findings[0]  # critical and blocking: first
    assert (finding.check_id, finding.severity, finding.status) == (
        SECRETS_CHECK,
        "critical",
        BLOCKING,
    )
    assert finding.address == "aws_launch_template.launch-template_9A22B037"
    assert finding.check_name == "secret in user_data (decoded): an AWS access key ID (AKIA…)"
    assert (report.passed, len(report.findings)) == (64, 11)  # checkov's own counts unchanged


def test_severity_table_first_then_checkov_then_medium() -> None:
    assert severity_of("CKV_AWS_341") == "medium"
    assert severity_of("CKV_AWS_341", "CRITICAL") == "medium"  # our table wins
    assert severity_of("CKV_AWS_99999", "HIGH") == "high"  # checkov's, with an API key
    assert severity_of("CKV_AWS_99999", "NONE") == "medium"
    assert severity_of("CKV_AWS_99999") == "medium"
    assert set(SEVERITIES.values()) <= set(LEVELS)
    assert [at_or_above(level, "medium") for level in LEVELS] == [False, True, True, True]


def test_threshold_is_case_insensitive_and_checked() -> None:
    assert threshold_level(" HIGH ") == "high"
    with pytest.raises(PolicyInputError) as caught:
        threshold_level("severe")
    assert str(caught.value) == "unknown severity 'severe'; use one of low, medium, high, critical."


def test_checkov_settings_of_the_user_cannot_change_the_result(
    recorded, tmp_path: Path, monkeypatch
) -> None:
    """A real checkov run over the recorded configuration: a skip list in .checkov.yaml (home
    or working directory) or in CKV_SKIP_CHECK, or an API key, changes nothing."""
    config, _ = recorded
    skip = "skip-check:\n  - CKV_AWS_341\n"
    for directory in ("home", "work"):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / ".checkov.yaml").write_text(skip)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("CKV_SKIP_CHECK", "CKV_AWS_341")
    monkeypatch.setenv("BC_API_KEY", "00000000-0000-0000-0000-000000000000")
    report = check_config(config)
    assert (report.passed, len(report.findings)) == (64, 10)
    assert {f.check_id for f in report.blocking} == {"CKV_AWS_341"}


def test_no_configs_no_run(monkeypatch) -> None:
    without_checkov(monkeypatch)
    assert check_configs([]) == []


# ---------------------------------------------------------------------------------------------
# Errors: each one sentence


def without_checkov(monkeypatch) -> None:
    """No checkov anywhere: not configured, not beside the interpreter, not on the PATH."""
    monkeypatch.delenv("INFRA_CHECKOV", raising=False)
    monkeypatch.setattr(policy.sys, "executable", "/nonexistent/bin/python")
    monkeypatch.setenv("PATH", "/nonexistent")


def one_sentence(error: Exception) -> str:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_config_is_refused_before_checkov_runs(tmp_path: Path, monkeypatch) -> None:
    without_checkov(monkeypatch)  # would fail if run
    with pytest.raises(PolicyInputError) as caught:
        check_config(tmp_path / "cdk.tf.json")
    assert "does not exist; synthesize the stack first" in one_sentence(caught.value)


def test_bad_threshold_is_refused_before_checkov_runs(recorded, monkeypatch) -> None:
    without_checkov(monkeypatch)
    with pytest.raises(PolicyInputError):
        check_config(recorded[0], "urgent")


def test_checkov_not_installed(recorded, monkeypatch) -> None:
    without_checkov(monkeypatch)
    with pytest.raises(CheckovNotInstalled) as caught:
        check_config(recorded[0])
    message = one_sentence(caught.value)
    assert message.startswith("checkov is not installed: run scripts/bootstrap")
    assert "--skip-check" in message


def test_infra_checkov_must_name_an_executable(recorded, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INFRA_CHECKOV", str(tmp_path / "checkov"))
    with pytest.raises(CheckovNotInstalled) as caught:
        check_config(recorded[0])
    assert one_sentence(caught.value) == (
        f"INFRA_CHECKOV={tmp_path / 'checkov'} is not an executable checkov."
    )


def fake_checkov(monkeypatch, script: str) -> None:
    monkeypatch.setattr(policy, "_checkov_command", lambda: [sys.executable, "-c", script])


def test_checkov_crash_is_one_sentence_naming_the_log(recorded, monkeypatch) -> None:
    config, _ = recorded
    fake_checkov(
        monkeypatch,
        "import sys; print('Traceback (most recent call last):', file=sys.stderr); "
        "print('  File \"checkov/main.py\", line 1', file=sys.stderr); "
        "print('RuntimeError: graph build failed', file=sys.stderr); sys.exit(2)",
    )
    with pytest.raises(CheckovFailed) as caught:
        check_config(config)
    log = config.parent / policy.LOG_NAME
    assert one_sentence(caught.value) == (
        f"checkov failed (exit 2): RuntimeError: graph build failed; its full output is in {log}."
    )
    assert "Traceback (most recent call last)" in log.read_text()


@pytest.mark.parametrize(
    ("printed", "words"),
    [
        ("print('not json')", "checkov printed no JSON report"),
        ("import json; print(json.dumps([{'check_type': 'secrets'}]))", "no terraform_json"),
    ],
    ids=["not-json", "no-terraform-section"],
)
def test_checkov_output_without_a_report(recorded, monkeypatch, printed: str, words: str) -> None:
    config, _ = recorded
    fake_checkov(monkeypatch, printed)
    with pytest.raises(CheckovFailed) as caught:
        check_config(config)
    assert words in one_sentence(caught.value)
    assert (config.parent / policy.LOG_NAME).exists()


def test_checkov_that_hangs_is_stopped(recorded, monkeypatch) -> None:
    monkeypatch.setattr(policy, "TIMEOUT_S", 0.5)
    fake_checkov(monkeypatch, "import time; time.sleep(30)")
    with pytest.raises(CheckovFailed) as caught:
        check_config(recorded[0])
    assert one_sentence(caught.value) == "checkov did not finish within 0.5 s."


def test_a_list_of_reports_is_searched_for_terraform_json(recorded, monkeypatch) -> None:
    config, scan = recorded
    printed = json.dumps([{"check_type": "secrets", "results": {}}, scan])
    fake_checkov(monkeypatch, f"import sys; sys.stdout.write({printed!r})")
    assert len(check_config(config).findings) == 10


def test_unparsable_config(recorded) -> None:
    config, scan = recorded
    broken = {**scan, "results": {**scan["results"], "parsing_errors": [str(config)]}}
    with pytest.raises(PolicyInputError) as caught:
        report_from_scan(broken, config, "medium")
    assert one_sentence(caught.value) == f"checkov could not read {config} as Terraform JSON."


def test_config_checkov_did_not_scan(recorded, tmp_path: Path) -> None:
    _, scan = recorded
    other = tmp_path / "other.tf.json"
    other.write_text("{}")
    with pytest.raises(PolicyInputError) as caught:
        report_from_scan(scan, other, "medium")
    assert "found no Terraform resources to check" in one_sentence(caught.value)


def test_config_that_is_not_json(recorded) -> None:
    config, scan = recorded
    config.write_text("{not json")
    with pytest.raises(PolicyInputError) as caught:
        report_from_scan(scan, config, "medium")
    assert one_sentence(caught.value) == f"{config} is not JSON."


# ---------------------------------------------------------------------------------------------
# `infra check` (synthesis and checkov replaced by the recorded configuration and report)


class Checked:
    """A profile whose synthesis yields the recorded configuration and whose checkov run yields
    the recorded report; `synthesized` counts the syntheses."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.synthesized = 0


@pytest.fixture
def checked(recorded, tmp_path: Path, monkeypatch) -> Checked:
    config, scan = recorded
    checked = Checked(tmp_path / "chat.yaml")
    shutil.copy(EXAMPLES / "chat-8b.yaml", checked.profile)

    def synth(deployment: object) -> Path:
        checked.synthesized += 1
        return config

    monkeypatch.setattr("orchestrator.workflow.synth", synth)
    monkeypatch.setattr(policy, "run_checkov", lambda configs: scan)
    return checked


def test_cli_exit_5_on_blocking_findings_with_reasons(cli, checked: Checked) -> None:
    result = cli("check", checked.profile)
    assert result.exit_code == 5, result.output
    assert checked.synthesized == 1
    assert "CKV_AWS_341" in result.stdout and "blocking" in result.stdout
    assert "An internal load" in result.stdout  # NO_CERTIFICATE, folded in the table
    assert "1 finding(s) at medium or above" in result.stdout


def test_cli_json_is_the_full_report(cli, checked: Checked) -> None:
    result = cli("check", checked.profile, "--json", "--severity", "low")
    assert result.exit_code == 5
    data = json.loads(result.stdout)
    assert (data["threshold"], data["blocking"], data["suppressed"]) == ("low", 2, 8)
    assert {f["check_id"] for f in data["findings"] if f["status"] == BLOCKING} == {
        "CKV_AWS_341",
        "CKV2_AWS_12",
    }


def test_cli_exit_0_below_the_threshold(cli, checked: Checked) -> None:
    result = cli("check", checked.profile, "--severity", "HIGH")
    assert result.exit_code == 0, result.output
    assert "No unsuppressed finding at high or above." in result.stdout


def test_cli_bad_severity_exits_1_before_synthesizing(cli, checked: Checked) -> None:
    result = cli("check", checked.profile, "--severity", "severe")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: unknown severity 'severe'; use one of low, medium, high, critical."
    )
    assert checked.synthesized == 0


def test_cli_checkov_missing_exits_1_in_one_line(cli, checked: Checked, monkeypatch) -> None:
    monkeypatch.setattr(policy, "run_checkov", RUN_CHECKOV)
    without_checkov(monkeypatch)
    result = cli("check", checked.profile, "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert error["exit_code"] == 1 and error["error"].startswith("checkov is not installed: ")


def test_cli_check_fails_on_a_secret_in_user_data_without_printing_it(
    cli, checked: Checked, recorded
) -> None:
    config, _ = recorded
    leak_into_user_data(config)
    result = cli("check", checked.profile, "--json")
    assert result.exit_code == 5, result.output
    data = json.loads(result.stdout)
    assert {f["check_id"] for f in data["findings"] if f["severity"] == "critical"} == {
        SECRETS_CHECK
    }
    assert "AKIAIOSFODNN7EXAMPLE" not in result.output and "wJalrXUtn" not in result.output


# ---------------------------------------------------------------------------------------------
# The stacks the toolkit generates: a real checkov run, no unsuppressed finding at any level

PROTECTED = fleet.make_spec("guarded", protected=True)
FLEET_SPECS = [
    fleet.PRIVATE,
    fleet.EXISTING,
    fleet.PUBLIC,
    fleet.OPEN,
    fleet.ONE_ZONE,
    fleet.INTERNAL_TLS,
    PROTECTED,
]
SAGEMAKER_SPECS = [sagemaker.FULL, sagemaker.HUB, sagemaker.IN_VPC, sagemaker.EBS_VOLUME]
GCP_SPECS = [gcp.NEW, gcp.EXISTING, gcp.PUBLIC, gcp.VERTEX, gcp.VERTEX_SUBNET, gcp.VERTEX_VPC]
AZURE_SPECS = [azure.MIXED, azure.REGULAR, azure.LISTED, azure.ML_PUBLIC, azure.ML_PRIVATE]
GENERATED = FLEET_SPECS + SAGEMAKER_SPECS + GCP_SPECS + AZURE_SPECS
"""Every stack of every cloud, private and public (Azure fleets are never public)."""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PolicyReport]:
    """Every variant synthesized for the real clouds in one App, scanned in one checkov run."""
    root = tmp_path_factory.mktemp("policy")
    outdir = root / "cdktf.out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(gcp.GCP_PROJECT_ENV, gcp.ENV_PROJECT)  # gcp.PUBLIC names no project
        patch.setenv("ARM_SUBSCRIPTION_ID", azure.SUBSCRIPTION)
        synthesize([(spec, root / spec.stack_name) for spec in GENERATED], outdir, emulated=False)
    configs = [outdir / "stacks" / spec.stack_name / "cdk.tf.json" for spec in GENERATED]
    reports = check_configs(configs, "low")
    return {spec.stack_name: report for spec, report in zip(GENERATED, reports, strict=True)}


@pytest.mark.parametrize("spec", GENERATED, ids=lambda s: s.name)
def test_generated_stack_has_no_unsuppressed_finding(
    generated: dict[str, PolicyReport], spec: DeploymentSpec
) -> None:
    report = generated[spec.stack_name]
    assert report.passed > 0
    assert [(f.check_id, f.address, f.check_name) for f in report.blocking] == []
    assert all(f.status == SUPPRESSED and f.reason for f in report.findings)


def suppressed_checks(report: PolicyReport) -> set[str]:
    return {finding.check_id for finding in report.suppressed}


def test_fixed_checks_pass_rather_than_being_suppressed(generated) -> None:
    # The VPC's default group, the metadata hop limit; the Azure ML storage's soft delete and
    # SAS expiration policy.
    fixed = {"CKV2_AWS_12", "CKV_AWS_341", "CKV2_AZURE_38", "CKV2_AZURE_41"}
    assert not fixed & {s.check_id for s in SUPPRESSIONS}
    for report in generated.values():
        assert not fixed & {finding.check_id for finding in report.findings}


def test_suppressions_hold_only_where_their_reason_does(generated) -> None:
    def checks(spec: DeploymentSpec) -> set[str]:
        return suppressed_checks(generated[spec.stack_name])

    # Plain HTTP only on internal load balancers without a certificate.
    without_certificate = {s.name for s in FLEET_SPECS if not s.network.certificate_arn}
    assert without_certificate == {
        fleet.PRIVATE.name,
        fleet.EXISTING.name,
        fleet.ONE_ZONE.name,
        PROTECTED.name,
    }
    for check_id in ("CKV_AWS_2", "CKV_AWS_103", "CKV2_AWS_20"):
        assert {s.name for s in FLEET_SPECS if check_id in checks(s)} == without_certificate
    # World ingress only where the profile lists 0.0.0.0/0; WAF only on public load balancers.
    assert {s.name for s in FLEET_SPECS if "CKV_AWS_260" in checks(s)} == {fleet.OPEN.name}
    assert {s.name for s in FLEET_SPECS if "CKV2_AWS_28" in checks(s)} == {
        fleet.OPEN.name,
        fleet.PUBLIC.name,
    }
    # Deletion protection is on in a protected environment; flow logs only for our own VPC.
    assert "CKV_AWS_150" not in checks(PROTECTED)
    assert "CKV2_AWS_11" not in checks(fleet.EXISTING)
    # Network isolation with weights in S3; a volume key where the instance has EBS storage.
    assert "CKV_AWS_370" not in checks(sagemaker.FULL)
    assert "CKV_AWS_98" not in checks(sagemaker.EBS_VOLUME)
    # GCP: flow logs only for our own subnet; the endpoint flagged whether public or behind PSC.
    assert {s.name for s in GCP_SPECS if "CKV_GCP_26" in checks(s)} == {
        gcp.NEW.name,
        gcp.PUBLIC.name,
    }
    assert {s.name for s in GCP_SPECS if "CKV2_GCP_33" in checks(s)} == {
        gcp.VERTEX.name,
        gcp.VERTEX_SUBNET.name,
        gcp.VERTEX_VPC.name,
    }
    # Azure: public network access only for a workspace without a subnet of the user's;
    # encryption at host off only where the profile turns it off.
    public_workspace = {s.check_id for s in SUPPRESSIONS if s.reason == PUBLIC_WORKSPACE}
    assert public_workspace <= checks(azure.ML_PUBLIC)
    assert not public_workspace & checks(azure.ML_PRIVATE)
    assert {s.name for s in AZURE_SPECS if "CKV_AZURE_97" in checks(s)} == {azure.REGULAR.name}


def test_every_suppression_is_needed_by_some_generated_stack(generated) -> None:
    used = {
        (finding.check_id, finding.reason)
        for report in generated.values()
        for finding in report.suppressed
    }
    stale = [s.check_id for s in SUPPRESSIONS if (s.check_id, s.reason) not in used]
    assert stale == []


def test_the_cli_default_severity_is_the_policy_default() -> None:
    from cli.gates import DEFAULT_SEVERITY
    from orchestrator.policy_severities import DEFAULT_THRESHOLD

    assert DEFAULT_SEVERITY == DEFAULT_THRESHOLD
