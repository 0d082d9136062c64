"""The tool declaration (build_support.tools), the seam's check, and provisioning's choices."""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from build_support import cli, cmd, config, pipeline, provision, stages, tools
from build_support.errors import ProvisionError, ToolMissingError
from build_support.locks import backends as lock_backends
from build_support.tools import TOOLS, Tool, UndeclaredToolError
from build_support.wheels.settings import WheelSettings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "build_support"


# -- the declaration ------------------------------------------------------------------------


def test_every_stage_and_group_names_declared_tools() -> None:
    for key, names in tools.STAGES.items():
        for name in names:
            assert name in TOOLS, f"STAGES[{key!r}] names undeclared tool {name!r}"
    for key, names in tools.EXTRAS.items():
        assert set(names) <= set(TOOLS), key
    for group, members in tools.GROUPS.items():
        assert set(members) <= set(tools.STAGES), group
    for tool in TOOLS.values():
        if tool.source == "debian":
            assert tool.debian, f"{tool.name} has no Debian package"
        assert tool.names or tool.files or tool.pattern, tool.name


def test_every_cli_stage_has_a_declaration() -> None:
    for stage in cli.STAGES:
        assert tools.stage_key(stage) == stage
    with pytest.raises(ProvisionError, match=r"no entry in build_support\.tools\.STAGES"):
        tools.stage_key("no-such-stage")


def test_jars_linux_needs_the_cross_compiler_and_its_headers_on_x86_64() -> None:
    names = [t.name for t in tools.needs("jars", ["--skip-tests", "linux"], machine="x86_64")]
    assert {"aarch64-linux-gnu-gcc", "aarch64-libc-headers", "mvn", "javac"} <= set(names)
    assert "x86_64-linux-gnu-gcc" not in names
    packages = tools.debian_packages(tools.needs("jars", ["linux"], machine="x86_64"))
    assert {"gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"} <= set(packages)
    # on an arm64 host the other direction
    arm = [t.name for t in tools.needs("jars", ["linux"], machine="aarch64")]
    assert "x86_64-linux-gnu-gcc" in arm
    assert "aarch64-linux-gnu-gcc" not in arm


def test_off_linux_only_executables_are_checked() -> None:
    mac = {t.name for t in tools.needs("jars", ["darwin"], machine="arm64", system="Darwin")}
    assert mac == {"git", "cc", "java", "javac", "mvn"}  # no Debian header paths
    linux = {t.name for t in tools.needs("jars", ["darwin"], machine="arm64", system="Linux")}
    assert "jni-headers" in linux


def test_actions_and_options_narrow_or_widen_the_list() -> None:
    assert tools.needs("jars", ["check-poms"], machine="x86_64") == []
    assert [t.name for t in tools.needs("jars", ["multiplatform"])] == ["git", "java"]
    native = {t.name for t in tools.needs("wheel", ["manylinux2014_x86_64"], machine="x86_64")}
    assert "docker" not in native
    foreign = {t.name for t in tools.needs("wheel", ["manylinux2014_aarch64"], machine="x86_64")}
    assert {"docker", "qemu-aarch64-static", "update-binfmts"} <= foreign
    # an option's value is not an action nor a platform
    py = {t.name for t in tools.needs("wheel", ["--python", "3.12"], machine="x86_64")}
    assert py == native
    assert "docker" in {t.name for t in tools.needs("release-tests", ["--in-image"])}
    assert "docker" not in {t.name for t in tools.needs("release-tests", ["--smoke"])}


def test_files_satisfy_a_tool_and_variables_expand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = tmp_path / "jdk" / "include" / "jni.h"
    tool = Tool(name="jni", debian=("x",), files=("$BS_TEST_JDK/include/jni.h",))
    monkeypatch.delenv("BS_TEST_JDK", raising=False)
    assert tool.locate() is None  # an unset variable is not a match
    monkeypatch.setenv("BS_TEST_JDK", str(tmp_path / "jdk"))
    assert tool.locate() is None
    header.parent.mkdir(parents=True)
    header.write_text("")
    assert tool.locate() == str(header)
    globbed = Tool(name="g", debian=("x",), files=(str(tmp_path / "*" / "include" / "jni.h"),))
    assert globbed.locate() == str(header)


# -- the seam ----------------------------------------------------------------------------------


def test_the_seam_refuses_an_executable_the_stage_does_not_declare() -> None:
    # Refused before anything starts (unit tests may not start processes at all).
    with tools.stage_scope("lock"), pytest.raises(UndeclaredToolError, match=r"'gcc'.*'lock'"):
        cmd.run(["gcc", "--version"])
    with tools.stage_scope("jars"), pytest.raises(UndeclaredToolError, match="'docker'"):
        cmd.spawn(["/usr/bin/docker", "info"])
    with pytest.raises(UndeclaredToolError, match="does not declare"):
        cmd.run(["certainly-not-a-declared-tool-xyz"])
    # declared ones pass the check (and then fail for the usual reason: not on PATH)
    with tools.stage_scope("jars"), pytest.raises(ToolMissingError, match="not found on PATH"):
        cmd.run(["mvn", "-v"], env={"PATH": "/nonexistent"})


def test_interpreters_match_the_python_tool() -> None:
    for exe in (sys.executable, "/x/venv/bin/python", "python3.12", "/opt/pypy3.10"):
        tools.check_declared(exe, stage="lock")
    with pytest.raises(UndeclaredToolError):
        tools.check_declared("pythonista", stage="lock")


#: Which stage each module's commands run under (modules several stages share: all of them).
MODULE_STAGES: dict[str, tuple[str, ...]] = {
    "locks": ("lock",),
    "wheels": ("wheel",),
    "jars": ("jars",),
    "images": ("images",),
    "containers": ("wheel", "images"),
    "releasetests": ("release-tests",),
    "pythons.py": ("lock", "wheel", "release-tests"),
    "commits.py": ("wheel", "jars", "images", "release-tests"),
    "provision.py": ("wheel", "images"),
    "ciplan": ("ci-plan",),
    "publish": ("publish",),
    "indexes.py": ("lock", "wheel", "images"),
    "toolvenv.py": ("lock", "wheel"),
    "wheelhouse.py": ("wheel", "images"),
}


def _literal_commands(path: Path) -> list[tuple[int, str]]:
    """(line, executable) for every cmd.run/output/spawn whose argv starts with a literal."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "cmd"):
            continue
        if node.func.attr not in ("run", "output", "spawn") or not node.args:
            continue
        argv = node.args[0]
        if isinstance(argv, ast.List) and argv.elts:
            first = argv.elts[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
            elif isinstance(first, ast.JoinedStr):
                text = "".join(
                    str(v.value) if isinstance(v, ast.Constant) else "X" for v in first.values
                )
                found.append((node.lineno, text))
    return found


def test_every_literal_command_of_a_stage_is_declared_for_it() -> None:
    checked = 0
    for key, module_stages in MODULE_STAGES.items():
        paths = (
            sorted((PACKAGE / key).rglob("*.py")) if (PACKAGE / key).is_dir() else [PACKAGE / key]
        )
        for path in paths:
            for _line, exe in _literal_commands(path):
                for stage in module_stages:
                    tools.check_declared(exe, stage=stage)  # raises, naming the tool
                checked += 1
    assert checked >= 10


def test_no_subprocess_bypasses_the_seam() -> None:
    # wheels/driver.py is the driver that runs inside a build container (stdlib only).
    allowed = {PACKAGE / "cmd.py", PACKAGE / "wheels" / "driver.py"}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in allowed:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"subprocess\.(run|Popen|call|check_call|check_output)\(", line):
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
            if re.search(r"\bos\.(system|popen|exec\w*|spawn\w*)\(", line):
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert offenders == []


# -- provisioning's choices ----------------------------------------------------------------------

CROSS = (
    Tool(name="bs-test-cross-gcc", debian=("gcc-aarch64-linux-gnu",)),
    Tool(
        name="bs-test-headers",
        debian=("libc6-dev-arm64-cross",),
        files=("/nonexistent/aarch64-linux-gnu/include/bits/libc-header-start.h",),
    ),
)


def test_missing_tools_fail_at_once_with_the_exact_apt_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(provision.MODE_ENV, "check")
    with pytest.raises(ToolMissingError) as exc:
        provision.ensure([*CROSS, TOOLS["sh"]], what="the jars linux stage")
    assert exc.value.exit_code == 3
    assert exc.value.hint == (
        "sudo apt-get install -y --no-install-recommends "
        "gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
    )
    assert "bs-test-cross-gcc (gcc-aarch64-linux-gnu)" in exc.value.message
    assert "sh" not in exc.value.hint.split()  # present tools are not reinstalled
    assert provision.ensure([TOOLS["sh"]], what="x") == []


def test_a_stage_checks_its_whole_list_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(provision.MODE_ENV, "check")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    monkeypatch.chdir(ROOT)
    STARTED.clear()
    _replace_entry(monkeypatch, "jars")
    assert cli.main(["jars", "linux"]) == 3
    err = capsys.readouterr().err
    assert "apt-get install -y --no-install-recommends" in err
    if os.uname().machine in ("x86_64", "amd64"):
        assert "gcc-aarch64-linux-gnu" in err
    assert STARTED == []  # the stage itself never ran
    assert cli.main(["jars", "--help"]) == 0  # help needs no tools
    assert STARTED == ["--help"]
    STARTED.clear()
    monkeypatch.setenv("PATH", os.defpath)
    _replace_entry(monkeypatch, "store")
    assert cli.main(["store", "ls"]) == 0  # a stage that needs nothing just runs
    assert STARTED == ["ls"]


STARTED: list[str] = []


def _replace_entry(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    entry = dataclasses.replace(stages.STAGES[name], entry=f"{__name__}:_record_stage")
    monkeypatch.setitem(stages.STAGES, name, entry)


def _record_stage(argv: list[str], cfg: config.Config) -> int:  # pragma: no cover
    STARTED.append(" ".join(argv))
    return 0


def test_pipeline_checks_every_step_before_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(provision.MODE_ENV, "check")
    monkeypatch.setenv("PATH", str(tmp_path))
    cfg = config.from_table({}, tmp_path)
    with pytest.raises(ToolMissingError, match="the pipeline needs") as exc:
        pipeline.main(["--only", "jars-linux", "images"], cfg)
    assert "docker.io" in (exc.value.hint or "")
    assert "maven" in (exc.value.hint or "")
    assert not (tmp_path / "dist" / "pipeline.json").exists()  # no step ran


# -- one place for the pins, one list for CI ------------------------------------------------------


def test_tool_pins_live_in_tools_only() -> None:
    assert lock_backends.TOOL_PINS == tools.LOCK_TOOL_PINS
    assert WheelSettings().tool_requirements == tools.WHEEL_TOOL_PINS
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for req in pyproject["dependency-groups"]["test"]:
        name = re.split(r"[=<>!~\[; ]", req)[0]
        if "==" in req and name in tools.PINS:
            assert req == tools.pin(name), "pyproject pins differ from build_support.tools.PINS"
    pinned = re.compile(r"\b(" + "|".join(map(re.escape, tools.PINS)) + r")==\d")
    for path in (ROOT / "noxfile.py", *PACKAGE.rglob("*.py")):
        if path.name == "tools.py":
            continue
        assert not pinned.search(path.read_text(encoding="utf-8")), path


def test_ci_installs_from_the_declaration() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m build_support.provision install ci" in script
    assert "apt-get install" not in script
    assert "dpkg -s" not in script
    ci = set(tools.debian_packages(tools.group_needs("ci", machine="x86_64")))
    assert {"gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross", "docker.io", "maven"} <= ci
    assert {"apache2", "apache2-utils", "docker-registry", "debootstrap"} <= ci
    assert {t.name for t in tools.group_needs("ci")} >= {"pypiserver", "moto_server"}
    # uv is optional (the lock backend / installer when configured): doctor does not require it
    assert "uv" not in {t.name for t in tools.group_needs("pipeline")}
    assert "uv" in tools.allowed_names("lock")
