"""Sessions: one per stage, each a few lines delegating to ``build_support``.

``nox -l`` lists them. Venvs are made with uv when it is there and reused.

Exit codes: nox reports every failed session as 1, which would hide the codes CI acts on
(79: retry the release tests; 13: wrong commit; ...). So a stage session that fails ends
nox at once with the stage's own exit code (:func:`_stage_run`), after flushing output;
nox's closing summary and any later sessions are skipped then. Config errors while this
file is imported end nox the same way, with one error line and the documented code.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from build_support import cli, pythons, redact, tools  # noqa: E402
from build_support.config import load as load_config  # noqa: E402

redact.filter_logger("nox")  # nox's own "nox > cmd" echo is redacted too
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["pipeline"]

try:
    CONFIG = load_config(ROOT)
except Exception as _exc:  # noqa: BLE001 - the boundary for errors while nox imports this
    raise SystemExit(cli.report("noxfile", _exc)) from None
PYTHONS = list(CONFIG.python_versions)
TOOL_PYTHON = "3.12"

# pyenv shims refuse versions that are not selected: put the real interpreters first.
_found = [pythons.find(v, extra=CONFIG.python_search_paths) for v in {*PYTHONS, TOOL_PYTHON}]
os.environ["PATH"] = os.pathsep.join(
    [*sorted({str(i.path.parent) for i in _found if i}), os.environ.get("PATH", "")]
)


def _sources_env() -> dict[str, str]:
    """uv (nox's venv installer here) follows pip's configured index when it has none."""
    from build_support import indexes

    return indexes.uv_env()[0]


def _install(session: nox.Session, *groups: str) -> None:
    """Install the harness (editable) and dependency groups, skipped when unchanged."""
    venv = Path(getattr(session.virtualenv, "location", "") or ROOT / ".nox" / "none")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(",".join(groups).encode())
    stamp = venv / ".build-support-stamp"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return
    args = ["-e", str(ROOT)]
    for group in groups:
        args += ["--group", group]
    session.install(*args, env=_sources_env())
    stamp.write_text(digest.hexdigest())


def _lock_tools(session: nox.Session) -> None:
    """pip-tools, pinned as the reference pipeline pins it, in the session's venv."""
    if not (Path(session.bin) / "pip-compile").exists():
        session.install(*tools.LOCK_TOOL_PINS, env=_sources_env())


def _stage_run(session: nox.Session, stage: str, *args: str, **kwargs: Any) -> None:
    """``python -m build_support STAGE ARGS``; on failure nox exits with the stage's code."""
    try:
        session.run("python", "-m", "build_support", stage, *args, **kwargs)
    except nox.command.CommandFailed as exc:
        if exc.return_code is None:  # nox's own failure (program not found): nox reports it
            raise
        code = exc.return_code if exc.return_code >= 0 else 128 - exc.return_code
        session.log(f"{stage} exited {code}; nox exits {code} too (its summary is skipped)")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _stage(session: nox.Session, stage: str, *args: str, groups: tuple[str, ...] = ()) -> None:
    _install(session, *groups)
    _stage_run(session, stage, *args, *session.posargs)


@nox.session(python=PYTHONS)
def lock(session: nox.Session) -> None:
    """Compile requirements/*.in into this Python's pinned, hashed lockfile."""
    _install(session)
    _lock_tools(session)
    _stage_run(session, "lock", "--python", str(session.python), *session.posargs)


@nox.session(python=TOOL_PYTHON)
def wheel(session: nox.Session) -> None:
    """Build, stamp, repair, verify and store minray wheels: -- [PLATFORM...] [--python X.Y]."""
    _stage(session, "wheel", groups=("test",))


@nox.session(python=TOOL_PYTHON)
def jars(session: nox.Session) -> None:
    """Build minray's JARs with Maven: -- linux|darwin|multiplatform."""
    _stage(session, "jars")


@nox.session(python=TOOL_PYTHON)
def images(session: nox.Session) -> None:
    """Build base-deps and minray images with BuildKit: -- [--python X.Y] [--flavor cpu|gpu]."""
    _stage(session, "images")


@nox.session(name="release-tests", python=TOOL_PYTHON)
def release_tests(session: nox.Session) -> None:
    """Run release/release_tests.yaml against the stored wheel: -- [NAME|GLOB...] [--smoke]."""
    _stage(session, "release-tests")


@nox.session(python=TOOL_PYTHON)
def store(session: nox.Session) -> None:
    """Artifact store CLI for CI glue: -- put|get|ls|promote|rm ..."""
    _stage(session, "store")


@nox.session(name="ci-plan", python=TOOL_PYTHON)
def ci_plan(session: nox.Session) -> None:
    """CI plan from changed files: Buildkite YAML on stdout: -- [--explain] [--check]."""
    # stdout is piped into `buildkite-agent pipeline upload`: keep stderr apart (nox's
    # default merges it into stdout).
    _install(session)
    _stage_run(session, "ci-plan", *session.posargs, stderr=None)


@nox.session(python=TOOL_PYTHON)
def publish(session: nox.Session) -> None:
    """Gate, plan and (with -- --execute) publish the commit: -- [pypi|maven|docker...]."""
    _stage(session, "publish", groups=("publish",))


@nox.session(python=TOOL_PYTHON)
def verify(session: nox.Session) -> None:
    """Check downloaded artifacts against their signed provenance and SBOM: -- PATH..."""
    _stage(session, "verify")


@nox.session(python=TOOL_PYTHON)
def pipeline(session: nox.Session) -> None:
    """The main job: every stage for the host platform on the bundled product."""
    _install(session, "test")
    _lock_tools(session)
    _stage_run(session, "pipeline", *session.posargs)


@nox.session(python=TOOL_PYTHON)
def doctor(session: nox.Session) -> None:
    """Every stage's tools: present or not, version, what would be installed: -- [STAGE...]."""
    _stage(session, "doctor")


@nox.session(python=TOOL_PYTHON)
def tests(session: nox.Session) -> None:
    """The harness's own tests, unit and integration: -- [PYTEST ARGS]."""
    _install(session, "test")
    args = session.posargs or ["tests/unit", "tests/integration", "--durations=25"]
    session.run("python", "-m", "pytest", *args)


@nox.session(python=TOOL_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy --strict."""
    _install(session, "lint", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=TOOL_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks, as ratios against a baseline measured in the same run."""
    _install(session, "test")
    session.run("python", "-m", "benchmarks", *session.posargs)
