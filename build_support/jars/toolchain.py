"""The JDK and Maven: find and check them, run Maven (its full log to a file, the key
lines to the terminal), say in words why it failed, and load the natives in a JVM."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from build_support import cmd, log
from build_support.errors import (
    BuildSupportError,
    CommandFailedError,
    ResolutionError,
    ToolMissingError,
    VerificationError,
)
from build_support.jars import poms
from build_support.jars.settings import JarsSettings

JDK_HINT = "install a JDK 17 (apt-get install openjdk-17-jdk-headless) or point JAVA_HOME at one"

#: The Maven properties the stage passes with ``-D`` and the project's POMs use: where the
#: native libraries are staged (``native/<os>/<arch>/<file>`` below it) and the commit
#: the POMs write into every JAR's manifest (``[tool.build_support.jars]
#: commit_manifest_entry``).
NATIVE_DIR_PROPERTY = "build_support.native.dir"

COMMIT_PROPERTY = "build_support.commit"

MIN_MAVEN = (3, 6, 3)


def parse_java_major(text: str) -> int | None:
    """The major version in ``java -version``/``javac -version`` output (1.8 → 8)."""
    m = re.search(r'(?:version "|javac )(\d+)(?:\.(\d+))?', text)
    if m is None:
        return None
    major = int(m.group(1))
    if major == 1 and m.group(2):
        return int(m.group(2))
    return major


def parse_maven_version(text: str) -> tuple[int, int, int] | None:
    m = re.search(r"Apache Maven (\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


@dataclass(frozen=True)
class Jdk:
    home: Path
    java: Path
    javac: Path
    major: int


def java_home(env: dict[str, str] | None = None) -> Path:
    """``$JAVA_HOME``, else the JDK that the ``javac`` on PATH belongs to."""
    env = dict(os.environ) if env is None else env
    if env.get("JAVA_HOME"):
        return Path(env["JAVA_HOME"])
    try:
        javac = cmd.which("javac")
    except ToolMissingError as exc:
        raise ToolMissingError(
            "no JDK: javac is not on PATH and JAVA_HOME is not set (a JRE cannot build)",
            hint=JDK_HINT,
        ) from exc
    return Path(javac).resolve().parent.parent


def check_jdk(min_major: int, home: Path | None = None) -> Jdk:
    """The JDK Maven will use, verified: java and javac present, major >= ``min_major``."""
    home = home or java_home()
    java, javac = home / "bin" / "java", home / "bin" / "javac"
    for tool in (java, javac):
        if not tool.exists():
            raise ToolMissingError(f"{tool} does not exist: {home} is not a JDK", hint=JDK_HINT)
    java_out = cmd.run([java, "-version"], capture=True, echo=False, timeout=60)
    javac_out = cmd.run([javac, "-version"], capture=True, echo=False, timeout=60)
    java_major = parse_java_major(java_out.stdout + java_out.stderr)
    javac_major = parse_java_major(javac_out.stdout + javac_out.stderr)
    if javac_major is None or java_major is None:
        raise ToolMissingError(
            f"cannot tell the JDK version of {home} from `java -version`/`javac -version`",
            hint=JDK_HINT,
        )
    if javac_major < min_major:
        raise ToolMissingError(
            f"the JDK at {home} is version {javac_major}; the Java build needs JDK >= "
            f"{min_major} (it compiles with --release 8; JDK 17 is what it is tested with)",
            hint=JDK_HINT,
        )
    if java_major != javac_major:
        log.warn(f"java is version {java_major} but javac is {javac_major} in {home}")
    if not (home / "include" / "jni.h").exists():
        raise ToolMissingError(
            f"the JDK at {home} has no include/jni.h (needed to compile the JNI library)",
            hint=JDK_HINT,
        )
    return Jdk(home=home, java=java, javac=javac, major=javac_major)


def check_maven(jdk: Jdk) -> str:
    mvn = cmd.which("mvn")
    out = cmd.run(
        [mvn, "-B", "-v"], capture=True, echo=False, timeout=120, env={"JAVA_HOME": str(jdk.home)}
    )
    version = parse_maven_version(out.stdout)
    if version is None or version < MIN_MAVEN:
        found = ".".join(map(str, version)) if version else "unknown"
        raise ToolMissingError(
            f"Maven {found} is too old: the pinned plugins need Maven >= "
            + ".".join(map(str, MIN_MAVEN)),
            hint="install Maven 3.8 (apt-get install maven)",
        )
    return ".".join(map(str, version))


_ARTIFACT = r"([\w.\-]+:[\w.\-]+(?::[\w.\-${}]+){1,3})"

_UNRESOLVED = re.compile(r"The following artifacts could not be resolved: " + _ARTIFACT)

_NOT_FOUND = re.compile(r"Could not find artifact " + _ARTIFACT)

_CACHED = re.compile(r"Failure to find " + _ARTIFACT)

_NOT_FOUND_BEFORE = re.compile(_ARTIFACT + r" was not found in ")

_DESCRIPTOR = re.compile(r"Failed to read artifact descriptor for " + _ARTIFACT)

_COLLECT = re.compile(r"Failed to collect dependencies at " + _ARTIFACT)

_TRANSFER = re.compile(r"Could not transfer artifact " + _ARTIFACT)


def _coordinate(artifact: str) -> str:
    """``group:artifact[:packaging]:version`` → ``group:artifact``."""
    parts = artifact.strip().rstrip(":,").split(":")
    return ":".join(parts[:2])


def diagnose_maven(output: str, project: poms.JavaProject) -> BuildSupportError | None:
    """A precise error for a known Maven failure, naming the dependencies.toml entry."""
    transfer = _TRANSFER.search(output)
    for pattern in (_UNRESOLVED, _NOT_FOUND, _CACHED, _NOT_FOUND_BEFORE, _DESCRIPTOR, _COLLECT):
        m = pattern.search(output)
        if m is None:
            continue
        artifact = m.group(1)
        coord = _coordinate(artifact)
        entries = [
            f"modules.{mod.directory}.dependencies: {dep}"
            for mod in project.modules
            for dep in mod.dependencies
            if dep.coordinate == coord
        ]
        where = "; ".join(entries) or f"(no entry names {coord}; a transitive dependency)"
        return ResolutionError(
            f"Maven could not resolve the dependency {artifact}: {where} in "
            f"{project.java_dir / poms.DEPENDENCIES}",
            hint="fix the version in java/dependencies.toml (check it exists in the "
            "repository Maven resolves from: Maven Central or your settings.xml mirror), "
            "then `nox -s jars -- generate-poms`",
        )
    if transfer is not None:
        return ResolutionError(
            f"Maven could not download {transfer.group(1)} (network or repository error)",
            hint="check access to the repository Maven resolves from (Maven Central, or the "
            "<mirror> in ~/.m2/settings.xml; see docs/jars.md), then rerun",
        )
    if "There are test failures" in output or "There was a timeout" in output:
        return CommandFailedError(
            "the Java tests failed",
            returncode=1,
            output=output,
            hint="see the surefire reports in java/*/target/surefire-reports; "
            "`--skip-tests` builds without them",
        )
    if "COMPILATION ERROR" in output:
        return CommandFailedError("the Java sources did not compile", returncode=1, output=output)
    return None


def maven_argv(
    threads: int, *, skip_tests: bool, javadoc: bool, native_dir: Path, commit: str = ""
) -> list[str]:
    argv = ["mvn", "-B", "-ntp", "-T", str(threads), "clean", "install"]
    argv.append(f"-D{NATIVE_DIR_PROPERTY}={native_dir}")
    if commit:  # into every JAR's manifest (commit_manifest_entry), read back by publish
        argv.append(f"-D{COMMIT_PROPERTY}={commit}")
    if skip_tests:
        argv.append("-DskipTests")
    if javadoc:
        argv += ["-Prelease", "-Dgpg.skip=true"]
    return argv


#: The lines of Maven's output shown on the terminal: each module's start ("Building
#: <name> <version>"), the reactor summary rows ("<name> ... SUCCESS [ 1.2 s]"), tests, result.
_SHOW = re.compile(
    r"^\[(INFO|WARNING|ERROR)\] (Tests run:|Reactor Summary|Building |BUILD|Total time|"
    r"Could not|Failed|.* (SUCCESS|FAILURE|SKIPPED)( \[|$))"
)


def run_maven(
    project: poms.JavaProject, argv: list[str], jdk: Jdk, timeout: float, log_path: Path
) -> None:
    """Run Maven; its full log goes to ``log_path``, the key lines to the terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc = cmd.run(
        argv,
        cwd=project.java_dir,
        env={"JAVA_HOME": str(jdk.home)},
        capture=True,
        check=False,
        timeout=timeout,
    )
    output = (proc.stdout or "") + (proc.stderr or "")
    log_path.write_text(output, encoding="utf-8")
    for line in output.splitlines():
        if _SHOW.match(line):
            log.info("  " + line)
    if proc.returncode != 0:
        diagnosed = diagnose_maven(output, project)
        if diagnosed is not None:
            diagnosed.message += f" (full log: {log_path})"
            raise diagnosed
        tail = "\n".join(output.splitlines()[-40:])
        raise CommandFailedError(
            f"mvn failed with exit code {proc.returncode}:\n{tail}",
            returncode=proc.returncode,
            output=output,
            hint=f"full log: {log_path}",
        )


def java_exe(env: dict[str, str] | None = None) -> Path:
    """The ``java`` to run checks with: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    env = dict(os.environ) if env is None else env
    if env.get("JAVA_HOME"):
        candidate = Path(env["JAVA_HOME"]) / "bin" / "java"
        if candidate.exists():
            return candidate
    try:
        return Path(cmd.which("java"))
    except ToolMissingError as exc:
        raise ToolMissingError(
            "no Java runtime to load the native library with: java is not on PATH",
            hint=JDK_HINT,
        ) from exc


def jvm_native_check(jar: Path, java: Path, timeout: float, check_class: str) -> str:
    """``java -cp JAR <check_class>`` exits 0 and prints a line with the word ``OK``."""
    proc = cmd.run(
        [java, "-cp", jar, check_class],
        capture=True,
        check=False,
        timeout=timeout,
    )
    line = (proc.stdout or "").strip()
    if proc.returncode != 0 or not re.search(r"\bOK\b", line):
        raise VerificationError(
            f"the JVM could not load the native library from {jar} (exit {proc.returncode}): "
            + ((proc.stdout or "") + (proc.stderr or "")).strip(),
            hint="the JAR lacks this host's native/<os>/<arch>/ library or it is broken "
            f"(or {check_class}, [tool.build_support.jars] native_check_class, does not exit 0 "
            "printing a line with OK)",
        )
    log.info(f"jvm: {line}")
    return line


def jvm_check(settings: JarsSettings, jar: Path, java: Path) -> None:
    """:func:`jvm_native_check` with ``native_check_class``; said and skipped when unset."""
    if not settings.native_check_class:
        log.warn(
            "not loading the natives in a JVM: [tool.build_support.jars] native_check_class "
            "is not set"
        )
        return
    jvm_native_check(jar, java, settings.tool_timeout_seconds, settings.native_check_class)
