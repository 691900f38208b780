"""Today's spot interruption bands from the AWS Spot Instance Advisor feed, for `infra catalog
refresh`: the same rows as providers/aws/data/spot_interruption.csv (Linux, the catalog's EC2
types and regions), sourced to the feed and dated today.

The feed is a public JSON document (no credentials): `ranges` names the bands by index, and
`spot_advisor[region]["Linux"][instance_type]["r"]` is the band of a type in a region over the
trailing month.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from providers.price_http import Transport, get_json
from providers.price_quotes import PriceSourceError
from providers.price_retry import Backoff
from providers.spot_interruption import BAND_MAX_PERCENT, COLUMNS

ADVISOR_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
API = "the AWS Spot Instance Advisor feed"
SOURCE = f"AWS Spot Instance Advisor ({ADVISOR_URL}, Linux)"


def _bands(document: Any) -> dict[int, str]:
    """Band index -> label, checked against the five bands the toolkit knows."""
    try:
        labels = {int(item["index"]): str(item["label"]) for item in document["ranges"]}
    except (KeyError, TypeError, ValueError):
        raise PriceSourceError(f"{API} has no readable 'ranges' list.") from None
    unknown = sorted(set(labels.values()) - set(BAND_MAX_PERCENT))
    if unknown:
        raise PriceSourceError(
            f"{API} names interruption bands the toolkit does not know ({', '.join(unknown)})."
        )
    return labels


def interruption_rows(document: Any, instance_types: Iterable[str], retrieved: str) -> str:
    """The interruption CSV of these instance types in every region the feed lists them."""
    labels = _bands(document)
    advisor = document.get("spot_advisor") if isinstance(document, dict) else None
    if not isinstance(advisor, dict):
        raise PriceSourceError(f"{API} has no 'spot_advisor' table.")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    wanted = set(instance_types)
    pairs = sorted((t, region) for region in advisor for t in wanted)
    for instance_type, region in pairs:
        entry = ((advisor.get(region) or {}).get("Linux") or {}).get(instance_type)
        if entry is None:
            continue
        try:
            band = labels[int(entry["r"])]
        except (KeyError, TypeError, ValueError):
            raise PriceSourceError(
                f"{API} gives {instance_type} in {region} no known interruption band."
            ) from None
        writer.writerow([instance_type, region, band, SOURCE, retrieved])
    return buffer.getvalue()


def fetch_interruption(
    instance_types: Iterable[str], *, transport: Transport, backoff: Backoff, retrieved: str
) -> str:
    """GET the feed and keep the catalog's types; any failure is one `PriceSourceError`."""
    document = get_json(ADVISOR_URL, api=API, transport=transport, backoff=backoff)
    return interruption_rows(document, instance_types, retrieved)
