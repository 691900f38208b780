"""The AWS partial of the fleet boot script (templates/user_data/cloud_aws.j2): S3 weights, the
token's SSM parameter, ECR login, the CloudWatch agent's configuration, the TTFT/TPOT exporter."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.aws.drain import drain_values
from modules.aws.engine_metrics import (
    AGENT_CONFIG_FILE,
    AGENT_DIR,
    PROMETHEUS_CONFIG_FILE,
    agent_config,
    prometheus_config,
)
from modules.aws.latency_service import exporter_args, exporter_parameter, runs_exporter
from modules.user_data import BootTarget

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

USER_DATA_LIMIT_BYTES = 16 * 1024
"""EC2 refuses user data larger than 16 KB (counted before base64 encoding)."""

_ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?)/"
)


def aws_boot_target(spec: DeploymentSpec) -> BootTarget:
    runtime = spec.runtime
    ecr = _ECR_IMAGE.match(runtime.image)
    values = {
        "weights_uri": runtime.model_s3_uri,
        "weights_store": "S3",
        "hf_token_name": runtime.hf_token_ssm_parameter,
        "ecr_registry": ecr["registry"] if ecr else None,
        "ecr_region": ecr["region"] if ecr else None,
        "agent_dir": AGENT_DIR,
        "agent_config": agent_config(spec),
        "agent_config_file": AGENT_CONFIG_FILE,
        "prometheus_config": prometheus_config(spec),
        "prometheus_file": PROMETHEUS_CONFIG_FILE,
        **drain_values(spec),
        "latency_exporter": exporter_parameter(spec.stack_name) if runs_exporter(spec) else None,
        "latency_exporter_args": exporter_args(spec),
    }
    return BootTarget("cloud_aws.j2", values, USER_DATA_LIMIT_BYTES, "EC2's limit")
