"""Resources of a deployment that exist in the cloud but not in its Terraform state.

A run cut off in the middle of an apply (the process killed, the machine gone) leaves what
Terraform was creating at that moment outside the state: the next apply fails on it ("... already
exists") and `destroy` does not see it. `infra repair` finds these leftovers and imports them into
the state or deletes them; `remaining_after_destroy` keeps `destroy` from calling a deployment gone
while some of it remains.

A resource belongs to the deployment when its `infra:stack` tag names the stack
(modules/tagging.py). Resources made before that tag existed, and the autoscaling group (whose
tags are its own list), are recognised by the profile's tags plus the name the stack gives them;
an unnamed resource without the tag (a VPC, a subnet) could be another deployment's with the
same team tags and is left alone. AWS only: other clouds are not listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import InfraError
from modules.tag_keys import STACK_TAG
from providers import targets

if TYPE_CHECKING:
    from orchestrator.terraform import TerraformRunner
    from planner.deployment import DeploymentSpec
    from providers.aws.deployment_resources import CloudResource

LISTED_IN_SENTENCE = 8
_TERRAFORM_UNIQUE_SUFFIX = r"\d{26}"
"""What Terraform appends to a `name_prefix` (a timestamp and a counter)."""


class LeftoversRemain(InfraError):
    pass


class NotListable(InfraError):
    pass


@dataclass(frozen=True)
class Leftover:
    resource: CloudResource
    address: str | None
    """Where `terraform import` puts it: the free address of the configuration that declares its
    name, else the one free address of its type; None when there is no such address."""
    unplaced: str | None = None
    """Why there is no address to import it at."""

    def to_dict(self) -> dict[str, str | None]:
        return {
            "type": self.resource.type,
            "id": self.resource.id,
            "name": self.resource.name,
            "address": self.address,
            "not_importable": self.unplaced,
        }


def deployment_resources(spec: DeploymentSpec, environ: Mapping[str, str]) -> list[CloudResource]:
    """Every resource of the deployment in its region (and its IAM roles), whatever the state
    says; `environ` is the Terraform runner's (the emulator's endpoint under `--env local`)."""
    from providers.aws.deployment_resources import tagged_resources
    from providers.aws.sdk_calls import aws_call, client_factory

    ensure_listable(spec)
    client = client_factory(environ, spec.region)
    prefix = _iam_prefix(spec.stack_name)
    eks = spec.kind == targets.KUBERNETES.name
    with aws_call(f"listing the resources of {spec.stack_name} in {spec.region}"):
        found = tagged_resources(
            client, {STACK_TAG: spec.stack_name}, iam_name_prefix=prefix, eks=eks
        )
        if spec.tags:
            found += tagged_resources(client, spec.tags, iam_name_prefix=prefix, eks=eks)
    return sorted(belonging(found, spec.stack_name), key=lambda r: (r.type, r.id))


def ensure_listable(spec: DeploymentSpec) -> None:
    if not targets.cloud(spec.cloud).repairable:
        raise NotListable(
            f"{spec.stack_name} is on {spec.cloud}; finding resources outside the state works "
            f"for {' and '.join(c.display_name for c in targets.clouds() if c.repairable)} "
            "deployments only."
        )


def find_leftovers(spec: DeploymentSpec, runner: TerraformRunner) -> list[Leftover]:
    """The deployment's resources that the state does not hold, each with the address it would be
    imported at. Needs `terraform init` done and the configuration synthesized."""
    held = state_resources(runner.json("show", ["show", "-json", "-no-color"]))
    configured = _configured_addresses(runner.workspace.config_file.read_text())
    return place(deployment_resources(spec, runner.environ), held, configured)


def place(
    found: Sequence[CloudResource], held: Mapping[str, str], configured: Mapping[str, str | None]
) -> list[Leftover]:
    """The resources in `found` whose ID is not among the state's (`held`: ID -> address), each
    at an address of the configuration (`configured`: address -> the name it declares, if any)
    that the state lacks: the one declaring its name, else the one free address of its type when
    it is the only one of its type left."""
    outside = [resource for resource in found if resource.id not in held]
    in_state = set(held.values())
    free = {address: name for address, name in configured.items() if address not in in_state}
    placed: dict[str, str] = {}
    for resource in outside:
        by_name = [
            address
            for address, name in free.items()
            if _type_of(address) == resource.type and name and name == resource.name
        ]
        if len(by_name) == 1:
            placed[resource.id] = by_name[0]
    leftovers = []
    for resource in outside:
        if resource.id in placed:
            leftovers.append(Leftover(resource, placed[resource.id]))
            continue
        unnamed = [
            address
            for address, name in free.items()
            if _type_of(address) == resource.type and not name and address not in placed.values()
        ]
        rivals = [r for r in outside if r.type == resource.type and r.id not in placed]
        if len(unnamed) == 1 and len(rivals) == 1:
            leftovers.append(Leftover(resource, unnamed[0]))
        elif not unnamed:
            why = f"the configuration has no free {resource.type} address for it"
            leftovers.append(Leftover(resource, None, why))
        else:
            why = f"{len(rivals)} of its type outside the state for {len(unnamed)} free addresses"
            leftovers.append(Leftover(resource, None, why))
    return sorted(leftovers, key=lambda leftover: (leftover.resource.type, leftover.resource.id))


def _type_of(address: str) -> str:
    return address.split(".", 1)[0]


def import_leftovers(leftovers: Sequence[Leftover], runner: TerraformRunner) -> list[Leftover]:
    """`terraform import` each leftover that has an address; returns those imported. A failure
    stops here (TerraformFailed); what was imported stays imported, and the next run goes on."""
    imported = []
    for leftover in leftovers:
        if leftover.address is None:
            continue
        runner.run(
            "import",
            ["import", "-input=false", "-no-color", leftover.address, leftover.resource.id],
        )
        imported.append(leftover)
    return imported


def delete_leftovers(
    spec: DeploymentSpec, leftovers: Sequence[Leftover], runner: TerraformRunner
) -> list[CloudResource]:
    """Delete the leftovers in the cloud (dependents first); returns them as deleted."""
    from providers.aws.resource_removal import delete_resources
    from providers.aws.sdk_calls import client_factory

    client = client_factory(runner.environ, spec.region)
    resources = [leftover.resource for leftover in leftovers]
    return delete_resources(client, resources)


def remaining_after_destroy(spec: DeploymentSpec, runner: TerraformRunner) -> None:
    """Raise LeftoversRemain, naming them, when resources of the deployment are still there
    after `terraform destroy` emptied the state. Clouds that are not `repairable` are not
    checked."""
    if not targets.cloud(spec.cloud).repairable:
        return
    remaining = deployment_resources(spec, runner.environ)
    if remaining:
        raise LeftoversRemain(
            f"the state is empty but {_count(remaining)} of {spec.stack_name} remain in "
            f"{spec.region} ({labels(remaining)}), left outside the state by a run that was cut "
            f"off; delete them with `infra repair PROFILE --env {spec.env} --delete`."
        )


def labels(resources: Sequence[CloudResource]) -> str:
    shown = [resource.label() for resource in resources[:LISTED_IN_SENTENCE]]
    more = len(resources) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _count(resources: Sequence[Any]) -> str:
    return f"{len(resources)} resource{'s' if len(resources) != 1 else ''}"


def _iam_prefix(stack: str) -> str:
    """Roles and instance profiles are named `<first 32 characters of the stack>-...`."""
    return f"{stack[:32]}-"


def belonging(found: Sequence[CloudResource], stack: str) -> list[CloudResource]:
    """Those of `found` (listed by the stack tag or by the profile's tags) that are the stack's:
    tagged with its name, or untagged and named as it names them; listeners go with their load
    balancer."""
    unique = {(resource.type, resource.id): resource for resource in found}
    ours = [
        resource
        for resource in unique.values()
        if resource.type != "aws_lb_listener"
        and (
            resource.tags.get(STACK_TAG) == stack
            if STACK_TAG in resource.tags
            else _named_by_stack(resource, stack)
        )
    ]
    balancers = {resource.id for resource in ours if resource.type == "aws_lb"}
    listeners = [
        resource
        for resource in unique.values()
        if resource.type == "aws_lb_listener" and resource.parent in balancers
    ]
    return ours + listeners


def _named_by_stack(resource: CloudResource, stack: str) -> bool:
    """The names modules/aws/ give: exact, or a `name_prefix` plus Terraform's unique suffix.
    Asked only of resources that carry the profile's tags and no stack tag."""
    name = resource.name or ""
    endpoint = stack[:63].rstrip("-")

    def prefixed(prefix: str) -> bool:
        return re.fullmatch(re.escape(prefix) + _TERRAFORM_UNIQUE_SUFFIX, name) is not None

    rules: dict[str, Callable[[], bool]] = {
        "aws_lb": lambda: name == stack[:32],
        "aws_autoscaling_group": lambda: name == f"{stack}-fleet",
        "aws_launch_template": lambda: prefixed(f"{stack}-"),
        "aws_iam_role": lambda: prefixed(_iam_prefix(stack)),
        "aws_iam_instance_profile": lambda: prefixed(_iam_prefix(stack)),
        "aws_cloudwatch_metric_alarm": lambda: name.startswith(f"{endpoint}-"),
        "aws_sagemaker_endpoint": lambda: name == endpoint,
        "aws_sagemaker_endpoint_configuration": lambda: prefixed(f"{endpoint[:36]}-"),
    }
    rule = rules.get(resource.type)
    return rule is not None and rule()


def state_resources(shown: object) -> dict[str, str]:
    """`terraform show -json` of the state: the ID (and ARN) of every managed resource instance,
    mapped to its address."""
    held: dict[str, str] = {}
    values = shown.get("values") if isinstance(shown, dict) else None
    for resource in _module_resources((values or {}).get("root_module") or {}):
        if resource.get("mode") != "managed":
            continue
        attributes = resource.get("values") or {}
        for key in ("id", "arn"):
            if attributes.get(key):
                held[str(attributes[key])] = resource["address"]
    return held


def _module_resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _module_resources(child)


def _configured_addresses(config: str) -> dict[str, str | None]:
    """The resource addresses of a synthesized configuration (cdk.tf.json), each with the name it
    gives its resource when that is a literal (`name`, `alarm_name`), else None."""
    resources = json.loads(config).get("resource", {})
    return {
        f"{kind}.{address}": _declared_name(body)
        for kind, bodies in resources.items()
        for address, body in bodies.items()
    }


def _declared_name(body: Mapping[str, Any]) -> str | None:
    for key in ("name", "alarm_name"):
        value = body.get(key)
        if isinstance(value, str) and "${" not in value:
            return value
    return None
