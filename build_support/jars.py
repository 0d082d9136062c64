"""The Java stage: POMs, native libraries, Maven, per-platform and multiplatform JARs.

``nox -s jars -- linux|darwin|multiplatform|check-poms|generate-poms|deploy-check``

* ``check-poms`` renders every module POM from ``java/templates/pom-module.xml.tmpl`` and
  ``java/dependencies.toml`` and fails (StaleError, exit 8) when a committed one differs;
  ``generate-poms`` writes them.
* ``linux`` / ``darwin``: check the POMs, check the JDK and Maven, build the JNI library
  for every configured platform of that OS (cross-compiling other architectures, each
  verified by its ELF/Mach-O header), run ``mvn -B -ntp -T <cores> clean install``
  (tests on; ``--skip-tests``), verify the JARs (natives inside, the host's one loaded
  by a JVM), copy them to ``dist/jars/<os>/`` and put them in the store under
  ``jars/{branch}/{sha}/{os}/``.
* ``multiplatform``: wait (with a real timeout) for every OS's runtime JAR of this commit
  in the store, download it (SHA-256 verified), and repack one runtime JAR holding every
  platform's natives (:mod:`build_support.jarpack`), checked in a JVM, stored under
  ``jars/{branch}/{sha}/multiplatform/`` and written to ``dist/jars/multiplatform/``.
* ``deploy-check`` lists what a Maven Central deploy would lack in ``dist/jars/<os>/``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from build_support import (
    cmd,
    commits,
    fsutil,
    inputcache,
    jarpack,
    log,
    manifests,
    platforms,
    poms,
    reproducible,
    sources,
    store,
)
from build_support.args import StageParser, non_negative_float
from build_support.config import Config
from build_support.errors import (
    BuildSupportError,
    CommandFailedError,
    ConfigError,
    InputError,
    PlatformError,
    ResolutionError,
    ToolMissingError,
    VerificationError,
)
from build_support.jarpack import Platform
from build_support.settings import JarsSettings as JarsSettings  # noqa: PLC0414 - re-exported
from build_support.supplychain import attest

JDK_HINT = "install a JDK 17 (apt-get install openjdk-17-jdk-headless) or point JAVA_HOME at one"
#: The Maven properties the stage passes with ``-D`` and the project's POMs use: where the
#: native libraries are staged (``native/<os>/<arch>/<file>`` below it) and the commit
#: the POMs write into every JAR's manifest (``[tool.build_support.jars]
#: commit_manifest_entry``).
NATIVE_DIR_PROPERTY = "build_support.native.dir"
COMMIT_PROPERTY = "build_support.commit"
#: The C macro the JNI library is compiled with: ``-DBUILD_SUPPORT_VERSION="<version>"``.
VERSION_MACRO = "BUILD_SUPPORT_VERSION"
MULTIPLATFORM = "multiplatform"
MIN_MAVEN = (3, 6, 3)


# -- toolchain ------------------------------------------------------------------------


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


# -- native libraries ---------------------------------------------------------------------


def compiler_argv(
    target: Platform,
    host: platforms.Host,
    *,
    jdk_home: Path,
    sources: Sequence[Path],
    include_dirs: Sequence[Path],
    version: str,
    out: Path,
) -> list[str]:
    """The compiler command that builds the JNI library for ``target`` on ``host``."""
    includes = [f"-I{jdk_home / 'include'}", f"-I{jdk_home / 'include' / target.os}"]
    includes += [f"-I{d}" for d in include_dirs]
    flags = ["-O2", "-Wall", "-Wextra", f'-D{VERSION_MACRO}="{version}"', *includes]
    if target.os == "linux":
        if host.os != "linux":
            raise PlatformError(
                f"cannot build the {target} library on a {host.os} host",
                hint="run `nox -s jars -- linux` on a Linux host",
            )
        cc = "gcc" if host.arch == target.arch else f"{target.arch}-linux-gnu-gcc"
        return [cc, "-shared", "-fPIC", *flags, *map(str, sources), "-o", str(out)]
    if host.os != "darwin":
        raise PlatformError(
            f"cannot build the {target} library on a {host.os} host",
            hint="run `nox -s jars -- darwin` on a macOS host",
        )
    arch = "arm64" if target.arch == "aarch64" else "x86_64"
    return ["cc", "-dynamiclib", "-arch", arch, *flags, *map(str, sources), "-o", str(out)]


def build_natives(
    cfg: Config,
    settings: JarsSettings,
    targets: Sequence[Platform],
    *,
    jdk: Jdk,
    version: str,
    dest: Path,
    host: platforms.Host,
    epoch: int,
) -> dict[Platform, Path]:
    """Compile the JNI library for each target into ``dest/native/<os>/<arch>/``.

    The compiler gets ``SOURCE_DATE_EPOCH=epoch`` (the commit's time), so a source that
    uses ``__DATE__``/``__TIME__`` gives the same library in every build of the commit.
    """
    if dest.exists():
        shutil.rmtree(dest)
    sources = [cfg.root / s for s in settings.native_sources]
    for s in sources:
        if not s.is_file():
            raise InputError(
                f"native source {s} does not exist",
                hint="fix [tool.build_support.jars] native_sources",
            )
    include_dirs = [cfg.root / d for d in settings.native_include_dirs]
    built: dict[Platform, Path] = {}
    for target in targets:
        out = dest / target.library(settings.native_library)
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = compiler_argv(
            target,
            host,
            jdk_home=jdk.home,
            sources=sources,
            include_dirs=include_dirs,
            version=version,
            out=out,
        )
        cmd.run(
            argv,
            env={"SOURCE_DATE_EPOCH": str(epoch)},
            timeout=settings.tool_timeout_seconds,
            hint=f"the {target} JNI library did not compile; see the compiler output above",
        )
        jarpack.check_library_file(out, target)
        log.info(f"native: {target} {out.name} ({log.human_size(out.stat().st_size)}) verified")
        built[target] = out
    return built


# -- Maven ----------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class Built:
    module: str
    path: Path


def module_outputs(project: poms.JavaProject, *, javadoc: bool) -> list[Built]:
    """The files a deploy needs from each module's target/, checked to exist."""
    out: list[Built] = []
    missing: list[str] = []
    for m in project.modules:
        target = project.java_dir / m.directory / "target"
        stem = f"{m.artifact_id}-{project.version}"
        names = [f"{stem}.jar", f"{stem}-sources.jar"]
        if javadoc:
            names.append(f"{stem}-javadoc.jar")
        for name in names:
            path = target / name
            (out.append(Built(m.directory, path)) if path.is_file() else missing.append(str(path)))
    if missing:
        raise VerificationError(
            "Maven succeeded but these outputs are missing: " + ", ".join(missing),
            hint="check the module POMs and the parent's maven-source-plugin execution",
        )
    return out


def published_pom(project: poms.JavaProject, module: poms.Module) -> Path:
    """The POM that ``install``/``deploy`` publish (shade's reduced one when shading)."""
    base = project.java_dir / module.directory
    reduced = base / "target" / "dependency-reduced-pom.xml"
    return reduced if module.shade is not None and reduced.is_file() else base / "pom.xml"


# -- JVM check ------------------------------------------------------------------------------


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


def _jvm_check(settings: JarsSettings, jar: Path, java: Path) -> None:
    """:func:`jvm_native_check` with ``native_check_class``; said and skipped when unset."""
    if not settings.native_check_class:
        log.warn(
            "not loading the natives in a JVM: [tool.build_support.jars] native_check_class "
            "is not set"
        )
        return
    jvm_native_check(jar, java, settings.tool_timeout_seconds, settings.native_check_class)


# -- outputs ----------------------------------------------------------------------------------


def runtime_jar_name(settings: JarsSettings, project: poms.JavaProject) -> str:
    """The runtime JAR's file name: what each OS stores and ``multiplatform`` waits for."""
    return f"{project.module(settings.runtime_module).artifact_id}-{project.version}.jar"


def multiplatform_key(branch: str, sha: str, filename: str) -> str:
    """``jars/{branch}/{sha}/multiplatform/{filename}``."""
    return store.keys.jar_key(branch, sha, MULTIPLATFORM, filename)


def _summary_row(summary: log.Summary, path: Path, key: str, started: float) -> manifests.JarFile:
    row = manifests.JarFile(
        file=path.name, size=path.stat().st_size, sha256=fsutil.sha256_file(path), key=key
    )
    summary.add(
        artifact=path.name,
        size=log.human_size(row.size),
        sha256=row.sha256,
        key=key,
        time=f"{time.monotonic() - started:.1f}s",
    )
    return row


def _summary(stage: str) -> log.Summary:
    # The key is in the JSON twin; the table stays readable.
    return log.Summary(stage, headers=("artifact", "size", "sha256", "time"))


# -- stages ----------------------------------------------------------------------------------


def load(cfg: Config, *, natives: bool = True) -> tuple[JarsSettings, poms.JavaProject]:
    """The settings and the Java tree; ``natives``: the JNI library's names must be set."""
    settings = cfg.section("jars", JarsSettings)
    if natives:
        settings.require_product()
    project = poms.load_project(cfg.path("java"))
    project.module(settings.runtime_module)  # fails early when misconfigured
    return settings, project


def check_poms(cfg: Config) -> int:
    _settings, project = load(cfg, natives=False)
    checked = poms.check(project)
    log.success(f"POMs up to date: {', '.join(str(p.relative_to(cfg.root)) for p in checked)}")
    return 0


def generate_poms(cfg: Config) -> int:
    _settings, project = load(cfg, natives=False)
    written = poms.write(project)
    for p in written:
        log.info(f"wrote {p.relative_to(cfg.root)}")
    if not written:
        log.info("POMs already up to date")
    return 0


#: Bump when the way the JARs are made changes; part of every jars input digest.
RECIPE = "jars-2"  # 2: natives compiled with SOURCE_DATE_EPOCH


def _release_fact(home: Path) -> str | None:
    """The JDK's build from ``$JAVA_HOME/release`` (no JVM start), if it has one."""
    release = home / "release"
    if not release.is_file():
        return None
    wanted = ("IMPLEMENTOR", "JAVA_RUNTIME_VERSION", "JAVA_VERSION", "OS_ARCH")
    lines = [
        line.strip()
        for line in release.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.split("=", 1)[0] in wanted
    ]
    return ";".join(sorted(lines)) or None


def _maven_fact() -> str | None:
    """Maven's version from its ``lib/maven-core-*.jar`` (no JVM start), if found."""
    try:
        mvn = Path(cmd.which("mvn")).resolve()
    except ToolMissingError:
        return None
    for core in sorted((mvn.parent.parent / "lib").glob("maven-core-*.jar")):
        try:
            with zipfile.ZipFile(core) as zf:
                props = zf.read("META-INF/maven/org.apache.maven/maven-core/pom.properties")
        except (OSError, KeyError, zipfile.BadZipFile):
            continue
        m = re.search(rb"^version=(\S+)", props, re.MULTILINE)
        if m:
            return m.group(1).decode()
    return None


def toolchain_facts(
    targets: Sequence[Platform], host: platforms.Host, home: Path
) -> dict[str, str]:
    """The JDK, Maven and compiler versions, read without starting a JVM when possible."""
    jdk = _release_fact(home)
    if jdk is None:
        out = cmd.run([home / "bin" / "javac", "-version"], capture=True, echo=False, timeout=60)
        jdk = (out.stdout + out.stderr).strip()
    maven = _maven_fact()
    if maven is None:
        out = cmd.run([cmd.which("mvn"), "-B", "-v"], capture=True, echo=False, timeout=120)
        maven = str(parse_maven_version(out.stdout))
    facts = {"jdk": jdk, "jdk_home": str(home), "maven": maven}
    for target in targets:
        cc = compiler_argv(
            target,
            host,
            jdk_home=home,
            sources=(),
            include_dirs=(),
            version="",
            out=Path("x"),
        )[0]
        version = cmd.output([cc, "-dumpfullversion", "-dumpversion"])
        machine = cmd.output([cc, "-dumpmachine"])
        facts[f"cc {target}"] = f"{cc} {version} {machine}"
    return facts


def input_digest(
    cfg: Config,
    settings: JarsSettings,
    project: poms.JavaProject,
    *,
    os_name: str,
    targets: Sequence[Platform],
    host: platforms.Host,
    commit: str,
    skip_tests: bool,
    javadoc: bool,
) -> str:
    """What the JARs of ``jars -- <os>`` depend on, as one digest.

    The files under java/ (module sources, dependencies.toml, the generated POMs, the
    templates, the JNI source) and the native sources and include dirs; the JDK, Maven
    and compiler versions; the commit (stamped into every manifest); the options.
    """
    rels = [f"java/{f}" for f in sources.project_files(cfg.root, project.java_dir)]
    rels += list(settings.native_sources)
    for inc in settings.native_include_dirs:
        rels += [f"{inc}/{f}" for f in sources.project_files(cfg.root, cfg.root / inc)]
    files = inputcache.file_hashes(cfg.root, sorted(set(rels)))
    facts: dict[str, object] = {
        **toolchain_facts(targets, host, java_home()),
        "os": os_name,
        "targets": [str(t) for t in targets],
        "native_library": settings.native_library,
        "runtime_module": settings.runtime_module,
        "commit_manifest_entry": settings.commit_manifest_entry,
        "version": project.version,
        "commit": commit,
        "tests": not skip_tests,
        "javadoc": javadoc,
    }
    return inputcache.digest(RECIPE, files, facts)


def _reuse(
    record: manifests.JarsCacheRecord,
    s: store.Store,
    staging: Path,
    *,
    runtime_jar: str,
    targets: Sequence[Platform],
    native_library: str,
    commit: str,
    entry: str,
) -> list[tuple[Path, str]] | None:
    """The recorded files fetched into ``staging`` (SHA-256 verified, natives re-checked)."""
    pairs: list[tuple[Path, str]] = []
    try:
        for f in record.files:
            info = s.get(f.key, staging / f.file)
            if info.sha256 != f.sha256:
                raise VerificationError(
                    f"{f.key} has SHA-256 {info.sha256}, the cache record says {f.sha256}"
                )
            pairs.append((staging / f.file, f.file))
        if runtime_jar not in {f.file for f in record.files}:
            raise VerificationError(f"the cache record lists no {runtime_jar}")
        for _path, name in pairs:
            if name.endswith(".jar"):
                jarpack.check_commit(
                    staging / name, commit, entry=entry
                )  # read from the JAR's manifest
        jarpack.check_natives(staging / runtime_jar, targets, native_library)
    except BuildSupportError as exc:
        log.warn(f"cached JARs of digest {record.digest[:12]} not reusable ({exc}); rebuilding")
        return None
    return pairs


def _build(
    cfg: Config,
    settings: JarsSettings,
    project: poms.JavaProject,
    targets: Sequence[Platform],
    *,
    host: platforms.Host,
    commit: str,
    skip_tests: bool,
    javadoc: bool,
) -> list[tuple[Path, str]]:
    """Natives, Maven, verification: the (file, published name) pairs to store."""
    with log.group("jars: toolchain"):
        jdk = check_jdk(settings.min_jdk)
        mvn_version = check_maven(jdk)
        log.info(f"JDK {jdk.major} at {jdk.home}; Maven {mvn_version}")
    build_dir = cfg.root / "build" / "jars"
    native_dir = build_dir / "native-resources"
    with log.group(f"jars: native libraries for {', '.join(map(str, targets))}"):
        build_natives(
            cfg,
            settings,
            targets,
            jdk=jdk,
            version=project.version,
            dest=native_dir,
            host=host,
            epoch=reproducible.source_date_epoch(cfg.root, commit),
        )
    threads = settings.maven_threads or os.cpu_count() or 1
    argv = maven_argv(
        threads, skip_tests=skip_tests, javadoc=javadoc, native_dir=native_dir, commit=commit
    )
    with log.group("jars: mvn clean install" + (" (tests skipped)" if skip_tests else "")):
        run_maven(project, argv, jdk, settings.maven_timeout_seconds, build_dir / "maven.log")
    outputs = module_outputs(project, javadoc=javadoc)
    runtime = project.module(settings.runtime_module)
    runtime_jar = (
        project.java_dir / runtime.directory / "target" / runtime_jar_name(settings, project)
    )
    with log.group("jars: verify"):
        for built in outputs:
            if built.path.suffix == ".jar":
                jarpack.check_commit(
                    built.path, commit, entry=settings.commit_manifest_entry
                )  # read from the JAR's manifest
        log.info(f"{settings.commit_manifest_entry}: {commit} in every JAR")
        jarpack.check_natives(runtime_jar, targets, settings.native_library)
        host_platform = Platform(host.os, host.arch)
        if host_platform in targets:
            _jvm_check(settings, runtime_jar, jdk.java)
        else:
            log.warn(f"not loading the natives in a JVM: this host ({host_platform}) is not built")
    pairs: list[tuple[Path, str]] = [(b.path, b.path.name) for b in outputs]
    pairs.append((project.java_dir / poms.PARENT, project.parent_pom_name))
    pairs += [
        (published_pom(project, m), f"{m.artifact_id}-{project.version}.pom")
        for m in project.modules
    ]
    return pairs


def _install_dist(pairs: Sequence[tuple[Path, str]], dist: Path) -> None:
    """Replace ``dist`` as a whole with ``pairs``: never a mix of two builds."""
    with fsutil.atomic_dir(dist) as staging:
        for src, name in pairs:
            shutil.copyfile(src, staging / name)


def _for_os(
    cfg: Config, os_name: str, host: platforms.Host | None
) -> tuple[platforms.Host, JarsSettings, poms.JavaProject, list[Platform]]:
    """What ``jars -- linux|darwin`` (with or without ``--check-reproducible``) builds:
    the host (it must run ``os_name``), the settings, the Java tree and the natives
    configured for ``os_name`` (at least one)."""
    host = host or platforms.current_host()
    if host.os != os_name:
        raise PlatformError(
            f"`jars -- {os_name}` needs a {os_name} host; this one is {host.system}-{host.machine}",
            hint=f"run it on a {os_name} CI agent; here run `nox -s jars -- {host.os}`",
        )
    settings, project = load(cfg)
    targets = settings.for_os(os_name)
    if not targets:
        raise ConfigError(
            f"[tool.build_support.jars] platforms has no {os_name} platform: "
            + ", ".join(settings.platforms),
            hint=f'add e.g. "{os_name}-{host.arch}"',
        )
    return host, settings, project, targets


def build_os(
    cfg: Config,
    os_name: str,
    *,
    skip_tests: bool,
    javadoc: bool | None = None,
    host: platforms.Host | None = None,
    force: bool = False,
) -> list[Path]:
    """The ``linux``/``darwin`` stage; returns the files put in dist/ and the store.

    Unchanged inputs (:func:`input_digest`, looked up in the store as a
    :class:`~build_support.manifests.JarsCacheRecord`) reuse the stored files without
    starting Maven or a JVM; ``force`` rebuilds.
    """
    host, settings, project, targets = _for_os(cfg, os_name, host)
    javadoc = settings.javadoc if javadoc is None else javadoc
    summary = _summary(f"jars {os_name}")
    with log.group("jars: check the generated POMs"):
        poms.check(project)
    ctx = commits.context(cfg.root)
    digest = input_digest(
        cfg,
        settings,
        project,
        os_name=os_name,
        targets=targets,
        host=host,
        commit=ctx.sha,
        skip_tests=skip_tests,
        javadoc=javadoc,
    )
    s = store.open_store(cfg)
    runtime_name = runtime_jar_name(settings, project)
    record = (
        None
        if force
        else inputcache.lookup(
            s, manifests.jars_cache_key(digest), manifests.JarsCacheRecord, what=f"jars {os_name}"
        )
    )
    dist = cfg.path("dist") / "jars" / os_name
    published: list[Path] = []
    files: list[manifests.JarFile] = []
    with tempfile.TemporaryDirectory(prefix="bs-jars-cache-") as tmp:
        pairs = None
        if record is not None:
            with log.group(f"jars: reuse the JARs of input digest {digest[:12]}"):
                pairs = _reuse(
                    record,
                    s,
                    Path(tmp),
                    runtime_jar=runtime_name,
                    targets=targets,
                    native_library=settings.native_library,
                    commit=ctx.sha,
                    entry=settings.commit_manifest_entry,
                )
        reused = pairs is not None
        inputcache.note(f"jars {os_name}", reused=reused)
        if pairs is None:
            pairs = _build(
                cfg,
                settings,
                project,
                targets,
                host=host,
                commit=ctx.sha,
                skip_tests=skip_tests,
                javadoc=javadoc,
            )
        with log.group(f"jars: dist/jars/{os_name} and the store"):
            _install_dist(pairs, dist)
            for _src, name in pairs:
                started = time.monotonic()
                dest = dist / name
                key = store.keys.jar_key(ctx.branch, ctx.sha, os_name, name)
                info = s.put(key, dest)
                attest.attest_jar(s, key, dest, cfg=cfg, ctx=ctx, version=project.version,
                                  sha256=info.sha256)  # fmt: skip
                files.append(_summary_row(summary, dest, key, started))
                published.append(dest)
    if not reused:
        inputcache.save(
            s,
            manifests.jars_cache_key(digest),
            manifests.JarsCacheRecord(
                digest=digest,
                os=os_name,
                branch=ctx.branch,
                commit=ctx.sha,
                version=project.version,
                natives=tuple(map(str, targets)),
                tests=not skip_tests,
                javadoc=javadoc,
                files=tuple(files),
            ),
        )
    summary.note(f"stored under {store.keys.jar_key(ctx.branch, ctx.sha, os_name, 'x')[:-2]}/")
    if reused and record is not None:
        summary.note(
            f"reused: unchanged inputs (digest {digest[:12]}), built at commit "
            f"{record.commit[:12]} on {record.branch}; Maven not run (--force rebuilds)"
        )
    else:
        summary.note(
            f"natives: {', '.join(map(str, targets))}; tests "
            + ("skipped" if skip_tests else "passed")
            + f"; Maven log: {cfg.root / 'build' / 'jars' / 'maven.log'}"
        )
    summary.emit()
    manifests.write(
        manifests.jars_path(cfg.path("dist"), os_name),
        manifests.JarsManifest(
            os=os_name,
            branch=ctx.branch,
            commit=ctx.sha,
            version=project.version,
            natives=tuple(map(str, targets)),
            files=tuple(files),
            reused=reused,
            digest=digest,
        ),
    )
    return published


def check_reproducible(
    cfg: Config,
    os_name: str,
    *,
    skip_tests: bool,
    javadoc: bool | None = None,
    host: platforms.Host | None = None,
) -> list[reproducible.Comparison]:
    """``jars -- linux --check-reproducible``: natives and Maven twice (no cache, nothing
    stored), every published file of the first build kept aside and compared with the
    second's byte for byte; a VerificationError names the first differing member."""
    host, settings, project, targets = _for_os(cfg, os_name, host)
    javadoc = settings.javadoc if javadoc is None else javadoc
    commit = commits.context(cfg.root).sha
    comparisons: list[reproducible.Comparison] = []
    summary = log.Summary(
        f"jars {os_name} --check-reproducible", headers=("file", "sha256", "result")
    )
    with tempfile.TemporaryDirectory(prefix="bs-jars-repro-") as tmp:
        builds: list[dict[str, Path]] = []
        for n in (1, 2):
            log.step(f"--check-reproducible: build {n} of 2")
            pairs = _build(
                cfg,
                settings,
                project,
                targets,
                host=host,
                commit=commit,
                skip_tests=skip_tests,
                javadoc=javadoc,
            )
            kept: dict[str, Path] = {}
            for src, name in pairs:
                kept[name] = fsutil.copy_atomic(src, Path(tmp) / str(n) / name)
            builds.append(kept)
        first, second = builds
        for name in sorted(first.keys() | second.keys()):
            a, b = first.get(name), second.get(name)
            if a is None or b is None:
                c = reproducible.Comparison(
                    name, a or Path(), b or Path(), f"only in build {1 if b is None else 2}"
                )
            elif name.endswith(".jar"):
                c = reproducible.compare_zips(name, a, b)
            else:
                diff = reproducible.first_text_difference(
                    a.read_text(encoding="utf-8"), b.read_text(encoding="utf-8")
                )
                c = reproducible.Comparison(name, a, b, diff)
            comparisons.append(c)
            summary.add(
                file=name,
                sha256=fsutil.sha256_file(a) if a else "-",
                result="identical" if c.identical else f"differs: {c.difference}",
            )
        summary.emit()
    reproducible.require_identical(comparisons)
    log.success(f"{len(comparisons)} file(s) byte-identical across two builds")
    return comparisons


def build_multiplatform(
    cfg: Config,
    *,
    timeout: float | None = None,
    host: platforms.Host | None = None,
    check_jvm: bool = True,
) -> Path:
    """The ``multiplatform`` stage; returns the JAR written to dist/jars/multiplatform/."""
    host = host or platforms.current_host()
    settings, project = load(cfg)
    expected = settings.expected()
    oses = list(dict.fromkeys(p.os for p in expected))
    filename = runtime_jar_name(settings, project)
    ctx = commits.context(cfg.root)
    s = store.open_store(cfg)
    wait = timeout if timeout is not None else (settings.wait_timeout_seconds or None)
    interval = settings.wait_interval_seconds or None
    summary = _summary("jars multiplatform")
    started = time.monotonic()
    dest = cfg.path("dist") / "jars" / MULTIPLATFORM / filename
    infos: dict[str, store.ObjectInfo] = {}
    with log.group(f"jars: wait for the runtime JARs of {', '.join(oses)}"):
        for os_name in oses:
            key = store.keys.jar_key(ctx.branch, ctx.sha, os_name, filename)
            infos[os_name] = s.wait_for(
                key, timeout=wait, interval=interval, producer=f"nox -s jars -- {os_name}"
            )
    # The inputs: each OS's runtime JAR (by SHA-256) and what the repack must hold.
    digest = inputcache.digest(
        f"{RECIPE}-multiplatform",
        {os_name: str(info.sha256) for os_name, info in infos.items()},
        {
            "expected": [str(p) for p in expected],
            "file": filename,
            "commit": ctx.sha,
            "native_library": settings.native_library,
            "commit_manifest_entry": settings.commit_manifest_entry,
        },
    )
    record = inputcache.lookup(
        s, manifests.jars_cache_key(digest), manifests.JarsCacheRecord, what="jars multiplatform"
    )
    natives: tuple[str, ...] | None = None
    reused = False
    if record is not None and len(record.files) == 1:
        try:
            info = s.get(record.files[0].key, dest)
            if info.sha256 != record.files[0].sha256:
                raise VerificationError(f"{record.files[0].key} changed since it was recorded")
            jarpack.check_natives(dest, expected, settings.native_library)
            jarpack.check_commit(dest, ctx.sha, entry=settings.commit_manifest_entry)
            natives, reused = record.natives, True
            log.info(f"{dest.name}: reused (input digest {digest[:12]}): natives re-checked")
        except BuildSupportError as exc:
            log.warn(f"the stored multiplatform JAR is not reusable ({exc}); repacking")
    inputcache.note("jars multiplatform", reused=reused)
    if natives is None:
        natives = _repack(settings, s, infos, dest, commit=ctx.sha, host=host, check_jvm=check_jvm)
    key = multiplatform_key(ctx.branch, ctx.sha, filename)
    put = s.put(key, dest)
    attest.attest_jar(s, key, dest, cfg=cfg, ctx=ctx, version=project.version,
                      sha256=put.sha256)  # fmt: skip
    row = _summary_row(summary, dest, key, started)
    if not reused:
        inputcache.save(
            s,
            manifests.jars_cache_key(digest),
            manifests.JarsCacheRecord(
                digest=digest,
                os=MULTIPLATFORM,
                branch=ctx.branch,
                commit=ctx.sha,
                version=project.version,
                natives=natives,
                tests=False,
                javadoc=False,
                files=(row,),
            ),
        )
    summary.note(f"stored as {key}; natives: {', '.join(natives)}")
    summary.emit()
    manifests.write(
        manifests.jars_path(cfg.path("dist"), MULTIPLATFORM),
        manifests.JarsManifest(
            os=MULTIPLATFORM,
            branch=ctx.branch,
            commit=ctx.sha,
            version=project.version,
            natives=natives,
            files=(row,),
            reused=reused,
            digest=digest,
        ),
    )
    return dest


def _repack(
    settings: JarsSettings,
    s: store.Store,
    infos: dict[str, store.ObjectInfo],
    dest: Path,
    *,
    commit: str,
    host: platforms.Host,
    check_jvm: bool,
) -> tuple[str, ...]:
    """Download each OS's runtime JAR, repack them into ``dest``, check it; its natives."""
    expected = settings.expected()
    with tempfile.TemporaryDirectory(prefix="jars-multiplatform-") as tmp:
        sources: list[jarpack.Source] = []
        with log.group(f"jars: fetch the runtime JARs of {', '.join(infos)}"):
            for os_name, info in infos.items():
                local = Path(tmp) / os_name / dest.name
                s.get(info.key, local)
                jarpack.check_commit(local, commit, entry=settings.commit_manifest_entry)
                sources.append(jarpack.Source(os_name, local))
        with log.group("jars: repack"):
            result = jarpack.repack(sources, dest, expected)
            for skipped in result.skipped_foreign:
                log.warn(f"not taken (natives of another OS's job): {skipped}")
            jarpack.check_natives(dest, expected, settings.native_library)
            jarpack.check_commit(dest, commit, entry=settings.commit_manifest_entry)
            log.info(
                f"{dest.name}: {result.entries} entries, natives "
                + ", ".join(map(str, result.platforms))
            )
    host_platform = Platform(host.os, host.arch)
    if check_jvm:
        with log.group("jars: load the natives in a JVM"):
            if host_platform in expected:
                _jvm_check(settings, dest, java_exe())
            else:
                log.warn(
                    f"cannot load the natives here: this host ({host_platform}) is not one "
                    "of " + ", ".join(settings.platforms)
                )
    return tuple(map(str, result.platforms))


def deploy_check(cfg: Config, directory: Path) -> list[str]:
    """What a Maven Central deploy would lack in ``directory``; [] when complete."""
    _settings, project = load(cfg, natives=False)
    if not directory.is_dir():
        return [f"{directory} does not exist: run `nox -s jars -- linux` first"]
    parent = directory / project.parent_pom_name
    problems: list[str] = []
    rows: list[list[str]] = []
    if not parent.is_file():
        problems.append(f"{parent.name}: missing (the parent POM)")
    else:
        problems += [f"{parent.name}: no <{f}>" for f in poms.missing_metadata(parent, None)]
    for m in project.modules:
        stem = f"{m.artifact_id}-{project.version}"
        wanted = {
            "pom": f"{stem}.pom",
            "jar": f"{stem}.jar",
            "sources": f"{stem}-sources.jar",
            "javadoc": f"{stem}-javadoc.jar",
        }
        cells = [m.artifact_id]
        for what, name in wanted.items():
            path = directory / name
            ok = path.is_file() and (what == "pom" or zipfile.is_zipfile(path))
            cells.append("ok" if ok else "MISSING")
            if not ok:
                fix = (
                    "build with javadoc (drop --no-javadoc, or set javadoc = true)"
                    if what == "javadoc"
                    else "run `nox -s jars -- linux`"
                )
                problems.append(f"{name}: missing ({fix})")
        pom = directory / wanted["pom"]
        if pom.is_file():
            lacking = poms.missing_metadata(pom, parent if parent.is_file() else None)
            cells.append(", ".join(lacking) or "complete")
            problems += [f"{pom.name}: no <{f}> (nor inherited from the parent)" for f in lacking]
        else:
            cells.append("-")
        rows.append(cells)
    log.info(log.format_table(("artifact", "pom", "jar", "sources", "javadoc", "metadata"), rows))
    log.info("signatures (.asc) are made at deploy time by `publish maven` (GPG)")
    return problems


# -- CLI --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s jars --", description="Build the project's JARs.")
    p.add_argument(
        "action",
        choices=("linux", "darwin", MULTIPLATFORM, "check-poms", "generate-poms", "deploy-check"),
    )
    p.add_argument("--skip-tests", action="store_true", help="linux/darwin: skip Maven's tests")
    p.add_argument(
        "--force", action="store_true", help="linux/darwin: rebuild even when inputs are unchanged"
    )
    p.add_argument(
        "--no-javadoc", action="store_true", help="linux/darwin: no javadoc JARs (faster)"
    )
    p.add_argument(
        "--check-reproducible",
        action="store_true",
        help="linux/darwin: build twice (no cache, nothing stored) and fail naming the first"
        " differing member unless every file is byte-identical",
    )
    p.add_argument(
        "--timeout",
        type=non_negative_float,
        default=None,
        metavar="SECONDS",
        help="multiplatform: how long to wait for other jobs' JARs (0: don't wait)",
    )
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="deploy-check: directory (default dist/jars/<host os>)",
    )
    return p


def main(argv: list[str], cfg: Config) -> int:
    args = _parser().parse_args(argv)
    if args.action == "check-poms":
        return check_poms(cfg)
    if args.action == "generate-poms":
        return generate_poms(cfg)
    if args.action in ("linux", "darwin") and args.check_reproducible:
        check_reproducible(
            cfg,
            args.action,
            skip_tests=args.skip_tests,
            javadoc=False if args.no_javadoc else None,
        )
        return 0
    if args.action in ("linux", "darwin"):
        build_os(
            cfg,
            args.action,
            skip_tests=args.skip_tests,
            javadoc=False if args.no_javadoc else None,
            force=args.force,
        )
        return 0
    if args.action == MULTIPLATFORM:
        build_multiplatform(cfg, timeout=args.timeout)
        return 0
    directory = args.dir or cfg.path("dist") / "jars" / platforms.current_host().os
    problems = deploy_check(cfg, directory)
    if problems:
        raise VerificationError(
            f"{directory} is not ready for a Maven Central deploy:\n  " + "\n  ".join(problems),
            hint="run `nox -s jars -- linux` (with javadoc), then rerun deploy-check",
        )
    log.success(f"{directory}: everything a Maven Central deploy needs is there")
    return 0
