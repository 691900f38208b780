"""GET a JSON document from a public pricing API (Azure Retail Prices, Cloud Billing Catalog).

The standard library's urllib is enough for two read-only APIs; the transport is a parameter so
tests answer with recorded documents. Throttling (429) and server errors (5xx) are retried with
backoff, honouring Retry-After; anything else becomes one sentence (`PriceSourceError`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from providers.price_quotes import PriceSourceError, one_line
from providers.price_retry import Backoff, RetryableError

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes


Transport = Callable[[str, Mapping[str, str]], HttpResponse]


def urllib_transport(url: str, headers: Mapping[str, str]) -> HttpResponse:
    """One GET; an HTTP error status is a response like any other, not an exception."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return HttpResponse(response.status, _lowered(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, _lowered(error.headers), error.read())


def _lowered(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in (headers or {}).items()}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds; the HTTP-date form is rare from these APIs and ignored."""
    try:
        return float(headers.get("retry-after", ""))
    except ValueError:
        return None


def _error_detail(body: bytes) -> str:
    """The API's own explanation from an error body ({"error": {"message": ...}}), if any."""
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    error = document.get("error") or document.get("Error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        message = error.get("message") or error.get("Message") or ""
        status = error.get("status") or error.get("Code") or ""
        return one_line(f"{status} {message}".strip())
    return ""


def get_json(
    url: str,
    *,
    api: str,
    transport: Transport,
    backoff: Backoff,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """The decoded JSON body of a 200 answer to GET `url`.

    `api` names the service in messages ("the Azure Retail Prices API"); the URL itself is never
    put in a message, only its host, so a key in a query string cannot leak.
    """
    host = urlsplit(url).hostname or url
    sent = {"Accept": "application/json", **(headers or {})}

    def attempt() -> HttpResponse:
        try:
            response = transport(url, sent)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PriceSourceError(f"cannot reach {host} ({one_line(reason)}).") from None
        if response.status in RETRIED_STATUSES:
            raise RetryableError(f"HTTP {response.status}", _retry_after(response.headers))
        return response

    try:
        response = backoff.run(attempt)
    except RetryableError as error:
        raise PriceSourceError(
            f"{api} kept answering {error} after {backoff.attempts} attempts; try again later."
        ) from None
    if response.status != 200:
        detail = _error_detail(response.body)
        raise PriceSourceError(
            f"{api} refused the request (HTTP {response.status}{': ' + detail if detail else ''})."
        )
    try:
        return json.loads(response.body)
    except ValueError:
        raise PriceSourceError(
            f"{api} answered with a body that is not valid JSON (truncated or not JSON)."
        ) from None
