"""Validate rendered Kubernetes objects offline: core kinds against the API schemas that
`kubernetes-validate` ships for several minor versions, custom resources against the CRD schemas
shipped under modules/kubernetes/schemas/ (see its README for their sources).

Both are strict: a field the schema does not declare is an error, as `kubectl apply` (strict
field validation, the default since Kubernetes 1.27) would make it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

KUBERNETES_VERSIONS = ("1.29", "1.31", "1.33", "1.35", "1.37")
"""Minor versions every core object must validate against (kubernetes-validate ships 1.25-1.37)."""
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "modules" / "kubernetes" / "schemas"
CUSTOM_SCHEMAS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "inferenceservice-serving.kserve.io-v1beta1",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda.sh-v1alpha1",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-gateway.networking.k8s.io-v1",
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
def _validate_core(document: str, version: str) -> str | None:
    try:
        kubernetes_validate.validate(json.loads(document), version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{error.message} at {'.'.join(str(p) for p in error.absolute_path)}"
    return None


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
    document = json.dumps(obj, sort_keys=True)
    for version in KUBERNETES_VERSIONS:
        problem = _validate_core(document, version)
        if problem:
            raise InvalidObject(f"{obj['kind']} on Kubernetes {version}: {problem}")
