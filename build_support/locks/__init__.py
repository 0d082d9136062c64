"""The lock stage: compile ``requirements/*.in`` into one pinned, hashed lockfile per Python.

``nox -s lock-3.12`` runs ``python -m build_support lock --python 3.12``. The result is
``requirements/compiled/requirements_compiled_py3.12.txt`` in pip-compile's format, with
``--hash`` lines for every pin and a short header of our own; see docs/lock.md.

What one run is asked and answers: :mod:`.job`; the inputs (includes, allowed options):
:mod:`.inputs`; digest, header and freshness: :mod:`.header`; the pip-tools and uv
command lines: :mod:`.backends`; why a resolution failed: :mod:`.diagnose`; the stage
(``lock``, ``--check``, ``--check-reproducible``, ``main``): :mod:`.stage`; its section:
:mod:`.settings`.
"""

from __future__ import annotations

from build_support.config import Config


def main(argv: list[str], cfg: Config) -> int:
    from build_support.locks.stage import main as stage_main

    return stage_main(argv, cfg)
