"""Secret-shaped values in what the toolkit writes: the deployment spec, the synthesized
configuration (boot scripts, container environments and arguments, tags, labels) and so the
Terraform state, all of them plain text.

A secret belongs in a secret store, named by the spec (`hf_token_ssm_parameter`, a Secret Manager
or Key Vault secret) and read where it is used. `find_secrets` walks a JSON-like document and
reports each value that looks like a credential: a known token format anywhere, or a random
looking value under a name that says it is one (TOKEN, SECRET, PASSWORD, API_KEY...).
Base64 values (EC2 user data, Azure custom data) are decoded first. References are not secrets:
SSM parameter paths, ARNs, resource IDs, Terraform interpolations, shell variables and
`sha256:` digests never count. A finding names where it is and shows a masked prefix only.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from core.errors import InfraError

KNOWN_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "an AWS access key ID",
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ),
    (
        "an AWS secret access key",
        re.compile(
            r"(?i)aws[_-]?secret[_-]?(?:access[_-]?)?key[\"']?\s*[=:]?\s*[\"']?"
            r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
    ),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("a Slack token", re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}")),
    (
        "a Slack webhook",
        re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}"),
    ),
    ("a JSON Web Token", re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")),
    (
        "a password in a URL",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@]+:(?P<value>[^\s/@$][^\s/@]*)@", re.I),
    ),
)
"""Credential formats recognisable on their own, wherever they appear."""

SECRET_NAME = re.compile(
    r"token|secret|passw(?:or)?d|passphrase|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|client[_-]?key|credential|auth",
    re.IGNORECASE,
)
"""Names that say their value is a secret (variables, tags, flags, dictionary keys)."""

_VALUE = r"[\"']?(?P<value>[^\s\"'`;&|()<>,\\]+)"
_ASSIGNMENT = re.compile(r"(?<![\w.-])(?P<name>[A-Za-z_-][\w.-]*)[\"']?\s*[=:]\s*" + _VALUE)
"""`NAME=value`, `name: value`, `"name": "value"` or `--flag=value` inside a longer text (a boot
script, a command line, JSON embedded in a string)."""
_FLAG = re.compile(r"(?<![\w-])(?P<name>--?[A-Za-z][\w-]*)[ \t]+(?!-)" + _VALUE)
"""`--flag value` inside a command line."""

_REFERENCE = re.compile(r"^(?:/|\$|arn:|projects/|\{\{)|\$\{|://|sha256:")
"""Values that point at a secret rather than hold one: paths, ARNs, Terraform and shell
interpolations, URLs, image digests."""
_SEGMENT_SEPARATORS = re.compile(r"[-_.:@=~,]")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_MIN_SECRET_LENGTH = 8
_MIN_ENTROPY_BITS = 3.0
_MIN_BASE64_LENGTH = 24


class SecretInConfiguration(InfraError):
    """A secret-shaped value in something the toolkit would write in plain text."""


@dataclass(frozen=True)
class SecretFinding:
    path: tuple[str | int, ...]
    """Where in the document: keys and list indexes."""
    kind: str
    """What it looks like, e.g. "a Hugging Face token"."""
    masked: str
    """The first few characters and an ellipsis: enough to recognise it, never the secret."""
    decoded: bool = False
    """Found in a base64 value once decoded (EC2 user data, Azure custom data)."""

    @property
    def field(self) -> str:
        """The path as `runtime.extra_args[1]`, plus `(decoded)` for a base64 value."""
        return self.field_below(0)

    def field_below(self, depth: int) -> str:
        """The path without its first `depth` parts (the attribute within a resource)."""
        text = ""
        for part in self.path[depth:]:
            text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
        return f"{text} (decoded)" if self.decoded else text


def mask(value: str) -> str:
    """At most four characters (a quarter of the value) and an ellipsis; a key's PEM header,
    which is no secret, as it is."""
    if value.startswith("-----BEGIN"):
        return value.split("-----")[1].join(("-----", "-----")) + "…"
    return value[: min(4, len(value) // 4)] + "…"


def looks_random(value: str) -> bool:
    """A credential rather than a word, number, name or reference: long enough, no spaces, not
    a reference, and one part of it a long mix of letters and digits (or of both cases)."""
    if len(value) < _MIN_SECRET_LENGTH or any(c.isspace() for c in value):
        return False
    if _REFERENCE.search(value) or _entropy(value) < _MIN_ENTROPY_BITS:
        return False
    return any(_random_segment(part) for part in _SEGMENT_SEPARATORS.split(value))


def _random_segment(part: str) -> bool:
    letters = any(c.isalpha() for c in part)
    if len(part) >= 8 and letters and any(c.isdigit() for c in part):
        return True
    return len(part) >= 20 and any(c.islower() for c in part) and any(c.isupper() for c in part)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _known_format(text: str) -> tuple[str, str] | None:
    for kind, pattern in KNOWN_FORMATS:
        match = pattern.search(text)
        if match:
            found = match.groupdict().get("value") or match.group(0)
            return kind, mask(found)
    return None


def _named(name: str | None, value: str) -> tuple[str, str] | None:
    if name and SECRET_NAME.search(name) and looks_random(value):
        return f"a secret value for {name}", mask(value)
    return None


def _in_text(text: str) -> tuple[str, str] | None:
    """A known format anywhere in the text, else a random value assigned to a secret's name."""
    found = _known_format(text)
    if found:
        return found
    for pattern in (_ASSIGNMENT, _FLAG):
        for match in pattern.finditer(text):
            found = _named(match["name"], match["value"])
            if found:
                return found
    return None


def decode_base64(value: str) -> str | None:
    """The text a base64 value encodes (gzip-compressed or not), or None if it encodes none."""
    if len(value) < _MIN_BASE64_LENGTH or len(value) % 4 or not _BASE64.match(value):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (binascii.Error, OSError, EOFError, UnicodeDecodeError):
        return None
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text)
    return text if printable == len(text) else None


def _scan_string(
    value: str, path: tuple[str | int, ...], name: str | None
) -> Iterator[SecretFinding]:
    decoded = decode_base64(value)
    found = _in_text(decoded if decoded is not None else value)
    if found:
        yield SecretFinding(path, *found, decoded=decoded is not None)
        return
    found = _named(name, value)
    if found:
        yield SecretFinding(path, *found)


def _pair_name(node: dict[object, object]) -> str | None:
    """The name of a `{name|key: ..., value: ...}` pair (Vertex env, autoscaling tags)."""
    for label in ("name", "key", "Name", "Key"):
        if isinstance(node.get(label), str) and "value" in {str(k).lower() for k in node}:
            return str(node[label])
    return None


def find_secrets(
    node: object, path: tuple[str | int, ...] = (), name: str | None = None
) -> Iterator[SecretFinding]:
    """Every secret-shaped value in a JSON-like document (dicts, lists, strings)."""
    if isinstance(node, str):
        yield from _scan_string(node, path, name)
    elif isinstance(node, dict):
        pair = _pair_name(node)
        for key, value in node.items():
            label = pair if pair is not None and str(key).lower() == "value" else str(key)
            yield from find_secrets(value, (*path, str(key)), label)
    elif isinstance(node, list):
        previous: str | None = None
        for index, item in enumerate(node):
            # A command line as a list: `["--api-key", "value"]` names its value by the flag.
            flag = previous if previous and previous.startswith("-") else name
            yield from find_secrets(item, (*path, index), flag)
            previous = item if isinstance(item, str) else None


def refuse_secrets(document: object, where: str) -> None:
    """Raise SecretInConfiguration naming the first secret-shaped value of `document`."""
    finding = next(find_secrets(document), None)
    if finding is not None:
        raise SecretInConfiguration(
            f"{where}: {finding.field} holds what looks like {finding.kind} ({finding.masked}), "
            "which would be written in plain text to the configuration and the Terraform state; "
            "keep it in a secret store and name it instead (as deploy.hf_token_ssm_parameter, "
            "deploy.gcp.hf_token_secret or deploy.azure.hf_token_secret_id do for the model "
            "hub token)."
        )
