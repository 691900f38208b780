"""What a cloud's price client is asked for and what it answers, shared by the three clouds.

`providers/price_refresh.py` builds a `RefreshRequest` from the shipped catalog (which machines,
which regions), each `providers/<cloud>/price_refresh.py` turns its API's answers into
`PriceQuote`s, and the refresh merges those into the cached catalog files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from core.errors import InfraError


class PriceSourceError(InfraError):
    """A cloud's pricing API could not be used: down, throttling, refused, or answered nonsense.

    The message is one sentence; the refresh keeps that cloud's cached or shipped prices.
    """


@dataclass(frozen=True)
class Machine:
    """An instance type of the shipped catalog, with the facts the APIs do not give."""

    instance_type: str
    accelerator: str
    accelerator_count: int
    accelerator_memory_gib: float
    vcpus: float
    memory_gib: float


@dataclass(frozen=True)
class RefreshRequest:
    cloud: str
    regions: tuple[str, ...]
    machines: Mapping[str, tuple[Machine, ...]]
    """Per deployment kind, the machines to price."""
    day: str = ""
    """The refresh's date (ISO), for the rows of files a client writes itself."""
    previous: Mapping[str, list[list[str]]] = field(default_factory=dict)
    """The rows (no header) of the other data files a client rewrites (the commitment rates),
    from the usable cache else the shipped file: what the API does not price stays."""


@dataclass(frozen=True)
class PriceQuote:
    """The prices of one machine of one kind in one region, as a pricing API gives them."""

    kind: str
    machine: Machine
    region: str
    ondemand_usd: float | None
    spot_usd: float | None = None
    """A region-wide spot price (Azure, GCP)."""
    zone_spot_usd: Mapping[str, float] = field(default_factory=dict)
    """Spot prices per zone ID (AWS); the zones named here offer the machine."""


@dataclass
class CloudPrices:
    quotes: list[PriceQuote]
    sources: Mapping[str, str]
    """Per kind, the API (and the part of it) the prices come from: the rows' `source`."""
    notes: list[str] = field(default_factory=list)
    """What was not priced and why (types the API no longer returns, regions not enabled)."""
    skipped_regions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Per kind, regions whose rows must keep their previous prices (the API could not be asked)."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Other data files of the cloud's cache, name -> CSV text (AWS: spot_interruption.csv)."""


class RefreshProgress(Protocol):
    """Told of each API call, so a person sees one bar per cloud move."""

    def begin(self, cloud: str, steps: int | None) -> None: ...

    def step(self, cloud: str, detail: str) -> None: ...

    def end(self, cloud: str, error: str | None) -> None: ...


class NoProgress:
    def begin(self, cloud: str, steps: int | None) -> None:
        pass

    def step(self, cloud: str, detail: str) -> None:
        pass

    def end(self, cloud: str, error: str | None) -> None:
        pass


def positive_price(value: object, what: str) -> float:
    """A price from an API as a float; anything else (text, zero, negative, NaN) is rejected."""
    try:
        price = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PriceSourceError(f"{what} is not a number ({value!r}).") from None
    if not price > 0 or price == float("inf"):
        raise PriceSourceError(f"{what} is {value!r}, not a positive price.")
    return price


def one_line(text: object, limit: int = 200) -> str:
    """An API's error text squeezed into part of one sentence."""
    flat = " ".join(str(text).split()).rstrip(".")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
