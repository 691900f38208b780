"""The local emulator's process: moto's server on a loopback address, with known gaps patched.

`providers.local.emulator` runs it as `python -m providers.local.server --host 127.0.0.1 --port N`
with its output going to `moto.log`.

The patches below change only what this emulator accepts; they never touch what is deployed to
real AWS, where the SageMaker API does its own validation. Each one says in the log what it did:

- SageMaker endpoint configs: moto 5.2.5 checks every production variant's `InstanceType` against
  a list hard-coded inside `FakeEndpointConfig.validate_instance_type`, which predates ml.g5,
  ml.g6, ml.g6e, ml.p5, ml.inf2 (and ml.p4d). The list is a local variable of that method, so the
  method is wrapped: the types moto rejects from the toolkit's SageMaker catalog and the common
  sizes of those families are accepted; every other type still goes through moto's own check.
- SSM public parameters: moto knows the Amazon Linux and ECS AMI parameters but not the Deep
  Learning AMI ones the fleet's launch template reads (providers/aws/amis.py), and its API refuses
  to create names under /aws. Reading one of them yields a stand-in: moto's first Ubuntu AMI.
- Read-back fidelity, so that a second `plan` after `apply` shows no changes as it does on AWS:
  autoscaling groups keep `DefaultInstanceWarmup`; lifecycle hooks report no role or
  notification target unless given (moto invents both); scaling policies report `Enabled`; launch
  template versions do not echo the template's own tags (resource type `launch-template`) as
  part of the template data; target-tracking policies carry no empty predictive-scaling block;
  security group rules that reference another group keep their description; revoking a rule by
  an ID the group no longer has is `InvalidSecurityGroupRuleId.NotFound`, as on AWS.
- Missing APIs: moto 5.2.5 has no autoscaling instance refreshes; the provider starts one when a
  fleet's launch configuration changes and retries for many minutes on the error. Here a refresh
  completes at once (the emulator runs no instances worth replacing).
- SageMaker endpoints: models keep EnableNetworkIsolation, endpoints keep their deployment
  configuration (LastDeploymentConfig), and UpdateEndpoint exists; it switches configuration at
  once instead of shifting traffic. Application Auto Scaling gets the tag APIs the provider calls.
- EKS (the kubernetes kind's clusters and node groups): each cluster gets its own OIDC issuer, a
  cluster security group and its access configuration, node groups read back without invented
  remote access or disk size, and UpdateNodegroupVersion and DescribeUpdate exist (see
  complete_eks).
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
from collections.abc import Callable
from importlib import resources
from importlib.metadata import version

_G_SIZES = (
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "48xlarge",
)
NEWER_SAGEMAKER_FAMILIES: dict[str, tuple[str, ...]] = {
    "ml.g5": _G_SIZES,
    "ml.g6": _G_SIZES,
    "ml.g6e": _G_SIZES,
    "ml.p5": ("48xlarge",),
    "ml.inf2": ("xlarge", "8xlarge", "24xlarge", "48xlarge"),
}


def catalog_sagemaker_instance_types() -> set[str]:
    """Every instance type in the shipped SageMaker price catalog."""
    data = resources.files("providers.aws").joinpath("data", "sagemaker.csv")
    with data.open(encoding="utf-8", newline="") as stream:
        return {row["instance_type"] for row in csv.DictReader(stream)}


def extend_sagemaker_instance_types() -> list[str]:
    """Make moto's SageMaker endpoint configs accept the instance types its list lacks.

    Returns the types that moto rejected before and accepts now (sorted).
    """
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpointConfig

    original: Callable[[FakeEndpointConfig, str], None] = FakeEndpointConfig.validate_instance_type

    def rejected(instance_type: str) -> bool:
        try:
            original(None, instance_type)  # type: ignore[arg-type]  # moto's check ignores self
        except ValidationError:
            return True
        return False

    wanted = catalog_sagemaker_instance_types() | {
        f"{family}.{size}" for family, sizes in NEWER_SAGEMAKER_FAMILIES.items() for size in sizes
    }
    missing = frozenset(t for t in wanted if rejected(t))
    if not missing:
        return []

    def validate_instance_type(self: FakeEndpointConfig, instance_type: str) -> None:
        if instance_type not in missing:
            original(self, instance_type)

    FakeEndpointConfig.validate_instance_type = validate_instance_type  # type: ignore[method-assign]
    return sorted(missing)


def add_serving_ami_parameters() -> str:
    """Answer the Deep Learning AMI parameters with a stand-in AMI moto has; return its id."""
    from moto.ec2.models.amis import AMIS
    from moto.ssm.models import Parameter, ParameterDict

    from providers.aws.amis import SERVING_AMI_PARAMETERS

    stand_in = next(
        image["ami_id"] for image in AMIS if "ubuntu" in str(image.get("name", "")).lower()
    )
    original = ParameterDict._check_loading_status

    def check_loading_status(self: ParameterDict, key: str) -> None:
        original(self, key)
        name = str(key or "")
        if name in SERVING_AMI_PARAMETERS and not dict.__contains__(self, name):
            dict.__getitem__(self, name).append(
                Parameter(
                    account_id=self.account_id,
                    name=name,
                    value=stand_in,
                    parameter_type="String",
                    description="infra local emulator: stand-in for the Deep Learning AMI",
                    allowed_pattern=None,
                    keyid=None,
                    last_modified_date=0,
                    version=1,
                    data_type="aws:ec2:image",
                )
            )

    ParameterDict._check_loading_status = check_loading_status  # type: ignore[method-assign]
    return stand_in


def improve_read_back() -> list[str]:
    """Make moto return what AWS returns for attributes the stacks set; names what it changed."""
    from moto.autoscaling.models import FakeScalingPolicy, LifecycleHook
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.ec2.models.launch_templates import LaunchTemplateVersion
    from moto.ec2.models.security_groups import SecurityGroupRule

    def keeping_warmup(action):  # type: ignore[no-untyped-def]
        def wrapped(self: AutoScalingResponse):  # type: ignore[no-untyped-def]
            result = action(self)
            warmup = self._get_int_param("DefaultInstanceWarmup")
            if warmup is not None:
                group = self.autoscaling_backend.autoscaling_groups[
                    self._get_param("AutoScalingGroupName")
                ]
                group.default_instance_warmup = warmup
            return result

        return wrapped

    AutoScalingResponse.create_auto_scaling_group = keeping_warmup(  # type: ignore[method-assign]
        AutoScalingResponse.create_auto_scaling_group
    )
    AutoScalingResponse.update_auto_scaling_group = keeping_warmup(  # type: ignore[method-assign]
        AutoScalingResponse.update_auto_scaling_group
    )
    original_hook = LifecycleHook.__init__

    def hook_without_invented_targets(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_hook(self, *args, **kwargs)
        self.role_arn = None  # moto invents both; AWS returns neither when none was given
        self.notification_target_arn = None

    LifecycleHook.__init__ = hook_without_invented_targets  # type: ignore[method-assign]
    FakeScalingPolicy.enabled = True  # type: ignore[attr-defined]
    original_policy = FakeScalingPolicy.__init__

    def policy_without_empty_predictive(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_policy(self, *args, **kwargs)
        if not self.predictive_scaling_configuration:
            self.predictive_scaling_configuration = None

    FakeScalingPolicy.__init__ = policy_without_empty_predictive  # type: ignore[method-assign]
    SecurityGroupRule.description = property(  # type: ignore[method-assign,assignment]
        lambda rule: rule.ip_range.get("Description") or rule.source_group.get("Description")
    )

    original_version = LaunchTemplateVersion.__init__

    def version_without_own_tags(self, template, number, data, description):  # type: ignore[no-untyped-def]
        specifications = data.get("TagSpecifications") or []
        data["TagSpecifications"] = [
            s for s in specifications if s.get("ResourceType") != "launch-template"
        ]
        if not data["TagSpecifications"]:
            del data["TagSpecifications"]
        original_version(self, template, number, data, description)

    LaunchTemplateVersion.__init__ = version_without_own_tags  # type: ignore[method-assign]
    answer_unknown_rule_ids_as_aws()
    answer_unknown_template_ids_as_aws()
    return [
        "autoscaling DefaultInstanceWarmup",
        "lifecycle hooks without invented role and notification target",
        "scaling policy Enabled",
        "launch template version tags",
        "predictive scaling",
        "group-referencing rule descriptions",
        "unknown security group rule IDs",
        "unknown launch template IDs",
    ]


def answer_unknown_rule_ids_as_aws() -> None:
    """Revoking a rule by an ID the group no longer has is `InvalidSecurityGroupRuleId.NotFound`
    on AWS, which the provider takes as already deleted; moto answers `InvalidPermission.NotFound`,
    which fails a destroy that meets a rule moto removed with its referenced group."""
    import inspect

    from moto.ec2.exceptions import (
        InvalidPermissionNotFoundError,
        InvalidSecurityGroupRuleIdNotFoundError,
    )
    from moto.ec2.models.security_groups import SecurityGroupBackend

    def by_rule_id(action):  # type: ignore[no-untyped-def]
        signature = inspect.signature(action)

        def wrapped(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            try:
                return action(self, *args, **kwargs)
            except InvalidPermissionNotFoundError:
                ids = signature.bind(self, *args, **kwargs).arguments.get("security_rule_ids")
                if ids:
                    raise InvalidSecurityGroupRuleIdNotFoundError(ids[0]) from None
                raise

        return wrapped

    for name in ("revoke_security_group_ingress", "revoke_security_group_egress"):
        setattr(SecurityGroupBackend, name, by_rule_id(getattr(SecurityGroupBackend, name)))


def answer_unknown_template_ids_as_aws() -> None:
    """Deleting a launch template by an ID that no longer exists is
    `InvalidLaunchTemplateId.NotFound` on AWS, which the provider takes as already deleted; moto
    answers `InvalidLaunchTemplateName.NotFoundException`, which failed a destroy whose delete was
    retried after a slow first answer (seen in CI, deleting an EKS node group's template)."""
    from moto.ec2.exceptions import InvalidLaunchTemplateIdNotFound
    from moto.ec2.models.launch_templates import LaunchTemplateBackend

    original = LaunchTemplateBackend.delete_launch_template

    def delete_launch_template(self, name, tid):  # type: ignore[no-untyped-def]
        if not name and tid is not None and tid not in self.launch_templates:
            raise InvalidLaunchTemplateIdNotFound(tid)
        return original(self, name, tid)

    LaunchTemplateBackend.delete_launch_template = delete_launch_template  # type: ignore[method-assign]


def add_instance_refreshes() -> None:
    """StartInstanceRefresh / DescribeInstanceRefreshes / CancelInstanceRefresh that succeed."""
    import uuid

    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    refreshes: dict[str, list[dict[str, object]]] = {}

    def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
        group = self._get_param("AutoScalingGroupName")
        refresh_id = str(uuid.uuid4())
        refreshes.setdefault(group, []).insert(
            0,
            {
                "InstanceRefreshId": refresh_id,
                "AutoScalingGroupName": group,
                "Status": "Successful",
                "StatusReason": "infra local emulator: nothing to replace",
                "PercentageComplete": 100,
                "InstancesToUpdate": 0,
            },
        )
        return ActionResult({"InstanceRefreshId": refresh_id})

    def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
        group = self._get_param("AutoScalingGroupName")
        return ActionResult({"InstanceRefreshes": refreshes.get(group, [])})

    def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
        group = self._get_param("AutoScalingGroupName")
        latest = refreshes.get(group) or [{"InstanceRefreshId": str(uuid.uuid4())}]
        return ActionResult({"InstanceRefreshId": latest[0]["InstanceRefreshId"]})

    AutoScalingResponse.start_instance_refresh = start_instance_refresh  # type: ignore[attr-defined]
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes  # type: ignore[attr-defined]
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh  # type: ignore[attr-defined]


def complete_sagemaker_endpoints() -> list[str]:
    """What moto 5.2.5 lacks for the SageMaker endpoint stack; names what it added.

    Models keep EnableNetworkIsolation (moto always reports false); models and endpoint
    configurations given no VPC or data capture report none (moto reports empty ones, which
    the provider reads as a change forcing replacement); endpoints keep their
    DeploymentConfig and report it as LastDeploymentConfig, as SageMaker does; UpdateEndpoint
    (moto has none) switches the endpoint to the new configuration at once, where SageMaker
    would shift traffic step by step.
    """
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    original_create_model = SageMakerResponse.create_model
    original_create_endpoint = SageMakerResponse.create_endpoint

    def create_model(self: SageMakerResponse) -> ActionResult:
        result = original_create_model(self)
        model = self.sagemaker_backend._models[self._get_param("ModelName")]
        model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation", False))
        model.vpc_config = self._get_param("VpcConfig")  # absent, not empty, when not given
        return result

    def describe_endpoint_config(self: SageMakerResponse) -> ActionResult:
        name = self._get_param("EndpointConfigName")
        described = dict(self.sagemaker_backend.describe_endpoint_config(name))
        if not described.get("DataCaptureConfig"):
            described.pop("DataCaptureConfig", None)
        return ActionResult(described)

    def create_endpoint(self: SageMakerResponse) -> ActionResult:
        result = original_create_endpoint(self)
        endpoint = self.sagemaker_backend.endpoints[self._get_param("EndpointName")]
        endpoint.last_deployment_config = self._get_param("DeploymentConfig")
        return result

    def update_endpoint(self: SageMakerResponse) -> ActionResult:
        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        if name not in backend.endpoints:
            raise ValidationError(message=f"Could not find endpoint '{name}'.")
        config_name = self._get_param("EndpointConfigName")
        config = backend.describe_endpoint_config(config_name)
        endpoint = backend.endpoints[name]
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(
            config["ProductionVariants"]
        )
        endpoint.data_capture_config = config.get("DataCaptureConfig")
        endpoint.last_deployment_config = self._get_param("DeploymentConfig")
        endpoint.last_modified_time = utcnow()
        return ActionResult({"EndpointArn": endpoint.arn})

    SageMakerResponse.create_model = create_model  # type: ignore[method-assign]
    SageMakerResponse.describe_endpoint_config = describe_endpoint_config  # type: ignore[method-assign]
    SageMakerResponse.create_endpoint = create_endpoint  # type: ignore[method-assign]
    SageMakerResponse.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    return [
        "model network isolation",
        "no empty VPC or data capture blocks",
        "endpoint deployment config",
        "UpdateEndpoint",
    ]


def add_autoscaling_target_tags() -> None:
    """TagResource / UntagResource / ListTagsForResource for Application Auto Scaling, which
    moto 5.2.5 lacks (the provider tags scalable targets and retries for ever without them);
    tags given to RegisterScalableTarget are kept too."""
    import json

    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    tags: dict[str, dict[str, str]] = {}
    original_register = ApplicationAutoScalingResponse.register_scalable_target

    def register_scalable_target(self: ApplicationAutoScalingResponse) -> str:
        result = original_register(self)
        given = self._get_param("Tags")
        if given:
            tags.setdefault(json.loads(result)["ScalableTargetARN"], {}).update(given)
        return result

    def tag_resource(self: ApplicationAutoScalingResponse) -> str:
        tags.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
        return "{}"

    def untag_resource(self: ApplicationAutoScalingResponse) -> str:
        held = tags.get(self._get_param("ResourceARN"), {})
        for key in self._get_param("TagKeys") or []:
            held.pop(key, None)
        return "{}"

    def list_tags_for_resource(self: ApplicationAutoScalingResponse) -> str:
        return json.dumps({"Tags": tags.get(self._get_param("ResourceARN"), {})})

    ApplicationAutoScalingResponse.register_scalable_target = register_scalable_target  # type: ignore[method-assign]
    ApplicationAutoScalingResponse.tag_resource = tag_resource  # type: ignore[attr-defined]
    ApplicationAutoScalingResponse.untag_resource = untag_resource  # type: ignore[attr-defined]
    ApplicationAutoScalingResponse.list_tags_for_resource = list_tags_for_resource  # type: ignore[attr-defined]


EKS_CLUSTER_SG_DESCRIPTION = (
    "EKS created security group applied to ENI that is attached to EKS Control Plane master "
    "nodes, as well as any managed workloads."
)


def complete_eks() -> list[str]:
    """What moto 5.2.5's EKS lacks for the kubernetes stack's clusters and node groups; names
    what it changed.

    As EKS does: a cluster gets its own OIDC issuer (moto gives every cluster of a region the
    same one, so a second cluster's IAM OIDC provider already exists) and its cluster security
    group (in its subnets' VPC, members may talk to each other; deleted with the cluster),
    reported with its VPC; it keeps its access configuration (moto drops it, and the provider
    would replace the cluster at every plan). A node group reports no remote access and no disk
    size unless given (moto invents both, which forces a replacement), keeps its update
    configuration and runs its cluster's Kubernetes version. A cluster created without a version
    runs EKS's current default, the newest minor version of the shipped release calendar (moto
    answers 1.19, which the cost rules would price at the extended-support rate once applied).
    UpdateNodegroupVersion (a new launch template version) and DescribeUpdate (which the provider
    waits on after any update) exist; updates complete at once."""
    import uuid

    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.ec2.models import ec2_backends
    from moto.eks import urls
    from moto.eks.exceptions import ResourceNotFoundException
    from moto.eks.models import Cluster, EKSBackend
    from moto.eks.responses import EKSResponse

    from providers.aws.eks_versions import newest_version

    updates: dict[str, dict[str, object]] = {}

    def finished(kind: str, params: list[dict[str, str]]) -> dict[str, object]:
        update = {
            "id": str(uuid.uuid4()),
            "status": "Successful",
            "type": kind,
            "params": params,
            "createdAt": utcnow(),
            "errors": [],
        }
        updates[str(update["id"])] = update
        return update

    def add_cluster_security_group(account: str, region: str, cluster: Cluster) -> None:
        ec2 = ec2_backends[account][region]
        vpc_config = cluster.resources_vpc_config
        vpc_id = ec2.get_subnet(vpc_config["subnetIds"][0]).vpc_id
        group = ec2.create_security_group(
            name=f"eks-cluster-sg-{cluster.name}-{uuid.uuid4().hex[:10]}",
            description=EKS_CLUSTER_SG_DESCRIPTION,
            vpc_id=vpc_id,
            tags={f"kubernetes.io/cluster/{cluster.name}": "owned"},
        )
        ec2.authorize_security_group_ingress(
            group.id,
            "-1",
            None,
            None,
            [],
            source_groups=[{"GroupId": group.id}],  # type: ignore[arg-type]
        )
        vpc_config["clusterSecurityGroupId"] = group.id
        vpc_config["vpcId"] = vpc_id
        vpc_config.setdefault("securityGroupIds", [])
        vpc_config.setdefault("endpointPublicAccess", True)
        vpc_config.setdefault("endpointPrivateAccess", False)
        vpc_config.setdefault("publicAccessCidrs", ["0.0.0.0/0"])

    original_create_cluster = EKSResponse.create_cluster

    def create_cluster(self: EKSResponse) -> ActionResult:
        result = original_create_cluster(self)
        cluster = self.eks_backend.clusters[self._get_param("name")]
        given = self._get_param("accessConfig") or {}
        cluster.access_config = {  # type: ignore[attr-defined]
            "authenticationMode": given.get("authenticationMode", "CONFIG_MAP"),
            "bootstrapClusterCreatorAdminPermissions": given.get(
                "bootstrapClusterCreatorAdminPermissions", True
            ),
        }
        if not self._get_param("version"):
            cluster.version = newest_version()
        add_cluster_security_group(self.current_account, self.region, cluster)
        issuer = f"https://oidc.eks.{self.region}.amazonaws.com/id/{uuid.uuid4().hex.upper()}"
        cluster.identity = {"oidc": {"issuer": issuer}}
        return result

    original_delete_cluster = EKSBackend.delete_cluster

    def delete_cluster(self: EKSBackend, name: str) -> Cluster:
        cluster = original_delete_cluster(self, name)
        group_id = cluster.resources_vpc_config.get("clusterSecurityGroupId")
        if group_id:
            ec2_backends[self.account_id][self.region_name].delete_security_group(group_id=group_id)
        return cluster

    original_create_nodegroup = EKSResponse.create_nodegroup

    def create_nodegroup(self: EKSResponse) -> ActionResult:
        result = original_create_nodegroup(self)
        cluster = self.eks_backend.clusters[self._get_param("name")]
        group = cluster.nodegroups[self._get_param("nodegroupName")]
        if self._get_param("remoteAccess") is None:
            group.remote_access = None
        if self._get_param("launchTemplate"):
            group.disk_size = None
        group.update_config = self._get_param("updateConfig") or {"maxUnavailable": 1}
        group.version = self._get_param("version") or cluster.version
        return result

    def update_nodegroup_version(self: EKSResponse) -> ActionResult:
        cluster = self.eks_backend.clusters.get(self._get_param("name"))
        name = self._get_param("nodegroupName")
        if cluster is None or name not in cluster.nodegroups:
            raise ResourceNotFoundException(
                clusterName=self._get_param("name"),
                nodegroupName=name,
                fargateProfileName=None,
                addonName=None,
                message=f"No node group found for name: {name}.",
            )
        group = cluster.nodegroups[name]
        params = []
        template = self._get_param("launchTemplate")
        if template:
            group.launch_template = {**(group.launch_template or {}), **template}
            params.append({"type": "LaunchTemplateVersion", "value": template.get("version")})
        for key, kind in (("version", "Version"), ("releaseVersion", "ReleaseVersion")):
            value = self._get_param(key)
            if value:
                setattr(group, "release_version" if key == "releaseVersion" else key, value)
                params.append({"type": kind, "value": value})
        group.modified_at = utcnow()
        return ActionResult({"update": finished("VersionUpdate", params)})

    original_update_nodegroup_config = EKSBackend.update_nodegroup_config

    def update_nodegroup_config(self: EKSBackend, *args, **kwargs):  # type: ignore[no-untyped-def]
        update = original_update_nodegroup_config(self, *args, **kwargs)
        updates[str(update["id"])] = update
        return update

    def describe_update(self: EKSResponse) -> ActionResult:
        update = updates.get(self._get_param("updateId"))
        if update is None:
            raise ResourceNotFoundException(
                clusterName=self._get_param("name"),
                nodegroupName=self._get_param("nodegroupName"),
                fargateProfileName=None,
                addonName=None,
                message=f"No update found for ID: {self._get_param('updateId')}.",
            )
        return ActionResult({"update": update})

    EKSResponse.create_cluster = create_cluster  # type: ignore[method-assign]
    EKSBackend.delete_cluster = delete_cluster  # type: ignore[method-assign]
    EKSResponse.create_nodegroup = create_nodegroup  # type: ignore[method-assign]
    EKSResponse.update_nodegroup_version = update_nodegroup_version  # type: ignore[attr-defined]
    EKSBackend.update_nodegroup_config = update_nodegroup_config  # type: ignore[method-assign]
    EKSResponse.describe_update = describe_update  # type: ignore[attr-defined]
    dispatch = urls.response.dispatch
    urls.url_paths.update(
        {
            "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$": dispatch,
            "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$": (
                dispatch
            ),
        }
    )
    return [
        "one OIDC issuer per cluster",
        "cluster security groups",
        "cluster access configuration",
        "node group remote access, disk size, update configuration and version",
        "UpdateNodegroupVersion",
        "DescribeUpdate",
    ]


def _loopback(host: str) -> str:
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise argparse.ArgumentTypeError(f"{host} is not a loopback address")
    return host


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", type=_loopback, default="127.0.0.1", help="loopback address")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    added = extend_sagemaker_instance_types()
    moto_version = version("moto")
    if added:
        print(
            f"infra: moto {moto_version} SageMaker endpoint configs now accept {len(added)} "
            f"instance types its built-in list lacks ({', '.join(added)}); "
            "this changes only the local emulator, never real AWS.",
            flush=True,
        )
    else:
        print(
            f"infra: moto {moto_version} already accepts every SageMaker instance type "
            "the toolkit uses; nothing patched.",
            flush=True,
        )

    stand_in = add_serving_ami_parameters()
    print(
        f"infra: the Deep Learning AMI SSM parameters answer {stand_in} (a moto Ubuntu image); "
        "this changes only the local emulator, never real AWS.",
        flush=True,
    )

    print(
        "infra: moto read-back made to match AWS for: " + ", ".join(improve_read_back()) + ".",
        flush=True,
    )

    add_instance_refreshes()
    print(
        "infra: added autoscaling instance refreshes that complete at once; emulator only.",
        flush=True,
    )

    print(
        "infra: SageMaker made to keep or add: "
        + ", ".join(complete_sagemaker_endpoints())
        + "; emulator only.",
        flush=True,
    )
    add_autoscaling_target_tags()
    print("infra: added Application Auto Scaling tags; emulator only.", flush=True)
    print(
        "infra: EKS made to keep or add: " + ", ".join(complete_eks()) + "; emulator only.",
        flush=True,
    )

    from moto.server import main as moto_main

    moto_main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
