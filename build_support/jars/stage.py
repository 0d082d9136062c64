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
  platform's natives (:mod:`build_support.jars.pack`), checked in a JVM, stored under
  ``jars/{branch}/{sha}/multiplatform/`` and written to ``dist/jars/multiplatform/``.
* ``deploy-check`` lists what a Maven Central deploy would lack in ``dist/jars/<os>/``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from build_support import (
    commits,
    fsutil,
    inputcache,
    log,
    manifests,
    platforms,
    reproducible,
    store,
)
from build_support.args import StageParser, non_negative_float
from build_support.config import Config
from build_support.errors import ConfigError, PlatformError, VerificationError
from build_support.jars import outputs, pack, poms
from build_support.jars.digest import input_digest, reuse
from build_support.jars.layout import Platform
from build_support.jars.multiplatform import build_multiplatform
from build_support.jars.natives import build_natives
from build_support.jars.settings import JarsSettings
from build_support.jars.toolchain import check_jdk, check_maven, jvm_check, maven_argv, run_maven
from build_support.supplychain import attest


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


def _build(
    root: Path,
    settings: JarsSettings,
    project: poms.JavaProject,
    targets: Sequence[Platform],
    *,
    host: platforms.Host,
    commit: str,
    skip_tests: bool,
    javadoc: bool,
) -> list[tuple[Path, str]]:
    """Natives, Maven, verification of the project under ``root``: the (file, published
    name) pairs to store."""
    with log.group("jars: toolchain"):
        jdk = check_jdk(settings.min_jdk)
        mvn_version = check_maven(jdk)
        log.info(f"JDK {jdk.major} at {jdk.home}; Maven {mvn_version}")
    build_dir = root / "build" / "jars"
    native_dir = build_dir / "native-resources"
    with log.group(f"jars: native libraries for {', '.join(map(str, targets))}"):
        build_natives(
            root,
            settings,
            targets,
            jdk=jdk,
            version=project.version,
            dest=native_dir,
            host=host,
            epoch=reproducible.source_date_epoch(root, commit),
        )
    threads = settings.maven_threads or os.cpu_count() or 1
    argv = maven_argv(
        threads, skip_tests=skip_tests, javadoc=javadoc, native_dir=native_dir, commit=commit
    )
    with log.group("jars: mvn clean install" + (" (tests skipped)" if skip_tests else "")):
        run_maven(project, argv, jdk, settings.maven_timeout_seconds, build_dir / "maven.log")
    made = outputs.module_outputs(project, javadoc=javadoc)
    runtime = project.module(settings.runtime_module)
    runtime_jar = (
        project.java_dir
        / runtime.directory
        / "target"
        / outputs.runtime_jar_name(settings, project)
    )
    with log.group("jars: verify"):
        for built in made:
            if built.path.suffix == ".jar":
                pack.check_commit(
                    built.path, commit, entry=settings.commit_manifest_entry
                )  # read from the JAR's manifest
        log.info(f"{settings.commit_manifest_entry}: {commit} in every JAR")
        pack.check_natives(runtime_jar, targets, settings.native_library)
        host_platform = Platform(host.os, host.arch)
        if host_platform in targets:
            jvm_check(settings, runtime_jar, jdk.java)
        else:
            log.warn(f"not loading the natives in a JVM: this host ({host_platform}) is not built")
    pairs: list[tuple[Path, str]] = [(b.path, b.path.name) for b in made]
    pairs.append((project.java_dir / poms.PARENT, project.parent_pom_name))
    pairs += [
        (outputs.published_pom(project, m), f"{m.artifact_id}-{project.version}.pom")
        for m in project.modules
    ]
    return pairs


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
    summary = outputs.summary(f"jars {os_name}")
    with log.group("jars: check the generated POMs"):
        poms.check(project)
    ctx = commits.context(cfg.root)
    digest = input_digest(
        cfg.root,
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
    runtime_name = outputs.runtime_jar_name(settings, project)
    record = (
        None
        if force
        else inputcache.lookup(
            s, manifests.jars_cache_key(digest), manifests.JarsCacheRecord, what=f"jars {os_name}"
        )
    )
    dist = manifests.jars_dir(cfg.path("dist"), os_name)
    published: list[Path] = []
    files: list[manifests.JarFile] = []
    with tempfile.TemporaryDirectory(prefix="bs-jars-cache-") as tmp:
        pairs = None
        if record is not None:
            with log.group(f"jars: reuse the JARs of input digest {digest[:12]}"):
                pairs = reuse(
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
                cfg.root,
                settings,
                project,
                targets,
                host=host,
                commit=ctx.sha,
                skip_tests=skip_tests,
                javadoc=javadoc,
            )
        with log.group(f"jars: dist/jars/{os_name} and the store"):
            outputs.install_dist(pairs, dist)
            for _src, name in pairs:
                started = time.monotonic()
                dest = dist / name
                key = store.keys.jar_key(ctx.branch, ctx.sha, os_name, name)
                info = s.put(key, dest)
                attest.attest_jar(s, key, dest, cfg=cfg, ctx=ctx, version=project.version,
                                  sha256=info.sha256)  # fmt: skip
                files.append(outputs.summary_row(summary, dest, key, started))
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
                cfg.root,
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


def multiplatform(
    cfg: Config,
    *,
    timeout: float | None = None,
    host: platforms.Host | None = None,
    check_jvm: bool = True,
) -> Path:
    """The ``multiplatform`` action: :func:`.multiplatform.build_multiplatform` with this
    project's settings, tree, ``dist/`` and store."""
    settings, project = load(cfg)
    s = store.open_store(cfg)
    return build_multiplatform(
        settings,
        project,
        root=cfg.root,
        dist=cfg.path("dist"),
        s=s,
        timeout=timeout,
        host=host,
        check_jvm=check_jvm,
        attest_jar=lambda key, dest, sha256: attest.attest_jar(
            s,
            key,
            dest,
            cfg=cfg,
            ctx=commits.context(cfg.root),
            version=project.version,
            sha256=sha256,
        ),
    )


def deploy_check(cfg: Config, directory: Path) -> list[str]:
    """What a Maven Central deploy would lack in ``directory``; [] when complete."""
    _settings, project = load(cfg, natives=False)
    return outputs.deploy_check(project, directory)


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s jars --", description="Build the project's JARs.")
    p.add_argument(
        "action",
        choices=(
            "linux",
            "darwin",
            platforms.MULTIPLATFORM,
            "check-poms",
            "generate-poms",
            "deploy-check",
        ),
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
    if args.action == platforms.MULTIPLATFORM:
        multiplatform(cfg, timeout=args.timeout)
        return 0
    directory = args.dir or manifests.jars_dir(cfg.path("dist"), platforms.current_host().os)
    problems = deploy_check(cfg, directory)
    if problems:
        raise VerificationError(
            f"{directory} is not ready for a Maven Central deploy:\n  " + "\n  ".join(problems),
            hint="run `nox -s jars -- linux` (with javadoc), then rerun deploy-check",
        )
    log.success(f"{directory}: everything a Maven Central deploy needs is there")
    return 0
