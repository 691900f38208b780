"""Resources that cost nothing themselves, declared in one place: those no cloud bills, and
those billed through another resource (which the reason names)."""

from __future__ import annotations

from collections.abc import Mapping

FREE_TYPES = frozenset(
    {
        # AWS
        "aws_vpc",
        "aws_subnet",
        "aws_route",
        "aws_route_table",
        "aws_route_table_association",
        "aws_internet_gateway",
        "aws_default_security_group",
        "aws_security_group",
        "aws_security_group_rule",
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_iam_policy",
        "aws_iam_instance_profile",
        # Standard-tier parameters have no charge (AWS Systems Manager pricing, Parameter
        # Store); the toolkit creates standard ones only (the fleet's exporter code).
        "aws_ssm_parameter",
        "aws_kms_alias",
        "aws_lb_listener",
        "aws_lb_listener_rule",
        "aws_lb_target_group",
        "aws_lb_target_group_attachment",
        "aws_autoscaling_policy",
        "aws_autoscaling_schedule",
        "aws_autoscaling_lifecycle_hook",  # Auto Scaling itself has no charge; only what it runs
        "aws_appautoscaling_policy",
        "aws_appautoscaling_target",
        "aws_appautoscaling_scheduled_action",
        "aws_sagemaker_model",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_ownership_controls",
        # Google Cloud (load balancing is billed through its forwarding rules and the data they
        # process; Google-managed certificates are free)
        "google_compute_network",
        "google_compute_subnetwork",
        "google_compute_router",
        "google_compute_firewall",
        "google_compute_health_check",
        "google_compute_region_health_check",
        "google_compute_region_autoscaler",
        "google_compute_backend_service",
        "google_compute_region_backend_service",
        "google_compute_url_map",
        "google_compute_region_url_map",
        "google_compute_target_http_proxy",
        "google_compute_target_https_proxy",
        "google_compute_region_target_http_proxy",
        "google_compute_ssl_policy",
        "google_compute_managed_ssl_certificate",
        "google_service_account",
        "google_service_account_iam_member",
        "google_project_iam_member",
        "google_secret_manager_secret_iam_member",
        "google_storage_bucket_iam_member",
        "google_artifact_registry_repository_iam_member",
        "google_kms_key_ring",
        "google_kms_crypto_key_iam_member",
        # Cloud Monitoring bills ingested metrics, API reads and alerting conditions; its pricing
        # lists no charge for dashboards.
        "google_monitoring_dashboard",
        # Azure (a portal dashboard has no charge: Azure Monitor's price list has no meter for
        # one, and Infracost prices none)
        "azurerm_resource_group",
        "azurerm_portal_dashboard",
        "azurerm_virtual_network",
        "azurerm_subnet",
        "azurerm_subnet_network_security_group_association",
        "azurerm_subnet_nat_gateway_association",
        "azurerm_nat_gateway_public_ip_association",
        "azurerm_network_security_group",
        "azurerm_network_security_rule",
        "azurerm_user_assigned_identity",
        "azurerm_federated_identity_credential",
        "azurerm_role_assignment",
        "azurerm_lb_backend_address_pool",
        "azurerm_lb_probe",
        "azurerm_monitor_autoscale_setting",
        # hashicorp/random: values some stacks name things with (a KMS key ring's suffix), not
        # anything in a cloud account
        "random_id",
    }
)
"""Resources no cloud bills for themselves."""

BILLED_ELSEWHERE: Mapping[str, str] = {
    "aws_launch_template": "billed through the autoscaling group that launches it",
    "aws_sagemaker_endpoint_configuration": "billed through the endpoint that uses it",
    "google_compute_global_address": (
        "no charge while the load balancer's forwarding rules use it (billed hourly only if "
        "left unused)"
    ),
    "google_compute_instance_template": "billed through the instance groups that use it",
    "google_vertex_ai_endpoint": (
        "no charge for the endpoint; its deployed models are created by the Vertex AI SDK after "
        "apply (priced as infra_managed_deployment when the deployment spec is known)"
    ),
    "azurerm_lb_rule": "billed through the load balancer's rule hours",
    "azurerm_application_insights": "billed through its Log Analytics workspace (ingestion)",
    "azurerm_machine_learning_workspace": (
        "no charge for the workspace; the online endpoint's instances are created by the Azure "
        "ML SDK after apply (priced as infra_managed_deployment when the deployment spec is known)"
    ),
    "kubernetes_manifest": "no charge of its own: its pods run on the node pools, priced per node",
    "helm_release": "no charge of its own: its pods (KEDA's) run on the cluster's nodes",
}
"""Resources with no charge of their own → the resource whose price includes them."""
