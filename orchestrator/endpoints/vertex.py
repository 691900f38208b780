"""Vertex AI: upload the model and deploy it on the endpoint Terraform made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec
    from providers.managed_endpoint import EndpointDriver


def check(spec: DeploymentSpec) -> None:
    from providers.gcp.vertex import check_vertex

    check_vertex(spec)


def driver(spec: DeploymentSpec, outputs: Mapping[str, object]) -> EndpointDriver:
    from providers.gcp.vertex import VertexEndpoint, VertexOutputs
    from providers.gcp.vertex_api import GoogleVertexApi

    vertex = VertexOutputs.read(spec.stack_name, outputs)
    return VertexEndpoint(spec, vertex, GoogleVertexApi(vertex.project, vertex.region))
