"""``[tool.build_support.jars]`` (light: loaded with the config; standard library and
build_support's light modules only)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from build_support.config import MODULE_NAME, require
from build_support.errors import ConfigError, InputError
from build_support.jars.layout import Platform

#: A JAR manifest attribute name (the JAR File Specification's ``name``).
_MANIFEST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,69}")


@dataclass(frozen=True, kw_only=True)
class JarsSettings:
    """``[tool.build_support.jars]``."""

    #: Every platform whose natives the multiplatform runtime JAR must carry; the
    #: ``linux``/``darwin`` jobs build the ones of their OS (cross-compiling as needed).
    platforms: tuple[str, ...] = ("linux-x86_64", "linux-aarch64")
    #: The module (directory under java/) whose JAR carries the native libraries.
    runtime_module: str = "runtime"
    #: The JNI library's name: lib<name>.so / lib<name>.dylib (required by the stage).
    native_library: str = ""
    #: C sources of the JNI library, relative to the project root (required by the stage).
    native_sources: tuple[str, ...] = ()
    native_include_dirs: tuple[str, ...] = ()
    #: The oldest JDK that compiles ``maven.compiler.release`` 8 with the pinned plugins.
    min_jdk: int = 11
    #: ``mvn -T``; 0 means the number of cores.
    maven_threads: int = 0
    #: Javadoc JARs (``-Prelease -Dgpg.skip=true``); Maven Central requires them.
    javadoc: bool = True
    #: Waiting for other jobs' JARs in ``multiplatform``; 0 means the store's settings.
    wait_timeout_seconds: float = 0.0
    wait_interval_seconds: float = 0.0
    #: Time limit of the Maven build and of each compiler/JVM run.
    maven_timeout_seconds: float = 1800.0
    tool_timeout_seconds: float = 300.0
    #: The main-section attribute of ``META-INF/MANIFEST.MF`` in which every JAR carries
    #: its commit (the POMs write it from ``${build_support.commit}``, which the stage
    #: passes as ``-Dbuild_support.commit=<sha>``); the stage and publish read it back.
    commit_manifest_entry: str = "Build-Commit"
    #: A class in the runtime JAR that loads the native library and exits 0 (printing one
    #: line); the stage runs ``java -cp <runtime JAR> <class>``. "": no JVM load check.
    native_check_class: str = ""

    def __post_init__(self) -> None:
        where = "tool.build_support.jars"
        if not _MANIFEST_NAME.fullmatch(self.commit_manifest_entry):
            raise ConfigError(
                f"{where}.commit_manifest_entry = {self.commit_manifest_entry!r} is not a "
                "JAR manifest attribute name",
                hint="letters, digits, '-' and '_', starting with a letter or digit, at most "
                "70 characters, e.g. 'Build-Commit'",
            )
        if self.native_check_class and not MODULE_NAME.match(self.native_check_class):
            raise ConfigError(
                f"{where}.native_check_class = {self.native_check_class!r} is not a "
                "fully qualified Java class name",
                hint="e.g. 'org.example.runtime.NativeCheck', or '' for no JVM check",
            )
        if not self.platforms:
            raise ConfigError(f"{where}.platforms is empty", hint='e.g. ["linux-x86_64"]')
        for p in self.platforms:
            try:
                Platform.parse(p)
            except InputError as exc:
                raise ConfigError(f"{where}.platforms: {exc.message}", hint=exc.hint) from None
        if self.min_jdk < 9:
            raise ConfigError(f"{where}.min_jdk = {self.min_jdk}: release=8 needs JDK >= 9")
        if self.maven_threads < 0 or self.wait_timeout_seconds < 0:
            raise ConfigError(f"{where}: maven_threads/wait_timeout_seconds must be >= 0")

    def require_product(self) -> None:
        """The stage's names of the project are set (they have no default)."""
        require(
            "tool.build_support.jars",
            self,
            "native_library",
            "native_sources",
            example='native_library = "myproj_jni", native_sources = ["java/native/myproj_jni.c"]',
        )

    def expected(self) -> list[Platform]:
        return [Platform.parse(p) for p in self.platforms]

    def for_os(self, os_name: str) -> list[Platform]:
        return [p for p in self.expected() if p.os == os_name]
