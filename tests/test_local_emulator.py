"""The local emulated AWS: a real moto server process on a free loopback port, in a temp INFRA_HOME.

Every test that may start a server stops it in its fixture's finalizer, so none outlives the run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from cli.local import local_app
from providers.local import emulator
from providers.local.emulator import EmulatorError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private INFRA_HOME; whatever emulator a test started is stopped afterwards."""
    monkeypatch.setenv("INFRA_HOME", str(tmp_path))
    yield tmp_path / "local"
    emulator.stop()


def test_lifecycle_with_boto3_clients(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    started = emulator.start(port)
    assert started.running and started.port == port
    assert started.endpoint == f"http://127.0.0.1:{port}"
    state = json.loads((home / "emulator.json").read_text())
    assert state["pid"] == started.pid and state["moto_version"] == started.moto_version

    assert emulator.status() == started
    assert emulator.start() == started  # idempotent: same process, same port
    assert emulator.ensure_running() == started.endpoint
    with pytest.raises(EmulatorError, match=f"already runs on port {port}"):
        emulator.start(free_port())

    for name, value in emulator.aws_environment(started.endpoint).items():
        monkeypatch.setenv(name, value)  # boto3 must find the emulator through AWS_ENDPOINT_URL
    ec2 = boto3.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    described = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert [v["CidrBlock"] for v in described] == ["10.42.0.0/16"]

    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(
        ModelName="m",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm:latest"},
    )
    sagemaker.create_endpoint_config(  # ml.g5 is missing from moto's own list: the patch at work
        EndpointConfigName="c",
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": "m",
                "InstanceType": "ml.g5.2xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    variants = sagemaker.describe_endpoint_config(EndpointConfigName="c")["ProductionVariants"]
    assert variants[0]["InstanceType"] == "ml.g5.2xlarge"
    with pytest.raises(sagemaker.exceptions.ClientError, match="instanceType"):
        sagemaker.create_endpoint_config(  # moto's own check still applies to everything else
            EndpointConfigName="bad",
            ProductionVariants=[
                {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.nonsense.xlarge"}
            ],
        )
    group = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc_id)["GroupId"]
    (rule,) = ec2.authorize_security_group_ingress(
        GroupId=group, IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="10.0.0.0/8"
    )["SecurityGroupRules"]
    ec2.revoke_security_group_ingress(
        GroupId=group, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]
    )
    with pytest.raises(ec2.exceptions.ClientError, match=r"InvalidSecurityGroupRuleId\.NotFound"):
        ec2.revoke_security_group_ingress(  # as AWS answers: the provider takes it as deleted
            GroupId=group, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]
        )
    with pytest.raises(ec2.exceptions.ClientError, match=r"InvalidPermission\.NotFound"):
        ec2.revoke_security_group_ingress(  # by its content, moto's own answer stands
            GroupId=group, IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="10.0.0.0/8"
        )
    template = ec2.create_launch_template(
        LaunchTemplateName="tmpl", LaunchTemplateData={"InstanceType": "g6e.xlarge"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.delete_launch_template(LaunchTemplateId=template)
    with pytest.raises(ec2.exceptions.ClientError, match=r"InvalidLaunchTemplateId\.NotFound"):
        ec2.delete_launch_template(LaunchTemplateId=template)  # a retried delete, as AWS answers
    log = (home / "moto.log").read_text()
    assert "ml.g5.2xlarge" in log and "never real AWS" in log
    assert "unknown security group rule IDs" in log and "unknown launch template IDs" in log

    assert emulator.stop() is True
    assert not alive(started.pid)
    assert not (home / "emulator.json").exists()
    assert emulator.status().running is False
    assert emulator.stop() is False


def test_stale_state_with_dead_pid_is_cleaned(home: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    home.mkdir(parents=True)
    state = home / "emulator.json"
    state.write_text(
        json.dumps(
            {
                "pid": finished.pid,
                "port": free_port(),
                "endpoint": "http://127.0.0.1:1",
                "started_at": "2026-01-01T00:00:00+00:00",
                "moto_version": "5.2.5",
            }
        )
    )
    assert emulator.status().running is False
    assert not state.exists()

    state.write_text("{not json")
    assert emulator.status().running is False
    assert not state.exists()


def test_server_that_never_answers_is_killed_and_named_in_the_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = home.parent / "sleeper.pid"
    sleeper = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    monkeypatch.setattr(emulator, "START_TIMEOUT_S", 1.0)
    monkeypatch.setattr(emulator, "_server_command", lambda port: [sys.executable, "-c", sleeper])

    with pytest.raises(EmulatorError, match="did not answer") as raised:
        emulator.start(free_port())
    assert str(home / "moto.log") in str(raised.value)
    assert not alive(int(pid_file.read_text()))
    assert not (home / "emulator.json").exists()


def test_server_that_exits_at_start_up_is_reported(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash = "import sys; print('cannot start'); sys.exit(3)"
    monkeypatch.setattr(emulator, "_server_command", lambda port: [sys.executable, "-c", crash])

    with pytest.raises(EmulatorError, match=r"exit code 3\); see .*moto\.log"):
        emulator.start(free_port())
    assert (home / "moto.log").read_text().strip() == "cannot start"


def test_busy_port_is_refused(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorError, match=f"port {port} on 127.0.0.1 is in use"):
            emulator.start(port)


def test_aws_environment_keeps_existing_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "corp.example")
    environment = emulator.aws_environment("http://127.0.0.1:4566")
    assert environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environment["AWS_ACCESS_KEY_ID"] == environment["AWS_SECRET_ACCESS_KEY"] == "test"
    assert environment["NO_PROXY"] == "corp.example,127.0.0.1,localhost"


def test_cli_up_status_down(home: Path) -> None:
    runner = CliRunner()
    port = free_port()

    result = runner.invoke(local_app, ["status"])
    assert result.exit_code == 0
    assert "not running" in result.stdout

    result = runner.invoke(local_app, ["up", "--port", str(port), "--json"])
    assert result.exit_code == 0, result.output
    up = json.loads(result.stdout)
    assert up["running"] is True and up["port"] == port

    result = runner.invoke(local_app, ["status"])
    assert result.exit_code == 0
    assert f"running at http://127.0.0.1:{port} (pid {up['pid']}," in result.stdout

    other = free_port()
    result = runner.invoke(local_app, ["up", "--port", str(other), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": f"the local AWS emulator already runs on port {port}; "
        f"stop it with `infra local down` before starting it on port {other}.",
        "exit_code": 1,
    }

    result = runner.invoke(local_app, ["down", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"stopped": True}
    assert not alive(up["pid"])

    result = runner.invoke(local_app, ["down"])
    assert result.exit_code == 0
    assert "was not running" in result.stdout

    result = runner.invoke(local_app, ["status", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["running"] is False


def test_hung_server_is_reported_not_running_and_stopped(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "PROBE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(emulator, "STOP_GRACE_S", 0.5)
    started = emulator.start(free_port())
    assert started.pid is not None
    os.kill(started.pid, signal.SIGSTOP)  # alive, holding the port, answering nothing

    assert emulator.status().running is False
    assert not alive(started.pid)
    assert not (home / "emulator.json").exists()
