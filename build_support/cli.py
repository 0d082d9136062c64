"""The session boundary: ``python -m build_support <stage> [args…]``.

Each stage is a function ``main(argv, config) -> int`` in its own module, imported
lazily. Errors from the library are caught here, once: the message is printed with its
hint and the process exits with the error class's exit code.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import cast

from build_support import config as config_mod
from build_support import log, procs, provision, redact, tools
from build_support.errors import BuildSupportError, ConfigError, InterruptedByUser

StageMain = Callable[[list[str], config_mod.Config], int]

#: stage name → "module:function"
STAGES: dict[str, str] = {
    "lock": "build_support.locks:main",
    "store": "build_support.store:cli_main",
    "wheel": "build_support.wheels:main",
    "jars": "build_support.jars:main",
    "images": "build_support.images:main",
    "release-tests": "build_support.releasetests.cli:main",
    "pipeline": "build_support.pipeline:main",
    "publish": "build_support.publish:main",
    "ci-plan": "build_support.ciplan.cli:main",
    "pythons": "build_support.cli:pythons_main",
    "doctor": "build_support.provision:doctor_main",
}


def resolve(stage: str) -> StageMain:
    try:
        target = STAGES[stage]
    except KeyError:
        raise ConfigError(
            f"unknown stage {stage!r}", hint="stages: " + ", ".join(sorted(STAGES))
        ) from None
    module_name, func = target.split(":")
    module = importlib.import_module(module_name)
    return cast("StageMain", getattr(module, func))


def pythons_main(argv: list[str], cfg: config_mod.Config) -> int:
    """Print where each configured interpreter is (or fail naming the missing ones)."""
    from build_support import pythons

    wanted = argv or list(cfg.python_versions)
    found = pythons.require(wanted, extra=cfg.python_search_paths)
    for v, interp in found.items():
        print(f"{v}\t{interp.full_version}\t{interp.path}")
    return 0


def run_stage(stage: str, argv: Sequence[str]) -> int:
    """Run one stage; the only place library errors are caught."""
    start = time.monotonic()
    try:
        with procs.sigterm_raises():
            cfg = config_mod.load()
            redact.configure(cfg.section("redact", redact.RedactSettings))
            main = resolve(stage)
            if not {"-h", "--help"} & set(argv):
                provision.ensure_stage(stage, argv)  # every tool it needs, before any work
            with tools.stage_scope(stage):
                code = main(list(argv), cfg)
    except BuildSupportError as exc:
        log.error(f"{stage}: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        log.error(f"{stage}: interrupted")
        return InterruptedByUser.exit_code
    except procs.Terminated:
        log.error(f"{stage}: terminated (SIGTERM); cleaned up")
        return procs.Terminated.exit_code
    elapsed = time.monotonic() - start
    if code == 0:
        log.success(f"{stage}: done in {elapsed:.1f}s")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m build_support STAGE [ARGS...]\nstages: " + ", ".join(STAGES))
        return 0 if args else 2
    return run_stage(args[0], args[1:])
