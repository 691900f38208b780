"""Validate rendered Kubernetes objects offline: core kinds against the API schemas that
`kubernetes-validate` ships for several minor versions, custom resources against the CRD schemas
shipped under modules/kubernetes/schemas/ (see its README for their sources).

Both are strict: a field the schema does not declare is an error, as `kubectl apply` (strict
field validation, the default since Kubernetes 1.27) would make it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

KUBERNETES_VERSIONS = ("1.29", "1.31", "1.33", "1.35", "1.37")
"""Minor versions every core object must validate against (kubernetes-validate ships 1.25-1.37)."""
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "modules" / "kubernetes" / "schemas"
CUSTOM_SCHEMAS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "inferenceservice-serving.kserve.io-v1beta1",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda.sh-v1alpha1",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-gateway.networking.k8s.io-v1",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor-monitoring.coreos.com-v1",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring.coreos.com-v1",
}


class InvalidObject(AssertionError):
    pass


def _strict(node: Any) -> Any:
    """The schema with unknown fields refused wherever it lists the fields an object has and does
    not say it keeps unknown ones (the API server's structural pruning, made an error)."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    strict = {key: _strict(value) for key, value in node.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@cache
def custom_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    name = CUSTOM_SCHEMAS[(api_version, kind)]
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return jsonschema.Draft7Validator(_strict(schema))


@cache
def core_validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    """kubernetes-validate's strict schema of one kind at one version, built once (its own
    `validate` reads the 1.4 MB definitions file again on every call)."""
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    directory = (
        files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}.0-local-strict"
    )
    schema = json.loads((directory / f"{kind.lower()}-{group}.json").read_text())
    definitions = json.loads((directory / "_definitions.json").read_text())
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate(obj: dict[str, Any]) -> None:
    """Raise InvalidObject naming the first problem of `obj` (any version, for a core kind)."""
    key = (obj["apiVersion"], obj["kind"])
    if key in CUSTOM_SCHEMAS:
        error = jsonschema.exceptions.best_match(custom_validator(*key).iter_errors(obj))
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path)
            raise InvalidObject(
                f"{obj['kind']} {obj['metadata']['name']}: {error.message} at {path}"
            )
        return
    for version in KUBERNETES_VERSIONS:
        error = jsonschema.exceptions.best_match(core_validator(version, *key).iter_errors(obj))
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path)
            raise InvalidObject(f"{obj['kind']} on Kubernetes {version}: {error.message} at {path}")
