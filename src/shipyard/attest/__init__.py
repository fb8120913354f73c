"""Supply chain: every image gets a CycloneDX SBOM and signed SLSA provenance, stored beside it in the registry.

    record = record_build(config, artifacts, revision, image_id=..., build_args=..., inspect=..., started=...)
    attached = attach(record, registry="127.0.0.1:5000", name="acme/app", digest="sha256:...", auth={})
    verification = verify_image("127.0.0.1:5000/acme/app@sha256:...", trusted=trusted_keys(root))
    facts = check(environment, reference)        # the deploy gate: one-line DeployError naming the failed rule

A build writes the record; a push signs it (DSSE, in-toto Statement v1, SLSA provenance v1) and stores it as an
OCI artifact whose subject is the image. securesystemslib and cryptography load only when signing or verifying.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.attest._attach import Attached, attach
    from shipyard.attest._config import SigningConfig, load_signing
    from shipyard.attest._gate import RULES, check, evaluate, parse_rules
    from shipyard.attest._record import record_build
    from shipyard.attest._verify import Verification, trusted_keys, verify_image

__all__ = [
    "RULES",
    "Attached",
    "SigningConfig",
    "Verification",
    "attach",
    "check",
    "evaluate",
    "load_signing",
    "parse_rules",
    "record_build",
    "trusted_keys",
    "verify_image",
]

# Loaded on first use: the deploy configuration imports the gate's rules, and must not pay for the registry
# client or the signing code.
_HOME = {
    "Attached": "_attach",
    "attach": "_attach",
    "SigningConfig": "_config",
    "load_signing": "_config",
    "RULES": "_gate",
    "check": "_gate",
    "evaluate": "_gate",
    "parse_rules": "_gate",
    "record_build": "_record",
    "Verification": "_verify",
    "trusted_keys": "_verify",
    "verify_image": "_verify",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
