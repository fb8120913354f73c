"""Keyless provenance: the in-toto statement signed with Sigstore (sigstore-python), verified offline.

Signing (``[tool.shipyard.signing] method = "sigstore"``) runs where an ambient OIDC token exists (GitHub Actions
with ``permissions: id-token: write``): Fulcio certifies an ephemeral key for the workflow's identity, the DSSE
envelope over the statement is logged in Rekor, and the result is a Sigstore bundle (v0.3 JSON), stored as the
attestation layer. Verifying reads only the bundle and a trust root (``TrustedRoot``): no Fulcio, Rekor or TUF
request. sigstore is imported only here, only when used (the ``sigstore`` extra).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard._errors import ConfigError, ImageError
from shipyard.attest._policy import GITHUB_ISSUER, SigstorePolicy
from shipyard.attest._sign import IN_TOTO_PAYLOAD, SignatureInvalid, statement_of

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

__all__ = ["BUNDLE", "open_bundle", "sign_keyless"]

#: The attestation layer's media type: a Sigstore bundle v0.3 (what cosign and sigstore-python write).
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_PUBLIC_GOOD_TUF = "https://tuf-repo-cdn.sigstore.dev"


_STAGING_TUF = "https://tuf-repo-cdn.sigstage.dev"
_TUF_MODULE = "sigstore._internal.tuf"


class _DeferredTrustUpdater:
    """sigstore's ``TrustUpdater`` (TUF), imported only when something in this process does use TUF."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from sigstore._internal.tuf import TrustUpdater

        return TrustUpdater(*args, **kwargs)


def _load_verifier() -> None:
    """Import sigstore's models and verifier without its TUF client, which offline verification never uses.

    ``sigstore.models`` imports ``TrustUpdater`` at the top for ``ClientTrustConfig.from_tuf`` alone; the TUF client
    pulls in tuf and securesystemslib, and securesystemslib its cloud KMS signers' SDKs (boto3): most of a fresh
    process's verify time. While these modules load, a stand-in module answers that import; the real one loads
    when a ``TrustUpdater`` is made (signing in the same process). A sigstore version whose modules want more from
    it is imported whole, as before.
    """
    if "sigstore.models" in sys.modules or _TUF_MODULE in sys.modules:
        return
    import types

    stand_in = types.ModuleType(_TUF_MODULE, "stands in until TUF is used (shipyard.attest._sigstore)")
    stand_in.DEFAULT_TUF_URL = _PUBLIC_GOOD_TUF  # type: ignore[attr-defined]
    stand_in.STAGING_TUF_URL = _STAGING_TUF  # type: ignore[attr-defined]
    stand_in.TrustUpdater = _DeferredTrustUpdater  # type: ignore[attr-defined]
    before = set(sys.modules)
    sys.modules[_TUF_MODULE] = stand_in
    try:
        import sigstore.models
        import sigstore.verify  # noqa: F401 - loaded here, while the stand-in answers
    except ImportError:
        for name in set(sys.modules) - before:
            if name == "sigstore" or name.startswith("sigstore."):
                del sys.modules[name]
    finally:
        if sys.modules.get(_TUF_MODULE) is stand_in:
            del sys.modules[_TUF_MODULE]


def _import_error(exc: ImportError) -> ConfigError:
    return ConfigError(f"Sigstore needs sigstore-python ({exc.name} is missing); install shipyard[sigstore]")


def sign_keyless(payload: bytes, *, trust_config: Path | None = None) -> bytes | None:
    """A Sigstore bundle (JSON) of a DSSE envelope over ``payload``, signed with the ambient OIDC identity.

    ``None`` outside CI when there is no ambient OIDC token. Needs the network (TUF, Fulcio, Rekor); under GitHub
    Actions without a token, or when a service fails, raises a one-line ``ImageError``. ``trust_config``: a
    ClientTrustConfig JSON naming a private instance's services and trust root (default: the public-good instance,
    its trust root refreshed through TUF).
    """
    try:
        # Fulcio's and Rekor's client errors derive from Exception only (sigstore-python 4.x).
        from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError
        from sigstore._internal.rekor import RekorClientError
        from sigstore.dsse import Statement
        from sigstore.errors import Error
        from sigstore.models import ClientTrustConfig
        from sigstore.oidc import ExpiredIdentity, IdentityToken, detect_credential
        from sigstore.sign import SigningContext
    except ImportError as exc:
        raise _import_error(exc) from None
    from shipyard._secrets import register_secret

    try:
        token = detect_credential()
    except Error as exc:
        raise ImageError(
            f"Sigstore signing: cannot get the CI's OIDC token ({_line(exc)}); "
            "give the job `permissions: id-token: write`"
        ) from None
    if token is None:
        if os.environ.get("GITHUB_ACTIONS") == "true":
            raise ImageError("Sigstore signing: no OIDC token; give the job `permissions: id-token: write`")
        return None  # a developer's push: stored unsigned, as without a key (every gate refuses it)
    register_secret(token)
    try:
        statement = Statement(payload)
        config = (
            ClientTrustConfig.from_json(trust_config.read_text())
            if trust_config is not None
            else ClientTrustConfig.production()
        )
        context = SigningContext.from_trust_config(config)
        with context.signer(IdentityToken(token)) as signer:
            bundle = signer.sign_dsse(statement)
    except (
        Error,
        ExpiredIdentity,
        ExpiredCertificate,
        FulcioClientError,
        RekorClientError,
        OSError,
        ValueError,
    ) as exc:
        raise ImageError(f"Sigstore signing failed: {type(exc).__name__}: {_line(exc)}") from None
    return bundle.to_json().encode()


def _line(exc: BaseException, limit: int = 160) -> str:
    from shipyard._secrets import redact

    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)[:limit]


def trusted_root(policy: SigstorePolicy) -> TrustedRoot:
    """The policy's trust root: its ``trusted_root`` file, or sigstore-python's embedded public-good root."""
    path = policy.trusted_root
    stamp = path.stat().st_mtime_ns if path is not None and path.exists() else 0
    return _load_root(str(path) if path is not None else "", stamp, policy.file, policy.key)


@functools.lru_cache(maxsize=8)
def _load_root(path: str, _stamp: int, file: str, key: str) -> TrustedRoot:
    _load_verifier()
    try:
        from sigstore.errors import Error
        from sigstore.models import TrustedRoot
        from sigstore_models.trustroot.v1 import TrustedRoot as RootMessage
    except ImportError as exc:
        raise _import_error(exc) from None
    where = f"{key}.trusted_root" if key else ""
    try:
        if path:
            data = Path(path).read_bytes()
        else:
            # The root sigstore-python ships for the public-good instance (what its offline mode starts from);
            # read as a file, so that verifying writes no TUF cache and fetches nothing.
            from importlib.resources import files
            from urllib.parse import quote

            data = files("sigstore._store").joinpath(quote(_PUBLIC_GOOD_TUF, safe=""), "trusted_root.json").read_bytes()
        root = TrustedRoot(RootMessage.from_json(data))
        root.get_fulcio_certs()  # a root without a CA or a log is refused here, not halfway through a verify
    except OSError as exc:
        raise ConfigError(f"cannot read the Sigstore trusted root {path or '(embedded)'} ({exc})", file=file or None,
                          key=where or None) from None  # fmt: skip
    except (Error, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{path or 'the embedded trusted root'} is not a Sigstore trusted root ({_line(exc, 100)})",
                          file=file or None, key=where or None) from None  # fmt: skip
    return root


def open_bundle(data: bytes, policy: SigstorePolicy | None) -> tuple[dict[str, Any], str]:
    """The statement a Sigstore bundle signs, and who signed it; ``SignatureInvalid`` (one line) otherwise.

    The bundle is verified offline by sigstore-python's ``Verifier``: the certificate chains to the trust root at
    the log's signed time, its embedded SCT and the log's inclusion promise and checkpoint are signed by the trust
    root's keys, the certificate names ``policy.identity`` for ``policy.issuer``, and the DSSE signature holds.
    """
    if policy is None:
        raise SignatureInvalid(
            "the provenance is signed with Sigstore but no signer identity is trusted; "
            "set sigstore = { identity = ... } for the environment (or image.verify --identity)"
        )
    _load_verifier()
    try:
        from sigstore.errors import Error
        from sigstore.models import Bundle
        from sigstore.verify import Verifier
        from sigstore.verify.policy import Identity
    except ImportError as exc:
        raise _import_error(exc) from None
    root = trusted_root(policy)
    expected: Any = (
        _RefPrefix(policy.identity.removesuffix("*"), policy.issuer)
        if policy.identity.endswith("*")
        else Identity(identity=policy.identity, issuer=policy.issuer)
    )
    if (repository := _github_repository(policy)) is not None:
        from sigstore.verify.policy import AllOf, OIDCSourceRepositoryURI

        # The SAN names the workflow *file*; a reusable workflow called from another repository gets the same SAN.
        # Fulcio's Source Repository URI names the repository whose run it was.
        expected = AllOf([expected, OIDCSourceRepositoryURI(repository)])
    try:
        bundle = Bundle.from_json(data)
    except (Error, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise SignatureInvalid(f"the Sigstore bundle is malformed ({type(exc).__name__})") from None
    signer = _identities(bundle)
    try:
        payload_type, payload = Verifier(trusted_root=root).verify_dsse(bundle, expected)
    except (Error, ValueError, TypeError, KeyError) as exc:
        raise SignatureInvalid(_why(exc, policy, signer)) from None
    if payload_type != IN_TOTO_PAYLOAD:
        raise SignatureInvalid(f"the envelope's payload type is {payload_type!r}, not {IN_TOTO_PAYLOAD}")
    return statement_of(payload), signer or policy.identity


def _github_repository(policy: SigstorePolicy) -> str | None:
    """``https://github.com/OWNER/REPO`` of a GitHub Actions workflow identity (None for other issuers)."""
    if policy.issuer != GITHUB_ISSUER or "/.github/workflows/" not in policy.identity:
        return None
    return policy.identity.partition("/.github/workflows/")[0]


class _RefPrefix:
    """sigstore's ``Identity`` policy, but for a workflow at any ref under a prefix (``...@refs/tags/v*``).

    The issuer is checked by sigstore's own ``OIDCIssuer``; the certificate's URI SANs must start with the prefix,
    which the configuration check pins to one repository's one workflow file.
    """

    def __init__(self, prefix: str, issuer: str) -> None:
        self._prefix = prefix
        self._issuer = issuer

    def verify(self, cert: Any) -> None:
        from cryptography import x509
        from sigstore.errors import VerificationError
        from sigstore.verify.policy import OIDCIssuer

        OIDCIssuer(self._issuer).verify(cert)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = set(names.get_values_for_type(x509.UniformResourceIdentifier))
        if not any(san.startswith(self._prefix) for san in sans):
            raise VerificationError(f"Certificate's SANs do not match {self._prefix}*; actual SANs: {sans}")


def _identities(bundle: Any) -> str:
    """The certificate's identities (SANs), for a refusal's message; "" when it has none readable."""
    from cryptography import x509

    try:
        names = bundle.signing_certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return ""
    found = [*names.get_values_for_type(x509.UniformResourceIdentifier), *names.get_values_for_type(x509.RFC822Name)]
    return ", ".join(sorted(found))


def _why(exc: BaseException, policy: SigstorePolicy, signer: str) -> str:  # noqa: PLR0911 - one per reason
    text = _line(exc, 200)
    if "SANs do not match" in text:
        hint = ""
        if signer.casefold() == policy.identity.casefold() or (
            policy.identity.endswith("*") and signer.casefold().startswith(policy.identity[:-1].casefold())
        ):
            hint = " (identities are case-sensitive: write OWNER/REPO as the certificate does)"
        return f"the Sigstore certificate is for {signer or 'another identity'}, not {policy.identity}{hint}"
    if "OIDCSourceRepositoryURI" in text:
        got = re.search(r"got ([^,]*), expected", text)
        if got is None:
            return f"the Sigstore certificate for {signer} names no source repository (not issued for GitHub Actions)"
        ran = got.group(1)
        return (
            f"the Sigstore certificate's workflow {signer} ran for the repository {ran}, not "
            f"{_github_repository(policy)} (a reusable workflow called from elsewhere)"
        )
    if "OIDCIssuer" in text or "OIDC issuer" in text or "1.3.6.1.4.1.57264.1.1" in text:
        got = re.search(r"got '([^']*)'", text)
        other = f" ({got.group(1)})" if got else ""
        return f"the Sigstore certificate was issued for another OIDC issuer{other}, not {policy.issuer}"
    if "certificate chain" in text:
        where = policy.trusted_root or "the public-good Sigstore root"
        return f"the Sigstore certificate does not chain to the trusted root {where} (signed under another root)"
    if "SCT" in text or "log entry" in text or "checkpoint" in text or "inclusion" in text:
        return f"the Sigstore bundle's transparency log proof is not signed by the trusted root's logs ({text})"
    if "DSSE" in text or "signature" in text.lower():
        return f"the Sigstore DSSE signature does not verify: the payload was changed ({text})"
    return f"the Sigstore bundle does not verify ({text})"
