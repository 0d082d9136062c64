"""``[tool.build_support.provenance]``: how provenance statements are signed and trusted.

Light module (stdlib only): the noxfile loads the config.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The environment variable that may hold an Ed25519 private key (PEM, PKCS#8).
KEY_ENV = "BUILD_SUPPORT_PROVENANCE_KEY"
WHERE = "tool.build_support.provenance"


@dataclass(frozen=True, kw_only=True)
class ProvenanceSettings:
    """``[tool.build_support.provenance]``."""

    #: Write an SBOM and a signed statement beside every artifact a stage stores.
    enabled: bool = True
    #: An Ed25519 (or ECDSA) private key, PEM (PKCS#8), unencrypted: a path relative to
    #: the project root, or ``~/...``. ``$BUILD_SUPPORT_PROVENANCE_KEY`` (the PEM text)
    #: overrides it. Empty and no variable: a development key made once in the cache
    #: folder (said loudly; publish trusts it only when it is listed in trusted_keys or is
    #: the key in use on this machine).
    key_file: str = ""
    key_env: str = KEY_ENV
    #: Also (or only, with ``key_file = "none"``) sign with this gpg key id/fingerprint.
    gpg_key_id: str = ""
    #: Public keys (PEM files) and gpg fingerprints that verify and publish trust, besides
    #: the key this machine signs with.
    trusted_keys: tuple[str, ...] = ()
    #: How many trusted signatures an envelope needs.
    threshold: int = 1
