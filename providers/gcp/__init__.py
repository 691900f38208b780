"""Google Cloud: Compute Engine GPU fleets (managed instance groups), Vertex AI endpoints and GKE
GPU node pools."""

from providers.targets import FLEET, KUBERNETES, Cloud, Figure, Kind, SourceCounterpart, Target

VERTEX_PORT = 8080
"""Vertex AI sends health checks and predictions to the model's first container port, 8080 unless
the model names another (AIP_HTTP_PORT); its health and predict routes are the model's to name, so
a Vertex spec keeps the engine's health path (Google's Model Garden image answers on its own)."""

VERTEX = Kind(
    name="vertex",
    summary="a Vertex AI endpoint (the model deployed by the SDK after Terraform, canary "
    "traffic splits)",
    runs_instances=False,
    scaling_signal="invocations_per_instance",
    serving_port=VERTEX_PORT,
    image_rule="planner.images:vertex_image",
    invoke_transport="orchestrator.gcp.vertex_invoke:transport",
)


class Gcp(Cloud):
    name = "gcp"
    display_name = "GCP"
    terraform_provider = "google"
    reference_region = "us-central1"
    targets = (
        Target(
            kind=FLEET,
            stack="stacks.gcp_fleet:GcpGpuFleetStack",
            catalog_file="gce.csv",
            commitments_file="gce_commitments.csv",
            spec_sections={
                "gcp": "planner.profile:GcpOptions",
                # The alert policies' notification channel and thresholds.
                "alerts": "planner.profile:Alerts",
                "targets": "planner.profile:Targets",
            },
            # The spot group's autoscaler scales on per-instance metrics, so it keeps one VM
            # (modules/gcp/instance_group.py); the planner counts it in every hour.
            spot_floor=1,
            instance_start_s=Figure(
                value=25.0,
                source="Robert Aboukhalil, 'Move Fast and Break the Cloud: A Benchmark of VM Boot "
                "Times on the Google Cloud' (2018): time to SSH averages about 25 s whatever the "
                "machine size",
                retrieved="2026-12-03",
            ),
        ),
        Target(
            kind=VERTEX,
            stack="stacks.vertex_endpoint:VertexEndpointStack",
            catalog_file="vertex.csv",
            spec_sections={
                "canary": "planner.profile:Canary",
                "gcp": "planner.profile:GcpOptions",
            },
            endpoint_steps="orchestrator.vertex_endpoint",
            managed_replicas="autoscaled",
        ),
        Target(
            kind=KUBERNETES,
            stack="stacks.gke_kubernetes:GkeServingStack",
            catalog_file="gce.csv",
            commitments_file="gce_commitments.csv",
            spec_sections={
                "kubernetes": "planner.profile:KubernetesOptions",
                "canary": "planner.profile:Canary",
                "serving": "planner.serving:ServingTracks",
                "gcp": "planner.profile:GcpOptions",
            },
            control_plane_item="gke.cluster_management.hour",
        ),
    )
    spot_max_discount = 0.91
    """"Spot VMs are available at a discount of up to 91% off of the on-demand price"
    (https://cloud.google.com/compute/docs/instances/spot)."""
    interruption_file = None
    """Google publishes no preemption rate per machine type or region."""
    pricing_rules = "planner.cost.resources.gcp:RULES"
    value_rules = "providers.cloud_values:gcp_value_problem"
    boot_target = "modules.gcp.boot:gcp_boot_target"
    weights_setting = "deploy.gcp.model_gcs_uri"
    source_counterparts = (
        SourceCounterpart(
            aws_field="deploy.model_s3_uri",
            field="deploy.gcp.model_gcs_uri",
            instruction="copy the weights to Cloud Storage",
        ),
        SourceCounterpart(
            aws_field="deploy.hf_token_ssm_parameter",
            field="deploy.gcp.hf_token_secret",
            instruction="store the token in Secret Manager",
        ),
    )

    def instance_family(self, instance_type: str) -> str:
        return instance_family(instance_type)

    def offering_name(self, instance_type: str, accelerator: str, accelerator_count: int) -> str:
        """N1 machines carry attachable GPUs, so the GPU is part of what identifies them."""
        if instance_type.startswith("n1-"):
            return f"{instance_type}+{accelerator_count}x{accelerator}"
        return instance_type


def instance_family(instance_type: str) -> str:
    """`a2-highgpu-4g` -> `a2-highgpu`, `n1-standard-8` -> `n1-standard` (the attached GPU is
    part of the family key the catalog builds, so N1 with T4 and N1 with V100 stay apart)."""
    return instance_type.rsplit("-", 1)[0]
