"""docs/onboarding.md, tried for JARs: the jars stage on a Java project that is not minray.

``tinyj`` (groupId ``org.example.tinyj``, parent ``tinyj-parent``, one module
``tinyj-core``) is written into a temporary git repository with its own names for
everything minray names: its manifest entry (``Tinyj-Revision``), its JNI library
(``libtinyj_jni.so``) and the class that loads it (``org.example.tinyj.Check``). Its POMs
use only the harness's Maven properties (``build_support.commit``,
``build_support.native.dir``). The real stage runs (``python -m build_support jars
linux``, then ``multiplatform``: gcc, Maven, a JVM, the local store) and the commit is
read back from inside each JAR under the project's entry name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from build_support import fsutil, store
from build_support.errors import VerificationError
from build_support.jars import pack, poms
from build_support.jars.layout import Platform
from tests.conftest import git

pytestmark = pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "amd64") or sys.platform != "linux",
    reason="the fixture builds the linux-x86_64 JNI library natively",
)

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "Tinyj-Revision"
PLUGINS = {  # the versions minray's java/pom.xml pins (one download serves both)
    "maven-clean-plugin": "3.4.0",
    "maven-resources-plugin": "3.3.1",
    "maven-compiler-plugin": "3.13.0",
    "maven-surefire-plugin": "3.5.2",
    "maven-install-plugin": "3.1.3",
}
MANIFEST = f"""
            <configuration>
              <archive>
                <manifestEntries>
                  <{ENTRY}>${{build_support.commit}}</{ENTRY}>
                </manifestEntries>
              </archive>
            </configuration>"""


def _plugin(artifact: str, version: str, extra: str = "") -> str:
    return f"""
          <plugin>
            <groupId>org.apache.maven.plugins</groupId>
            <artifactId>{artifact}</artifactId>
            <version>{version}</version>{extra}
          </plugin>"""


PARENT_POM = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example.tinyj</groupId>
  <artifactId>tinyj-parent</artifactId>
  <version>0.3.0</version>
  <packaging>pom</packaging>
  <name>tinyj parent</name>
  <modules>
    <module>core</module>
  </modules>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.release>8</maven.compiler.release>
    <project.build.outputTimestamp>2025-01-01T00:00:00Z</project.build.outputTimestamp>
    <build_support.commit>unknown</build_support.commit>
    <build_support.native.dir>${{project.basedir}}/natives</build_support.native.dir>
  </properties>
  <build>
    <pluginManagement>
      <plugins>{"".join(_plugin(a, v) for a, v in PLUGINS.items())}{
    _plugin("maven-jar-plugin", "3.4.2", MANIFEST)
}{_plugin("maven-source-plugin", "3.3.1", MANIFEST)}
      </plugins>
    </pluginManagement>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-source-plugin</artifactId>
        <executions>
          <execution>
            <id>attach-sources</id>
            <goals>
              <goal>jar-no-fork</goal>
            </goals>
          </execution>
        </executions>
      </plugin>
    </plugins>
  </build>
</project>
"""

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>org.example.tinyj</groupId>
    <artifactId>tinyj-parent</artifactId>
    <version>{{version}}</version>
  </parent>
  <artifactId>{{artifact_id}}</artifactId>
  <packaging>jar</packaging>
  <name>{{name}}</name>
  <description>{{description}}</description>
  <dependencies>
{{dependencies}}
  </dependencies>
  <build>
{{build_resources}}
{{build_plugins}}
  </build>
</project>
"""

FILES = {
    "java/pom.xml": PARENT_POM,
    "java/templates/pom-module.xml.tmpl": TEMPLATE,
    "java/dependencies.toml": """
        [modules.core]
        artifact_id = "tinyj-core"
        name = "tinyj core"
        description = "The tinyj runtime and its JNI library."
        dependencies = []
        resources = ["${build_support.native.dir}"]
    """,
    "java/core/src/main/java/org/example/tinyj/Check.java": """
        package org.example.tinyj;

        import java.io.File;
        import java.io.InputStream;
        import java.nio.file.Files;
        import java.nio.file.StandardCopyOption;

        /** Loads this JAR's JNI library and prints the version compiled into it. */
        public final class Check {
          private Check() {}

          private static native String version();

          public static void main(String[] args) throws Exception {
            String arch = System.getProperty("os.arch").replace("amd64", "x86_64");
            String resource = "/native/linux/" + arch + "/libtinyj_jni.so";
            File lib = File.createTempFile("tinyj", ".so");
            lib.deleteOnExit();
            try (InputStream in = Check.class.getResourceAsStream(resource)) {
              if (in == null) {
                System.err.println("tinyj: no " + resource + " in the JAR");
                System.exit(1);
              }
              Files.copy(in, lib.toPath(), StandardCopyOption.REPLACE_EXISTING);
            }
            System.load(lib.getAbsolutePath());
            System.out.println("tinyj OK version=" + version());
          }
        }
    """,
    "java/native/tinyj_jni.c": """
        #include <jni.h>
        #ifndef BUILD_SUPPORT_VERSION
        #error "the jars stage passes -DBUILD_SUPPORT_VERSION"
        #endif
        JNIEXPORT jstring JNICALL Java_org_example_tinyj_Check_version(JNIEnv *env, jclass cls) {
          (void)cls;
          return (*env)->NewStringUTF(env, BUILD_SUPPORT_VERSION);
        }
    """,
    ".gitignore": "dist/\n.artifacts/\nbuild/\njava/*/target/\n",
}


def _pyproject(entry: str) -> str:
    return f"""\
[tool.build_support]
python_versions = ["3.12"]
default_branch = "main"
artifact_store = ".artifacts"

[tool.build_support.jars]
platforms = ["linux-x86_64"]
runtime_module = "core"
native_library = "tinyj_jni"
native_sources = ["java/native/tinyj_jni.c"]
javadoc = false
commit_manifest_entry = "{entry}"
native_check_class = "org.example.tinyj.Check"
"""


def _repo(where: Path) -> Path:
    repo = where / "tinyj"
    for rel, text in FILES.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            textwrap.dedent(text).lstrip() if rel.endswith((".java", ".c", ".toml")) else text
        )
    (repo / "pyproject.toml").write_text(_pyproject(ENTRY))
    poms.write(poms.load_project(repo / "java"))  # java/core/pom.xml, as generate-poms does
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a Java project that is not minray")
    return repo


def _jars(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKITE", "GITHUB_"))}
    for var in ("BUILD_SUPPORT_COMMIT", "BUILD_SUPPORT_BRANCH", "BUILD_SUPPORT_STORE", "CI"):
        env.pop(var, None)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "build_support", "jars", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def test_jars_of_a_project_with_its_own_names(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    sha = git(repo, "rev-parse", "HEAD")
    proc = _jars(repo, "linux")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    # The configured class loaded the JNI library, built with the POM's version.
    assert "jvm: tinyj OK version=0.3.0" in proc.stderr
    assert f"{ENTRY}: {sha} in every JAR" in proc.stderr

    dist = repo / "dist" / "jars" / "linux"
    sides = (".cdx.json", ".intoto.jsonl")  # each file's SBOM and statement (supply-chain.md)
    names = sorted(p.name for p in dist.iterdir() if not p.name.endswith(sides))
    assert names == [
        "tinyj-core-0.3.0-sources.jar",
        "tinyj-core-0.3.0.jar",
        "tinyj-core-0.3.0.pom",
        "tinyj-parent-0.3.0.pom",  # the parent POM's own artifactId
    ]
    s = store.open_url(str(repo / ".artifacts"))
    listed = {i.key.rsplit("/", 1)[-1]: i for i in s.list(f"jars/main/{sha}/linux/")}
    stored = {k: v for k, v in listed.items() if not k.endswith(sides)}
    assert sorted(stored) == names
    assert sorted(listed) == sorted([*names, *(n + x for n in names for x in sides)])
    for name in names:
        if name.endswith(".jar"):
            jar = dist / name
            # Read back from inside the JAR, under the project's own entry name only.
            assert pack.jar_commit(jar, entry=ENTRY) == sha
            manifest = pack.read_manifest(jar)
            assert "Build-Commit" not in manifest
            with zipfile.ZipFile(jar) as zf:
                everything = " ".join(zf.namelist()) + zf.read(pack.MANIFEST).decode()
            assert "minray" not in everything.lower()
            assert stored[name].sha256 == fsutil.sha256_file(jar)
    pack.check_natives(dist / "tinyj-core-0.3.0.jar", [Platform("linux", "x86_64")], "tinyj_jni")
    assert git(repo, "status", "--porcelain") == ""

    # multiplatform: the runtime JAR from the store, commit re-read, repacked, loaded.
    multi = _jars(repo, "multiplatform", "--timeout", "0")
    assert multi.returncode == 0, multi.stderr[-4000:]
    repacked = repo / "dist" / "jars" / "multiplatform" / "tinyj-core-0.3.0.jar"
    assert pack.check_commit(repacked, sha, entry=ENTRY) == sha
    assert "jvm: tinyj OK version=0.3.0" in multi.stderr


def test_an_entry_the_poms_do_not_write_fails_the_build(tmp_path: Path) -> None:
    """The stage reads the configured entry: one the POMs do not write is exit 13."""
    repo = _repo(tmp_path)
    (repo / "pyproject.toml").write_text(_pyproject("Tinyj-Commit"))
    git(repo, "commit", "-q", "-am", "read another manifest entry")
    proc = _jars(repo, "linux")
    assert proc.returncode == VerificationError.exit_code, proc.stderr[-4000:]
    assert "tinyj-core-0.3.0.jar: META-INF/MANIFEST.MF has Tinyj-Commit: (none)" in proc.stderr
    assert not (repo / "dist" / "jars" / "linux").exists()
    assert not (repo / ".artifacts").exists() or not any((repo / ".artifacts").rglob("*.jar"))
