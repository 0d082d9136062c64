"""The image stage: ``base-deps`` from the lockfile, then the product image from stored wheels.

``nox -s images -- [--python 3.11 …] [--flavor cpu|gpu] [--platform TAG] [--base REF]
[--force]``; the steps are in :mod:`.stage` and docs/images.md. The tags: :mod:`.tags`;
the base image and its stand-in: :mod:`.base`; the wheelhouse, the stored wheels and the
Dockerfiles an image is made of: :mod:`.inputs`; one image build (digest label, reuse or
BuildKit, smoke run): :mod:`.build`; the section: :mod:`.settings`. The engine and build
contexts are shared: :mod:`build_support.containers`.
"""

from __future__ import annotations

from build_support.config import Config


def main(argv: list[str], cfg: Config) -> int:
    from build_support.images.stage import main as stage_main

    return stage_main(argv, cfg)
