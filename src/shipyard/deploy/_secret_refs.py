"""Secret references (``ssm:/path``, ``secretsmanager:name``): resolved to values (docker) or ARNs (ECS).

Values are registered with Shipyard's redactor the moment they are read, before anything could log them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from shipyard._errors import DeployError
from shipyard._secrets import register_secret
from shipyard.deploy._aws import aws_errors, client

__all__ = ["resolve_arns", "resolve_values"]


def _references(secrets: Mapping[str, str], region: str) -> Iterator[tuple[str, str, str, bool, Any]]:
    """(variable, reference, name, is_ssm, client) for each secret, one boto3 client per service."""
    clients: dict[str, Any] = {}
    for var, ref in secrets.items():
        scheme, _, name = ref.partition(":")
        service = "ssm" if scheme == "ssm" else "secretsmanager"
        if service not in clients:
            clients[service] = client(service, region)
        yield var, ref, name, scheme == "ssm", clients[service]


def resolve_values(secrets: Mapping[str, str], region: str = "") -> dict[str, str]:
    """Each variable's secret value, read through SSM (decrypted) or Secrets Manager, registered for redaction."""
    values: dict[str, str] = {}
    for var, ref, name, is_ssm, api in _references(secrets, region):
        with aws_errors(f"reading secret {ref} for {var}"):
            if is_ssm:
                value = api.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            else:
                value = _secret_string(api.get_secret_value(SecretId=name), ref, var)
        register_secret(str(value), source=f"secret {ref} (for {var})")
        values[var] = str(value)
    return values


def _secret_string(response: Mapping[str, Any], ref: str, var: str) -> str:
    """A Secrets Manager value as text: ``SecretString``, or ``SecretBinary`` when it is UTF-8 text."""
    if "SecretString" in response:
        return str(response["SecretString"])
    binary = response.get("SecretBinary")
    if isinstance(binary, bytes | bytearray):
        try:
            return bytes(binary).decode("utf-8")
        except UnicodeDecodeError:
            pass
        raise DeployError(
            f"secret {ref} (for {var}) is stored as SecretBinary that is not UTF-8 text, and an environment "
            "variable holds text; store it as a SecretString (base64-encode it if it is binary)"
        )
    raise DeployError(f"secret {ref} (for {var}) has no value (no SecretString or SecretBinary); put a value in it")


def resolve_arns(secrets: Mapping[str, str], region: str = "") -> dict[str, str]:
    """Each variable's secret ARN, for ECS ``valueFrom``: ECS reads the value itself, Shipyard never does."""
    arns: dict[str, str] = {}
    for var, ref, name, is_ssm, api in _references(secrets, region):
        with aws_errors(f"looking up secret {ref} for {var}"):
            if is_ssm:
                arn = api.get_parameter(Name=name, WithDecryption=False)["Parameter"]["ARN"]
            else:
                arn = api.describe_secret(SecretId=name)["ARN"]
        arns[var] = str(arn)
    return arns
