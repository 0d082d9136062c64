"""The jars stage's pure parts: settings, toolchain parsing, Maven diagnosis, commands."""

from __future__ import annotations

import dataclasses
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from build_support import config, platforms
from build_support.errors import (
    CommandFailedError,
    ConfigError,
    PlatformError,
    ResolutionError,
    ToolMissingError,
    UsageError,
    VerificationError,
)
from build_support.jars import natives, poms, toolchain
from build_support.jars import outputs as jar_outputs
from build_support.jars import stage as jars_stage
from build_support.jars.layout import Platform
from build_support.jars.settings import JarsSettings

LINUX_X86 = platforms.Host("Linux", "x86_64")
DARWIN_ARM = platforms.Host("Darwin", "arm64")


def _cfg(project_root: Path, **jars_table: object) -> config.Config:
    cfg = config.load(project_root)
    jars_section = {**cfg.sections.get("jars", {}), **jars_table}
    return dataclasses.replace(cfg, sections={**cfg.sections, "jars": jars_section})


def test_default_settings_build_both_linux_natives() -> None:
    s = JarsSettings()
    assert s.for_os("linux") == [Platform("linux", "x86_64"), Platform("linux", "aarch64")]
    assert s.for_os("darwin") == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"platforms": []}, "platforms is empty"),
        ({"platforms": ["linux-sparc"]}, "unknown platform 'linux-sparc'"),
        ({"min_jdk": 8}, "min_jdk"),
        ({"javadoc": "yes"}, "javadoc"),
        ({"platform": ["linux-x86_64"]}, "unknown key"),
    ],
)
def test_bad_settings(project_root: Path, table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # at load, before any stage runs
        _cfg(project_root, **table)


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('java version "1.8.0_392"\nJava(TM) SE Runtime', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("javac 17.0.15", 17),
        ("javac 1.8.0_392", 8),
        ("something else", None),
    ],
)
def test_parse_java_major(text: str, major: int | None) -> None:
    assert toolchain.parse_java_major(text) == major


def test_parse_maven_version() -> None:
    assert toolchain.parse_maven_version("\x1b[1mApache Maven 3.8.7\x1b[m\nMaven home") == (3, 8, 7)
    assert toolchain.parse_maven_version("nope") is None


def _fake_jdk(tmp_path: Path, version: str, *, jni: bool = True) -> Path:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    for tool, text in (("java", f'openjdk version "{version}"'), ("javac", f"javac {version}")):
        script = home / "bin" / tool
        script.write_text(f"#!/bin/sh\necho '{text}' >&2\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    if jni:
        (home / "include").mkdir()
        (home / "include" / "jni.h").write_text("")
    return home


@pytest.mark.subprocess
def test_old_jdk_is_refused_naming_the_needed_version(tmp_path: Path) -> None:
    home = _fake_jdk(tmp_path, "1.8.0_392")
    with pytest.raises(ToolMissingError) as info:
        toolchain.check_jdk(11, home)
    assert "version 8" in str(info.value)
    assert "JDK >= 11" in str(info.value)
    assert info.value.exit_code == 3


@pytest.mark.subprocess
def test_jdk_accepted_and_jre_refused(tmp_path: Path) -> None:
    home = _fake_jdk(tmp_path, "17.0.15")
    assert toolchain.check_jdk(11, home).major == 17
    (home / "include" / "jni.h").unlink()
    with pytest.raises(ToolMissingError, match=r"no include/jni\.h"):
        toolchain.check_jdk(11, home)
    (home / "bin" / "javac").unlink()
    with pytest.raises(ToolMissingError, match="is not a JDK"):
        toolchain.check_jdk(11, home)


@pytest.mark.subprocess
def test_jvm_check_fails_unless_ok_is_printed(tmp_path: Path) -> None:
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\necho 'minray-native FAILED: no native/linux/x86_64' >&2\nexit 1\n")
    java.chmod(0o755)
    with pytest.raises(VerificationError, match="could not load the native library") as info:
        toolchain.jvm_native_check(tmp_path / "x.jar", java, 30, "org.example.NativeCheck")
    assert "minray-native FAILED: no native/linux/x86_64" in str(info.value)
    java.write_text("#!/bin/sh\necho 'loaded: NOTOK'\n")  # exit 0, but no OK word
    with pytest.raises(VerificationError, match="could not load the native library"):
        toolchain.jvm_native_check(tmp_path / "x.jar", java, 30, "org.example.NativeCheck")
    java.write_text(
        '#!/bin/sh\n[ "$3" = org.example.NativeCheck ] || exit 3\necho "tiny-native OK $2"\n'
    )
    line = toolchain.jvm_native_check(tmp_path / "x.jar", java, 30, "org.example.NativeCheck")
    assert line == f"tiny-native OK {tmp_path / 'x.jar'}"
    assert (
        toolchain.java_exe({"JAVA_HOME": str(tmp_path / "nope")})
        != tmp_path / "nope" / "bin" / "java"
    )


def test_java_home_from_env(tmp_path: Path) -> None:
    assert toolchain.java_home({"JAVA_HOME": str(tmp_path)}) == tmp_path


def test_no_javac_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="javac is not on PATH"):
        toolchain.java_home({})


def _project(project_root: Path) -> poms.JavaProject:
    return poms.load_project(project_root / "java")


MAVEN_NOT_FOUND = """\
[INFO] BUILD FAILURE
[ERROR] Failed to execute goal on project minray-api: Could not resolve dependencies for \
project io.minray:minray-api:jar:0.1.0: Could not find artifact \
org.slf4j:slf4j-api:jar:9.9.9 in central (https://repo-mirror.example/maven2) -> [Help 1]
"""

MAVEN_UNRESOLVED = """\
[ERROR] Failed to execute goal on project minray-runtime: Could not resolve dependencies for \
project io.minray:minray-runtime:jar:0.1.0: The following artifacts could not be resolved: \
com.google.code.gson:gson:jar:0.0.1 (absent): Could not find artifact ...
"""


def test_diagnose_unresolvable_dependency_names_the_entry(project_root: Path) -> None:
    err = toolchain.diagnose_maven(MAVEN_NOT_FOUND, _project(project_root))
    assert isinstance(err, ResolutionError)
    assert "org.slf4j:slf4j-api:jar:9.9.9" in err.message
    assert "modules.api.dependencies: org.slf4j:slf4j-api:2.0.17" in err.message
    assert "modules.runtime.dependencies: org.slf4j:slf4j-api:2.0.17" in err.message
    assert err.exit_code == 7
    err2 = toolchain.diagnose_maven(MAVEN_UNRESOLVED, _project(project_root))
    assert isinstance(err2, ResolutionError)
    assert "modules.runtime.dependencies: com.google.code.gson:gson:2.11.0" in err2.message


MAVEN_CACHED = """\
[ERROR] Failed to execute goal on project minray-api: Could not resolve dependencies for \
project io.minray:minray-api:jar:0.1.0: org.slf4j:slf4j-api:jar:0.0.0-nope was not found in \
https://repo-mirror.example/maven2 during a previous attempt. This failure was cached in \
the local repository and resolution is not reattempted until the update interval of central \
has elapsed or updates are forced -> [Help 1]
"""


def test_diagnose_cached_resolution_failure(project_root: Path) -> None:
    err = toolchain.diagnose_maven(MAVEN_CACHED, _project(project_root))
    assert isinstance(err, ResolutionError)
    assert "org.slf4j:slf4j-api:jar:0.0.0-nope" in err.message
    assert "modules.api.dependencies: org.slf4j:slf4j-api:2.0.17" in err.message


def test_diagnose_other_failures(project_root: Path) -> None:
    project = _project(project_root)
    transfer = "[ERROR] Could not transfer artifact a:b:pom:1 from/to central: timeout"
    assert isinstance(toolchain.diagnose_maven(transfer, project), ResolutionError)
    tests = "[ERROR] There are test failures.\n"
    err = toolchain.diagnose_maven(tests, project)
    assert isinstance(err, CommandFailedError)
    assert "surefire" in str(err)
    assert toolchain.diagnose_maven("[ERROR] something new", project) is None


def test_maven_argv() -> None:
    argv = toolchain.maven_argv(2, skip_tests=True, javadoc=True, native_dir=Path("/n"))
    assert argv[:7] == ["mvn", "-B", "-ntp", "-T", "2", "clean", "install"]
    assert "-Dbuild_support.native.dir=/n" in argv
    assert "-DskipTests" in argv
    assert "-Prelease" in argv
    assert "-Dgpg.skip=true" in argv
    plain = toolchain.maven_argv(4, skip_tests=False, javadoc=False, native_dir=Path("/n"))
    assert "-DskipTests" not in plain
    assert not any(a.startswith("-Dbuild_support.commit=") for a in plain)
    stamped = toolchain.maven_argv(4, skip_tests=False, javadoc=False, native_dir=Path("/n"),
                              commit="c" * 40)  # fmt: skip
    assert f"-Dbuild_support.commit={'c' * 40}" in stamped
    assert "-Prelease" not in plain


def test_compiler_choice() -> None:
    args = {
        "jdk_home": Path("/jdk"),
        "sources": [Path("a.c")],
        "include_dirs": [Path("/inc")],
        "version": "1.2.3",
        "out": Path("/o/lib.so"),
    }
    native = natives.compiler_argv(Platform("linux", "x86_64"), LINUX_X86, **args)  # type: ignore[arg-type]
    cross = natives.compiler_argv(Platform("linux", "aarch64"), LINUX_X86, **args)  # type: ignore[arg-type]
    assert native[0] == "gcc"
    assert cross[0] == "aarch64-linux-gnu-gcc"
    assert "-I/jdk/include/linux" in cross
    assert '-DBUILD_SUPPORT_VERSION="1.2.3"' in cross
    assert cross[-2:] == ["-o", "/o/lib.so"]
    mac = natives.compiler_argv(Platform("darwin", "aarch64"), DARWIN_ARM, **args)  # type: ignore[arg-type]
    assert mac[:4] == ["cc", "-dynamiclib", "-arch", "arm64"]
    with pytest.raises(PlatformError, match="macOS host"):
        natives.compiler_argv(Platform("darwin", "aarch64"), LINUX_X86, **args)  # type: ignore[arg-type]
    with pytest.raises(PlatformError, match="Linux host"):
        natives.compiler_argv(Platform("linux", "x86_64"), DARWIN_ARM, **args)  # type: ignore[arg-type]


def test_darwin_on_linux_is_refused_before_any_work(project_root: Path) -> None:
    cfg = config.load(project_root)
    with pytest.raises(PlatformError) as info:
        jars_stage.build_os(cfg, "darwin", skip_tests=True, host=LINUX_X86)
    assert "needs a darwin host; this one is Linux-x86_64" in str(info.value)
    assert info.value.exit_code == 14


def test_the_projects_names_have_no_default(project_root: Path) -> None:
    cfg = config.load(project_root)
    bare = dataclasses.replace(cfg, sections={**cfg.sections, "jars": {}})
    with pytest.raises(ConfigError, match="does not set native_library, native_sources") as info:
        jars_stage.build_os(bare, "linux", skip_tests=True, host=LINUX_X86)
    assert info.value.exit_code == 2
    assert "docs/onboarding.md" in str(info.value)
    with pytest.raises(ConfigError, match="does not set native_sources"):
        jars_stage.multiplatform(_cfg(project_root, native_sources=[]), timeout=0)


@pytest.mark.parametrize(
    ("entry", "check_class"), [("Build Commit", ""), ("", ""), ("X" * 71, ""), ("A", "1bad.Class")]
)
def test_bad_manifest_entry_or_check_class(entry: str, check_class: str) -> None:
    with pytest.raises(ConfigError, match=r"commit_manifest_entry|native_check_class"):
        JarsSettings(commit_manifest_entry=entry, native_check_class=check_class)


def test_os_without_configured_platforms(project_root: Path) -> None:
    cfg = _cfg(project_root, platforms=["linux-x86_64"])
    with pytest.raises(ConfigError, match="no darwin platform"):
        jars_stage.build_os(cfg, "darwin", skip_tests=True, host=DARWIN_ARM)


def test_check_reproducible_without_a_platform_for_the_os_fails_as_a_build_does(
    project_root: Path,
) -> None:
    """``jars -- <os> --check-reproducible`` on an OS with no configured platform stops
    with the build's ConfigError (exit 2, the hint) before any toolchain or Maven run."""
    host = platforms.current_host()
    other = "darwin-aarch64" if host.os == "linux" else "linux-x86_64"
    cfg = _cfg(project_root, platforms=[other])
    errors = []
    for extra in ([], ["--check-reproducible"]):
        with pytest.raises(ConfigError) as info:
            jars_stage.main([host.os, "--skip-tests", *extra], cfg)
        errors.append(info.value)
    build, check = errors
    assert str(check) == str(build)
    assert f"platforms has no {host.os} platform: {other}" in str(check)
    assert check.exit_code == 2
    assert check.hint == f'add e.g. "{host.os}-{host.arch}"'


def test_multiplatform_key() -> None:
    sha = "a" * 40
    assert (
        jar_outputs.multiplatform_key("releases/2.1", sha, "minray-runtime-0.1.0.jar")
        == f"jars/releases/2.1/{sha}/multiplatform/minray-runtime-0.1.0.jar"
    )


def test_cli_rejects_unknown_actions(project_root: Path) -> None:
    cfg = config.load(project_root)
    with pytest.raises(UsageError, match="invalid choice"):
        jars_stage.main(["windows"], cfg)
    with pytest.raises(UsageError):
        jars_stage.main([], cfg)


def _deploy_dir(project_root: Path, tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    d.mkdir()
    java = project_root / "java"
    shutil.copyfile(java / "pom.xml", d / "minray-parent-0.1.0.pom")
    for module, artifact in (
        ("api", "minray-api"),
        ("runtime", "minray-runtime"),
        ("serve", "minray-serve"),
    ):
        shutil.copyfile(java / module / "pom.xml", d / f"{artifact}-0.1.0.pom")
        for suffix in ("", "-sources", "-javadoc"):
            with zipfile.ZipFile(d / f"{artifact}-0.1.0{suffix}.jar", "w") as zf:
                zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    return d


def test_deploy_check_complete_and_missing(project_root: Path, tmp_path: Path) -> None:
    cfg = config.load(project_root)
    d = _deploy_dir(project_root, tmp_path)
    assert jars_stage.deploy_check(cfg, d) == []
    (d / "minray-serve-0.1.0-javadoc.jar").unlink()
    (d / "minray-api-0.1.0-sources.jar").write_text("not a zip")
    parent = d / "minray-parent-0.1.0.pom"
    parent.write_text(
        parent.read_text().replace("<licenses>", "<!--").replace("</licenses>", "-->")
    )
    problems = jars_stage.deploy_check(cfg, d)
    assert any(p.startswith("minray-serve-0.1.0-javadoc.jar: missing") for p in problems)
    assert any(p.startswith("minray-api-0.1.0-sources.jar: missing") for p in problems)
    assert "minray-parent-0.1.0.pom: no <licenses>" in problems
    assert "minray-api-0.1.0.pom: no <licenses> (nor inherited from the parent)" in problems
    with pytest.raises(Exception, match="not ready for a Maven Central deploy"):
        jars_stage.main(["deploy-check", "--dir", str(d)], cfg)
    assert jars_stage.deploy_check(cfg, tmp_path / "nope") == [
        f"{tmp_path / 'nope'} does not exist: run `nox -s jars -- linux` first"
    ]
