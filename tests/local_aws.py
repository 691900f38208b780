"""Running the CLI against the local emulated AWS in tests: a runner in a project directory and
a boto3 client on the emulator (the `infra_home` fixture is in conftest)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cli.main import app


class Run:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runner = CliRunner()
        self.region = "us-east-1"
        self.resource_name = ""
        """The deployment's main resource: its autoscaling group or its endpoint."""

    def __call__(self, *args: str) -> Any:
        previous = Path.cwd()
        os.chdir(self.workdir)
        try:
            return self.runner.invoke(app, list(args), prog_name="infra")
        finally:
            os.chdir(previous)

    def json(self, *args: str) -> tuple[Any, dict[str, Any]]:
        result = self(*args, "--json")
        return result, json.loads(result.stdout)


def the_error(result: Any) -> str:
    """Progress lines may precede it; the error is one line, the last, with no traceback."""
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == lines[-1:], result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def boto(service: str, region: str = "us-east-1") -> Any:
    import boto3

    from providers.local.emulator import status

    endpoint = status().endpoint
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def aws_regions() -> list[str]:
    """Every AWS region of the catalog: where a deployment could have left something."""
    from providers.catalog import load_catalog

    return sorted({o.region for o in load_catalog().offerings if o.cloud == "aws"})


def put_alarm(cloudwatch: Any, name: str, tags: dict[str, str]) -> None:
    """A CloudWatch alarm with `tags`, as the stacks make them (only the name and tags matter)."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
    )
