"""The wheel stage: build, stamp, repair, verify and store the product's wheels.

``nox -s wheel -- [PLATFORM…] [--python X.Y …] [--force] [--release] [--image P=REF]``;
the steps are in :mod:`.stage` and docs/wheel.md. A project's files and commit stamp:
:mod:`.projects`; every job decided before any build: :mod:`.plan`; a container target's
image and its Pythons: :mod:`.buildimage`; a build on this host: :mod:`.native`; in a build
container: :mod:`.container` (running :mod:`.driver` inside, standard library only); the
checks every wheel passes: :mod:`.verify`; ``dist/``, the store and the summary:
:mod:`.outputs`; the section: :mod:`.settings`.
"""

from __future__ import annotations

from build_support.config import Config


def main(argv: list[str], cfg: Config) -> int:
    from build_support.wheels.stage import main as stage_main

    return stage_main(argv, cfg)
