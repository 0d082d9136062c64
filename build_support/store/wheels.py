"""Which stored wheels belong to a commit: the one query the images stage, the release
tests and the PyPI target ask the artifact store (wheels are stored by the wheel stage
under ``{branch}/{sha}/``, :func:`build_support.store.keys.wheel_key`)."""

from __future__ import annotations

from build_support import wheelfile
from build_support.errors import ArtifactNotFoundError
from build_support.store import keys
from build_support.store.base import ObjectInfo, Store


def commit_wheels(s: Store, *, branch: str, sha: str) -> list[ObjectInfo]:
    """Every wheel stored for commit ``sha`` of ``branch``, sorted by key."""
    prefix = keys.commit_prefix(branch, sha)
    return sorted((o for o in s.list(prefix) if o.key.endswith(".whl")), key=lambda o: o.key)


def best_wheel(
    s: Store, *, branch: str, sha: str, dist: str, python: str, platform: str, location: str = ""
) -> ObjectInfo:
    """Of the wheels of ``dist`` stored for the commit, the one that fits CPython ``python``
    on ``platform`` best (:func:`build_support.wheelfile.rank`: ``cp311-cp311`` before
    ``abi3`` before ``py3-none``, ``manylinux_2_17`` before ``manylinux1``; a musllinux or
    newer-glibc wheel never fits a ``manylinux2014`` target): :func:`wheelfile.best_fit`.
    None fits: :class:`ArtifactNotFoundError` naming the key expected and what is there."""
    stored = commit_wheels(s, branch=branch, sha=sha)
    by_name = {o.key.rsplit("/", 1)[-1]: o for o in stored}
    chosen = wheelfile.best_fit(by_name, dist, python=python, platform=platform)
    if chosen is None:
        prefix = keys.commit_prefix(branch, sha)
        cp = wheelfile.python_tag(python)
        have = ", ".join(by_name) or "no wheel"
        raise ArtifactNotFoundError(
            f"no {dist} wheel for Python {python} {platform} in the artifact store "
            f"{location or getattr(s, 'url', '')}: expected key "
            f"{prefix}{dist}-<version>-{cp}-{cp}-{platform}.whl (the prefix holds: {have})",
            hint=f"build and store it first: nox -s wheel -- {platform} --python {python}",
        )
    return by_name[chosen]
