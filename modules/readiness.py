"""Checks that a stack can serve, as opposed to checks that it can exist.

A configuration synthesized only to be priced (`infra cost`) needs the hardware, not a working boot
script: a Triton profile without its model repository is refused by `synth`, `plan` and `deploy`,
but its instances, volumes and load balancer still have a price. Inside `pricing_only()` such a
refusal is collected instead of raised, so the cost report can state it beside the figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from core.errors import InfraError

_deferred: ContextVar[list[str] | None] = ContextVar("deferred_readiness", default=None)


def refuse_to_serve(error: InfraError) -> None:
    """Raise `error`, unless the configuration is only being priced: then remember its sentence."""
    deferred = _deferred.get()
    if deferred is None:
        raise error
    if str(error) not in deferred:
        deferred.append(str(error))


@contextmanager
def pricing_only() -> Iterator[list[str]]:
    """Within the block, serving-readiness refusals are collected in the yielded list."""
    token = _deferred.set([])
    try:
        deferred = _deferred.get()
        assert deferred is not None
        yield deferred
    finally:
        _deferred.reset(token)
