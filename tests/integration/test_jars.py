"""The jars stage for real: one Maven build of the three modules (shared by the module),
both linux natives, the multiplatform JAR from the local and the S3 store, a JVM."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from build_support import config, fsutil, manifests, platforms, store
from build_support.errors import ResolutionError, StoreTimeoutError, VerificationError
from build_support.jars import digest as jar_digest
from build_support.jars import pack, poms, toolchain
from build_support.jars import stage as jars_stage
from build_support.jars.layout import Platform
from tests.conftest import git
from tests.integration.test_exit_codes import _run_nox

BRANCH = "main"
RUNTIME = "minray-runtime-0.1.0.jar"
BOTH_LINUX = [Platform("linux", "x86_64"), Platform("linux", "aarch64")]


@dataclass(frozen=True)
class LinuxBuild:
    cfg: config.Config
    sha: str
    store_url: str
    dist: Path
    published: list[Path]
    java_status_before: str
    java_status_after: str


def _cfg(root: Path, dist: Path, **jars_table: object) -> config.Config:
    cfg = config.load(root)
    sections = dict(cfg.sections)
    if jars_table:
        sections["jars"] = {**sections.get("jars", {}), **jars_table}
    return dataclasses.replace(
        cfg, paths=dataclasses.replace(cfg.paths, dist=str(dist)), sections=sections
    )


@pytest.fixture(scope="module")
def linux_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinuxBuild]:
    """``jars -- linux`` once, with tests and javadoc, into a local store in tmp."""
    root = Path(__file__).resolve().parents[2]
    tmp = tmp_path_factory.mktemp("jars")
    sha = git(root, "rev-parse", "HEAD")
    store_dir = tmp / "store"
    dist = tmp / "dist"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BUILD_SUPPORT_STORE", str(store_dir))
        mp.setenv("BUILD_SUPPORT_COMMIT", sha)
        mp.setenv("BUILD_SUPPORT_BRANCH", BRANCH)
        cfg = _cfg(root, dist)
        before = git(root, "status", "--porcelain", "--", "java")
        published = jars_stage.build_os(cfg, "linux", skip_tests=False, javadoc=True)
        after = git(root, "status", "--porcelain", "--", "java")
        yield LinuxBuild(cfg, sha, str(store_dir), dist, published, before, after)


def _native_check(jar: Path) -> str:
    proc = subprocess.run(
        ["java", "-cp", str(jar), "io.minray.runtime.NativeCheck"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_linux_build_stores_every_module(linux_build: LinuxBuild) -> None:
    names = sorted(p.name for p in linux_build.published)
    for artifact in ("minray-api", "minray-runtime", "minray-serve"):
        for suffix in (".jar", "-sources.jar", "-javadoc.jar", ".pom"):
            assert f"{artifact}-0.1.0{suffix}" in names
    s = store.open_url(linux_build.store_url)
    listed = {i.key.rsplit("/", 1)[-1] for i in s.list(f"jars/{BRANCH}/{linux_build.sha}/linux/")}
    stored = {n for n in listed if not n.endswith((".cdx.json", ".intoto.jsonl"))}
    assert stored == set(names)
    # each with its SBOM and provenance statement beside it (docs/supply-chain.md)
    assert listed == stored | {f"{n}{x}" for n in names for x in (".cdx.json", ".intoto.jsonl")}
    # Sources JARs hold sources: the natives (a resource folder of the runtime) stay out.
    sources = linux_build.dist / "jars" / "linux" / "minray-runtime-0.1.0-sources.jar"
    with zipfile.ZipFile(sources) as zf:
        members = zf.namelist()
    assert any(m.endswith(".java") for m in members)
    assert not [m for m in members if m.startswith("native/") or m.endswith(".so")]
    # The build leaves the working tree as it was (natives are staged under build/).
    assert linux_build.java_status_after == linux_build.java_status_before
    # Maven's tests ran: the native test was not skipped because the library was staged.
    log = (linux_build.cfg.root / "build" / "jars" / "maven.log").read_text()
    assert "Tests run:" in log
    assert "SKIPPED native calls" not in log
    assert "BUILD SUCCESS" in log


def test_linux_runtime_jar_carries_both_natives(linux_build: LinuxBuild) -> None:
    jar = linux_build.dist / "jars" / "linux" / RUNTIME
    pack.check_natives(jar, BOTH_LINUX, "minray_jni")  # ELF e_machine 62 and 183
    with zipfile.ZipFile(jar) as zf:
        assert "io/minray/shaded/com/google/gson/Gson.class" in zf.namelist()
    assert "minray-native OK linux/x86_64 version=0.1.0" in _native_check(jar)
    # The commit is read back from inside every module JAR (its manifest), not from a log.
    for name in ("minray-api-0.1.0.jar", RUNTIME, "minray-serve-0.1.0.jar"):
        assert (
            pack.jar_commit(linux_build.dist / "jars" / "linux" / name, entry="Build-Commit")
            == linux_build.sha
        )
    reduced = (linux_build.dist / "jars" / "linux" / "minray-runtime-0.1.0.pom").read_text()
    assert "<artifactId>gson</artifactId>" not in reduced  # shade's reduced POM is published


def test_multiplatform_from_local_store(linux_build: LinuxBuild, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BUILD_SUPPORT_STORE", linux_build.store_url)
        mp.setenv("BUILD_SUPPORT_COMMIT", linux_build.sha)
        mp.setenv("BUILD_SUPPORT_BRANCH", BRANCH)
        first = jars_stage.multiplatform(linux_build.cfg, timeout=0)
        data = first.read_bytes()
        made = manifests.read(
            manifests.jars_path(linux_build.dist, "multiplatform"), manifests.JarsManifest
        )
        # Unchanged inputs: the stored JAR is reused (natives and commit re-checked).
        other = _cfg(linux_build.cfg.root, tmp_path / "dist2")
        second = jars_stage.multiplatform(other, timeout=0)
        again = manifests.read(
            manifests.jars_path(tmp_path / "dist2", "multiplatform"), manifests.JarsManifest
        )
        assert (made.reused, again.reused, again.digest) == (False, True, made.digest)
        assert second.read_bytes() == data
        # Without the cache record it repacks, byte-identical (reproducible).
        store.open_url(linux_build.store_url).delete(manifests.jars_cache_key(made.digest))
        third = jars_stage.multiplatform(_cfg(linux_build.cfg.root, tmp_path / "d3"), timeout=0)
        fresh = manifests.read(
            manifests.jars_path(tmp_path / "d3", "multiplatform"), manifests.JarsManifest
        )
    assert fresh.reused is False
    assert third.read_bytes() == data  # byte-identical on a second repack
    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
    assert names[:2] == ["META-INF/", "META-INF/MANIFEST.MF"]
    pack.check_natives(first, BOTH_LINUX, "minray_jni")
    assert "minray-native OK linux/x86_64" in _native_check(first)
    assert pack.jar_commit(first, entry="Build-Commit") == linux_build.sha
    s = store.open_url(linux_build.store_url)
    key = f"jars/{BRANCH}/{linux_build.sha}/multiplatform/{RUNTIME}"
    assert s.exists(key)
    assert s.info(key).sha256 == fsutil.sha256_file(first)


def test_multiplatform_from_s3(
    linux_build: LinuxBuild, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"s3://{s3_bucket}/ci"
    s3 = store.open_url(url)
    linux_key = store.keys.jar_key(BRANCH, linux_build.sha, "linux", RUNTIME)
    s3.put(linux_key, linux_build.dist / "jars" / "linux" / RUNTIME)
    monkeypatch.setenv("BUILD_SUPPORT_STORE", url)
    monkeypatch.setenv("BUILD_SUPPORT_COMMIT", linux_build.sha)
    monkeypatch.setenv("BUILD_SUPPORT_BRANCH", BRANCH)
    cfg = _cfg(linux_build.cfg.root, tmp_path / "dist")
    jar = jars_stage.multiplatform(cfg, timeout=0)
    local = jars_stage.multiplatform(
        _cfg(linux_build.cfg.root, tmp_path / "dist-local"), timeout=0, check_jvm=False
    )
    assert jar.read_bytes() == local.read_bytes()
    assert s3.exists(f"jars/{BRANCH}/{linux_build.sha}/multiplatform/{RUNTIME}")


def test_multiplatform_waits_for_a_jar_that_arrives(
    linux_build: LinuxBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    monkeypatch.setenv("BUILD_SUPPORT_STORE", str(store_dir))
    monkeypatch.setenv("BUILD_SUPPORT_COMMIT", linux_build.sha)
    monkeypatch.setenv("BUILD_SUPPORT_BRANCH", BRANCH)
    key = store.keys.jar_key(BRANCH, linux_build.sha, "linux", RUNTIME)
    source = linux_build.dist / "jars" / "linux" / RUNTIME

    def produce() -> None:
        time.sleep(1.0)
        store.open_url(str(store_dir)).put(key, source)

    producer = threading.Thread(target=produce)
    producer.start()
    cfg = _cfg(linux_build.cfg.root, tmp_path / "dist", wait_interval_seconds=0.2)
    started = time.monotonic()
    try:
        jar = jars_stage.multiplatform(cfg, timeout=60, check_jvm=False)
    finally:
        producer.join()
    assert time.monotonic() - started >= 1.0
    pack.check_natives(jar, BOTH_LINUX, "minray_jni")


def test_missing_platform_jar_names_key_and_producer(
    linux_build: LinuxBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILD_SUPPORT_STORE", linux_build.store_url)
    monkeypatch.setenv("BUILD_SUPPORT_COMMIT", linux_build.sha)
    monkeypatch.setenv("BUILD_SUPPORT_BRANCH", BRANCH)
    cfg = _cfg(
        linux_build.cfg.root,
        tmp_path / "dist",
        platforms=["linux-x86_64", "linux-aarch64", "darwin-aarch64"],
    )
    with pytest.raises(StoreTimeoutError) as info:
        jars_stage.multiplatform(cfg, timeout=0)
    text = str(info.value)
    assert f"jars/{BRANCH}/{linux_build.sha}/darwin/{RUNTIME}" in text
    assert "nox -s jars -- darwin" in text
    assert info.value.exit_code == 12
    assert not (tmp_path / "dist" / "jars" / "multiplatform" / RUNTIME).exists()


def test_deploy_check_on_the_build(linux_build: LinuxBuild) -> None:
    assert jars_stage.deploy_check(linux_build.cfg, linux_build.dist / "jars" / "linux") == []


def test_unresolvable_dependency_is_named(linux_build: LinuxBuild, tmp_path: Path) -> None:
    # After the real build (so Maven's plugins are cached); resolution fails before compiling.
    src = linux_build.cfg.root / "java"
    java = tmp_path / "java"
    shutil.copytree(src, java, ignore=shutil.ignore_patterns("target", "native-resources"))
    deps = java / "dependencies.toml"
    deps.write_text(
        deps.read_text().replace(
            '"org.slf4j:slf4j-api:2.0.17",', '"org.slf4j:slf4j-api:0.0.0-nope",', 1
        )
    )
    project = poms.load_project(java)
    poms.write(project)
    jdk = toolchain.check_jdk(11)
    with pytest.raises(ResolutionError) as info:
        toolchain.run_maven(
            project,
            ["mvn", "-B", "-ntp", "-pl", "api", "compile"],
            jdk,
            600,
            tmp_path / "maven.log",
        )
    text = str(info.value)
    assert "org.slf4j:slf4j-api" in text
    assert "modules.api.dependencies: org.slf4j:slf4j-api:0.0.0-nope" in text
    assert info.value.exit_code == 7


def _mini_project(project_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "java" / "templates").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.build_support]\ndefault_branch = "main"\n')
    for name in ("pom.xml", "dependencies.toml", "templates/pom-module.xml.tmpl"):
        shutil.copyfile(project_root / "java" / name, root / "java" / name)
    for module in ("api", "runtime", "serve"):
        (root / "java" / module).mkdir()
        shutil.copyfile(
            project_root / "java" / module / "pom.xml", root / "java" / module / "pom.xml"
        )
    return root


def _stage(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build_support", "jars", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_poms_cli_exit_codes(project_root: Path, tmp_path: Path) -> None:
    root = _mini_project(project_root, tmp_path)
    assert _stage(root, "check-poms").returncode == 0
    pom = root / "java" / "serve" / "pom.xml"
    pom.write_text(pom.read_text().replace("Serve", "Serving"))
    stale = _stage(root, "check-poms")
    assert stale.returncode == 8
    assert "serve/pom.xml" in stale.stderr
    assert "generate-poms" in stale.stderr
    assert _stage(root, "generate-poms").returncode == 0
    assert pom.read_bytes() == (project_root / "java" / "serve" / "pom.xml").read_bytes()
    template = root / "java" / "templates" / "pom-module.xml.tmpl"
    template.write_text(template.read_text().replace("{{name}}", "{{title}}"))
    bad = _stage(root, "check-poms")
    assert bad.returncode == 6
    assert "pom-module.xml.tmpl:17: unknown placeholder {{title}}" in bad.stderr
    assert pom.read_bytes() == (project_root / "java" / "serve" / "pom.xml").read_bytes()
    darwin = _stage(root, "darwin")
    assert darwin.returncode == 14
    assert "needs a darwin host" in darwin.stderr


def test_multiplatform_refuses_a_jar_of_another_commit(
    linux_build: LinuxBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JAR stored under this commit's key but built from another one is refused (13)."""
    other = "0" * 40
    source = linux_build.dist / "jars" / "linux" / RUNTIME
    forged = tmp_path / RUNTIME
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(forged, "w") as zout:
        for entry in zin.infolist():
            data = zin.read(entry)
            if entry.filename == pack.MANIFEST:
                data = data.replace(linux_build.sha.encode(), other.encode())
            zout.writestr(entry, data)
    store_dir = tmp_path / "store"
    store.open_url(str(store_dir)).put(
        store.keys.jar_key(BRANCH, linux_build.sha, "linux", RUNTIME), forged
    )
    monkeypatch.setenv("BUILD_SUPPORT_STORE", str(store_dir))
    monkeypatch.setenv("BUILD_SUPPORT_COMMIT", linux_build.sha)
    monkeypatch.setenv("BUILD_SUPPORT_BRANCH", BRANCH)
    with pytest.raises(VerificationError) as info:
        jars_stage.multiplatform(_cfg(linux_build.cfg.root, tmp_path / "dist"), timeout=0)
    assert other in str(info.value)
    assert linux_build.sha in str(info.value)
    assert not (tmp_path / "dist" / "jars" / "multiplatform").exists()


# -- the input-digest cache ------------------------------------------------------------------


def test_unchanged_inputs_reuse_the_stored_jars_without_maven(linux_build: LinuxBuild) -> None:
    log_file = linux_build.cfg.root / "build" / "jars" / "maven.log"
    maven_log_before = log_file.stat().st_mtime_ns
    s = store.open_url(linux_build.store_url)
    prefix = f"jars/{BRANCH}/{linux_build.sha}/linux/"
    stored_before = {i.key: i.sha256 for i in s.list(prefix)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BUILD_SUPPORT_STORE", linux_build.store_url)
        mp.setenv("BUILD_SUPPORT_COMMIT", linux_build.sha)
        mp.setenv("BUILD_SUPPORT_BRANCH", BRANCH)
        again = jars_stage.build_os(linux_build.cfg, "linux", skip_tests=False, javadoc=True)
    manifest = manifests.read(
        manifests.jars_path(linux_build.dist, "linux"), manifests.JarsManifest
    )
    assert manifest.reused is True
    assert log_file.stat().st_mtime_ns == maven_log_before  # Maven did not run
    assert sorted(p.name for p in again) == sorted(p.name for p in linux_build.published)
    assert {i.key: i.sha256 for i in s.list(prefix)} == stored_before
    for row in manifest.files:
        assert fsutil.sha256_file(linux_build.dist / "jars" / "linux" / row.file) == row.sha256
    pack.check_natives(linux_build.dist / "jars" / "linux" / RUNTIME, BOTH_LINUX, "minray_jni")


def test_a_tampered_stored_jar_is_not_reused(linux_build: LinuxBuild, tmp_path: Path) -> None:
    store_copy = tmp_path / "store"
    shutil.copytree(linux_build.store_url, store_copy)
    s = store.open_url(str(store_copy))
    key = f"jars/{BRANCH}/{linux_build.sha}/linux/{RUNTIME}"
    stripped = tmp_path / RUNTIME
    with (
        zipfile.ZipFile(linux_build.dist / "jars" / "linux" / RUNTIME) as src,
        zipfile.ZipFile(stripped, "w") as dst,
    ):
        for info in src.infolist():
            if not info.filename.startswith("native/"):
                dst.writestr(info, src.read(info))
    s.put(key, stripped)  # a consistent store object, but without natives
    dist = tmp_path / "dist"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BUILD_SUPPORT_STORE", str(store_copy))
        mp.setenv("BUILD_SUPPORT_COMMIT", linux_build.sha)
        mp.setenv("BUILD_SUPPORT_BRANCH", BRANCH)
        jars_stage.build_os(
            _cfg(linux_build.cfg.root, dist), "linux", skip_tests=False, javadoc=True
        )
    manifest = manifests.read(manifests.jars_path(dist, "linux"), manifests.JarsManifest)
    assert manifest.reused is False  # natives re-checked from the zip: rebuilt with Maven
    pack.check_natives(dist / "jars" / "linux" / RUNTIME, BOTH_LINUX, "minray_jni")
    assert s.info(key).sha256 == fsutil.sha256_file(dist / "jars" / "linux" / RUNTIME)


@pytest.fixture
def java_copy(project_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Config:
    """The project's java/, native sources and pyproject.toml in a fresh git repository.

    Its commit is its own HEAD: the module's build fixture keeps BUILD_SUPPORT_COMMIT
    (and the store) set for the project's checkout while the module runs.
    """
    for name in ("BUILD_SUPPORT_COMMIT", "BUILD_SUPPORT_BRANCH", "BUILD_SUPPORT_STORE"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "copy"
    root.mkdir()
    shutil.copyfile(project_root / "pyproject.toml", root / "pyproject.toml")
    ignore = shutil.ignore_patterns("target", "native-resources", "*.so")
    shutil.copytree(project_root / "java", root / "java", ignore=ignore)
    shutil.copytree(project_root / "python" / "cpp", root / "python" / "cpp", ignore=ignore)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "copy")
    return _cfg(root, tmp_path / "dist")


def _digest(cfg: config.Config, *, skip_tests: bool = False) -> str:
    settings, project = jars_stage.load(cfg)
    targets = settings.for_os("linux")
    return jar_digest.input_digest(
        cfg.root,
        settings,
        project,
        os_name="linux",
        targets=targets,
        host=platforms.current_host(),
        commit=git(cfg.root, "rev-parse", "HEAD"),
        skip_tests=skip_tests,
        javadoc=True,
    )


@pytest.mark.parametrize(
    "change",
    [
        "java/api/src/main/java/io/minray/api/MinRay.java",
        "java/dependencies.toml",
        "java/runtime/pom.xml",
        "java/native/minray_jni.c",
        "python/cpp/src/minray_cpp.c",
        "python/cpp/include/minray/minray.h",
    ],
)
def test_each_input_file_changes_the_jars_digest(java_copy: config.Config, change: str) -> None:
    before = _digest(java_copy)
    assert _digest(java_copy) == before  # stable
    path = java_copy.root / change
    comment = {".toml": "# changed", ".xml": "<!-- changed -->"}.get(path.suffix, "// changed")
    path.write_text(path.read_text() + f"\n{comment}\n")
    assert _digest(java_copy) != before


def test_options_and_the_commit_change_the_jars_digest(java_copy: config.Config) -> None:
    before = _digest(java_copy)
    assert _digest(java_copy, skip_tests=True) != before
    (java_copy.root / "README").write_text("another commit\n")
    git(java_copy.root, "add", "README")
    git(java_copy.root, "commit", "-q", "-m", "next")
    assert _digest(java_copy) != before


def test_check_reproducible_builds_twice_and_finds_every_file_identical(
    java_copy: config.Config,
) -> None:
    """``jars -- linux --check-reproducible``: natives and Maven twice, every JAR and POM
    compared byte for byte; nothing is stored."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "build_support",
            "jars",
            "linux",
            "--check-reproducible",
            "--skip-tests",
            "--no-javadoc",
        ],
        cwd=java_copy.root,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "build 2 of 2" in out
    rows = [line for line in out.splitlines() if line.rstrip().endswith("identical")]
    names = {line.split()[0] for line in rows}
    assert {RUNTIME, "minray-api-0.1.0.jar", "minray-serve-0.1.0.jar"} <= names, out
    assert "minray-parent-0.1.0.pom" in names
    assert "differs" not in out
    assert not (java_copy.root / ".artifacts").exists()


def test_check_reproducible_names_the_jar_and_member_that_embed_the_build_time(
    java_copy: config.Config, project_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Non-reproducible for real, two ways a project really does it: the JNI source embeds
    ``__DATE__ __TIME__`` and the api module filters a resource with Maven's
    ``${maven.build.timestamp}``. The natives get ``SOURCE_DATE_EPOCH`` (the commit's time),
    so the runtime JAR stays identical; the filtered resource is the build's wall clock,
    so the api JAR differs: ``nox -s jars`` exits 13, naming the JAR and the member;
    nothing is stored."""
    root = java_copy.root
    for name in ("noxfile.py", "README.md"):  # what `nox -s jars` needs of the harness
        shutil.copyfile(project_root / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(project_root / "build_support", root / "build_support", ignore=ignore)
    jni = root / "java" / "native" / "minray_jni.c"
    jni.write_text(jni.read_text() + '\nconst char minray_jni_built[] = __DATE__ " " __TIME__;\n')
    api = root / "java" / "api"
    pom = api / "pom.xml"
    filtered = (
        "  <build>\n    <resources>\n      <resource>\n"
        "        <directory>src/main/resources</directory>\n"
        "        <filtering>true</filtering>\n      </resource>\n    </resources>\n"
    )
    stamp = (  # to the millisecond: two builds never share it, however fast Maven is
        "  <properties>\n"
        "    <maven.build.timestamp.format>yyyyMMddHHmmssSSS</maven.build.timestamp.format>\n"
        "    <built>${maven.build.timestamp}</built>\n"  # the format applies in the POM only
        "  </properties>\n\n  <dependencies>\n"
    )
    text = pom.read_text().replace("  <build>\n", filtered, 1)
    pom.write_text(text.replace("  <dependencies>\n", stamp, 1))
    resource = api / "src" / "main" / "resources" / "io" / "minray" / "api" / "build.properties"
    resource.parent.mkdir(parents=True)
    resource.write_text("built=${built}\n")
    git(root, "add", "-A")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)  # the commit's time is used
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
    git(root, "commit", "-q", "-m", "embed the build time")
    proc = _run_nox(
        root, tmp_path / "nox-envs", "-s", "jars", "--",
        "linux", "--check-reproducible", "--skip-tests", "--no-javadoc",
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 13, out
    assert "jars exited 13; nox exits 13 too" in out, out
    assert "error: jars: 1 of 10 output(s) differ between two builds" in out, out
    differs = "minray-api-0.1.0.jar: io/minray/api/build.properties: content differs (24 / 24"
    assert differs in out, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("minray-")}
    assert rows[RUNTIME].rstrip().endswith("identical"), out
    with zipfile.ZipFile(root / "java" / "runtime" / "target" / RUNTIME) as zf:
        library = zf.read("native/linux/x86_64/libminray_jni.so")
    assert b"Jan  2 2024 03:04:05" in library  # __DATE__ __TIME__: the commit's, in UTC
    assert not (root / ".artifacts").exists()
    assert not (config.load(root).path("dist") / "jars").exists()


def test_every_stored_jar_and_pom_has_a_valid_sbom_and_a_verifying_statement(
    linux_build: LinuxBuild,
) -> None:
    from tests.integration.test_supplychain import assert_store_attested

    checked = assert_store_attested(linux_build.cfg.root, Path(linux_build.store_url))
    assert checked >= len(linux_build.published)
    runtime = linux_build.dist / "jars" / "linux" / RUNTIME
    data = json.loads(Path(f"{runtime}.cdx.json").read_text())
    natives = [c["name"] for c in data["components"]]
    assert any(n.startswith("native/linux/x86_64/") for n in natives), natives
    assert any(n.startswith("native/linux/aarch64/") for n in natives), natives
