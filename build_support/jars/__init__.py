"""The Java stage: POMs, native libraries, Maven, per-platform and multiplatform JARs.

``nox -s jars -- linux|darwin|multiplatform|check-poms|generate-poms|deploy-check``; the
steps are in :mod:`.stage` and docs/jars.md. The JAR layout (``native/<os>/<arch>/``):
:mod:`.layout`; the POMs: :mod:`.poms`; JAR surgery: :mod:`.pack`; JDK and Maven:
:mod:`.toolchain`; the JNI libraries: :mod:`.natives`; what a build depends on and the
reuse of a stored one: :mod:`.digest`; output files, summary rows and the deploy check:
:mod:`.outputs`; the multiplatform JAR: :mod:`.multiplatform`; the section: :mod:`.settings`.
"""

from __future__ import annotations

from build_support.config import Config


def main(argv: list[str], cfg: Config) -> int:
    from build_support.jars.stage import main as stage_main

    return stage_main(argv, cfg)
