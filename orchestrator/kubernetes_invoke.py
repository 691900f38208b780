"""`infra bench` on a Kubernetes workload: what it needs to reach it.

The workload's Service (and a KServe InferenceService's URL) is reachable inside the cluster
only: the stacks add no public ingress (security defaults), and bench runs outside it. So bench
asks for --url and says which object to forward or read; reaching into the cluster itself
(port-forwarding through the API server) is left to kubectl.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NoReturn

from orchestrator.loadtest.inputs import BenchError
from stacks.kubernetes_common import NOT_APPLIED, workload_name

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

LOCAL_PORT = 8000
WORKLOAD_OUTPUT = "kubernetes_workload"


def transport(spec: DeploymentSpec, outputs: Mapping[str, object]) -> NoReturn:
    """Never a transport: one sentence saying what --url to give."""
    options = spec.kubernetes
    name, namespace = workload_name(spec), options.namespace
    status = str(outputs.get(WORKLOAD_OUTPUT) or "")
    if status.startswith(NOT_APPLIED.partition("{")[0]):
        raise BenchError(
            f"{spec.stack_name} holds no serving workload yet ({WORKLOAD_OUTPUT}: {status}): "
            "deploy the workload, then give --url."
        )
    if options.kserve:
        raise BenchError(
            f"the InferenceService {name} answers inside the cluster only: give --url of its "
            f"address (`kubectl -n {namespace} get inferenceservice {name} -o "
            "jsonpath='{.status.url}'` from inside the cluster, or `kubectl -n "
            f"{namespace} port-forward service/{name}-predictor {LOCAL_PORT}:80` and --url "
            f"http://127.0.0.1:{LOCAL_PORT})."
        )
    raise BenchError(
        f"the Service {name} answers inside the cluster only: run `kubectl -n {namespace} "
        f"port-forward service/{name} {LOCAL_PORT}:{spec.runtime.port}` and give --url "
        f"http://127.0.0.1:{LOCAL_PORT}."
    )
