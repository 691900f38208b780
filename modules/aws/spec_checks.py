"""What an AWS fleet stack refuses before anything is synthesized, each in one sentence naming
the profile field to set: a public load balancer without a certificate (it serves HTTPS only),
and a certificate ACM keeps in another region than the load balancer's."""

from __future__ import annotations

from core.errors import InfraError
from planner.deployment import DeploymentSpec


class AwsSpecError(InfraError):
    pass


def certificate_region(arn: str) -> str:
    """arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID -> REGION."""
    return arn.split(":")[3]


def check_fleet_network(spec: DeploymentSpec) -> None:
    network = spec.network
    problem = None
    if network.public and not network.certificate_arn:
        problem = (
            "a public load balancer serves HTTPS only and redirects HTTP to it, so it needs a "
            "certificate: set deploy.network.certificate_arn to an ACM certificate ARN in "
            f"{spec.region}"
        )
    elif network.certificate_arn and certificate_region(network.certificate_arn) != spec.region:
        problem = (
            f"deploy.network.certificate_arn is an ACM certificate in "
            f"{certificate_region(network.certificate_arn)}, but a load balancer serves only "
            f"certificates of its own region ({spec.region}); request or import the "
            "certificate there"
        )
    if problem:
        raise AwsSpecError(f"stack {spec.stack_name}: {problem}.")
