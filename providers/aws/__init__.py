"""Amazon Web Services: EC2 GPU fleets, SageMaker real-time endpoints and EKS node groups."""

from providers.targets import FLEET, KUBERNETES, Cloud, Figure, Kind, Target

SAGEMAKER_PORT = 8080
SAGEMAKER_HEALTH_PATH = "/ping"
"""SageMaker's container contract: /ping and /invocations on port 8080."""

SAGEMAKER = Kind(
    name="sagemaker",
    summary="a SageMaker real-time endpoint (managed instances, blue/green traffic shifts)",
    runs_instances=False,
    scaling_signal="invocations_per_instance",
    counts_in_flight=True,
    serving_port=SAGEMAKER_PORT,
    health_path=SAGEMAKER_HEALTH_PATH,
    image_rule="planner.images:sagemaker_image",
    no_rollback="a SageMaker endpoint rolls back by itself when a variant's alarm fires during "
    "its traffic shift; after that, re-deploy the previous profile to go back.",
    invoke_transport="orchestrator.aws.sagemaker_invoke:transport",
)


class Aws(Cloud):
    name = "aws"
    display_name = "AWS"
    terraform_provider = "aws"
    reference_region = "us-east-1"
    targets = (
        Target(
            kind=FLEET,
            stack="stacks.aws_fleet:AwsGpuFleetStack",
            catalog_file="ec2.csv",
            emulated=True,
            commitments_file="ec2_commitments.csv",
            metrics_reader="orchestrator.aws_fleet_metrics:measured",
        ),
        Target(
            kind=SAGEMAKER,
            stack="stacks.sagemaker_endpoint:SagemakerEndpointStack",
            catalog_file="sagemaker.csv",
            spec_sections={"sagemaker": "planner.profile:SagemakerOptions"},
            emulated=True,
            decision_checks=("planner.deployment:check_challenger",),
        ),
        Target(
            kind=KUBERNETES,
            stack="stacks.eks_kubernetes:EksServingStack",
            catalog_file="ec2.csv",
            spec_sections={
                "kubernetes": "planner.profile:KubernetesOptions",
                "canary": "planner.profile:Canary",
                "serving": "planner.serving:ServingTracks",
            },
            emulated=True,
            control_plane_item="eks.cluster.standard.hour",
            commitments_file="ec2_commitments.csv",
        ),
    )
    spot_max_discount = 0.90
    """"up to a 90% discount compared to On-Demand prices" (https://aws.amazon.com/ec2/spot/)."""
    interruption_file = "spot_interruption.csv"
    """Interruption frequency per instance type and region, from the Spot Instance Advisor."""
    pricing_rules = "planner.cost.resources.aws:RULES"
    value_rules = "providers.cloud_values:aws_value_problem"
    boot_target = "modules.aws.boot:aws_boot_target"
    weights_setting = "deploy.model_s3_uri"
    disk_write_bytes_per_s = Figure(
        value=125 * 2**20,
        source="Amazon EC2 API ModifyVolume, Throughput: a gp3 volume's default is 125 MiB/s "
        "(the fleet's and the EKS nodes' root volumes set none)",
        retrieved="2026-12-03",
    )
    serves_neuron = True
    repairable = True

    def instance_family(self, instance_type: str) -> str:
        return instance_family(instance_type)


def instance_family(instance_type: str) -> str:
    """`g5.12xlarge` -> `g5`: the sizes of one family share a price structure."""
    return instance_type.removeprefix("ml.").split(".", 1)[0]
