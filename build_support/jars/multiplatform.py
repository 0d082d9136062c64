"""``jars -- multiplatform``: wait (with a real timeout) for every OS's runtime JAR of
this commit in the store, repack one JAR holding every platform's natives, check it in
a JVM, store it and write it to ``dist/jars/multiplatform/``."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from build_support import commits, inputcache, log, manifests, platforms, store
from build_support.errors import BuildSupportError, VerificationError
from build_support.jars import outputs, pack, poms
from build_support.jars.digest import RECIPE
from build_support.jars.layout import Platform
from build_support.jars.settings import JarsSettings
from build_support.jars.toolchain import java_exe, jvm_check


def build_multiplatform(
    settings: JarsSettings,
    project: poms.JavaProject,
    *,
    root: Path,
    dist: Path,
    s: store.Store,
    timeout: float | None = None,
    host: platforms.Host | None = None,
    check_jvm: bool = True,
    attest_jar: Callable[[str, Path, str], object] | None = None,
) -> Path:
    """The ``multiplatform`` stage of ``project`` (under ``root``); returns the JAR written
    to ``dist/jars/multiplatform/``. ``attest_jar(key, jar, sha256)`` writes its SBOM and
    provenance beside it in the store (:mod:`build_support.supplychain.attest`)."""
    host = host or platforms.current_host()
    expected = settings.expected()
    oses = list(dict.fromkeys(p.os for p in expected))
    filename = outputs.runtime_jar_name(settings, project)
    ctx = commits.context(root)
    wait = timeout if timeout is not None else (settings.wait_timeout_seconds or None)
    interval = settings.wait_interval_seconds or None
    summary = outputs.summary("jars multiplatform")
    started = time.monotonic()
    dest = manifests.jars_dir(dist, platforms.MULTIPLATFORM) / filename
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
            pack.check_natives(dest, expected, settings.native_library)
            pack.check_commit(dest, ctx.sha, entry=settings.commit_manifest_entry)
            natives, reused = record.natives, True
            log.info(f"{dest.name}: reused (input digest {digest[:12]}): natives re-checked")
        except BuildSupportError as exc:
            log.warn(f"the stored multiplatform JAR is not reusable ({exc}); repacking")
    inputcache.note("jars multiplatform", reused=reused)
    if natives is None:
        natives = _repack(settings, s, infos, dest, commit=ctx.sha, host=host, check_jvm=check_jvm)
    key = outputs.multiplatform_key(ctx.branch, ctx.sha, filename)
    put = s.put(key, dest)
    if attest_jar is not None:
        attest_jar(key, dest, put.sha256)
    row = outputs.summary_row(summary, dest, key, started)
    if not reused:
        inputcache.save(
            s,
            manifests.jars_cache_key(digest),
            manifests.JarsCacheRecord(
                digest=digest,
                os=platforms.MULTIPLATFORM,
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
        manifests.jars_path(dist, platforms.MULTIPLATFORM),
        manifests.JarsManifest(
            os=platforms.MULTIPLATFORM,
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
        sources: list[pack.Source] = []
        with log.group(f"jars: fetch the runtime JARs of {', '.join(infos)}"):
            for os_name, info in infos.items():
                local = Path(tmp) / os_name / dest.name
                s.get(info.key, local)
                pack.check_commit(local, commit, entry=settings.commit_manifest_entry)
                sources.append(pack.Source(os_name, local))
        with log.group("jars: repack"):
            result = pack.repack(sources, dest, expected)
            for skipped in result.skipped_foreign:
                log.warn(f"not taken (natives of another OS's job): {skipped}")
            pack.check_natives(dest, expected, settings.native_library)
            pack.check_commit(dest, commit, entry=settings.commit_manifest_entry)
            log.info(
                f"{dest.name}: {result.entries} entries, natives "
                + ", ".join(map(str, result.platforms))
            )
    host_platform = Platform(host.os, host.arch)
    if check_jvm:
        with log.group("jars: load the natives in a JVM"):
            if host_platform in expected:
                jvm_check(settings, dest, java_exe())
            else:
                log.warn(
                    f"cannot load the natives here: this host ({host_platform}) is not one "
                    "of " + ", ".join(settings.platforms)
                )
    return tuple(map(str, result.platforms))
