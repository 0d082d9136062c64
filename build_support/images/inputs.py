"""What an image is made of, besides its base: the lockfile's wheels (a wheelhouse
downloaded on the host, cached by lockfile), the product's wheels this commit's wheel
stage stored, and the Dockerfiles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from build_support import commits, fsutil, platforms, wheelhouse
from build_support import store as store_mod
from build_support.errors import InputError
from build_support.images.settings import ImagesSettings
from build_support.store import wheels as store_wheels


def wheelhouse_platforms(arch: str, settings: ImagesSettings) -> list[str]:
    return [p.replace("{arch}", arch) for p in settings.wheelhouse_platforms]


def ensure_wheelhouse(lock: Path, python: str, arch: str, settings: ImagesSettings) -> Path:
    """Every locked wheel for ``python``/``arch``, downloaded with hashes; cached by lockfile."""
    plats = wheelhouse_platforms(arch, settings)
    return wheelhouse.ensure(
        ["--require-hashes", "-r", str(lock)],
        platforms=plats,
        python=python,
        name=f"py{python.replace('.', '')}-{arch}",
        inputs=[fsutil.sha256_file(lock)],
        hint="every locked package needs a binary wheel for "
        + " or ".join(plats)
        + f"; check the lockfile ({lock}) and the index",
    )


def fetch_wheels(
    s: store_mod.Store,
    *,
    ctx: commits.BuildContext,
    python: str,
    arch: platforms.Arch,
    dists: Sequence[str],
    dest: Path,
    location: str = "",
) -> list[Path]:
    """The wheels of ``dists`` that this commit's wheel stage stored, downloaded to ``dest``:
    of each, the one that fits Python ``python`` on ``arch``'s manylinux target best
    (:func:`build_support.store.wheels.best_wheel`)."""
    plat = platforms.PLATFORM_TABLE[("Linux", arch)]
    out: list[Path] = []
    for dist in dists:
        key = store_wheels.best_wheel(
            s,
            branch=ctx.branch,
            sha=ctx.sha,
            dist=dist,
            python=python,
            platform=plat,
            location=location,
        ).key
        path = dest / key.rsplit("/", 1)[-1]
        s.get(key, path)
        out.append(path)
    return out


def read_dockerfile(docker_dir: Path, name: str) -> bytes:
    """``<paths.docker>/<name>/Dockerfile``: ``name`` is the image's ``*_dockerfile`` setting
    or, unset, its name (``base_deps_name`` / ``image_name``)."""
    path = docker_dir / name / "Dockerfile"
    if not path.is_file():
        raise InputError(
            f"{path} does not exist",
            hint="restore it from the repository, or point [tool.build_support.images] "
            "base_deps_dockerfile / image_dockerfile at the folder holding the Dockerfile",
        )
    return path.read_bytes()
