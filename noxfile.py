"""Sessions: one per stage, each a few lines delegating to ``build_support``.

``nox -l`` lists them. Venvs are made with uv when it is there and reused.

Exit codes: nox reports every failed session as 1, which would hide the codes CI acts on
(79: retry the release tests; 13: wrong commit; ...). So a stage session that fails ends
nox at once with the stage's own exit code (``build_support.nox.sessions._stage_run``),
after flushing output; nox's closing summary and any later sessions are skipped then.
Config errors while this file is imported end nox the same way, with one error line and
the documented code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # the harness of this checkout

from build_support.nox import sessions  # noqa: E402

# The stage sessions, from build_support/stages.py (any project's noxfile is this line).
sessions.install(globals())


# -- the harness's own sessions --------------------------------------------------------------


@nox.session(python=sessions.TOOL_PYTHON)
def tests(session: nox.Session) -> None:
    """The harness's own tests, unit and integration: -- [PYTEST ARGS]."""
    sessions.install_harness(session, ROOT, "test")
    args = session.posargs or ["tests/unit", "tests/integration", "--durations=25"]
    session.run("python", "-m", "pytest", *args)


@nox.session(python=sessions.TOOL_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy --strict."""
    sessions.install_harness(session, ROOT, "lint", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=sessions.TOOL_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks, as ratios against a baseline measured in the same run."""
    sessions.install_harness(session, ROOT, "test")
    session.run("python", "-m", "benchmarks", *session.posargs)
