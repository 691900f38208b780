"""What the load generator sends: request shapes drawn from the profile's token distribution and
open-loop Poisson arrival times."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from planner.profile import TokenStats

Z95 = 1.6448536269514722
"""The standard normal's 95th percentile."""
MAX_SIGMA = Z95
"""A lognormal's p95/mean ratio peaks at sigma = z95 (about 3.9): a wider ratio is clamped."""
WORDS = (
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "near",
    "old",
    "stone",
    "wall",
)
"""Short common English words, about one token each in the served models' BPE vocabularies."""


@dataclass(frozen=True)
class TokenDistribution:
    """A lognormal with the profile's mean and p95, in whole tokens (at least one)."""

    mu: float
    sigma: float

    @classmethod
    def fitted(cls, stats: TokenStats) -> TokenDistribution:
        """mean = exp(mu + sigma²/2) and p95 = exp(mu + z95·sigma): sigma is the smaller root of
        sigma²/2 - z95·sigma + ln(p95/mean) = 0 (clamped where no root exists)."""
        ratio = math.log(stats.p95 / stats.mean)
        discriminant = Z95 * Z95 - 2 * ratio
        sigma = Z95 - math.sqrt(discriminant) if discriminant > 0 else MAX_SIGMA
        return cls(mu=math.log(stats.mean) - sigma * sigma / 2, sigma=sigma)

    def draw(self, rng: random.Random) -> int:
        if self.sigma == 0:
            return max(1, round(math.exp(self.mu)))
        return max(1, round(rng.lognormvariate(self.mu, self.sigma)))


@dataclass(frozen=True)
class RequestShape:
    prompt_tokens: int
    max_tokens: int


def prompt_of(tokens: int) -> str:
    """A prompt of about `tokens` tokens."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(tokens))


def arrival_times(
    rate: float, duration_s: float, max_requests: int | None, seed: int
) -> list[float]:
    """Seconds from the start at which requests are sent: exponential gaps at `rate` per second
    (open loop: arrivals do not wait for answers), until `duration_s` or `max_requests`."""
    rng = random.Random(seed)
    times: list[float] = []
    now = rng.expovariate(rate)
    while now < duration_s and (max_requests is None or len(times) < max_requests):
        times.append(now)
        now += rng.expovariate(rate)
    return times


def shapes(
    count: int, inputs: TokenDistribution, outputs: TokenDistribution, seed: int
) -> list[RequestShape]:
    rng = random.Random(seed + 1)
    return [RequestShape(inputs.draw(rng), outputs.draw(rng)) for _ in range(count)]
