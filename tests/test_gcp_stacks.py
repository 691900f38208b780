"""GcpGpuFleetStack and VertexEndpointStack: assertions on the synthesized Terraform JSON, their
refusals, and what `infra cost` makes of them.

Synthesis goes through orchestrator.synth.synthesize exactly as the CLI does, every spec of the
module in one App (the Google binding loads once, which takes most of this module's time).
Expectations come from the specs and the constants the stacks are meant to use, so a change of
behaviour fails a test. No Google Terraform provider is available offline here: `terraform
validate` runs only when one is in the provider mirror; the binding's own type checks and these
JSON assertions stand in for it.
"""

from __future__ import annotations

import json
import math
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import ProfileError
from modules.gcp.firewall import GOOGLE_LOAD_BALANCER_RANGES
from modules.gcp.https_frontend import managed_certificate_name
from modules.gcp.instance_template import DLVM_IMAGE, InstanceTemplateError
from modules.gcp.network import PROXY_ONLY_CIDR, SUBNET_CIDR, NetworkError
from modules.gcp.spec_checks import GcpSpecError
from modules.gcp.vertex import KEY_ROTATION, RANDOM_PROVIDER, endpoint_id
from modules.tagging import MissingTagsError
from modules.user_data import render_user_data
from orchestrator.synth import RefusedValue, synthesize
from planner.cost.plan_resources import from_configuration
from planner.cost.pricing import price_plan
from planner.deployment import (
    HEALTH_PATHS,
    CapacitySpec,
    DeploymentSpec,
    RuntimeSpec,
    ScalingSpec,
    spec_from_recommendation,
)
from planner.images import MODEL_GARDEN_HEALTH_PATH, VERTEX_IMAGES
from planner.optimizer import Filters
from planner.profile import GcpOptions, Network
from providers.catalog import load_catalog
from providers.gcp import VERTEX_PORT
from stacks.common import GCP_PROJECT_ENV, GOOGLE_PROVIDER_VERSION, GcpStackError
from tests.conftest import profile_dict, write_profile
from tests.stack_json import (
    Synthesized,
    assert_records_its_spec,
    data_sources,
    empty_structs,
    one_sentence,
    only,
    ref,
    resources,
    service_outputs,
    synthesize_specs,
    validate_with_mirror,
    written,
)

PROJECT = "serving-project-1"
ENV_PROJECT = "env-project-42"
REGION = "us-central1"
ZONES = ["us-central1-a", "us-central1-c"]
AR_IMAGE = "us-docker.pkg.dev/images-project-7/serving/vllm-openai:v0.10.2"
PUBLIC_IMAGE = "vllm/vllm-openai:v0.10.2"
WEIGHTS_BUCKET = "weights-bucket"
WEIGHTS = f"gs://{WEIGHTS_BUCKET}/llama/8b"
SECRET = "hf-token"
TAGS = {"team": "ML Platform", "Cost-Center": "CC.4242", "env": "prod", "9lives": "yes"}
LABELS = {"team": "ml_platform", "cost-center": "cc_4242", "env": "prod", "t9lives": "yes"}
REQUIRED_TAGS = ["team", "Cost-Center", "env"]
SHARED_SUBNET = f"projects/host-project-9/regions/{REGION}/subnetworks/serving"
PROXY_SUBNET = "proxy-only-central"
PUBLIC_CIDRS = [f"203.0.113.{index}/32" for index in range(12)]
DOMAINS = ["chat.example.com", "api.chat.example.com"]
GIVEN_CERTIFICATE = f"projects/{PROJECT}/global/sslCertificates/chat-2026"
TELEMETRY_ROLES = {"roles/logging.logWriter", "roles/monitoring.metricWriter"}
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
CONTRACT_OUTPUTS = {
    "vertex_endpoint_name",
    "project",
    "region",
    "service_account_email",
    "kms_key_name",
}
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def make_spec(
    name: str,
    *,
    kind: str = "fleet",
    env: str = "prod",
    capacity: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    gcp: dict[str, Any] | None = None,
    **fields: Any,
) -> DeploymentSpec:
    """A private g2-standard-24 (two L4) fleet over two zones, two replicas per instance, one
    on-demand instance under a spot range; sections and fields overridable."""
    capacity_fields: dict[str, Any] = {
        "min_size": 2,
        "desired": 3,
        "max_size": 6,
        "on_demand_base": 1,
        "spot_percentage_above_base": 100,
        "health_check_grace_s": 840,
    }
    runtime_fields: dict[str, Any] = {
        "engine": "vllm",
        "image": PUBLIC_IMAGE,
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "precision": "bf16",
        "tensor_parallel": 1,
        "replicas_per_instance": 2,
        "max_batch": 64,
        "health_path": HEALTH_PATHS["vllm"],
    }
    spec_fields: dict[str, Any] = {
        "name": name,
        "env": env,
        "cloud": "gcp",
        "kind": kind,
        "region": REGION,
        "zones": list(ZONES),
        "instance_type": "g2-standard-24",
        "accelerator": "L4",
        "accelerators_per_instance": 2,
        "root_volume_gib": 120,
        "tags": dict(TAGS),
        "required_tags": list(REQUIRED_TAGS),
    }
    capacity_fields.update(capacity or {})
    runtime_fields.update(runtime or {})
    spec_fields.update(fields)
    return DeploymentSpec(
        capacity=CapacitySpec(**capacity_fields),
        runtime=RuntimeSpec(**runtime_fields),
        scaling=ScalingSpec(signal="alb_requests_per_target", target=150.0),
        gcp=GcpOptions(**{"project": PROJECT, **(gcp or {})}),
        **spec_fields,
    )


NEW = make_spec(
    "new",
    runtime={"image": AR_IMAGE},
    gcp={"hf_token_secret": SECRET, "model_gcs_uri": WEIGHTS},
)
EXISTING = make_spec(
    "an-existing-network-with-a-long-name-x40",
    env="staging-environment-with-a-long-name-x1",
    instance_type="n1-standard-16",
    accelerator="T4",
    zones=["us-central1-a", "us-central1-b", "us-central1-f"],
    capacity={
        "min_size": 2,
        "desired": 2,
        "max_size": 3,
        "on_demand_base": 2,
        "spot_percentage_above_base": 0,
    },
    runtime={"replicas_per_instance": 1, "tensor_parallel": 2, "port": 9000},
    network=Network(subnet_ids=[SHARED_SUBNET, PROXY_SUBNET]),
    gcp={"hf_token_secret": f"projects/secrets-project-3/secrets/{SECRET}"},
)
PUBLIC = make_spec(
    "gcp-public",
    instance_type="a2-highgpu-1g",
    accelerator="A100",
    accelerators_per_instance=1,
    zones=["us-central1-b"],
    capacity={"min_size": 1, "desired": 2, "max_size": 4, "on_demand_base": 0},
    runtime={"replicas_per_instance": 1},
    network=Network(
        public=True,
        ingress_cidrs=list(PUBLIC_CIDRS),
        certificate_domains=list(DOMAINS),
        certificate_name=GIVEN_CERTIFICATE,
    ),
    gcp={"project": None},  # from GOOGLE_CLOUD_PROJECT
)
VERTEX = make_spec(
    "vertex",
    kind="vertex",
    zones=[],
    runtime={"image": AR_IMAGE, "port": VERTEX_PORT, "replicas_per_instance": 1},
    gcp={"model_gcs_uri": WEIGHTS},
)
VERTEX_SUBNET = msgspec.structs.replace(
    VERTEX,
    name="vxsubnet",
    network=Network(subnet_ids=[SHARED_SUBNET]),
    gcp=GcpOptions(project=PROJECT),
)
VERTEX_VPC = msgspec.structs.replace(VERTEX, name="vxvpc", network=Network(vpc_id="serving-vpc"))
FLEETS = [NEW, EXISTING, PUBLIC]
ENDPOINTS = [VERTEX, VERTEX_SUBNET, VERTEX_VPC]
ALL_SPECS = [*FLEETS, *ENDPOINTS]


# ---------------------------------------------------------------------------------------------
# Synthesis (one provider load for the whole module)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(GCP_PROJECT_ENV, ENV_PROJECT)
        yield synthesize_specs(ALL_SPECS, tmp_path_factory.mktemp("gcp"), emulated=False)


def synthesize_one(tmp_path: Path, spec: DeploymentSpec, *, emulated: bool = False) -> Path:
    outdir = tmp_path / "out"
    synthesize([(spec, tmp_path / "state")], outdir, emulated=emulated)
    return outdir


def project_of(spec: DeploymentSpec) -> str:
    return spec.gcp.project or ENV_PROJECT


def key_of(reference: str) -> str:
    """The resource key inside a `${type.key.attribute}` reference."""
    match = re.fullmatch(r"\$\{(?:data\.)?[a-z0-9_]+\.([^.]+)\.[a-z_]+\}", reference)
    assert match, reference
    return match[1]


def groups(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Instance groups by their version name (the role: on-demand-base, spot, on-demand)."""
    found = resources(doc, "google_compute_region_instance_group_manager")
    return {group["version"][0]["name"]: group for group in found.values()}


def group_key(doc: dict[str, Any], role: str) -> str:
    found = resources(doc, "google_compute_region_instance_group_manager")
    (key,) = [key for key, group in found.items() if group["version"][0]["name"] == role]
    return key


def template_of(doc: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    key = key_of(group["version"][0]["instance_template"])
    return resources(doc, "google_compute_instance_template")[key]


def autoscaler_of(doc: dict[str, Any], role: str) -> dict[str, Any] | None:
    target = ref("google_compute_region_instance_group_manager", group_key(doc, role), "id")
    found = [
        body
        for body in resources(doc, "google_compute_region_autoscaler").values()
        if body["target"] == target
    ]
    assert len(found) <= 1
    return found[0] if found else None


def iam_members(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(resource type, role, body) of every IAM grant in the stack."""
    return [
        (rtype, body["role"], body)
        for rtype in doc.get("resource", {})
        if rtype.endswith("_iam_member")
        for body in resources(doc, rtype).values()
    ]


def service_account_ref(doc: dict[str, Any], attribute: str) -> str:
    key, _ = only(doc, "google_service_account")
    return ref("google_service_account", key, attribute)


# ---------------------------------------------------------------------------------------------
# Provider, project, labels, backend


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_provider_pinned_by_range_with_project_region_and_labels(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    google = doc["terraform"]["required_providers"]["google"]
    assert google == {"source": "hashicorp/google", "version": GOOGLE_PROVIDER_VERSION}
    assert "aws" not in doc["terraform"]["required_providers"]
    (provider,) = doc["provider"]["google"]
    assert provider == {"project": project_of(spec), "region": REGION, "default_labels": LABELS}
    path = Path(doc["terraform"]["backend"]["local"]["path"])
    assert path == synthesized.state_dir(spec) / "terraform.tfstate"


def test_pin_admits_the_provider_the_binding_was_generated_from() -> None:
    """The version range starts at the binding's provider and stays within its major version."""
    import cdktn_provider_google

    (archive,) = (Path(cdktn_provider_google.__file__).parent / "_jsii").glob("*.jsii.tgz")
    with tarfile.open(archive) as bundle:
        package = json.load(bundle.extractfile("package/package.json"))  # type: ignore[arg-type]
    version = package["cdktn"]["provider"]["version"]
    major, minor = (int(part) for part in version.split(".")[:2])
    assert f">= {major}.{minor}, < {major + 1}" == GOOGLE_PROVIDER_VERSION


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_labels_are_gcp_labels_and_no_resource_gets_aws_tags(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    """Every label key and value is lowercase [a-z0-9_-] up to 63 characters; `tags` on Compute
    Engine means network tags, so the AWS tagging aspect must not have touched anything."""
    doc = synthesized[spec]
    for key, value in LABELS.items():
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) and re.fullmatch(r"[a-z0-9_-]*", value)
    for rtype, named in doc["resource"].items():
        for body in named.values():
            assert "tags" not in body, rtype
            for disk in body.get("disk", []):
                assert disk["labels"] == LABELS


def test_project_from_the_environment_when_the_profile_names_none(
    synthesized: Synthesized,
) -> None:
    (provider,) = synthesized[PUBLIC]["provider"]["google"]
    assert provider["project"] == ENV_PROJECT
    (provider,) = synthesized[NEW]["provider"]["google"]
    assert provider["project"] == PROJECT  # the profile wins over the environment


def test_missing_project_is_one_sentence_and_writes_nothing(
    tmp_path: Path, synthesized: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(GCP_PROJECT_ENV, raising=False)
    with pytest.raises(GcpStackError) as caught:
        synthesize_one(tmp_path, PUBLIC)
    message = str(caught.value)
    assert "deploy.gcp.project" in message and GCP_PROJECT_ENV in message
    one_sentence(message)
    assert written(tmp_path / "out") == []


def test_a_malformed_project_in_the_environment_is_refused(
    tmp_path: Path, synthesized: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(GCP_PROJECT_ENV, "My Project")
    with pytest.raises(GcpStackError, match="'My Project' is not a project ID"):
        synthesize_one(tmp_path, PUBLIC)


def test_the_local_emulator_is_not_google_cloud(tmp_path: Path, synthesized: Synthesized) -> None:
    with pytest.raises(GcpStackError, match="emulates AWS only"):
        synthesize_one(tmp_path, NEW, emulated=True)


def test_a_missing_required_tag_stops_synth(tmp_path: Path, synthesized: Synthesized) -> None:
    spec = msgspec.structs.replace(NEW, tags={"team": "ml", "env": "prod"})
    with pytest.raises(MissingTagsError, match="Cost-Center is required"):
        synthesize_one(tmp_path, spec)
    assert written(tmp_path / "out") == []


def test_tags_that_collide_as_labels_are_refused(tmp_path: Path, synthesized: Synthesized) -> None:
    spec = msgspec.structs.replace(NEW, tags={**TAGS, "Team": "other"}, required_tags=[])
    with pytest.raises(RefusedValue, match="'team' and 'Team' become the same tag \\('team'\\)"):
        synthesize_one(tmp_path, spec)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_every_name_is_one_google_cloud_accepts(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    for rtype, named in doc["resource"].items():
        for body in named.values():
            for field in ("name", "base_instance_name"):
                value = body.get(field)
                if isinstance(value, str) and rtype != "google_vertex_ai_endpoint":
                    assert NAME.match(value.split("${")[0].rstrip("-") or "x"), (rtype, value)
                    assert len(value.split("${")[0]) <= 63, (rtype, value)
    _, account = only(doc, "google_service_account")
    assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", account["account_id"])


def test_long_stack_names_are_shortened_and_stay_apart(synthesized: Synthesized) -> None:
    doc = synthesized[EXISTING]
    assert len(EXISTING.stack_name) > 63
    names = [
        body["name"]
        for rtype in ("google_compute_region_instance_group_manager", "google_compute_firewall")
        for body in resources(doc, rtype).values()
    ]
    assert all(name.startswith("an-existing-network-with") for name in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_lists_of_structs_keep_their_fields(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    """DESIGN trap: jsii turns a list of structs passed as plain dicts into `{}`."""
    assert empty_structs(synthesized[spec]["resource"]) == []


# ---------------------------------------------------------------------------------------------
# Network and firewall


def test_new_network_with_one_regional_subnet_nat_and_proxy_only_subnet(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[NEW]
    network_key, network = only(doc, "google_compute_network")
    assert network["auto_create_subnetworks"] is False
    subnets = {body["name"]: body for body in resources(doc, "google_compute_subnetwork").values()}
    serving, proxy = subnets["new-prod-serving"], subnets["new-prod-proxy-only"]
    assert serving["ip_cidr_range"] == SUBNET_CIDR and serving["region"] == REGION
    assert serving["private_ip_google_access"] is True
    assert proxy["ip_cidr_range"] == PROXY_ONLY_CIDR
    assert (proxy["purpose"], proxy["role"]) == ("REGIONAL_MANAGED_PROXY", "ACTIVE")
    for subnet in subnets.values():
        assert subnet["network"] == ref("google_compute_network", network_key, "id")
    router_key, router = only(doc, "google_compute_router")
    assert router["network"] == ref("google_compute_network", network_key, "id")
    _, nat = only(doc, "google_compute_router_nat")
    assert nat["router"] == ref("google_compute_router", router_key, "name")
    assert nat["nat_ip_allocate_option"] == "AUTO_ONLY"
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "LIST_OF_SUBNETWORKS"
    serving_key = next(
        key
        for key, body in resources(doc, "google_compute_subnetwork").items()
        if body["name"] == "new-prod-serving"
    )
    # Only the instances' subnet egresses through the NAT, not the proxy-only one.
    assert nat["subnetwork"] == [
        {
            "name": ref("google_compute_subnetwork", serving_key, "id"),
            "source_ip_ranges_to_nat": ["ALL_IP_RANGES"],
        }
    ]
    assert nat["log_config"] == {"enable": True, "filter": "ERRORS_ONLY"}


def test_a_public_load_balancer_needs_no_proxy_only_subnet(synthesized: Synthesized) -> None:
    subnets = resources(synthesized[PUBLIC], "google_compute_subnetwork")
    assert [body["name"] for body in subnets.values()] == ["gcp-public-prod-serving"]


def test_existing_subnets_are_read_and_nothing_is_created_in_them(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[EXISTING]
    for rtype in (
        "google_compute_network",
        "google_compute_subnetwork",
        "google_compute_router",
        "google_compute_router_nat",
    ):
        assert resources(doc, rtype) == {}, rtype
    given = sorted(
        data_sources(doc, "google_compute_subnetwork").values(), key=lambda body: body["name"]
    )
    assert [(b["project"], b["region"], b["name"]) for b in given] == [
        (PROJECT, REGION, PROXY_SUBNET),  # a bare name: the deployment's project and region
        ("host-project-9", REGION, "serving"),  # a path: a Shared VPC host project
    ]
    serving_key = next(
        k
        for k, b in data_sources(doc, "google_compute_subnetwork").items()
        if b["name"] == "serving"
    )
    for template in resources(doc, "google_compute_instance_template").values():
        (interface,) = template["network_interface"]
        assert interface == {
            "subnetwork": ref("data.google_compute_subnetwork", serving_key, "self_link"),
            "subnetwork_project": "host-project-9",
        }
    _, rule = only(doc, "google_compute_firewall")
    assert rule["project"] == "host-project-9"  # firewall rules live with the network
    assert rule["network"] == ref("data.google_compute_subnetwork", serving_key, "network")


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_serving_port_open_to_google_load_balancer_ranges_only(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    _, rule = only(doc, "google_compute_firewall")  # the stack's only firewall rule
    assert rule["direction"] == "INGRESS"
    assert rule["allow"] == [{"protocol": "tcp", "ports": [str(spec.runtime.port)]}]
    assert "deny" not in rule and "source_tags" not in rule
    assert rule["target_service_accounts"] == [service_account_ref(doc, "email")]
    sources = rule["source_ranges"]
    assert sources[:2] == list(GOOGLE_LOAD_BALANCER_RANGES)
    assert set(GOOGLE_LOAD_BALANCER_RANGES) == {"130.211.0.0/22", "35.191.0.0/16"}
    if spec.network.public:
        assert sources == list(GOOGLE_LOAD_BALANCER_RANGES)
    elif spec.network.subnet_ids:
        proxy_key = next(
            k
            for k, b in data_sources(doc, "google_compute_subnetwork").items()
            if b["name"] == PROXY_SUBNET
        )
        assert sources[2:] == [ref("data.google_compute_subnetwork", proxy_key, "ip_cidr_range")]
    else:
        assert sources[2:] == [PROXY_ONLY_CIDR]
    assert "0.0.0.0/0" not in json.dumps(resources(doc, "google_compute_firewall"))


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_instances_have_no_external_ip(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    for template in resources(synthesized[spec], "google_compute_instance_template").values():
        (interface,) = template["network_interface"]
        assert "access_config" not in interface and "ipv6_access_config" not in interface
        assert template["can_ip_forward"] is False


# ---------------------------------------------------------------------------------------------
# Service accounts: least privilege


def test_fleet_identity_reads_exactly_the_image_secret_and_weights_it_names(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[NEW]
    member = service_account_ref(doc, "member")
    grants = {(rtype, role) for rtype, role, _ in iam_members(doc)}
    assert grants == {
        ("google_project_iam_member", "roles/logging.logWriter"),
        ("google_project_iam_member", "roles/monitoring.metricWriter"),
        ("google_artifact_registry_repository_iam_member", "roles/artifactregistry.reader"),
        ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer"),
    }
    for rtype, _, body in iam_members(doc):
        assert body["member"] == member
        if rtype == "google_project_iam_member":
            assert body["project"] == PROJECT
    _, repository = only(doc, "google_artifact_registry_repository_iam_member")
    assert (repository["project"], repository["location"], repository["repository"]) == (
        "images-project-7",
        "us",
        "serving",
    )
    _, secret = only(doc, "google_secret_manager_secret_iam_member")
    assert (secret["project"], secret["secret_id"]) == (PROJECT, SECRET)
    _, bucket = only(doc, "google_storage_bucket_iam_member")
    assert bucket["bucket"] == WEIGHTS_BUCKET


def test_a_secret_of_another_project_is_granted_there(synthesized: Synthesized) -> None:
    _, secret = only(synthesized[EXISTING], "google_secret_manager_secret_iam_member")
    assert (secret["project"], secret["secret_id"]) == ("secrets-project-3", SECRET)


def test_nothing_named_means_telemetry_roles_only(synthesized: Synthesized) -> None:
    doc = synthesized[PUBLIC]  # a Docker Hub image, no secret, weights from the hub
    assert {role for _, role, _ in iam_members(doc)} == TELEMETRY_ROLES


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_no_primitive_roles_and_no_default_service_account(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    roles = {role for _, role, _ in iam_members(doc)}
    assert not roles & PRIMITIVE_ROLES
    assert not any("admin" in role.lower() for role in roles)
    for template in resources(doc, "google_compute_instance_template").values():
        assert template["service_account"] == {
            "email": service_account_ref(doc, "email"),
            "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        }


# ---------------------------------------------------------------------------------------------
# Instance templates


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_instance_template_secure_defaults(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    templates = resources(synthesized[spec], "google_compute_instance_template")
    assert templates
    for template in templates.values():
        assert template["machine_type"] == spec.instance_type
        assert template["shielded_instance_config"] == {
            "enable_secure_boot": True,
            "enable_vtpm": True,
            "enable_integrity_monitoring": True,
        }
        (disk,) = template["disk"]
        assert disk["boot"] is True and disk["auto_delete"] is True
        assert disk["source_image"] == DLVM_IMAGE
        assert DLVM_IMAGE.startswith("projects/deeplearning-platform-release/global/images/family/")
        assert disk["disk_size_gb"] == spec.root_volume_gib
        assert disk["disk_type"] == "pd-balanced"
        assert "disk_encryption_key" not in disk  # Google-managed encryption at rest
        metadata = template["metadata"]
        assert metadata["install-nvidia-driver"] == "True"
        assert metadata["block-project-ssh-keys"] == "TRUE"
        assert metadata["enable-oslogin"] == "TRUE"
        assert metadata["serial-port-enable"] == "FALSE"
        assert metadata["startup-script"] == render_user_data(spec)
        assert template["lifecycle"] == {"create_before_destroy": True}
        assert template["name_prefix"].endswith("-") and len(template["name_prefix"]) <= 37


def test_startup_script_names_the_secret_never_a_value(synthesized: Synthesized) -> None:
    doc = synthesized[NEW]
    for template in resources(doc, "google_compute_instance_template").values():
        script = template["metadata"]["startup-script"]
        assert "gcloud secrets versions access latest --secret=" in script
        assert f"readonly HF_TOKEN_SECRET={SECRET}" in script
        assert "HF_TOKEN=" not in script.replace("s/^/HF_TOKEN=/", "")
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", json.dumps(doc))


@pytest.mark.parametrize(
    ("spec", "accelerators"),
    [(NEW, None), (PUBLIC, None), (EXISTING, [{"type": "nvidia-tesla-t4", "count": 2}])],
    ids=["g2-carries-its-gpus", "a2-carries-its-gpus", "n1-takes-guest-gpus"],
)
def test_gpus(
    synthesized: Synthesized, spec: DeploymentSpec, accelerators: list[dict[str, Any]] | None
) -> None:
    for template in resources(synthesized[spec], "google_compute_instance_template").values():
        assert template.get("guest_accelerator") == accelerators


def test_spot_and_standard_scheduling(synthesized: Synthesized) -> None:
    doc = synthesized[NEW]
    spot = template_of(doc, groups(doc)["spot"])["scheduling"]
    assert spot == {
        "provisioning_model": "SPOT",
        "preemptible": True,
        "automatic_restart": False,
        "on_host_maintenance": "TERMINATE",
        "instance_termination_action": "DELETE",
    }
    standard = template_of(doc, groups(doc)["on-demand-base"])["scheduling"]
    assert standard == {
        "provisioning_model": "STANDARD",
        "preemptible": False,
        "automatic_restart": True,
        "on_host_maintenance": "TERMINATE",  # GPUs cannot live-migrate
    }


@pytest.mark.parametrize(
    ("machine", "accelerator"),
    [("n2-standard-8", "L4"), ("n1-standard-16", "A100")],
    ids=["no-gpu-family", "n1-with-an-unattachable-gpu"],
)
def test_machines_without_a_known_gpu_attachment_are_refused(
    tmp_path: Path, synthesized: Synthesized, machine: str, accelerator: str
) -> None:
    spec = msgspec.structs.replace(NEW, instance_type=machine, accelerator=accelerator)
    with pytest.raises(InstanceTemplateError, match=f"{machine} with {accelerator} is not a GPU"):
        synthesize_one(tmp_path, spec)


# ---------------------------------------------------------------------------------------------
# Instance groups and autoscaling


def test_on_demand_base_group_and_spot_group_above_it(synthesized: Synthesized) -> None:
    doc = synthesized[NEW]
    found = groups(doc)
    assert set(found) == {"on-demand-base", "spot"}
    base, spot = found["on-demand-base"], found["spot"]
    assert base["target_size"] == NEW.capacity.on_demand_base
    assert "lifecycle" not in base
    assert autoscaler_of(doc, "on-demand-base") is None  # the base stays at its size
    assert spot["target_size"] == NEW.capacity.desired - NEW.capacity.on_demand_base
    assert spot["lifecycle"] == {"ignore_changes": ["target_size"]}
    policy = autoscaler_of(doc, "spot")["autoscaling_policy"]  # type: ignore[index]
    assert (policy["min_replicas"], policy["max_replicas"]) == (
        NEW.capacity.min_size - NEW.capacity.on_demand_base,
        NEW.capacity.max_size - NEW.capacity.on_demand_base,
    )


def test_all_on_demand_is_one_autoscaled_standard_group(synthesized: Synthesized) -> None:
    doc = synthesized[EXISTING]
    (role,) = groups(doc)
    assert role == "on-demand"
    group = groups(doc)[role]
    assert group["target_size"] == EXISTING.capacity.desired
    assert template_of(doc, group)["scheduling"]["provisioning_model"] == "STANDARD"
    policy = autoscaler_of(doc, role)["autoscaling_policy"]  # type: ignore[index]
    assert (policy["min_replicas"], policy["max_replicas"]) == (2, 3)


def test_without_a_base_the_spot_group_keeps_one_instance(synthesized: Synthesized) -> None:
    doc = synthesized[PUBLIC]
    assert set(groups(doc)) == {"spot"}
    policy = autoscaler_of(doc, "spot")["autoscaling_policy"]  # type: ignore[index]
    assert (policy["min_replicas"], policy["max_replicas"]) == (1, 4)
    assert groups(doc)["spot"]["target_size"] == PUBLIC.capacity.desired


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_groups_span_the_spec_zones_with_auto_healing(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    # The internal load balancer takes a regional health check, the external one a global one.
    health_type = (
        "google_compute_health_check"
        if spec.network.public
        else "google_compute_region_health_check"
    )
    health_key, check = only(doc, health_type)
    assert check["http_health_check"] == {
        "port": spec.runtime.port,
        "request_path": spec.runtime.health_path,
    }
    for group in groups(doc).values():
        assert group["region"] == REGION
        assert group["distribution_policy_zones"] == spec.zones
        assert group["distribution_policy_target_shape"] == "BALANCED"
        assert group["auto_healing_policies"] == {
            "health_check": ref(health_type, health_key, "id"),
            "initial_delay_sec": spec.capacity.health_check_grace_s,
        }
        assert group["named_port"] == [{"name": "http", "port": spec.runtime.port}]
        assert group["update_policy"] == {
            "type": "PROACTIVE",
            "minimal_action": "REPLACE",
            "replacement_method": "SUBSTITUTE",
            "instance_redistribution_type": "NONE",
            "max_unavailable_fixed": 0,
            "max_surge_fixed": len(spec.zones),
        }


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_autoscalers_follow_the_load_balancers_serving_capacity(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    for scaler in resources(doc, "google_compute_region_autoscaler").values():
        policy = scaler["autoscaling_policy"]
        assert policy["load_balancing_utilization"] == {"target": 0.8}
        assert policy["cooldown_period"] == spec.capacity.health_check_grace_s
        assert policy["mode"] == "ON"
        assert "cpu_utilization" not in policy


# ---------------------------------------------------------------------------------------------
# Load balancer


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_every_group_is_a_backend_at_the_specs_request_rate(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    rtype = (
        "google_compute_backend_service"
        if spec.network.public
        else "google_compute_region_backend_service"
    )
    _, service = only(doc, rtype)
    found = service["backend"]
    expected_groups = {
        ref("google_compute_region_instance_group_manager", key, "instance_group")
        for key in resources(doc, "google_compute_region_instance_group_manager")
    }
    assert {backend["group"] for backend in found} == expected_groups
    for backend in found:
        assert backend["balancing_mode"] == "RATE"
        # The autoscaler's 0.8 of this is the spec's requests per minute, per second.
        assert backend["max_rate_per_instance"] * 0.8 * 60 == pytest.approx(spec.scaling.target)
    assert service["protocol"] == "HTTP" and service["port_name"] == "http"
    assert service["timeout_sec"] == 600
    assert service["locality_lb_policy"] == "LEAST_REQUEST"
    # A removed instance drains for the spec's deadline, the p99 alarm (modules/gcp/drain.py).
    assert service["connection_draining_timeout_sec"] == math.ceil(spec.scaling.p99_latency_alarm_s)


def test_internal_application_load_balancer_by_default(synthesized: Synthesized) -> None:
    doc = synthesized[NEW]
    assert resources(doc, "google_compute_global_forwarding_rule") == {}
    assert resources(doc, "google_compute_security_policy") == {}
    _, service = only(doc, "google_compute_region_backend_service")
    assert service["load_balancing_scheme"] == "INTERNAL_MANAGED"
    _, rule = only(doc, "google_compute_forwarding_rule")
    assert rule["load_balancing_scheme"] == "INTERNAL_MANAGED"
    assert (rule["port_range"], rule["ip_protocol"]) == ("80", "TCP")
    assert rule["allow_global_access"] is False
    subnets = resources(doc, "google_compute_subnetwork")
    (serving_key,) = [k for k, b in subnets.items() if b["name"] == "new-prod-serving"]
    (proxy_key,) = [k for k, b in subnets.items() if b["name"] == "new-prod-proxy-only"]
    assert rule["subnetwork"] == ref("google_compute_subnetwork", serving_key, "self_link")
    assert rule["depends_on"] == [f"google_compute_subnetwork.{proxy_key}"]


def test_public_load_balancer_admits_the_listed_ranges_only(synthesized: Synthesized) -> None:
    doc = synthesized[PUBLIC]
    assert resources(doc, "google_compute_forwarding_rule") == {}
    policy_key, policy = only(doc, "google_compute_security_policy")
    _, service = only(doc, "google_compute_backend_service")
    assert service["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert service["security_policy"] == ref("google_compute_security_policy", policy_key, "id")
    rules = sorted(policy["rule"], key=lambda rule: rule["priority"])
    allows, deny = rules[:-1], rules[-1]
    assert [len(r["match"]["config"]["src_ip_ranges"]) for r in allows] == [10, 2]
    listed = [cidr for r in allows for cidr in r["match"]["config"]["src_ip_ranges"]]
    assert listed == PUBLIC_CIDRS
    assert all(r["action"] == "allow" for r in allows)
    assert deny["action"] == "deny(403)" and deny["priority"] == 2147483647
    assert deny["match"] == {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}}


def test_public_load_balancer_serves_https_and_redirects_http(synthesized: Synthesized) -> None:
    doc = synthesized[PUBLIC]
    address_key, address = only(doc, "google_compute_global_address")
    assert (address["address_type"], address["ip_version"]) == ("EXTERNAL", "IPV4")
    rules = {
        r["port_range"]: r for r in resources(doc, "google_compute_global_forwarding_rule").values()
    }
    assert set(rules) == {"443", "80"}
    for rule in rules.values():
        assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
        assert rule["ip_address"] == ref("google_compute_global_address", address_key, "address")
    # 443: the serving URL map behind the certificates and a TLS 1.2+ RESTRICTED policy.
    https_key, https = only(doc, "google_compute_target_https_proxy")
    assert rules["443"]["target"] == ref("google_compute_target_https_proxy", https_key, "id")
    service_key, _ = only(doc, "google_compute_backend_service")
    maps = resources(doc, "google_compute_url_map")
    serving_key = key_of(https["url_map"])
    assert maps[serving_key]["default_service"] == ref(
        "google_compute_backend_service", service_key, "id"
    )
    certificate_key, certificate = only(doc, "google_compute_managed_ssl_certificate")
    assert certificate["managed"] == {"domains": DOMAINS}
    assert certificate["lifecycle"] == {"create_before_destroy": True}
    assert https["ssl_certificates"] == [
        ref("google_compute_managed_ssl_certificate", certificate_key, "id"),
        GIVEN_CERTIFICATE,
    ]
    policy_key, policy = only(doc, "google_compute_ssl_policy")
    assert (policy["profile"], policy["min_tls_version"]) == ("RESTRICTED", "TLS_1_2")
    assert https["ssl_policy"] == ref("google_compute_ssl_policy", policy_key, "id")
    # 80: a URL map that only redirects, reaching no backend.
    http_key, http = only(doc, "google_compute_target_http_proxy")
    assert rules["80"]["target"] == ref("google_compute_target_http_proxy", http_key, "id")
    redirect = maps[key_of(http["url_map"])]
    assert "default_service" not in redirect
    assert redirect["default_url_redirect"] == {
        "https_redirect": True,
        "strip_query": False,
        "redirect_response_code": "MOVED_PERMANENTLY_DEFAULT",
    }


def test_a_new_set_of_domains_is_a_new_certificate() -> None:
    first = managed_certificate_name("chat-prod", DOMAINS)
    assert first == managed_certificate_name("chat-prod", list(reversed(DOMAINS)))
    assert first != managed_certificate_name("chat-prod", [*DOMAINS, "www.example.com"])
    assert NAME.match(first)


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (Network(public=True), "none are listed"),
        (
            Network(public=True, ingress_cidrs=["0.0.0.0/0"]),
            "needs a certificate: set deploy.network.certificate_domains",
        ),
        (
            Network(certificate_domains=["chat.example.com"]),
            "on GCP only the public load balancer serves a certificate",
        ),
        (Network(ingress_cidrs=["10.0.0.0/8"]), "cannot filter clients by range"),
        (Network(vpc_id="serving-vpc"), "needs the fleet's subnet"),
        (Network(subnet_ids=[SHARED_SUBNET]), "and, second, the region's proxy-only subnet"),
        (
            Network(
                public=True,
                ingress_cidrs=["0.0.0.0/0"],
                subnet_ids=[SHARED_SUBNET, "x"],
                certificate_name="chat",
            ),
            "a public load balancer needs exactly one",
        ),
        (
            Network(subnet_ids=["projects/p-123456/regions/europe-west4/subnetworks/s", "p"]),
            "is in europe-west4, but the deployment is in us-central1",
        ),
        (Network(subnet_ids=["subnet-0a1b2c3d4e5f60718", "Proxy_Only"]), "is not a GCP subnet"),
    ],
    ids=[
        "public-open-to-nobody",
        "public-without-certificate",
        "internal-with-certificate",
        "internal-with-client-ranges",
        "vpc-without-subnet",
        "internal-without-proxy-only-subnet",
        "public-with-two-subnets",
        "subnet-of-another-region",
        "aws-subnet-id",
    ],
)
def test_network_refusals_are_one_sentence_and_write_nothing(
    tmp_path: Path, synthesized: Synthesized, network: Network, expected: str
) -> None:
    spec = msgspec.structs.replace(NEW, network=network)
    with pytest.raises((GcpSpecError, NetworkError)) as caught:
        synthesize_one(tmp_path, spec)
    assert expected in str(caught.value)
    one_sentence(str(caught.value))
    assert not list((tmp_path / "out").rglob("cdk.tf.json"))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"capacity": {"spot_percentage_above_base": 70}}, "must be 0 or 100 on GCP"),
        ({"runtime": {"model_s3_uri": "s3://b/p"}}, "runtime.model_s3_uri is read on AWS only"),
        (
            {"runtime": {"hf_token_ssm_parameter": "/serving/hf"}},
            "runtime.hf_token_ssm_parameter is read on AWS only",
        ),
    ],
    ids=["spot-share-inside-a-group", "s3-weights", "ssm-token"],
)
def test_fleet_spec_refusals(
    tmp_path: Path, synthesized: Synthesized, changes: dict[str, Any], expected: str
) -> None:
    spec = msgspec.structs.replace(
        NEW,
        capacity=msgspec.structs.replace(NEW.capacity, **changes.get("capacity", {})),
        runtime=msgspec.structs.replace(NEW.runtime, **changes.get("runtime", {})),
    )
    with pytest.raises(GcpSpecError) as caught:
        synthesize_one(tmp_path, spec)
    assert expected in str(caught.value)
    one_sentence(str(caught.value))


def test_fleet_outputs(synthesized: Synthesized) -> None:
    doc = synthesized[NEW]
    outputs = service_outputs(doc)
    assert set(outputs) == {
        "endpoint_url",
        "instance_group_names",
        "backend_service",
        "network_self_link",
        "service_account_email",
    }
    rule_key, _ = only(doc, "google_compute_forwarding_rule")
    address = ref("google_compute_forwarding_rule", rule_key, "ip_address")
    assert outputs["endpoint_url"]["value"] == f"http://{address}"
    assert len(outputs["instance_group_names"]["value"]) == 2
    # Public: HTTPS at the managed certificate's first domain.
    assert synthesized[PUBLIC]["output"]["endpoint_url"]["value"] == f"https://{DOMAINS[0]}"


# ---------------------------------------------------------------------------------------------
# Vertex AI endpoint


@pytest.mark.parametrize("spec", ENDPOINTS, ids=lambda s: s.name)
def test_vertex_outputs_are_the_sdk_steps_contract(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    outputs = {name: body["value"] for name, body in service_outputs(doc).items()}
    assert set(outputs) == CONTRACT_OUTPUTS
    endpoint_key, endpoint = only(doc, "google_vertex_ai_endpoint")
    assert re.fullmatch(r"[1-9]\d{9}", endpoint["name"])
    assert outputs["vertex_endpoint_name"] == (
        f"projects/{PROJECT}/locations/{REGION}/endpoints/"
        + ref("google_vertex_ai_endpoint", endpoint_key, "name")
    )
    assert (outputs["project"], outputs["region"]) == (PROJECT, REGION)
    assert outputs["service_account_email"] == service_account_ref(doc, "email")
    key_key, _ = only(doc, "google_kms_crypto_key")
    assert outputs["kms_key_name"] == ref("google_kms_crypto_key", key_key, "id")


def test_endpoint_ids_are_stable_and_differ_between_stacks(synthesized: Synthesized) -> None:
    ids = {only(synthesized[spec], "google_vertex_ai_endpoint")[1]["name"] for spec in ENDPOINTS}
    assert len(ids) == len(ENDPOINTS)
    assert (
        endpoint_id(PROJECT, REGION, VERTEX.stack_name)
        == only(synthesized[VERTEX], "google_vertex_ai_endpoint")[1]["name"]
    )


@pytest.mark.parametrize("spec", ENDPOINTS, ids=lambda s: s.name)
def test_endpoint_encrypted_with_a_rotated_key_only_vertex_may_use(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    ring_key, ring = only(doc, "google_kms_key_ring")
    assert ring["location"] == REGION
    suffix_key, suffix = only(doc, "random_id")
    assert suffix["byte_length"] == 3
    assert ring["name"].endswith(f"-vertex-${{random_id.{suffix_key}.hex}}")
    assert doc["terraform"]["required_providers"]["random"] == RANDOM_PROVIDER
    key_key, key = only(doc, "google_kms_crypto_key")
    assert key["key_ring"] == ref("google_kms_key_ring", ring_key, "id")
    assert key["rotation_period"] == KEY_ROTATION == "7776000s"
    assert key["purpose"] == "ENCRYPT_DECRYPT"
    member_key, member = only(doc, "google_kms_crypto_key_iam_member")
    assert member["crypto_key_id"] == ref("google_kms_crypto_key", key_key, "id")
    assert member["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    (project_key,) = data_sources(doc, "google_project")
    number = ref("data.google_project", project_key, "number")
    assert member["member"] == (
        f"serviceAccount:service-{number}@gcp-sa-aiplatform.iam.gserviceaccount.com"
    )
    _, endpoint = only(doc, "google_vertex_ai_endpoint")
    assert endpoint["encryption_spec"] == {
        "kms_key_name": ref("google_kms_crypto_key", key_key, "id")
    }
    assert endpoint["depends_on"] == [f"google_kms_crypto_key_iam_member.{member_key}"]
    assert endpoint["lifecycle"] == {"ignore_changes": ["traffic_split"]}
    assert (endpoint["location"], endpoint["region"]) == (REGION, REGION)


def test_public_endpoint_without_a_network(synthesized: Synthesized) -> None:
    _, endpoint = only(synthesized[VERTEX], "google_vertex_ai_endpoint")
    assert "private_service_connect_config" not in endpoint and "network" not in endpoint


@pytest.mark.parametrize(
    ("spec", "network"),
    [
        (VERTEX_VPC, f"projects/{PROJECT}/global/networks/serving-vpc"),
        (VERTEX_SUBNET, "subnet"),
    ],
    ids=["by-vpc-name", "by-subnet"],
)
def test_private_endpoint_through_private_service_connect(
    synthesized: Synthesized, spec: DeploymentSpec, network: str
) -> None:
    doc = synthesized[spec]
    _, endpoint = only(doc, "google_vertex_ai_endpoint")
    psc = endpoint["private_service_connect_config"]
    assert psc["enable_private_service_connect"] is True
    assert psc["project_allowlist"] == [PROJECT]
    (automation,) = psc["psc_automation_configs"]
    assert automation["project_id"] == PROJECT
    if network == "subnet":
        ((subnet_key, subnet),) = data_sources(doc, "google_compute_subnetwork").items()
        assert (subnet["project"], subnet["name"]) == ("host-project-9", "serving")
        network = (
            "${replace(data.google_compute_subnetwork."
            f'{subnet_key}.network, "https://www.googleapis.com/compute/v1/", "")}}'
        )
    assert automation["network"] == network
    assert "network" not in endpoint  # peering and PSC exclude each other


@pytest.mark.parametrize("spec", ENDPOINTS, ids=lambda s: s.name)
def test_deployed_model_identity_logs_and_reads_its_weights_only(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    grants = {role for _, role, _ in iam_members(doc)}
    expected = {*TELEMETRY_ROLES, "roles/cloudkms.cryptoKeyEncrypterDecrypter"}
    if spec.gcp.model_gcs_uri:
        expected.add("roles/storage.objectViewer")
        _, bucket = only(doc, "google_storage_bucket_iam_member")
        assert bucket["bucket"] == WEIGHTS_BUCKET
    assert grants == expected
    assert resources(doc, "google_secret_manager_secret_iam_member") == {}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"runtime": {"image": PUBLIC_IMAGE}}, "from Artifact Registry only, not vllm/vllm-openai"),
        ({"gcp": {"hf_token_secret": SECRET}}, "cannot take the Hugging Face token"),
        ({"runtime": {"replicas_per_instance": 2}}, "one replica per instance"),
    ],
    ids=["docker-hub-image", "token-without-gcs-weights", "two-replicas"],
)
def test_vertex_spec_refusals(
    tmp_path: Path, synthesized: Synthesized, changes: dict[str, Any], expected: str
) -> None:
    spec = msgspec.structs.replace(
        VERTEX,
        runtime=msgspec.structs.replace(VERTEX.runtime, **changes.get("runtime", {})),
        gcp=GcpOptions(project=PROJECT, **changes.get("gcp", {})),
    )
    with pytest.raises(GcpSpecError) as caught:
        synthesize_one(tmp_path, spec)
    assert expected in str(caught.value)
    one_sentence(str(caught.value))


# ---------------------------------------------------------------------------------------------
# Specs from a recommendation


@pytest.fixture(scope="module")
def gcp_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = profile_dict(
        placement={"clouds": ["gcp"], "zones": 2, "min_replicas": 2},
        tags={"team": "ml", "cost-center": "cc-1", "env": "dev"},
        deploy={"gcp": {"project": PROJECT, "model_gcs_uri": WEIGHTS}},
    )
    return write_profile(tmp_path_factory.mktemp("profile"), data)


def recommended(path: Path, kind: str) -> DeploymentSpec:
    from planner.service import recommend_for_profile

    recommendation = recommend_for_profile(path, Filters(kinds=frozenset({kind})))
    return spec_from_recommendation(recommendation.profile, recommendation, "prod")


def test_a_gcp_fleet_spec_from_a_recommendation(gcp_profile: Path) -> None:
    spec = recommended(gcp_profile, "fleet")
    assert (spec.cloud, spec.kind) == ("gcp", "fleet")
    assert spec.zones and all(zone.startswith(spec.region) for zone in spec.zones)
    assert spec.runtime.image == PUBLIC_IMAGE  # Docker Hub through Cloud NAT
    assert spec.runtime.port == 8000 and spec.runtime.health_path == "/health"
    assert spec.gcp == GcpOptions(project=PROJECT, model_gcs_uri=WEIGHTS)
    assert spec.runtime.model_s3_uri is None and spec.runtime.hf_token_ssm_parameter is None
    assert spec.capacity.spot_percentage_above_base in (0, 100)


def test_a_vllm_vertex_spec_runs_googles_model_garden_image(gcp_profile: Path) -> None:
    spec = recommended(gcp_profile, "vertex")
    assert spec.runtime.image == VERTEX_IMAGES["vllm"]
    assert spec.runtime.image.startswith(
        "us-docker.pkg.dev/vertex-ai/vertex-vision-model-garden-dockers/pytorch-vllm-serve:"
    )
    assert spec.runtime.port == VERTEX_PORT == 8080
    assert spec.runtime.health_path == MODEL_GARDEN_HEALTH_PATH == "/ping"
    assert spec.runtime.replicas_per_instance == 1


def test_a_vertex_spec_keeps_an_artifact_registry_image_of_the_profile(
    gcp_profile: Path, tmp_path: Path
) -> None:
    data = json.loads(json.dumps(yaml_of(gcp_profile)))
    data["runtime"] = {"image": AR_IMAGE}
    spec = recommended(write_profile(tmp_path, data), "vertex")
    assert spec.runtime.image == AR_IMAGE
    assert spec.runtime.port == VERTEX_PORT == 8080
    assert spec.runtime.health_path == HEALTH_PATHS["vllm"]


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        (
            {"image": PUBLIC_IMAGE},
            r"Artifact Registry only: copy vllm/vllm-openai:v0\.10\.2 into a repository of yours",
        ),
        (
            {"engine": "tgi"},
            r"no Google-published Vertex AI image is known to run the tgi version this toolkit "
            r"configures: copy ghcr\.io/huggingface/text-generation-inference:3\.3\.4 into an "
            r"Artifact Registry repository",
        ),
    ],
    ids=["docker-hub-image", "tgi-without-an-image"],
)
def test_a_vertex_spec_without_a_usable_image_is_refused(
    gcp_profile: Path, tmp_path: Path, runtime: dict[str, str], expected: str
) -> None:
    data = json.loads(json.dumps(yaml_of(gcp_profile)))
    data["runtime"] = runtime
    with pytest.raises(ProfileError, match=expected) as caught:
        recommended(write_profile(tmp_path, data), "vertex")
    one_sentence(str(caught.value))


def yaml_of(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize(
    ("deploy", "expected"),
    [
        ({"model_s3_uri": "s3://models/llama"}, "deploy.gcp.model_gcs_uri, or pin --cloud aws"),
        ({"hf_token_ssm_parameter": "/serving/hf"}, "deploy.gcp.hf_token_secret, or pin"),
    ],
    ids=["s3-weights-only", "ssm-token-only"],
)
def test_aws_only_sources_are_refused_for_gcp(
    tmp_path: Path, deploy: dict[str, Any], expected: str
) -> None:
    data = profile_dict(
        placement={"clouds": ["gcp"], "zones": 1},
        tags={"team": "ml", "cost-center": "cc-1", "env": "dev"},
        deploy=deploy,
    )
    with pytest.raises(ProfileError) as caught:
        recommended(write_profile(tmp_path, data), "fleet")
    assert expected in str(caught.value)
    one_sentence(str(caught.value))


# ---------------------------------------------------------------------------------------------
# What `infra cost` makes of the configurations


def priced(synthesized: Synthesized, spec: DeploymentSpec) -> dict[str, Any]:
    report = price_plan(
        from_configuration(synthesized[spec]), load_catalog(), source=spec.stack_name
    )
    assert (report.cloud, report.region) == ("gcp", REGION)
    return {resource.address: resource for resource in report.resources}


def zone_mean(instance_type: str, accelerator: str, zones: list[str], spot: bool) -> float:
    (offering,) = [
        o
        for o in load_catalog().offerings
        if (o.cloud, o.kind, o.region, o.instance_type, o.accelerator)
        == ("gcp", "fleet", REGION, instance_type, accelerator)
    ]
    chosen = [z for z in offering.zones if z.zone in zones]
    prices = [(z.spot_usd if spot else None) or z.ondemand_usd or 0.0 for z in chosen]
    return sum(prices) / len(prices)


def test_cost_of_the_spot_and_on_demand_groups(synthesized: Synthesized) -> None:
    doc = synthesized[NEW]
    costs = priced(synthesized, NEW)
    base = costs[f"google_compute_region_instance_group_manager.{group_key(doc, 'on-demand-base')}"]
    spot = costs[f"google_compute_region_instance_group_manager.{group_key(doc, 'spot')}"]
    assert base.status == spot.status == "priced"
    compute, disk = base.components
    assert compute.unit_price == pytest.approx(zone_mean("g2-standard-24", "L4", ZONES, False))
    assert compute.quantity.expected == 730 and compute.category == "compute (on-demand)"
    assert disk.unit_price == 0.10 and disk.quantity.expected == NEW.root_volume_gib
    assert compute.price_retrieved is None
    compute, _ = spot.components
    assert compute.unit_price == pytest.approx(zone_mean("g2-standard-24", "L4", ZONES, True))
    assert compute.price_retrieved == "2026-11-23"  # the date of the spot prices it averages
    assert compute.ondemand_unit_price == pytest.approx(
        zone_mean("g2-standard-24", "L4", ZONES, False)
    )
    assert (compute.quantity.min, compute.quantity.expected, compute.quantity.max) == (
        730 * 1,
        730 * 2,
        730 * 5,
    )


def test_cost_of_n1_is_that_of_its_attached_gpus(synthesized: Synthesized) -> None:
    costs = priced(synthesized, EXISTING)
    (group,) = [c for c in costs.values() if c.type.endswith("instance_group_manager")]
    compute = group.components[0]
    assert compute.name == "on-demand instances (n1-standard-16, T4)"
    assert compute.unit_price == pytest.approx(
        zone_mean("n1-standard-16", "T4", EXISTING.zones, False)
    )
    assert (compute.quantity.min, compute.quantity.max) == (730 * 2, 730 * 3)


def test_cost_of_services_and_what_stays_unpriced(synthesized: Synthesized) -> None:
    statuses = {c.type: (c.status, c.reason) for c in priced(synthesized, PUBLIC).values()}
    assert statuses["google_compute_global_forwarding_rule"][0] == "priced"
    assert statuses["google_compute_router_nat"][0] == "usage-based"
    status, reason = statuses["google_compute_security_policy"]
    assert status == "unpriced" and "Cloud Armor" in (reason or "")
    for free in (
        "google_compute_firewall",
        "google_compute_backend_service",
        "google_service_account",
        "google_compute_target_https_proxy",
        "google_compute_managed_ssl_certificate",
        "google_compute_ssl_policy",
        "google_compute_global_address",
    ):
        assert statuses[free][0] == "free"


def test_cost_of_a_vertex_stack_says_the_models_are_not_in_it(synthesized: Synthesized) -> None:
    statuses = {c.type: (c.status, c.reason) for c in priced(synthesized, VERTEX).values()}
    status, reason = statuses["google_vertex_ai_endpoint"]
    assert status == "free" and "created by the Vertex AI SDK after apply" in (reason or "")
    assert statuses["random_id"][0] == "free"
    assert statuses["google_kms_crypto_key"][0] == "usage-based"
    assert all(status != "unpriced" for status, _ in statuses.values())


# ---------------------------------------------------------------------------------------------
# terraform validate, where a Google provider is available


@pytest.mark.terraform
@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_terraform_validate(tmp_path: Path, synthesized: Synthesized, spec: DeploymentSpec) -> None:
    providers = ("google", "random") if spec.kind == "vertex" else ("google",)
    validate_with_mirror(synthesized[spec], tmp_path, providers)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_the_stack_records_its_spec(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    assert_records_its_spec(synthesized[spec], spec)
