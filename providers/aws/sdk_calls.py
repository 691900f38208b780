"""boto3 clients for what Terraform was given (the emulator's endpoint and test keys under
`--env local`, the usual credential chain elsewhere), and AWS errors as one sentence."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from providers.aws.deployment_resources import ClientFactory
from providers.sdk_errors import CloudCallFailed, MissingCredentials, first_line

_CREDENTIAL_VARIABLES = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "profile_name": "AWS_PROFILE",
}


def client_factory(environ: Mapping[str, str], region: str, *, attempts: int = 5) -> ClientFactory:
    """Clients in `region` built from `environ` (not this process's environment: the runner's
    holds the emulator's endpoint and keys), with botocore's standard retries (`attempts` in
    all: a read that may fail without failing the command tries fewer times)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        **{key: environ[name] for key, name in _CREDENTIAL_VARIABLES.items() if environ.get(name)}
    )
    config = Config(
        retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=10, read_timeout=60
    )
    endpoint = environ.get("AWS_ENDPOINT_URL") or None
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(
                service, region_name=region, endpoint_url=endpoint, config=config
            )
        return made[service]

    return client


def error_code(error: Exception) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    response = getattr(error, "response", None)
    return str((response or {}).get("Error", {}).get("Code", ""))


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Turn the SDK's exceptions into one sentence that says what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise MissingCredentials(
            f"{what}: no AWS credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY."
        ) from None
    except ClientError as error:
        message = first_line(error.response.get("Error", {}).get("Message", ""))
        raise CloudCallFailed(f"{what}: AWS answered {error_code(error)} ({message}).") from None
    except BotoCoreError as error:
        raise CloudCallFailed(f"{what}: {first_line(error)}.") from None
