"""The publish stage: gates, a plan from what the registries hold, then (``--execute``)
journaled, resumable uploads to PyPI, Maven repositories / the Central Portal and Docker
registries. The core is :mod:`.stage`; one module per target; see docs/publish.md.
"""

from __future__ import annotations

from build_support.config import Config


def main(argv: list[str], cfg: Config) -> int:
    from build_support.publish.stage import main as stage_main

    return stage_main(argv, cfg)
