"""`infra bench`'s inputs checked into what the load generator needs, each refusal one sentence."""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from core.errors import InfraError

CHAT_PATH = "/v1/chat/completions"
MAX_RATE = 10_000.0
MAX_DURATION_S = 24 * 3600.0
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class BenchError(InfraError):
    """Bad bench input, or an endpoint that refuses or does not answer."""


def parse_duration(text: str, option: str = "--duration") -> float:
    """`90s`, `5m`, `1.5h`, `250ms` or plain seconds."""
    found = _DURATION.match(text)
    seconds = float(found.group(1)) * _UNIT_S[found.group(2)] if found else math.nan
    if not 0 < seconds <= MAX_DURATION_S:
        raise BenchError(
            f"{option} '{text}' is not a duration from 1ms to 24h (e.g. 90s, 5m, 1.5h)."
        )
    return seconds


def _rate(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_RATE:
        raise BenchError(
            f"{option} '{text}' is not a request rate above 0 and at most {MAX_RATE:,.0f} per "
            "second."
        )
    return value


def rates(rate: str | None, sweep: str | None, profile_rate: float) -> list[float]:
    """The rates to run, ascending: --rate, each of --sweep, or the profile's."""
    if rate is not None and sweep is not None:
        raise BenchError("give --rate or --sweep, not both.")
    if sweep is not None:
        values = sorted({_rate(part.strip(), "--sweep") for part in sweep.split(",")})
        return values
    if rate is not None:
        return [_rate(rate, "--rate")]
    return [profile_rate]


def chat_url(url: str) -> str:
    """The chat completions URL of an endpoint given as its base, its /v1 or the full path."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BenchError(
            f"--url '{url}' is not an http(s) URL of an OpenAI-compatible endpoint "
            "(e.g. http://10.0.1.5:8000)."
        )
    try:
        parts.port  # noqa: B018  (a port out of range raises here)
    except ValueError:
        raise BenchError(f"--url '{url}' has an invalid port.") from None
    base = url.strip().rstrip("/")
    if base.endswith(CHAT_PATH):
        return base
    if base.endswith("/v1"):
        return base + CHAT_PATH.removeprefix("/v1")
    return base + CHAT_PATH
