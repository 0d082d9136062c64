"""Local base images: a Debian root filesystem made with debootstrap, imported with BuildKit.

No image can be pulled on a machine without registry access, so the stages that need a
base image (wheels built in a container of the target platform, the image stage's
stand-in for ``ubuntu:22.04``) make one here::

    tag = rootfs.ensure_image("x86_64", ["python3", "python3-venv"])

Steps, each cached:

1. ``debootstrap --variant=minbase --include=<packages>`` into a temporary directory
   next to the cache (for arm64 on an x86_64 host, the second stage runs under QEMU via
   binfmt);
2. a deterministic tarball (sorted entries, fixed mtimes, numeric owners, no volatile
   files) written to ``<cache>/rootfs/<key>.tar`` through a temporary name and renamed
   into place only when complete;
3. ``FROM scratch`` + ``ADD rootfs.tar /`` built by BuildKit with ``--platform`` (plain
   ``docker import`` labels every image amd64) and labelled
   ``io.build-support.rootfs-key=<key>``; an image carrying that label is reused.

The key is the SHA-256 of (format version, arch, suite, sorted packages, mirror). The
mirror is ``[tool.build_support.rootfs] mirror`` when set, else the Debian mirror apt uses
on this host; there is no built-in one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from build_support import cache, cmd, log, platforms, provision
from build_support.containers import engine
from build_support.errors import ConfigError, PlatformError, ProvisionError, UsageError
from build_support.platforms import DEBIAN_ARCH, DOCKER_PLATFORMS, Arch
from build_support.reproducible import FIXED_MTIME

#: Bump when the rootfs layout or the tarball format changes; it is part of the key.
FORMAT_VERSION = 1

#: Label that identifies an image made from a given key.
KEY_LABEL = "io.build-support.rootfs-key"

#: Environment variable naming the cache root (default ``~/.cache/build-support``).
CACHE_ENV = cache.CACHE_ENV

DEFAULT_SUITE = "bookworm"


BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")

#: Directories whose contents are machine- or run-specific and stay out of the tarball.
_EMPTIED_DIRS = (
    "dev",
    "proc",
    "sys",
    "run",
    "tmp",
    "var/tmp",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/log",
    "debootstrap",
)

_DOCKERFILE = """\
# syntax-free on purpose: built by the engine's own BuildKit, no frontend image to pull
FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8
CMD ["bash"]
"""

DEBOOTSTRAP_TIMEOUT = 3600.0
BUILD_TIMEOUT = 1800.0


cache_root = cache.cache_root


def rootfs_cache_dir(env: dict[str, str] | None = None) -> Path:
    return cache_root(env) / "rootfs"


def parse_sources(text: str, *, deb822: bool) -> list[str]:
    """Mirror URIs from an apt sources file (deb822 ``.sources`` or one-line ``.list``)."""
    uris: list[str] = []
    if deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "deb").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            uris.extend(fields.get("uris", "").split())
    else:
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            parts = re.sub(r"\[[^]]*\]", "", line).split()
            if len(parts) >= 3 and parts[0] == "deb":
                uris.append(parts[1])
    return uris


def _pick_mirror(uris: Sequence[str]) -> str | None:
    # The main archive, not debian-security or a ports/updates mirror.
    for uri in uris:
        stripped = uri.rstrip("/")
        if stripped.endswith("/debian") and "security" not in stripped:
            return stripped
    return None


def find_mirror(apt_dir: Path = Path("/etc/apt")) -> str | None:
    """The Debian main-archive mirror apt uses on this host, or None."""
    candidates: list[str] = []
    sources_d = apt_dir / "sources.list.d"
    if sources_d.is_dir():
        for path in sorted(sources_d.glob("*.sources")):
            candidates += parse_sources(path.read_text(encoding="utf-8"), deb822=True)
        for path in sorted(sources_d.glob("*.list")):
            candidates += parse_sources(path.read_text(encoding="utf-8"), deb822=False)
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        candidates += parse_sources(main_list.read_text(encoding="utf-8"), deb822=False)
    return _pick_mirror(candidates)


def resolve_mirror(configured: str = "", apt_dir: Path = Path("/etc/apt")) -> str:
    """The mirror to debootstrap from: ``configured``, else apt's own; a ConfigError if none."""
    if configured.strip():
        return configured.strip().rstrip("/")
    found = find_mirror(apt_dir)
    if found is None:
        raise ConfigError(
            f"no Debian mirror to build a root filesystem from: none configured, and apt's "
            f"sources in {apt_dir} name no Debian main archive (a URI ending in /debian)",
            hint='set [tool.build_support.rootfs] mirror = "http://mirror.example/debian" '
            "(your Debian mirror) in pyproject.toml; see docs/images.md",
        )
    return found


def normalize_packages(packages: Sequence[str]) -> tuple[str, ...]:
    """Sorted, deduplicated package names; rejects names apt would not accept."""
    if isinstance(packages, str):
        raise UsageError(f"packages must be a list of names, got the string {packages!r}")
    names = sorted({p.strip() for p in packages if p.strip()})
    for name in names:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", name):
            raise UsageError(
                f"invalid Debian package name {name!r}",
                hint="package names are lowercase letters, digits and + - .",
            )
    return tuple(names)


def rootfs_key(arch: str, suite: str, packages: Sequence[str], mirror: str) -> str:
    """SHA-256 over everything that determines the root filesystem."""
    payload = {
        "format": FORMAT_VERSION,
        "arch": arch,
        "suite": suite,
        "packages": list(normalize_packages(packages)),
        "mirror": mirror.rstrip("/"),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def default_tag(arch: str, suite: str, key: str) -> str:
    return f"build-support/rootfs:{suite}-{arch}-{key[:12]}"


def _check_arch(arch: str) -> None:
    if arch not in DEBIAN_ARCH:
        raise PlatformError(
            f"unsupported rootfs architecture {arch!r}",
            hint="supported: " + ", ".join(DEBIAN_ARCH),
        )


def binfmt_status(arch: str, binfmt_dir: Path = BINFMT_DIR) -> str | None:
    """None if ``arch`` binaries run via binfmt here, else why not."""
    entry = binfmt_dir / f"qemu-{arch}"
    if not (binfmt_dir / "status").exists():
        return f"binfmt_misc is not mounted at {binfmt_dir}"
    if not entry.exists():
        return f"no binfmt handler registered for qemu-{arch}"
    lines = entry.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "enabled":
        return f"the binfmt handler qemu-{arch} is disabled"
    return None


def ensure_binfmt(arch: str, binfmt_dir: Path = BINFMT_DIR) -> None:
    """Make foreign ``arch`` binaries runnable through QEMU, or say how to."""
    problem = binfmt_status(arch, binfmt_dir)
    if problem is None:
        return
    hint = (
        f"install qemu-user-static and binfmt-support, then: "
        f"mount -t binfmt_misc binfmt_misc {binfmt_dir} ; update-binfmts --enable qemu-{arch}"
    )
    if os.geteuid() != 0:
        raise PlatformError(f"cannot run {arch} binaries on this host: {problem}", hint=hint)
    log.step(f"enabling QEMU emulation for {arch} ({problem})")
    provision.ensure_tools(f"qemu-{arch}-static", "update-binfmts", "mount")
    if not (binfmt_dir / "status").exists():
        cmd.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt_dir)],
            check=False,
            capture=True,
        )
    cmd.run(["update-binfmts", "--enable", f"qemu-{arch}"], check=False, capture=True)
    problem = binfmt_status(arch, binfmt_dir)
    if problem is not None:
        raise PlatformError(f"cannot run {arch} binaries on this host: {problem}", hint=hint)


# --- the deterministic tarball ----------------------------------------------------------


def _excluded(rel: str) -> bool:
    return any(rel.startswith(d + "/") for d in _EMPTIED_DIRS)


def _iter_tree(root: Path, rel: str = "") -> Iterator[tuple[Path, str]]:
    """Every path below ``root`` in sorted depth-first order (a directory, then its contents)."""
    for child in sorted(root.iterdir()):
        name = child.name
        child_rel = f"{rel}/{name}" if rel else name
        if _excluded(child_rel):
            continue
        yield child, child_rel
        if stat.S_ISDIR(child.lstat().st_mode):
            yield from _iter_tree(child, child_rel)


def write_tarball(rootfs: Path, out: IO[bytes]) -> None:
    """Write ``rootfs`` as a reproducible tar stream to ``out``.

    Entries are sorted, every mtime is :data:`FIXED_MTIME`, owners are numeric only,
    hard links stay hard links, and the contents of volatile directories
    (:data:`_EMPTIED_DIRS`) are left out while the directories themselves stay.
    """
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, rel in _iter_tree(rootfs):
            info = tar.gettarinfo(str(path), arcname=rel)
            info.mtime = FIXED_MTIME
            info.uname = ""
            info.gname = ""
            info.pax_headers = {}
            if info.isreg():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)


# --- the steps ------------------------------------------------------------------------------


_locked = cache.locked


def _debootstrap(
    arch: Arch, suite: str, packages: Sequence[str], *, mirror: str, target: Path, debs: Path
) -> None:
    argv = [
        "debootstrap",
        f"--arch={DEBIAN_ARCH[arch]}",
        "--variant=minbase",
        f"--cache-dir={debs}",
    ]
    if packages:
        argv.append("--include=" + ",".join(packages))
    argv += [suite, str(target), mirror]
    try:
        cmd.run(
            argv,
            capture=True,
            timeout=DEBOOTSTRAP_TIMEOUT,
            hint=f"check that {mirror} is reachable and the packages exist in {suite}",
        )
    except Exception:
        log_file = target / "debootstrap" / "debootstrap.log"
        if log_file.is_file():
            tail = log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
            log.error("debootstrap.log (tail):\n" + "\n".join(tail))
        raise


def make_tarball(
    arch: Arch, suite: str, packages: Sequence[str], *, mirror: str, cache_dir: Path, key: str
) -> Path:
    """``<cache_dir>/<key>.tar``, made by debootstrap unless it is already there."""
    final = cache_dir / f"{key}.tar"
    if final.is_file():
        log.info(f"rootfs tarball cached: {final}")
        return final
    provision.ensure_tools("debootstrap")
    if platforms.needs_emulation(arch, os.uname().machine):
        ensure_binfmt(arch)
    debs = cache_dir / "debs" / f"{suite}-{DEBIAN_ARCH[arch]}"
    debs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key[:12]}.", suffix=".tmp", dir=cache_dir))
    try:
        target = work / "rootfs"
        # One debootstrap per package cache at a time: they share the downloaded .debs.
        with (
            _locked(debs.with_name(debs.name + ".lock")),
            log.group(f"debootstrap {suite} {DEBIAN_ARCH[arch]} (+{len(packages)} packages)"),
        ):
            _debootstrap(arch, suite, packages, mirror=mirror, target=target, debs=debs)
        partial = work / "rootfs.tar"
        with partial.open("wb") as out:
            write_tarball(target, out)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.success(f"rootfs tarball {final} ({log.human_size(final.stat().st_size)})")
    return final


def find_image(key: str) -> str | None:
    """The ID of the image made from ``key`` (labelled with it, a single layer), if any."""
    with engine.client() as client:
        # Images built FROM this one inherit the label; the rootfs itself is one layer.
        found = engine.oldest_with_label(client, f"{KEY_LABEL}={key}")
        if found is None:
            return None
        layers = client.images.get(found.id).attrs.get("RootFS", {}).get("Layers", [])
    return found.id if len(layers) == 1 else None


def import_tarball(tarball: Path, arch: Arch, suite: str, key: str, tag: str) -> None:
    """Build ``FROM scratch`` + ``ADD rootfs.tar /`` for ``arch`` with BuildKit."""
    with tempfile.TemporaryDirectory(prefix="rootfs-ctx.", dir=tarball.parent) as ctx_name:
        ctx = Path(ctx_name)
        try:
            os.link(tarball, ctx / "rootfs.tar")
        except OSError:
            shutil.copyfile(tarball, ctx / "rootfs.tar")
        (ctx / "Dockerfile").write_text(_DOCKERFILE, encoding="utf-8")
        cmd.run(
            [
                engine.docker_client(),
                "build",
                "--platform",
                DOCKER_PLATFORMS[arch],
                "--label",
                f"{KEY_LABEL}={key}",
                "--label",
                f"io.build-support.rootfs-suite={suite}",
                "--label",
                f"io.build-support.rootfs-arch={arch}",
                "-t",
                tag,
                str(ctx),
            ],
            env={"DOCKER_BUILDKIT": "1"},
            capture=True,
            timeout=BUILD_TIMEOUT,
            hint="the Docker CLI must support BuildKit: use Debian's /usr/bin/docker (docker.io)",
        )


def identity(
    arch: str, packages: Sequence[str], *, suite: str = DEFAULT_SUITE, mirror: str = ""
) -> tuple[str, str]:
    """The key and default tag of :func:`ensure_image`'s image, computed without Docker.

    The image with that key is found by its :data:`KEY_LABEL` label (one list request).
    """
    _check_arch(arch)
    if not re.fullmatch(r"[a-z][a-z0-9-]*", suite):
        raise UsageError(f"invalid Debian suite name {suite!r}", hint="e.g. bookworm")
    key = rootfs_key(arch, suite, normalize_packages(packages), resolve_mirror(mirror))
    return key, default_tag(arch, suite, key)


def ensure_image(
    arch: Arch,
    packages: Sequence[str],
    *,
    suite: str = DEFAULT_SUITE,
    tag: str | None = None,
    mirror: str = "",
) -> str:
    """A local Docker image of a Debian ``suite`` root filesystem for ``arch``; its tag.

    ``mirror`` is ``[tool.build_support.rootfs] mirror``; "" takes apt's (:func:`resolve_mirror`).

    Reuses an image labelled with the same key, else the cached tarball, else runs
    debootstrap (minutes; about 5 for arm64 under QEMU).
    """
    key, default = identity(arch, packages, suite=suite, mirror=mirror)
    names = normalize_packages(packages)
    mirror = resolve_mirror(mirror)
    tag = tag or default
    engine.ensure_docker()
    cache_dir = rootfs_cache_dir()
    with _locked(cache_dir / f"{key}.lock"):
        existing = find_image(key)
        if existing is not None:
            with engine.client() as client:
                image = client.images.get(existing)
                if tag not in image.tags:
                    repo, _, version = tag.rpartition(":")
                    if not repo or "/" in version:
                        repo, version = tag, "latest"
                    image.tag(repo, version)
            log.info(f"rootfs image {tag} up to date (key {key[:12]})")
            return tag
        tarball = make_tarball(arch, suite, names, mirror=mirror, cache_dir=cache_dir, key=key)
        with log.group(f"import rootfs as {tag} ({DOCKER_PLATFORMS[arch]})"):
            import_tarball(tarball, arch, suite, key, tag)
    if find_image(key) is None:  # pragma: no cover - the engine lost the image
        raise ProvisionError(f"built {tag} but no image carries label {KEY_LABEL}={key}")
    log.success(f"rootfs image {tag} ({arch}, {suite}, key {key[:12]})")
    return tag
