"""Install what a fresh machine lacks: Debian packages (the Docker engine is started by
:func:`build_support.containers.engine.ensure_docker`).

What each stage needs is declared once, in :mod:`build_support.tools`. Every stage calls
:func:`ensure_stage` before it does any work (the CLI does it for them; ``pipeline`` for
all its steps at once): as root on a Debian-like system the missing packages are
installed (``--no-install-recommends``, so every package a tool needs is declared);
anywhere else the error gives the exact ``apt-get install`` line.

``python3 -m build_support.provision`` is the same, for ``.ci/run`` (standard library
only, no config)::

    python3 -m build_support.provision install ci      # install every stage's packages
    python3 -m build_support.provision check jars linux
    python3 -m build_support.provision print-packages ci
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from build_support import cmd, log, tools
from build_support.errors import (
    BuildSupportError,
    ProvisionError,
    ToolMissingError,
)
from build_support.tools import Tool

if TYPE_CHECKING:
    pass

APT_LISTS = Path("/var/lib/apt/lists")

#: Set to ``check`` to never install (even as root): only report what is missing.
MODE_ENV = "BUILD_SUPPORT_PROVISION"


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def can_install() -> bool:
    """Root on a machine with apt-get, and installing not turned off."""
    if os.environ.get(MODE_ENV, "").strip().lower() == "check":
        return False
    return is_root() and shutil.which("apt-get") is not None


def _describe(missing: Sequence[Tool]) -> str:
    parts = []
    for t in missing:
        src = ", ".join(t.debian) if t.source == "debian" else "pip"
        parts.append(f"{t.name} ({src})")
    return ", ".join(parts)


def ensure(tools_needed: Sequence[Tool], *, what: str) -> list[str]:
    """Make every tool present; returns the Debian packages installed (maybe none).

    Raises :class:`ToolMissingError` (exit 3) with the exact ``apt-get`` line when
    something is missing and cannot be installed here, before anything else runs.
    """
    missing = tools.missing(tools_needed)
    if not missing:
        return []
    packages = tools.debian_packages(missing)
    not_apt = [t for t in missing if t.source != "debian"]
    if not_apt:
        raise ToolMissingError(
            f"{what} needs {_describe(not_apt)}, not found on PATH",
            hint=tools.PYTHON_HINT
            + (f"; and: sudo {tools.apt_line(packages)}" if packages else ""),
        )
    if not can_install():
        why = "not root" if not is_root() else "apt-get unavailable or installing turned off"
        raise ToolMissingError(
            f"{what} needs {_describe(missing)}: missing, and not installing them ({why})",
            hint=f"sudo {tools.apt_line(packages)}",
        )
    install_packages(packages)
    still = tools.missing(missing)
    if still:
        raise ProvisionError(
            f"installed {' '.join(packages)} but still missing: {_describe(still)}",
            hint="the declaration in build_support/tools.py names the wrong package",
        )
    return packages


def ensure_stage(stage: str, argv: Sequence[str] = ()) -> list[str]:
    """Everything ``stage`` needs for ``argv`` on this host; see :func:`ensure`."""
    label = " ".join([stage, *[a for a in argv[:1] if not a.startswith("-")]])
    return ensure(tools.needs(stage, argv), what=f"the {label} stage")


def ensure_steps(steps: Iterable[tuple[str, Sequence[str]]]) -> list[str]:
    """Everything several stage invocations need (``pipeline`` before its first step)."""
    needed: dict[str, Tool] = {}
    for stage, argv in steps:
        for t in tools.needs(stage, argv):
            needed.setdefault(t.name, t)
    return ensure(list(needed.values()), what="the pipeline")


def _lists_empty() -> bool:
    return not APT_LISTS.is_dir() or not any(APT_LISTS.glob("*Packages*"))


def install_packages(packages: Sequence[str]) -> None:
    """``apt-get install -y --no-install-recommends`` (after ``update`` when needed)."""
    if not packages:
        return
    log.step("installing system packages: " + " ".join(packages))
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if _lists_empty():
        cmd.run(["apt-get", "update", "-q"], env=env, capture=True, check=False)
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    proc = cmd.run(argv, env=env, capture=True, check=False)
    if proc.returncode != 0:
        cmd.run(["apt-get", "update", "-q"], env=env, capture=True, check=False)
        proc = cmd.run(argv, env=env, capture=True, check=False)
    if proc.returncode != 0:
        raise ProvisionError(
            "apt-get install failed for: "
            + " ".join(packages)
            + "\n"
            + ((proc.stdout or "") + (proc.stderr or ""))[-2000:],
            hint="see apt-get's output above (the apt sources and network, or a package's "
            "install script: `dpkg --configure -a` finishes half-configured ones), then rerun",
        )
    log.success("installed " + " ".join(packages))


def ensure_tools(*names: str) -> list[str]:
    """:func:`ensure` for declared tools by name (``ensure_tools("debootstrap")``)."""
    return ensure([tools.TOOLS[n] for n in names], what=" and ".join(names))


# -- doctor -------------------------------------------------------------------------------


def tool_version(tool: Tool, location: str) -> str:
    """The first line a tool prints of its version, or its package's version."""
    try:
        if tool.version_args is not None and tool.names:
            proc = cmd.run(
                [location, *tool.version_args], capture=True, check=False, echo=False, timeout=20
            )
            text = ((proc.stdout or "") + "\n" + (proc.stderr or "")).strip()
            text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Maven colours its banner
            line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            if proc.returncode == 0 and line:
                return line[:80]
        if tool.debian and shutil.which("dpkg-query"):
            proc = cmd.run(
                ["dpkg-query", "-W", "-f", "${Version}", tool.debian[0]],
                capture=True,
                check=False,
                echo=False,
                timeout=20,
            )
            if proc.returncode == 0 and proc.stdout.strip():
                return f"{tool.debian[0]} {proc.stdout.strip()}"
    except BuildSupportError:
        pass
    return "?"


def report_rows(names: Sequence[str]) -> tuple[list[list[str]], list[Tool]]:
    """Doctor's table for the stages ``names``: one row per (stage, tool)."""
    rows: list[list[str]] = []
    missing: dict[str, Tool] = {}
    versions: dict[str, str] = {}
    for stage in names:
        needed = tools.group_needs(stage) if stage in tools.GROUPS else _stage_tools(stage)
        for t in needed:
            if t.source == "interpreter":
                continue
            where = t.locate()
            if where is None:
                missing[t.name] = t
                fix = tools.apt_line(list(t.debian)) if t.source == "debian" else "pip"
                rows.append([stage, t.name, "MISSING", "-", fix])
            else:
                if t.name not in versions:
                    versions[t.name] = tool_version(t, where)
                rows.append([stage, t.name, where, versions[t.name], "-"])
    return rows, list(missing.values())


def _stage_tools(stage: str) -> list[Tool]:
    machine = os.uname().machine
    names = tools.allowed_names(stage)
    provisioning = set(tools.EXTRAS["provisioning"]) - set(tools.STAGES.get(stage, ()))
    return [
        tools.TOOLS[n]
        for n in names
        if n not in provisioning and tools.TOOLS[n].applies_to(machine)
    ]


def doctor(stages: Sequence[str] = (), *, pythons: Sequence[str] = ()) -> int:
    """Print every stage's tools; raise when the pipeline lacks one."""
    rows, _ = report_rows(stages or tools.GROUPS["ci"])
    for v in pythons:
        from build_support import pythons as pythons_mod

        interp = pythons_mod.find(v)
        rows.append(
            [
                "lock/wheel",
                f"python{v}",
                str(interp.path) if interp else "MISSING",
                interp.full_version if interp else "-",
                "-" if interp else pythons_mod.install_hint(v),
            ]
        )
    print(log.format_table(("stage", "tool", "found", "version", "would install"), rows))
    pipeline_missing = tools.missing(tools.group_needs("pipeline"))
    missing_py = [r[1] for r in rows if r[0] == "lock/wheel" and r[2] == "MISSING"]
    if pipeline_missing or missing_py:
        packages = tools.debian_packages(pipeline_missing)
        raise ToolMissingError(
            "the pipeline lacks: " + ", ".join([t.name for t in pipeline_missing] + missing_py),
            hint=(f"sudo {tools.apt_line(packages)}" if packages else "")
            + ("; " if packages and missing_py else "")
            + ("install the missing Pythons (see the table)" if missing_py else ""),
        )
    log.success("doctor: everything the pipeline needs is here")
    return 0


def doctor_main(argv: list[str], cfg: object) -> int:
    """``python -m build_support doctor [STAGE…]``."""
    from build_support.args import StageParser

    p = StageParser(prog="nox -s doctor --", description=doctor.__doc__)
    p.add_argument("stages", nargs="*", metavar="STAGE", help="default: every stage")
    args = p.parse_args(argv)
    versions = tuple(getattr(cfg, "python_versions", ()))
    return doctor(args.stages, pythons=versions)


# -- the command line for .ci/run --------------------------------------------------------


def _set_tools(name: str, argv: Sequence[str]) -> list[Tool]:
    if name in tools.GROUPS:
        return tools.group_needs(name)
    return tools.needs(name, argv)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python3 -m build_support.provision",
        description="Install or check what a stage (or ci, pipeline) needs.",
    )
    p.add_argument("action", choices=("install", "check", "print-packages"))
    p.add_argument("stage", help="a stage, or: " + ", ".join(tools.GROUPS))
    p.add_argument("args", nargs="*", help="the stage's arguments (they narrow the list)")
    args = p.parse_args(argv)
    try:
        if args.stage not in tools.GROUPS and args.stage not in tools.STAGES:
            raise ProvisionError(
                f"unknown stage {args.stage!r}",
                hint="one of: " + ", ".join([*tools.GROUPS, *tools.STAGES]),
            )
        needed = _set_tools(args.stage, args.args)
        if args.action == "print-packages":
            print(" ".join(tools.debian_packages(needed)))
            return 0
        debian = [t for t in needed if t.source == "debian"]
        with tools.stage_scope("doctor"):
            if args.action == "check":
                absent = tools.missing(needed)
                if absent:
                    packages = tools.debian_packages(absent)
                    raise ToolMissingError(
                        f"{args.stage} lacks: {_describe(absent)}",
                        hint=f"sudo {tools.apt_line(packages)}" if packages else tools.PYTHON_HINT,
                    )
                log.success(f"{args.stage}: every tool is here")
                return 0
            installed = ensure(debian, what=args.stage)
            log.info("installed: " + (" ".join(installed) or "nothing (all present)"))
            return 0
    except BuildSupportError as exc:
        log.error(str(exc))
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
