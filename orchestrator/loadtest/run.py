"""`infra bench`: drive an endpoint at each rate, summarize every step beside the planner's
prediction for the same accelerator, find where the profile's targets stop holding, and turn the
result into `workload.measured` figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import takewhile
from typing import TYPE_CHECKING

from orchestrator.decisions import Resolved
from orchestrator.loadtest.client import Endpoint, run_step
from orchestrator.loadtest.inputs import BenchError
from orchestrator.loadtest.summary import Predicted, StepSummary, Targets, summarize
from orchestrator.loadtest.traffic import TokenDistribution, arrival_times, shapes
from orchestrator.loadtest.transport import Transport
from planner.profile import MeasuredThroughput, Profile
from providers import targets as registry

if TYPE_CHECKING:
    from orchestrator.workflow import Deployment

IGNORE_EOS_ENGINES = frozenset({"vllm"})
"""Engines whose OpenAI API takes `ignore_eos`, so answers run to max_tokens as drawn."""


@dataclass(frozen=True)
class BenchSettings:
    transport: Transport
    """How requests reach the endpoint (its URL, format and credentials)."""
    rates: list[float]
    """Requests per second sent to the whole endpoint, ascending."""
    duration_s: float
    """How long each rate sends requests."""
    max_requests: int | None
    """At most this many requests per rate."""
    timeout_s: float
    """A request not finished within this is counted as an error (`timeout`)."""
    replicas: int
    """Model replicas behind the URL: the planner's figures are per replica."""
    seed: int = 0


@dataclass
class BenchReport:
    profile: str
    env: str
    url: str
    target: dict[str, object]
    """Cloud, kind, region, instance type, accelerator and tensor parallel of the decision."""
    replicas: int
    targets: Targets
    predicted_capacity_requests_per_s: float | None
    """The planner's rate within the targets for `replicas` (at targets.confidence)."""
    steps: list[StepSummary] = field(default_factory=list)

    @property
    def holds_up_to(self) -> float | None:
        """The highest rate at which the targets held, every lower rate holding too."""
        found = None
        for step in self.steps:
            if not step.holds:
                break
            found = step.rate
        return found

    @property
    def breaks_at(self) -> float | None:
        """The lowest rate at which a target stopped holding."""
        return next((step.rate for step in self.steps if not step.holds), None)

    @property
    def saturation_requests_per_s(self) -> float:
        """The most requests per second the endpoint completed at any rate: its capacity, once a
        rate above it was sent."""
        return max((step.requests_per_s for step in self.steps), default=0.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "env": self.env,
            "url": self.url,
            "target": self.target,
            "replicas": self.replicas,
            "targets": asdict(self.targets),
            "predicted_capacity_requests_per_s": self.predicted_capacity_requests_per_s,
            "holds_up_to_requests_per_s": self.holds_up_to,
            "breaks_at_requests_per_s": self.breaks_at,
            "saturation_requests_per_s": self.saturation_requests_per_s,
            "steps": [step.to_dict() for step in self.steps],
        }


def _distributions(profile: Profile) -> tuple[TokenDistribution, TokenDistribution]:
    workload = profile.workload
    if workload.input_tokens is None or workload.output_tokens is None:
        raise BenchError(
            f"profile '{profile.name}' has no workload.input_tokens and output_tokens: bench "
            "drives LLM chat endpoints with that token distribution."
        )
    return TokenDistribution.fitted(workload.input_tokens), TokenDistribution.fitted(
        workload.output_tokens
    )


class _Predictor:
    """The planner's performance model for the decision's accelerator, per replica."""

    def __init__(self, resolved: Resolved) -> None:
        from planner.accelerators import accelerators
        from planner.optimizer import CapacityModel
        from planner.service import show_instance

        decision, profile = resolved.decision, resolved.profile
        self.model = CapacityModel(profile, profile.model_spec())
        self.accelerator = accelerators()[decision.accelerator]
        offerings = show_instance(decision.instance_type)
        self.memory_gib = offerings[0].accelerator_memory_gib
        self.degree = decision.tensor_parallel

    def capacity_per_replica(self) -> float | None:
        plan = self.model.replica(self.accelerator, self.memory_gib, self.degree)
        return plan.requests_per_s if plan else None

    def at(self, rate_per_replica: float) -> Predicted | None:
        point = self.model.operating_point(
            self.accelerator, self.memory_gib, self.degree, rate_per_replica
        )
        if point is None:
            return None
        return Predicted(
            round(point.ttft_ms_p95, 2), round(point.tpot_ms, 2), round(point.e2e_ms_p95, 2)
        )


def _refuse_total_failure(step: StepSummary, settings: BenchSettings) -> None:
    """An endpoint that answered none of a step's requests is an error, not a figure."""
    if step.succeeded or not step.requests:
        return
    error, _ = Counter(step.errors).most_common(1)[0]
    url = settings.transport.url
    if error == "refused":
        raise BenchError(f"the endpoint {url} refused the connection: is it up and reachable?")
    if error == "timeout":
        raise BenchError(
            f"the endpoint {url} did not finish a request within {settings.timeout_s:g} s "
            "(--timeout): is it up, and the model loaded?"
        )
    if error in ("HTTP 401", "HTTP 403"):
        raise BenchError(
            f"the endpoint {url} answered {error} to every request: do your credentials allow "
            "invoking it?"
        )
    if error.startswith("HTTP "):
        raise BenchError(
            f"the endpoint {url} answered {error} to every request: is it an OpenAI-compatible "
            "chat completions endpoint serving the profile's model?"
        )
    raise BenchError(f"every request to {url} failed ({error}).")


def run_bench(
    resolved: Resolved,
    env: str,
    settings: BenchSettings,
    on_step: Callable[[StepSummary], None] = lambda step: None,
) -> BenchReport:
    profile, decision, spec = resolved.profile, resolved.decision, resolved.spec
    inputs, outputs = _distributions(profile)
    predictor = _Predictor(resolved)
    capacity = predictor.capacity_per_replica()
    t = profile.targets
    targets = Targets(t.ttft_ms_p95, t.tpot_ms, t.e2e_ms_p95)
    report = BenchReport(
        profile=profile.name,
        env=env,
        url=settings.transport.url,
        target={
            "cloud": decision.cloud,
            "kind": decision.kind,
            "region": decision.region,
            "instance_type": decision.instance_type,
            "accelerator": decision.accelerator,
            "tensor_parallel": decision.tensor_parallel,
        },
        replicas=settings.replicas,
        targets=targets,
        predicted_capacity_requests_per_s=None
        if capacity is None
        else round(capacity * settings.replicas, 3),
    )
    extra: dict[str, object] = (
        {"ignore_eos": True} if spec.runtime.engine in IGNORE_EOS_ENGINES else {}
    )
    endpoint = Endpoint(settings.transport, spec.runtime.model_id, extra, settings.timeout_s)
    for index, rate in enumerate(settings.rates):
        seed = settings.seed + index
        arrivals = arrival_times(rate, settings.duration_s, settings.max_requests, seed)
        if not arrivals:
            raise BenchError(
                f"at {rate:g} requests/s, {settings.duration_s:g} s sends no request: give a "
                "longer --duration or a higher rate."
            )
        run = run_step(endpoint, arrivals, shapes(len(arrivals), inputs, outputs, seed))
        step = summarize(rate, run, targets)
        _refuse_total_failure(step, settings)
        step.predicted = predictor.at(rate / settings.replicas)
        report.steps.append(step)
        on_step(step)
    return report


def measured_entry(report: BenchReport) -> MeasuredThroughput:
    """The figures `--record` writes: per replica, at the highest rate where the targets held."""
    held = list(takewhile(lambda step: step.holds, report.steps))
    if not held:
        raise BenchError(
            "the targets held at no rate benchmarked, so there is no rate to record: bench a "
            "lower --rate or --sweep (nothing was written)."
        )
    best = max(held, key=lambda step: step.requests_per_s)
    per_replica = best.requests_per_s / report.replicas
    if per_replica < 0.001:
        raise BenchError("too few requests completed to measure a rate: give a longer --duration.")
    return MeasuredThroughput(
        accelerator=str(report.target["accelerator"]),
        requests_per_second=round(per_replica, 3),
        latency_ms_p95=best.e2e_ms.p95,
        ttft_ms_p95=best.ttft_ms.p95,
        tpot_ms=best.tpot_ms.p50,
    )


def deployed_transport(deployment: Deployment) -> Transport:
    """How to reach the deployed endpoint: the factory its kind names (Kind.invoke_transport),
    given the stack's outputs."""
    from orchestrator.workflow import status

    spec = deployment.spec
    factory = registry.resolve(registry.kind(spec.kind).invoke_transport)
    outputs = status(deployment)["outputs"]
    assert isinstance(outputs, dict)
    return factory(spec, outputs)
