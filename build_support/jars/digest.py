"""What a jars build depends on, as one input digest, and the reuse of the files a
build with the same digest stored (SHA-256, commit and natives re-checked)."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

from build_support import cmd, inputcache, log, manifests, platforms, sources, store
from build_support.errors import BuildSupportError, ToolMissingError, VerificationError
from build_support.jars import pack, poms
from build_support.jars.layout import Platform
from build_support.jars.natives import compiler_argv
from build_support.jars.settings import JarsSettings
from build_support.jars.toolchain import java_home, parse_maven_version

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
    root: Path,
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
    rels = [f"java/{f}" for f in sources.project_files(root, project.java_dir)]
    rels += list(settings.native_sources)
    for inc in settings.native_include_dirs:
        rels += [f"{inc}/{f}" for f in sources.project_files(root, root / inc)]
    files = inputcache.file_hashes(root, sorted(set(rels)))
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


def reuse(
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
                pack.check_commit(
                    staging / name, commit, entry=entry
                )  # read from the JAR's manifest
        pack.check_natives(staging / runtime_jar, targets, native_library)
    except BuildSupportError as exc:
        log.warn(f"cached JARs of digest {record.digest[:12]} not reusable ({exc}); rebuilding")
        return None
    return pairs
