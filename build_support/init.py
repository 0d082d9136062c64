"""``build-support init``: a starter config, noxfile, rules file and release tests.

It looks at the tree first (which folders are ``pyproject.toml`` projects, whether there
is a ``java/`` Maven tree, which Dockerfiles and ``requirements/*.in`` there are) and
writes what fits:

* ``[tool.build_support]`` in ``pyproject.toml`` (appended: everything already in the file
  stays as it is, checked by reading the result back), with ``stages`` naming the stages
  the project can run now; a JAR or image build needs names only the project knows, so
  for a ``java/`` tree or Dockerfiles it writes the section as comments to fill in;
* ``noxfile.py``: the stage sessions (:mod:`build_support.nox.sessions`);
* ``ci/build.rules.txt``: which CI step groups a change selects (docs/ci.md);
* ``release/release_tests.yaml``: one test that imports the package from the stored wheel.

It overwrites nothing: when any of them exists (or ``pyproject.toml`` already has a
``[tool.build_support]``) it writes nothing and exits 2 naming them.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_support import commits, config, fsutil, log, platforms
from build_support.args import StageParser
from build_support.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

NOXFILE = '''"""nox sessions of the build-support harness: `nox -l` lists them."""

from build_support.nox import sessions

sessions.install(globals())
'''

_SKIP_DIRS = frozenset({"build", "dist", "node_modules", "results", "target", "__pycache__"})
_VERSION_PLACEHOLDER = "{{COMMIT_SHA}}"


@dataclass(frozen=True)
class Project:
    """A PEP 517 project folder of the tree."""

    path: str  # relative to the root, "." for the root
    name: str
    package: str
    #: Has a ``_version.py`` with the ``{{COMMIT_SHA}}`` placeholder (else: dist-info).
    version_file: bool


@dataclass(frozen=True)
class Tree:
    """What init found."""

    projects: tuple[Project, ...]
    java: bool
    dockerfiles: tuple[str, ...]
    lock_inputs: tuple[str, ...]
    branch: str
    pyproject: dict[str, Any] = field(default_factory=dict)


def _walk(root: Path, depth: int = 3) -> list[Path]:
    """Folders under ``root`` (itself included) to ``depth``, skipping hidden and venvs."""
    out = [root]
    frontier = [root]
    for _ in range(depth):
        nxt = []
        for folder in frontier:
            for child in sorted(folder.iterdir()):
                if (
                    child.is_dir()
                    and not child.is_symlink()
                    and not child.name.startswith(".")
                    and child.name not in _SKIP_DIRS
                    and not (child / "pyvenv.cfg").exists()
                ):
                    nxt.append(child)
        out += nxt
        frontier = nxt
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix it, then rerun") from exc


def _project(root: Path, folder: Path) -> Project | None:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return None
    data = _read_toml(pyproject)
    if "project" not in data and "build-system" not in data:
        return None
    name = str(data.get("project", {}).get("name") or folder.resolve().name)
    package = re.sub(r"[-.]+", "_", name).lower()
    version_file = any(
        _VERSION_PLACEHOLDER in p.read_text(encoding="utf-8", errors="replace")
        for base in (folder / package, folder / "src" / package)
        for p in [base / "_version.py"]
        if p.is_file()
    )
    rel = folder.relative_to(root).as_posix() if folder != root else "."
    return Project(rel, name, package, version_file)


def survey(root: Path) -> Tree:
    """Look at the tree at ``root``."""
    folders = _walk(root)
    projects = tuple(p for f in folders if (p := _project(root, f)) is not None)
    dockerfiles = tuple(
        (f / "Dockerfile").relative_to(root).as_posix()
        for f in folders
        if (f / "Dockerfile").is_file()
    )
    requirements = root / "requirements"
    lock_inputs = tuple(sorted(p.name for p in requirements.glob("*.in")))
    branch = commits.current_branch(root)
    pyproject = root / "pyproject.toml"
    return Tree(
        projects=projects,
        java=(root / "java" / "pom.xml").is_file(),
        dockerfiles=dockerfiles,
        lock_inputs=lock_inputs,
        branch=branch if branch not in ("", "HEAD", "unknown") else "main",
        pyproject=_read_toml(pyproject) if pyproject.is_file() else {},
    )


def _toml_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _python() -> str:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    return here if here in config.SUPPORTED_PYTHONS else "3.12"


def stages_of(tree: Tree) -> list[str]:
    """The pipeline stages the tree can run with the starter config."""
    out = ["lock"] if tree.lock_inputs else []
    if tree.projects:
        out += ["wheel", "release-tests"]
    return [*out, "publish"]


def config_text(tree: Tree, host_platform: str) -> str:
    """The ``[tool.build_support]`` tables for ``tree``."""
    python = _python()
    stages = stages_of(tree)
    groups = [s.replace("-", "_") for s in stages]
    lines = [
        "# The build-support harness (docs/onboarding.md): `nox -l` lists the sessions.",
        "[tool.build_support]",
        f'python_versions = ["{python}"]',
        f'platforms = ["{host_platform}"]',
        f'default_branch = "{tree.branch}"',
        'artifact_store = ".artifacts"     # a folder, or s3://bucket/prefix',
        f"stages = {_toml_list(stages)}  # what `nox -s pipeline` runs",
    ]
    if tree.projects:
        stamps = ", ".join(
            f'"{p.path}" = {{ into = "dist-info" }}' for p in tree.projects if not p.version_file
        )
        first = tree.projects[0]
        lines += [
            "",
            "[tool.build_support.wheel]",
            f"projects = {_toml_list([p.path for p in tree.projects])}",
        ]
        if stamps:
            lines.append(f"stamp = {{ {stamps} }}  # the commit goes into .dist-info/COMMIT")
        lines += [
            "",
            "[tool.build_support.release_tests]",
            f'python = "{python}"',
            f'distribution = "{first.name}"',
            f'package = "{first.package}"',
        ]
    if tree.java:
        lines += [
            "",
            '# java/pom.xml found: fill these in, then add "jars" to stages (docs/onboarding.md).',
            "# [tool.build_support.jars]",
            '# platforms = ["linux-x86_64"]',
            '# runtime_module = "core"',
            '# native_library = "myproj_jni"',
            '# native_sources = ["java/native/myproj_jni.c"]',
        ]
    if tree.dockerfiles:
        lines += [
            "",
            f"# Dockerfiles found ({', '.join(tree.dockerfiles)}): fill these in, then add",
            '# "images" to stages (docs/onboarding.md).',
            "# [tool.build_support.images]",
            '# namespace = "myorg"',
            '# image_name = "myproj"',
            f"# wheels = {_toml_list([p.name for p in tree.projects])}",
            '# smoke_module = "myproj"',
        ]
    tags = {"python": [g for g in groups if g in ("lock", "wheel", "release_tests")]}
    tags["release_tests"] = ["release_tests"] if "release_tests" in groups else []
    lines += [
        "",
        "[tool.build_support.ciplan]",
        f"builtin_steps = {_toml_list(groups)}",
        "",
        "[tool.build_support.ciplan.tags]  # tag (ci/build.rules.txt) -> step groups",
        *(f"{tag} = {_toml_list(g)}" for tag, g in tags.items()),
        "doc = []",
        "",
        "[tool.build_support.publish]",
        'targets = ["pypi"]  # [tool.build_support.publish.pypi] says where (docs/publish.md)',
    ]
    return "\n".join(lines) + "\n"


def rules_text(tree: Tree) -> str:
    """``ci/build.rules.txt`` (the format: docs/ci.md)."""
    return (
        "# Which CI steps a change needs, read by `nox -s ci-plan` (docs/ci.md).\n"
        "# Each tag selects step groups: [tool.build_support.ciplan.tags] in pyproject.toml.\n"
        "\n! python release_tests doc\n\n"
        "release/\n@ release_tests\n;\n\n"
        "*.md\ndocs/\n@ doc\n;\n\n"
        "# Everything else: the Python projects.\n*\n@ python\n;\n"
    )


def release_tests_text(tree: Tree) -> str:
    lines = [
        "# Release tests, in the format of Ray's release/release_tests.yaml",
        "# (docs/release-tests.md): nox -s release-tests -- [NAME|GLOB...] [--smoke]",
    ]
    for p in tree.projects[:1]:
        lines += [
            f"- name: import_{p.package}",
            "  team: core",
            "  frequency: nightly",
            "  working_dir: .",
            "  stable: true",
            "  run:",
            "    timeout: 300",
            f"    script: python -c \"import {p.package}; print({p.package}.__name__, 'OK')\"",
            "  smoke_test:",
            "    frequency: nightly",
            "    run:",
            "      timeout: 120",
        ]
    return "\n".join(lines) + "\n"


def plan(root: Path, tree: Tree, host_platform: str) -> dict[Path, str]:
    """Every file init writes, with its whole new text; refuses to overwrite anything."""
    pyproject = root / "pyproject.toml"
    block = config_text(tree, host_platform)
    in_use = [
        rel
        for rel in ("noxfile.py", "ci/build.rules.txt", "release/release_tests.yaml")
        if (root / rel).exists()
    ]
    if "build_support" in tree.pyproject.get("tool", {}):
        in_use.insert(0, "pyproject.toml ([tool.build_support])")
    if in_use:
        raise ConfigError(
            "init would overwrite " + ", ".join(in_use) + "; nothing written",
            hint="move them aside (or add the rest by hand: docs/onboarding.md), then rerun",
        )
    old = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    merged = old + ("\n" if old and not old.endswith("\n") else "") + ("\n" if old else "") + block
    try:
        data = tomllib.loads(merged)
    except tomllib.TOMLDecodeError as exc:  # e.g. `tool = {...}` inline: it cannot grow
        raise ConfigError(
            f"[tool.build_support] cannot be appended to {pyproject}: {exc}; nothing written",
            hint="write the [tool] table as [tool.x] tables, then rerun",
        ) from None
    tool = dict(data.get("tool", {}))
    tool.pop("build_support", None)
    rest = {k: v for k, v in data.items() if k != "tool"}
    if tool or "tool" in tree.pyproject:
        rest["tool"] = tool
    if rest != tree.pyproject:  # pragma: no cover - appending a new table keeps the rest
        raise ConfigError(f"appending [tool.build_support] would change {pyproject}")
    config.from_table(data["tool"]["build_support"], root)  # the starter config is valid
    files = {
        pyproject: merged,
        root / "noxfile.py": NOXFILE,
        root / "ci/build.rules.txt": rules_text(tree),
    }
    if tree.projects:
        files[root / "release/release_tests.yaml"] = release_tests_text(tree)
    return files


def main(argv: list[str], cfg: object) -> int:
    """``build-support init [--dir PATH]``."""
    del cfg  # there is none yet
    p = StageParser(prog="build-support init", description=__doc__)
    p.add_argument("--dir", type=Path, default=Path.cwd(), help="the project root (default: .)")
    args = p.parse_args(argv)
    root = args.dir.resolve()
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder", hint="pass the project's root with --dir")
    tree = survey(root)
    host = platforms.host_wheel_platform()
    files = plan(root, tree, host)
    found = [f"{len(tree.projects)} Python project(s)"] + [
        what
        for what, present in (
            ("java/pom.xml", tree.java),
            (f"{len(tree.dockerfiles)} Dockerfile(s)", tree.dockerfiles),
            ("requirements/*.in", tree.lock_inputs),
        )
        if present
    ]
    log.info("init: found " + ", ".join(found))
    for path, text in files.items():
        fsutil.write_atomic(path, text)
        print(f"wrote {os.path.relpath(path, root)}")
    print("next: git add -A && git commit, then `nox -l` and `nox -s pipeline`")
    return 0
