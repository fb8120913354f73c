"""Secret references (``ssm:/path``, ``secretsmanager:name``): resolved to values (docker) or ARNs (ECS).

Values are registered with Shipyard's redactor the moment they are read, before anything could log them.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipyard._secrets import register_secret
from shipyard.deploy._aws import aws_errors, client

__all__ = ["resolve_arns", "resolve_values"]


def _split(ref: str) -> tuple[str, str]:
    scheme, _, name = ref.partition(":")
    return scheme, name


def resolve_values(secrets: Mapping[str, str], region: str = "") -> dict[str, str]:
    """Each variable's secret value, read through SSM (decrypted) or Secrets Manager, registered for redaction."""
    values: dict[str, str] = {}
    clients: dict[str, object] = {}
    for var, ref in secrets.items():
        scheme, name = _split(ref)
        with aws_errors(f"reading secret {ref} for {var}"):
            if scheme == "ssm":
                ssm = clients.setdefault("ssm", client("ssm", region))
                value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]  # type: ignore[attr-defined]
            else:
                sm = clients.setdefault("sm", client("secretsmanager", region))
                value = sm.get_secret_value(SecretId=name)["SecretString"]  # type: ignore[attr-defined]
        register_secret(value)
        values[var] = value
    return values


def resolve_arns(secrets: Mapping[str, str], region: str = "") -> dict[str, str]:
    """Each variable's secret ARN, for ECS ``valueFrom``: ECS reads the value itself, Shipyard never does."""
    arns: dict[str, str] = {}
    clients: dict[str, object] = {}
    for var, ref in secrets.items():
        scheme, name = _split(ref)
        with aws_errors(f"looking up secret {ref} for {var}"):
            if scheme == "ssm":
                ssm = clients.setdefault("ssm", client("ssm", region))
                arn = ssm.get_parameter(Name=name, WithDecryption=False)["Parameter"]["ARN"]  # type: ignore[attr-defined]
            else:
                sm = clients.setdefault("sm", client("secretsmanager", region))
                arn = sm.describe_secret(SecretId=name)["ARN"]  # type: ignore[attr-defined]
        arns[var] = str(arn)
    return arns
