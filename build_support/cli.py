"""The session boundary: ``python -m build_support <stage> [args…]``.

Each stage is a function ``main(argv, config) -> int`` in its own module, imported
lazily. Errors from the library are caught here, once: the message is printed with its
hint and the process exits with the error class's exit code. What is not a library error
is turned into one here too (an OSError, a file that is not UTF-8, stdout closed by
``| head``, an unexpected exception), so that no stage ends in a traceback. A stage with
an exit-code scheme of its own (release-tests: Ray's) maps the harness error to it here,
in its entry of :data:`build_support.stages.STAGES`, and nowhere else.
"""

from __future__ import annotations

import errno
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from build_support import cache, log, procs, provision, redact, stages, tools
from build_support import config as config_mod
from build_support.errors import (
    BuildSupportError,
    ConfigError,
    FileSystemError,
    InputError,
    InternalError,
    InterruptedByUser,
    OutputClosedError,
)
from build_support.supplychain import invocation

StageMain = Callable[[list[str], config_mod.Config], int]

#: stage name → "module:function" of its main (read from :data:`stages.STAGES`).
STAGES: Mapping[str, str] = stages.View(stages.entries)

#: stage name → "module:function" mapping a harness error to the stage's own exit code.
EXIT_SCHEMES: Mapping[str, str] = stages.View(stages.exit_schemes)

#: Set to 1 to print the traceback of an unexpected exception (a bug) as well.
TRACEBACK_VAR = "BUILD_SUPPORT_TRACEBACK"


def resolve(stage: str) -> StageMain:
    try:
        target = STAGES[stage]
    except KeyError:
        raise ConfigError(
            f"unknown stage {stage!r}", hint="stages: " + ", ".join(sorted(STAGES))
        ) from None
    return cast("StageMain", stages.load(target))


def pythons_main(argv: list[str], cfg: config_mod.Config) -> int:
    """Print where each configured interpreter is (or fail naming the missing ones)."""
    from build_support import pythons

    wanted = argv or list(cfg.python_versions)
    found = pythons.require(wanted, extra=cfg.python_search_paths)
    for v, interp in found.items():
        print(f"{v}\t{interp.full_version}\t{interp.path}")
    return 0


def as_error(exc: BaseException) -> BuildSupportError:
    """``exc`` as a library error: what failed, why, and a hint, with a documented code."""
    if isinstance(exc, BuildSupportError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return InterruptedByUser("interrupted", hint="rerun the stage to finish it")
    if isinstance(exc, BrokenPipeError):
        return OutputClosedError(
            "the output was cut short: its reader closed the pipe (e.g. `| head`)",
            hint="harmless when only the first lines were wanted; otherwise redirect to a file",
        )
    if isinstance(exc, UnicodeDecodeError):
        return InputError(
            f"a file is not valid UTF-8: {exc}",
            hint="save the file as UTF-8 (iconv -t utf-8), or restore it from git",
        )
    if isinstance(exc, OSError):
        where = " ".join(f"{f}" for f in (exc.filename, exc.filename2) if f is not None)
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "") or str(exc)
        return FileSystemError(
            f"{reason}: {where}" if where else f"{type(exc).__name__}: {reason}",
            hint="check the path, its permissions and free space (df -h), then rerun",
        )
    return InternalError(
        f"unexpected {type(exc).__name__}: {exc}",
        hint=f"this is a bug in build_support; rerun with {TRACEBACK_VAR}=1 and report the "
        "traceback",
    )


def exit_code_for(stage: str, exc: BuildSupportError) -> int:
    """The exit code of ``stage`` for ``exc``: the class's, or the stage's own scheme's."""
    scheme = EXIT_SCHEMES.get(stage)
    if scheme is None:
        return exc.exit_code
    mapper = cast("Callable[[BuildSupportError], int]", stages.load(scheme))
    return mapper(exc)


def report(stage: str, exc: BaseException) -> int:
    """Print ``exc`` as one error (message and hint) and return the exit code to end with."""
    error = as_error(exc)
    if isinstance(error, OutputClosedError):
        # Python would print another BrokenPipeError when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if isinstance(error, InternalError) and os.environ.get(TRACEBACK_VAR) == "1":
        traceback.print_exception(exc)
    code = exit_code_for(stage, error)
    suffix = (
        f" (exit {code}; harness class {type(error).__name__})" if code != error.exit_code else ""
    )
    log.error(f"{stage}: {error}{suffix}")
    return code


def _register_credentials(cfg: config_mod.Config) -> None:
    """Every credential variable and file the config names is hidden by every stage."""
    from build_support.publish import credentials
    from build_support.publish.settings import PublishSettings

    credentials.register_sources(cfg.section("publish", PublishSettings), cfg.root)


def run_stage(stage: str, argv: Sequence[str]) -> int:
    """Run one stage; the only place library errors are caught."""
    start = time.monotonic()
    try:
        with procs.sigterm_raises():
            main = resolve(stage)
            entry = stages.get(stage)
            if entry is None or entry.needs_config:
                cfg = config_mod.load()
                redact.configure(cfg.section("redact", redact.RedactSettings))
                _register_credentials(cfg)
                cache.sweep_runs()  # what a killed run left: private files, its gpg-agent
            else:  # init: writes the config
                cfg = cast("config_mod.Config", None)
            if not {"-h", "--help"} & set(argv):
                provision.ensure_stage(stage, argv)  # every tool it needs, before any work
            with tools.stage_scope(stage), invocation.running(stage, argv):
                code = main(list(argv), cfg)
            sys.stdout.flush()  # a closed pipe shows here, not as a traceback at exit
    except procs.Terminated:
        log.error(f"{stage}: terminated (SIGTERM); cleaned up")
        return procs.Terminated.exit_code
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the one boundary
        return report(stage, exc)
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
