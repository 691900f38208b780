"""Names that become paths, stack names or storage locations: one rule each, in words and as a
pattern, shared by the profile schema, the spec and the command line.

A profile, environment or stack name ends up in directory names (`.infra/<name>/<env>/`), in
Terraform state keys and in cloud resource names, so it is an identifier and never a path.
Patterns end in `\\Z`, not `$`: `$` also matches before a final newline.
"""

from __future__ import annotations

import re
from typing import Annotated

from msgspec import Meta

from core.errors import InfraError

IDENTIFIER_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?\Z"
IDENTIFIER_WORDS = (
    "1 to 40 lowercase letters, digits and dashes, starting and ending with a letter or digit"
)
Identifier = Annotated[str, Meta(pattern=IDENTIFIER_PATTERN, description=IDENTIFIER_WORDS)]
"""A profile, environment or stack name."""

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)

DeploymentId = Annotated[
    str, Meta(pattern=r"^[0-9a-f]{4,8}\Z", description="4 to 8 lowercase hexadecimal digits")
]
"""The suffix that keeps two deployments of one profile name apart (kept in the lock)."""
_STACK = re.compile(r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?\Z")

S3_BUCKET_PATTERN = (
    r"^(?!xn--|sthree-|amzn-s3-demo-)"  # reserved prefixes
    r"(?!.*\.\.)"  # no two dots in a row
    r"(?!\d{1,3}(\.\d{1,3}){3}\Z)"  # not an IP address
    r"(?!.*(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)\Z)"  # reserved suffixes
    r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z"
)
S3_BUCKET_WORDS = (
    "an S3 bucket name: 3 to 63 lowercase letters, digits, dots and dashes, starting and ending "
    "with a letter or digit, no two dots in a row, not an IP address, and none of the prefixes "
    "or suffixes S3 reserves (xn--, sthree-, -s3alias, ...)"
)
S3Bucket = Annotated[str, Meta(pattern=S3_BUCKET_PATTERN, description=S3_BUCKET_WORDS)]

_KEY_SEGMENT = r"[A-Za-z0-9!_.*'()-]+"
S3_KEY_PREFIX_PATTERN = (
    rf"^(?!.*(^|/)\.{{1,2}}(/|\Z))(?=.{{1,200}}\Z){_KEY_SEGMENT}(/{_KEY_SEGMENT})*\Z"
)
S3_KEY_PREFIX_WORDS = (
    "an S3 key prefix of at most 200 characters: letters, digits and ! _ . * ' ( ) -, in parts "
    "separated by single slashes, with no leading or trailing slash and no . or .. part"
)
S3KeyPrefix = Annotated[str, Meta(pattern=S3_KEY_PREFIX_PATTERN, description=S3_KEY_PREFIX_WORDS)]

AWS_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+){1,2}-[0-9]{1,2}\Z"
AwsRegion = Annotated[
    str, Meta(pattern=AWS_REGION_PATTERN, description="an AWS region name such as us-east-1")
]


class InvalidName(InfraError):
    """A name given on the command line that cannot be an identifier."""


def check_identifier(value: str, what: str) -> None:
    """Refuse `value` as the `what` (e.g. "environment name") unless it is an identifier."""
    if not _IDENTIFIER.match(value):
        shown = value if len(value) <= 60 else f"{value[:57]}..."
        raise InvalidName(f"invalid {what} {shown!r}: use {IDENTIFIER_WORDS}.")


def check_stack_name(value: str) -> None:
    """A stack name (`name-env`, or `name-env-id`) becomes a directory name too."""
    if not _STACK.match(value):
        raise InvalidName(
            f"invalid stack name {value[:100]!r}: use up to 100 lowercase letters, digits and "
            "dashes, starting and ending with a letter or digit."
        )


def is_identifier(value: str) -> bool:
    return _IDENTIFIER.match(value) is not None
