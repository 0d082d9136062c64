"""Supply chain: a CycloneDX SBOM and a signed SLSA provenance statement per artifact.

Light on purpose (stdlib only at import): stages call :func:`attest.attest_file` and
friends after they put an artifact in the store; the heavy libraries (cyclonedx,
securesystemslib) load only when a statement is actually written or checked.

* :mod:`.settings` ``[tool.build_support.provenance]``: signing key, trusted keys.
* :mod:`.sbom` CycloneDX 1.6 JSON documents (cyclonedx-python-lib), validated.
* :mod:`.provenance` in-toto v1 Statements with an SLSA Provenance v1 predicate.
* :mod:`.signing` DSSE envelopes (securesystemslib): Ed25519 key files or gpg.
* :mod:`.attest` what the stages call: write, sign and store both beside an artifact.
* :mod:`.check` the one check of an artifact against its statement and SBOM.
* :mod:`.verify` ``python -m build_support verify PATH``.

docs/supply-chain.md describes the formats and where each file goes.
"""

from __future__ import annotations
