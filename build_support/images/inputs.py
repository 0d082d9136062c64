"""What an image is made of, besides its base: the lockfile's wheels (a wheelhouse
downloaded on the host, cached by lockfile), the product's wheels this commit's wheel
stage stored, and the Dockerfiles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from build_support import commits, fsutil, platforms, wheelfile, wheelhouse
from build_support import store as store_mod
from build_support.config import PythonVersion
from build_support.errors import ArtifactNotFoundError, InputError
from build_support.images.settings import ImagesSettings


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
    (:func:`build_support.wheelfile.rank`); a musllinux or newer-glibc wheel never fits."""
    prefix = store_mod.keys.commit_prefix(ctx.branch, ctx.sha)
    available = sorted(o.key for o in s.list(prefix))
    plat = platforms.PLATFORM_TABLE[("Linux", arch)]
    cp = PythonVersion(python).cp_tag
    out: list[Path] = []
    for dist in dists:
        ranked = [
            (rank, k)
            for k in available
            if (rank := wheelfile.rank(k.rsplit("/", 1)[-1], dist, python=python, platform=plat))
            is not None
        ]
        if not ranked:
            expected = f"{prefix}{dist}-<version>-{cp}-{cp}-{plat}.whl"
            raise ArtifactNotFoundError(
                f"the {dist} wheel for Python {python} {plat} is not in the artifact store "
                f"{location or s!r}: expected key {expected}",
                hint=f"build and store it first: nox -s wheel -- {plat} --python {python}",
            )
        # The most specific fit (packaging's order: cp311-cp311 before abi3 before
        # py3-none, manylinux_2_17 before manylinux1); among equals the last key.
        best = min(r for r, _k in ranked)
        key = [k for r, k in ranked if r == best][-1]
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
