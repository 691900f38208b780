"""Workload props checked before anything is rendered: each problem is one sentence naming the
field, never a traceback from deep inside a manifest or an API server's rejection after apply."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InfraError
from modules.kubernetes.engines import ENGINES, TRITON_METRICS_PORT
from modules.kubernetes.weights import safe_subdirectory
from planner.secrets import find_secrets

if TYPE_CHECKING:
    from modules.kubernetes.workload import WorkloadProps

NAME_MAX = 40
"""KServe and Knative append up to `-predictor-00001-deployment-<hash>` to a name, and a
Service name must stay within 63 characters."""
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z"
)
_LABEL_VALUE = re.compile(r"^(|[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)\Z")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}\Z")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?\Z")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*\Z")
_CRON = re.compile(r"^[0-9*/,-]+( [0-9*/,-]+){4}\Z")
"""Five numeric cron fields, as KEDA's parser (robfig/cron: minute hour dom month dow) takes."""
_PROMETHEUS = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?\Z")
RESERVED_ENV = frozenset({"HF_TOKEN", "HOME", "HF_HOME", "USER", "TRTLLM_ORCHESTRATOR"})
"""Variables the workload sets itself; HF_TOKEN only ever from a Secret (`hf_token`)."""


class WorkloadError(InfraError):
    """The workload props cannot be turned into valid Kubernetes objects."""


def check_props(props: WorkloadProps) -> None:
    """Raise WorkloadError with the first problem of `props`."""
    problem = (
        _names(props)
        or _scale(props)
        or _container(props)
        or _placement(props)
        or _weights(props)
        or _canary(props)
        or _monitoring(props)
        or _secrets(props)
    )
    if problem:
        raise WorkloadError(f"kubernetes workload {props.name!r}: {problem}.")


def _names(props: WorkloadProps) -> str | None:
    if not _NAME.match(props.name) or len(props.name) > NAME_MAX:
        return (
            f"the name must be lowercase letters, digits and '-', start with a letter and be at "
            f"most {NAME_MAX} characters"
        )
    if not _LABEL.match(props.namespace) or len(props.namespace) > 63:
        return (
            f"the namespace {props.namespace!r} must be lowercase letters, digits and '-', "
            "at most 63 characters"
        )
    account = props.service_account_name
    if not _SUBDOMAIN.match(account) or len(account) > 253:
        return f"the service account name {account!r} is not a valid Kubernetes name"
    if props.hf_token is not None:
        secret = props.hf_token
        if not _SUBDOMAIN.match(secret.name) or len(secret.name) > 253:
            return f"the token's Secret name {secret.name!r} is not a valid Kubernetes name"
        if not _SECRET_KEY.match(secret.key):
            return f"the token's Secret key {secret.key!r} is not a valid Secret key"
    if props.gateway is not None and not (
        _SUBDOMAIN.match(props.gateway.name) and _LABEL.match(props.gateway.namespace)
    ):
        return f"the gateway {props.gateway.namespace}/{props.gateway.name} is not a valid name"
    for key, value in props.labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            return f"the label {key}={value!r} is not a valid Kubernetes label"
    return None


def _scale(props: WorkloadProps) -> str | None:
    if props.min_replicas < 0 or props.max_replicas < max(1, props.min_replicas):
        return (
            f"replicas must satisfy 0 <= min ({props.min_replicas}) <= max "
            f"({props.max_replicas}) and max >= 1"
        )
    desired = props.desired_replicas
    if desired is not None and not props.min_replicas <= desired <= props.max_replicas:
        return f"desired replicas {desired} are outside {props.min_replicas}-{props.max_replicas}"
    if not props.queue_target_per_replica > 0:
        return "the queue target per replica must be above 0"
    if not _PROMETHEUS.match(props.prometheus_address):
        return (
            f"the Prometheus address {props.prometheus_address!r} must be an http(s) URL "
            "such as http://prometheus-server.monitoring.svc:80"
        )
    if props.polling_interval_s < 1 or props.cooldown_s < 0:
        return "the polling interval must be at least 1 s and the cooldown at least 0 s"
    return _schedule(props)


def _schedule(props: WorkloadProps) -> str | None:
    if props.scheduled and not _known_zone(props.timezone):
        return f"the time zone {props.timezone!r} is not an IANA time zone such as Europe/Berlin"
    for window in props.scheduled:
        if not (_CRON.match(window.start) and _CRON.match(window.end)):
            return (
                f"the scheduled window {window.start!r} to {window.end!r} is not two cron "
                "recurrences such as '0 9 * * 1-5'"
            )
        if window.start == window.end:
            return f"the scheduled window starts and ends at {window.start!r}: KEDA refuses it"
        if not 1 <= window.replicas <= props.max_replicas:
            return (
                f"the scheduled window from {window.start!r} asks for {window.replicas} replicas, "
                f"outside 1-{props.max_replicas}"
            )
    return None


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _container(props: WorkloadProps) -> str | None:
    if props.engine not in ENGINES:
        return f"the engine {props.engine!r} is not one of {', '.join(ENGINES)}"
    images = [props.image] + ([props.stable.image] if props.stable else [])
    for image in images:
        if not _IMAGE.match(image):
            return f"the image {image!r} is not an image reference"
    if not 1 <= props.port <= 65535:
        return f"the port {props.port} is not between 1 and 65535"
    if props.engine == "triton" and props.port == TRITON_METRICS_PORT:
        return f"port {TRITON_METRICS_PORT} is Triton's metrics port: serve on another"
    if not props.health_path.startswith("/") or any(c.isspace() for c in props.health_path):
        return f"the health path {props.health_path!r} must start with '/' and hold no spaces"
    if props.tensor_parallel < 1:
        return f"tensor parallel {props.tensor_parallel} must be at least 1"
    for name, quantity in (("cpu", props.cpu), ("memory", props.memory), ("shm", props.shm_size)):
        if not _QUANTITY.match(quantity):
            return f"the {name} size {quantity!r} is not a Kubernetes quantity such as 8 or 32Gi"
    if props.startup_timeout_s < 1:
        return "the startup timeout must be at least 1 s"
    if props.run_as_user is not None and props.run_as_user < 1:
        return f"run_as_user {props.run_as_user} is root: use None to keep the image's user"
    environments = [props.env] + ([props.stable.env] if props.stable else [])
    for environment in environments:
        for name in environment:
            if not _ENV_NAME.match(name):
                return f"the environment variable name {name!r} is not valid"
            if name in RESERVED_ENV:
                return (
                    f"the workload sets {name} itself (a hub token comes from a Secret, by "
                    "hf_token)"
                )
    return None


def _placement(props: WorkloadProps) -> str | None:
    for key, value in props.node_selector.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            return f"the node selector {key}={value!r} is not a valid Kubernetes label"
    for toleration in props.tolerations:
        if not _LABEL_KEY.match(toleration.key) or not _LABEL_VALUE.match(toleration.value or ""):
            return f"the toleration {toleration.key}={toleration.value!r} is not a valid taint"
    for zone in props.zones:
        if not zone or not _LABEL_VALUE.match(zone):
            return f"the zone {zone!r} is not a valid zone name"
    return None


def _weights(props: WorkloadProps) -> str | None:
    downloads = [props.weights] + ([props.stable.weights] if props.stable else [])
    for download in downloads:
        if download is None:
            continue
        if props.identity is None:
            return (
                f"reading the weights at {download.uri} needs a workload identity (an IAM role, "
                "Google service account or managed identity allowed to read them)"
            )
        if not _IMAGE.match(download.image):
            return f"the image {download.image!r} is not an image reference"
        if not safe_subdirectory(download.subdirectory):
            return f"the weights' sub-directory {download.subdirectory!r} is not a plain path"
    if props.engine == "triton" and props.weights is None:
        return "Triton serves a prebuilt model repository: give its weights location"
    return None


def _canary(props: WorkloadProps) -> str | None:
    if props.serverless and not props.kserve:
        return "Serverless mode is KServe's: it needs kserve"
    if props.canary_percent is None:
        return None
    if props.kserve:
        if not props.serverless:
            return (
                "KServe's canaryTrafficPercent works in its Serverless mode only, and an "
                "InferenceService cannot change its mode"
            )
        if not 0 <= props.canary_percent <= 99:
            return f"the canary share {props.canary_percent}% must be between 0 and 99"
        return None
    if not 1 <= props.canary_percent <= 99:
        return f"the canary share {props.canary_percent}% must be between 1 and 99"
    if props.stable is None:
        return "a canary without KServe needs the stable revision that keeps serving beside it"
    if props.gateway is None:
        return "a canary without KServe needs a Gateway to split the traffic (gateway)"
    return None


def _monitoring(props: WorkloadProps) -> str | None:
    monitoring = props.monitoring
    if monitoring is None:
        return None
    for name, target in (("TTFT", monitoring.ttft_p95_s), ("TPOT", monitoring.tpot_s)):
        if target is not None and not target > 0:
            return f"the {name} target {target} s must be above 0"
    if monitoring.waiting_per_pod < 1 or monitoring.for_minutes < 1:
        return "the alerts' queue limit and duration must be at least 1"
    if not 0 < monitoring.gpu_memory_full <= 1:
        return f"the GPU memory limit {monitoring.gpu_memory_full} must be a share in (0, 1]"
    if monitoring.scrape_interval_s < 1:
        return "the scrape interval must be at least 1 s"
    for key, value in monitoring.labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            return f"the monitoring label {key}={value!r} is not a valid Kubernetes label"
    return None


def _secrets(props: WorkloadProps) -> str | None:
    documents = {"env": props.env, "args": list(props.args)}
    if props.stable is not None:
        documents |= {"stable.env": props.stable.env, "stable.args": list(props.stable.args)}
    for where, document in documents.items():
        finding = next(find_secrets(document), None)
        if finding is not None:
            return (
                f"{where}{'.' if finding.path and isinstance(finding.path[0], str) else ''}"
                f"{finding.field} holds what looks like {finding.kind} ({finding.masked}); pass "
                "secrets by reference (a Kubernetes Secret)"
            )
    return None
