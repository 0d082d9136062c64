"""DSSE envelopes (securesystemslib) around in-toto statements: sign, read, verify.

Signers come from ``[tool.build_support.provenance]``: an Ed25519/ECDSA private key
(PEM file, or its text in ``$BUILD_SUPPORT_PROVENANCE_KEY``), a gpg key id, or both; with
neither, a development Ed25519 key made once under the cache folder. Verification trusts
the public halves of those signers plus ``trusted_keys`` (PEM files, gpg fingerprints).
Keyless signing (sigstore with a CI OIDC token) is documented in docs/supply-chain.md and
not done here: it needs a network and an identity provider.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from build_support import cache, fsutil, log
from build_support.errors import ConfigError, InputError
from build_support.supplychain.settings import WHERE, ProvenanceSettings

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

PAYLOAD_TYPE = "application/vnd.in-toto+json"
DEV_KEY = "provenance/ed25519-dev.pem"


def dev_key_path(env: Mapping[str, str] | None = None) -> Path:
    """The development key of this machine (made on first use)."""
    return cache.cache_root(env) / DEV_KEY


def _resolve(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _private_from_pem(pem: bytes, where: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{where} is not an unencrypted PEM private key ({exc})",
            hint="make one: openssl genpkey -algorithm ed25519 -out provenance-key.pem",
        ) from None


def _dev_key(env: Mapping[str, str]) -> bytes:
    path = dev_key_path(env)
    with cache.locked(path.with_name(path.name + ".lock")):
        if not path.is_file():
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fsutil.write_atomic(path, pem, mode=0o600)
            log.warn(f"provenance: made a development signing key at {path}")
    return path.read_bytes()


def signers(
    settings: ProvenanceSettings, *, root: Path, env: Mapping[str, str] | None = None
) -> list[Signer]:
    """Every signer the configuration names (at least one)."""
    from securesystemslib.signer import CryptoSigner, GPGSigner

    env = os.environ if env is None else env
    out: list[Signer] = []
    text = env.get(settings.key_env, "") if settings.key_env else ""
    if text:
        from build_support import redact

        redact.register([text])
        out.append(CryptoSigner(_private_from_pem(text.encode(), f"${settings.key_env}")))
    elif settings.key_file and settings.key_file != "none":
        path = _resolve(root, settings.key_file)
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{WHERE}.key_file = {settings.key_file!r}: cannot read {path} ({exc.strerror})",
                hint=f"point key_file at a PEM private key, or set ${settings.key_env}",
            ) from None
        out.append(CryptoSigner(_private_from_pem(pem, str(path))))
    elif settings.key_file != "none" and not settings.gpg_key_id:
        out.append(CryptoSigner(_private_from_pem(_dev_key(env), str(dev_key_path(env)))))
    if settings.gpg_key_id:
        home = env.get("GNUPGHOME") or None
        try:
            _uri, key = GPGSigner.import_(settings.gpg_key_id, home)
        except Exception as exc:  # noqa: BLE001 - securesystemslib raises several kinds
            raise ConfigError(
                f"{WHERE}.gpg_key_id = {settings.gpg_key_id!r}: gpg has no such key ({exc})",
                hint="gpg --list-secret-keys shows the keys; import one or fix the id",
            ) from None
        out.append(GPGSigner(key, home))
    if not out:
        raise ConfigError(
            f"{WHERE}: key_file = 'none' and no gpg_key_id: nothing to sign with",
            hint="set key_file, gpg_key_id, or the variable " + settings.key_env,
        )
    return out


def public_key_from_pem(pem: bytes, where: str) -> Key:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    try:
        return SSlibKey.from_crypto(load_pem_public_key(pem))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where} is not a PEM public key ({exc})") from None


def public_pem(signer: Signer) -> str | None:
    """The PEM of a key-file signer's public key (what a user verifies with)."""
    keyval = signer.public_key.to_dict().get("keyval", {})
    public = keyval.get("public", "") if isinstance(keyval, dict) else ""
    return public if isinstance(public, str) and "BEGIN PUBLIC KEY" in public else None


def trusted_keys(
    settings: ProvenanceSettings,
    *,
    root: Path,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    include_own: bool = True,
) -> list[Key]:
    """The keys verification trusts: ``trusted_keys``, ``extra``, and this machine's own."""
    from securesystemslib.signer import GPGSigner

    env = os.environ if env is None else env
    keys: dict[str, Key] = {}
    for value in (*settings.trusted_keys, *extra):
        path = _resolve(root, value)
        if path.is_file():
            key = public_key_from_pem(path.read_bytes(), str(path))
        else:
            try:
                _uri, key = GPGSigner.import_(value, env.get("GNUPGHOME") or None)
            except Exception as exc:  # noqa: BLE001 - securesystemslib raises several kinds
                raise ConfigError(
                    f"trusted key {value!r} is neither a PEM file nor a gpg key ({exc})",
                    hint=f"fix {WHERE}.trusted_keys or --key",
                ) from None
        keys[key.keyid] = key
    if include_own:
        for signer in signers(settings, root=root, env=env):
            keys[signer.public_key.keyid] = signer.public_key
    return list(keys.values())


@dataclass(frozen=True)
class Signed:
    """A verified envelope: its statement and the key ids that signed it."""

    statement: dict[str, Any]
    keyids: tuple[str, ...]


def sign(statement: Mapping[str, Any], with_signers: Sequence[Signer]) -> str:
    """The statement in a DSSE envelope signed by each signer, as one JSON line."""
    from securesystemslib.dsse import Envelope

    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    for signer in with_signers:
        envelope.sign(signer)
    return json.dumps(envelope.to_dict(), sort_keys=True, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class RawEnvelope:
    """A DSSE envelope as read, before any key is involved (stdlib only: no import of
    securesystemslib, whose signer registry is slow to load)."""

    payload: bytes
    payload_type: str
    signatures: dict[str, str]
    data: dict[str, Any]


def read_envelopes(text: str, where: str) -> list[RawEnvelope]:
    """Every envelope of a ``.intoto.jsonl`` file (one JSON envelope a line)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            sigs = {str(s["keyid"]): str(s["sig"]) for s in data["signatures"]}
            out.append(RawEnvelope(base64.b64decode(data["payload"], validate=True),
                                   str(data["payloadType"]), sigs, data))  # fmt: skip
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise InputError(f"{where}:{n} is not a DSSE envelope ({exc})") from None
    if not out:
        raise InputError(f"{where} holds no envelope")
    return out


def unverified(envelope: RawEnvelope) -> dict[str, Any]:
    """The statement an envelope carries, signatures not checked (plan mode only)."""
    if envelope.payload_type != PAYLOAD_TYPE:
        raise ValueError(f"payload type {envelope.payload_type!r}, not {PAYLOAD_TYPE!r}")
    statement = json.loads(envelope.payload)
    if not isinstance(statement, dict):
        raise ValueError("the payload is not a JSON object")  # noqa: TRY004 - one kind
    return statement


def open_envelope(raw: RawEnvelope, keys: Sequence[Key], threshold: int) -> Signed:
    """The statement, when ``threshold`` trusted keys signed it; else ValueError (why)."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError as SslibVerificationError

    try:
        envelope = Envelope.from_dict(raw.data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a DSSE envelope ({exc})") from None

    if envelope.payload_type != PAYLOAD_TYPE:
        raise ValueError(f"payload type {envelope.payload_type!r}, not {PAYLOAD_TYPE!r}")
    if not keys:
        raise ValueError("no trusted key to verify with")
    try:
        accepted = envelope.verify(list(keys), threshold)
    except SslibVerificationError as exc:
        signed_by = ", ".join(sorted(envelope.signatures)) or "nobody"
        raise ValueError(
            f"not signed by a trusted key ({exc}; signed by key id(s) {signed_by})"
        ) from None
    try:
        statement = json.loads(envelope.payload)
    except ValueError as exc:
        raise ValueError(f"the signed payload is not JSON ({exc})") from None
    if not isinstance(statement, dict):
        raise ValueError("the signed payload is not a JSON object")  # noqa: TRY004 - one kind
    return Signed(statement=statement, keyids=tuple(sorted(accepted)))
