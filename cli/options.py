"""The options the deployment commands share, each declared once with its help text: the target
(PROFILE or --spec, --env, and the --cloud/--kind/--region/--instance-type pins), --auto-approve,
and the one --json of the whole CLI.

The clouds and kinds named in the help come from the registry of targets (providers/targets.py).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from providers import targets

if TYPE_CHECKING:
    from planner.optimizer import Filters

CLOUDS = ", ".join(targets.cloud_names())
KINDS = ", ".join(targets.kind_names())
REGION_HELP = "Pin the region."


def either(values: tuple[str, ...]) -> str:
    """'a, b or c' for a help text."""
    return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else values[0]


ProfileArgument = Annotated[
    Path | None, typer.Argument(help="Profile YAML file (or give --spec).", show_default=False)
]
RequiredProfileArgument = Annotated[
    Path, typer.Argument(help="Profile YAML file.", show_default=False)
]
EnvOption = Annotated[
    str, typer.Option("--env", help="Environment; 'local' is the emulated AWS on this machine.")
]
SpecOption = Annotated[
    Path | None, typer.Option("--spec", help="A DeploymentSpec YAML instead of a profile.")
]
CloudOption = Annotated[str | None, typer.Option("--cloud", help=f"Pin the cloud ({CLOUDS}).")]
KindOption = Annotated[str | None, typer.Option("--kind", help=f"Pin the kind ({KINDS}).")]
RegionOption = Annotated[str | None, typer.Option("--region", help=REGION_HELP)]
PricingRegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        help=f"{REGION_HELP.removesuffix('.')} (profiles); the region to price a plan file in "
        "when the plan does not say.",
    ),
]
InstanceOption = Annotated[
    str | None, typer.Option("--instance-type", help="Pin the instance type.")
]
AutoApprove = Annotated[
    bool, typer.Option("--auto-approve", help="Do not ask before changing anything.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def filters_from_pins(
    cloud: str | None, kind: str | None, region: str | None, instance_type: str | None
) -> Filters:
    """The optimizer's filters for the pins a command was given (none: no restriction)."""
    from planner.optimizer import Filters

    return Filters(
        clouds=frozenset({cloud.lower()}) if cloud else None,
        kinds=frozenset({kind.lower()}) if kind else None,
        regions=frozenset({region}) if region else None,
        instance_types=frozenset({instance_type.lower()}) if instance_type else None,
    )


@dataclass(frozen=True)
class Target:
    """What a deployment command works on: a profile or a spec file, an environment, and pins."""

    profile: Path | None
    env: str
    spec: Path | None
    cloud: str | None
    kind: str | None
    region: str | None
    instance_type: str | None

    @property
    def pinned(self) -> bool:
        return any((self.cloud, self.kind, self.region, self.instance_type))

    def filters(self) -> Filters:
        return filters_from_pins(self.cloud, self.kind, self.region, self.instance_type)

    def unpinned(self) -> Target:
        return Target(self.profile, self.env, self.spec, None, None, None, None)


_TARGET_OPTIONS = {
    "profile": (ProfileArgument, None),
    "env": (EnvOption, "local"),
    "spec": (SpecOption, None),
    "cloud": (CloudOption, None),
    "kind": (KindOption, None),
    "region": (RegionOption, None),
    "instance_type": (InstanceOption, None),
}


def on_target(command: Callable[..., None]) -> Callable[..., None]:
    """COMMAND(target, *its own options*) as a typer command whose parameters are PROFILE,
    --env, --spec and the pins, in that order, then COMMAND's own; it gets them as one Target."""
    own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]

    @functools.wraps(command)
    def with_target(**values: Any) -> None:
        target = Target(**{name: values.pop(name) for name in _TARGET_OPTIONS})
        command(target, **values)

    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=alias)
        for name, (alias, default) in _TARGET_OPTIONS.items()
    ]
    parameters = [*shared, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own)]
    with_target.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_target.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_target
