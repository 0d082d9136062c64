"""Every stage's nox session, made from the stage table, for any project's noxfile.

A project's whole ``noxfile.py`` (docs/onboarding.md; ``build-support init`` writes it)::

    from build_support.nox import sessions

    sessions.install(globals())

:func:`install` reads the project's config (the noxfile's folder is its root), sets
nox's options and registers one session per stage that has a ``session`` in
:data:`build_support.stages.STAGES` (nox keeps the sessions in its own registry; the
functions are also put into the noxfile's namespace). ``nox -l`` lists them.

Each session installs the harness into its venv the way nox itself got it: from a source
tree, editable with the tree's dependency groups; installed (``pip install
build-support``), the same distribution again (the wheel or URL it was installed from,
PEP 610 ``direct_url.json``, else ``build-support==<version>`` from the index), with the
groups that are extras of it.

Exit codes: nox reports every failed session as 1, which would hide the codes CI acts on
(79: retry the release tests; 13: wrong commit; ...). So a stage session that fails ends
nox at once with the stage's own exit code (:func:`_stage_run`), after flushing output;
nox's closing summary and any later sessions are skipped then. A stage runs as its own
process group: SIGINT/SIGTERM/SIGHUP sent to nox are passed on to all of it, nox waits
for it and exits 130/143/129. Config errors while the noxfile is imported end nox the
same way, with one error line and the documented code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import nox

import build_support
from build_support import cli, procs, pythons, redact, stages, tools
from build_support.config import Config
from build_support.config import load as load_config

#: The Python the stage sessions (all but the per-Python ``lock``) run on.
TOOL_PYTHON = "3.12"
#: The distribution this package is installed as.
DISTRIBUTION = "build-support"


def install(namespace: MutableMapping[str, Any]) -> Config:
    """Register the stage sessions for the project whose noxfile's globals are ``namespace``."""
    root = Path(namespace["__file__"]).resolve().parent
    redact.filter_logger("nox")  # nox's own "nox > cmd" echo is redacted too
    nox.options.default_venv_backend = "uv|virtualenv"
    nox.options.reuse_venv = "yes"
    nox.options.error_on_missing_interpreters = True
    nox.options.sessions = ["pipeline"]
    try:
        cfg = load_config(root)
    except Exception as exc:  # noqa: BLE001 - the boundary for errors while nox imports it
        raise SystemExit(cli.report("noxfile", exc)) from None
    versions = list(cfg.python_versions)
    # pyenv shims refuse versions that are not selected: put the real interpreters first.
    found = [pythons.find(v, extra=cfg.python_search_paths) for v in {*versions, TOOL_PYTHON}]
    os.environ["PATH"] = os.pathsep.join(
        [*sorted({str(i.path.parent) for i in found if i}), os.environ.get("PATH", "")]
    )
    namespace.update(register(root, versions))
    return cfg


def register(root: Path, versions: Sequence[str]) -> dict[str, Callable[[nox.Session], None]]:
    """One nox session per stage with a ``session`` entry, in the table's order."""
    out = {}
    for stage in stages.STAGES.values():
        if stage.session is not None:
            func = _session(root, stage.name, stage.session, versions)
            out[func.__name__] = func
    return out


def _session(
    root: Path, name: str, spec: stages.Session, versions: Sequence[str]
) -> Callable[[nox.Session], None]:
    def run(session: nox.Session) -> None:
        install_harness(session, root, *spec.groups)
        if spec.lock_tools:
            _lock_tools(session)
        args = ("--python", str(session.python)) if spec.python == "each" else ()
        kwargs: dict[str, Any] = {"stderr": None} if spec.stderr_apart else {}
        _stage_run(session, name, *args, *session.posargs, **kwargs)

    run.__name__ = run.__qualname__ = name.replace("-", "_")
    run.__doc__ = spec.doc
    python = list(versions) if spec.python == "each" else TOOL_PYTHON
    return nox.session(name=name, python=python)(run)


def _sources_env() -> dict[str, str]:
    """uv (nox's venv installer here) follows pip's configured index when it has none."""
    from build_support import indexes

    return indexes.uv_env()[0]


def source_tree() -> Path | None:
    """The checkout this harness is imported from, or None when it is installed."""
    tree = Path(build_support.__file__).resolve().parents[1]
    return tree if (tree / "pyproject.toml").is_file() else None


def harness_requirements(root: Path, groups: tuple[str, ...]) -> list[str]:
    """The install arguments that give a session venv this harness (see the docstring)."""
    tree = source_tree()
    if tree is not None:
        args = ["-e", str(tree)]
        for group in groups:
            args += ["--group", group if tree == root else f"{tree / 'pyproject.toml'}:{group}"]
        return args
    dist = importlib.metadata.distribution(DISTRIBUTION)
    extras = [g for g in groups if g in (dist.metadata.get_all("Provides-Extra") or [])]
    spec = DISTRIBUTION + (f"[{','.join(extras)}]" if extras else "")
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("url") and not direct.get("dir_info", {}).get("editable"):
        return [f"{spec} @ {direct['url']}"]
    return [f"{spec}=={dist.version}"]


def install_harness(session: nox.Session, root: Path, *groups: str) -> None:
    """Install the harness and dependency groups into the session, skipped when unchanged."""
    venv = Path(getattr(session.virtualenv, "location", "") or root / ".nox" / "none")
    args = harness_requirements(root, groups)
    tree = source_tree()
    digest = hashlib.sha256((tree / "pyproject.toml").read_bytes() if tree else b"")
    digest.update("\0".join(args).encode())
    stamp = venv / ".build-support-stamp"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return
    if _no_install(session):  # `nox -R`: nox skips the install; the stamp must not say done
        return
    session.install(*args, env=_sources_env())
    stamp.write_text(digest.hexdigest())


def _lock_tools(session: nox.Session) -> None:
    """pip-tools, pinned as the reference pipeline pins it, in the session's venv."""
    if not (Path(session.bin) / "pip-compile").exists():
        session.install(*tools.LOCK_TOOL_PINS, env=_sources_env())


def _global_option(session: nox.Session, name: str) -> bool:
    runner = getattr(session, "_runner", None)
    return bool(getattr(getattr(runner, "global_config", None), name, False))


def _no_install(session: nox.Session) -> bool:
    """``nox --no-install`` (``-R``) on a reused venv: ``session.install`` does nothing."""
    return _global_option(session, "no_install") and Path(session.bin).is_dir()


def _install_only(session: nox.Session) -> bool:
    """``nox --install-only``: nox's ``session.run`` skips its command; so does a stage."""
    return _global_option(session, "install_only")


def _stage_run(session: nox.Session, stage: str, *args: str, **kwargs: Any) -> None:
    """``python -m build_support STAGE ARGS`` in the session's venv, as its own process group.

    SIGINT, SIGTERM and SIGHUP sent to nox reach the whole group, and nox waits for it and
    exits 128 + the signal (130, 143, 129): nothing of the stage outlives nox
    (:func:`build_support.procs.run_forwarding`). On failure nox exits with the stage's code.
    """
    argv = ["python", "-m", "build_support", stage, *args]
    session.log(shlex.join(argv))  # as nox's own echo, redacted by the same filter
    if _install_only(session):
        return
    bins = session.bin_paths or []
    env = {k: v for k, v in {**os.environ, **session.env}.items() if v is not None}
    env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
    python = shutil.which("python", path=os.pathsep.join(bins)) or sys.executable
    ended = procs.run_forwarding(
        [python, *argv[1:]],
        env=env,
        stdout=kwargs.get("stdout"),
        stderr=kwargs.get("stderr", subprocess.STDOUT),
        on_signal=lambda n: session.log(
            f"received {signal.Signals(n).name}: passed on to the {stage} stage; waiting for it"
        ),
    )
    code = ended.exit_code
    if ended.signum is not None:
        session.log(
            f"{stage} stopped after {signal.Signals(ended.signum).name} (its exit code "
            f"{ended.returncode}); nox exits {code}"
        )
    elif code == 0:
        return
    else:
        session.log(f"{stage} exited {code}; nox exits {code} too (its summary is skipped)")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
