"""Where a release test runs: a venv cached by the wheel's digest (the lockfile as
constraints), or a container of the image the images stage recorded in
``dist/images/images.json``. Both check that the code they hold is the test code's commit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from build_support import (
    cmd,
    fsutil,
    lockfile,
    log,
    manifests,
    pythons,
    tools,
    toolvenv,
    wheelfile,
)
from build_support.containers import engine
from build_support.errors import ArtifactNotFoundError, VerificationError
from build_support.releasetests.sources import WheelSource


@dataclass(frozen=True)
class VenvInfo:
    """Where a test's script runs: a venv's bin on PATH (or an image), and what is in it."""

    python_version: str
    bin_dir: Path
    wheel: str
    wheel_sha256: str
    commit: str
    #: Set when the script runs in a container of this image (``--in-image``).
    image: str | None = None
    #: The image's own user (uid, gid): it owns the test's private scratch folder.
    image_user: tuple[int, int] | None = None
    #: The interpreter's full version (``3.12.4``); "" in an image (its ID covers it).
    python_full: str = ""

    @property
    def python(self) -> Path:
        return self.bin_dir / "python"


class EnvProvider(Protocol):
    def prepare(self, python_version: str) -> VenvInfo: ...


def check_commit(found: str, expected: str, *, what: str) -> None:
    """Fail closed unless the wheel's commit is the test code's commit."""
    if found != expected:
        raise VerificationError(
            f"{what} carries commit {found!r}, but the release tests are at commit {expected}: "
            "the tests would run against other code than they were written for",
            hint="check out the wheel's commit (git checkout <sha>), or rebuild and store the "
            "wheel for this commit: nox -s wheel; the working tree is left as it is",
        )


class VenvProvider:
    """A venv per (Python, wheel digest, constraints), created once and reused."""

    def __init__(
        self,
        *,
        wheels: WheelSource,
        cache_dir: Path,
        requirements_dir: Path,
        expected_commit: str,
        package: str,
        search_paths: Sequence[str] = (),
    ) -> None:
        self.wheels = wheels
        self.cache_dir = cache_dir
        self.requirements_dir = requirements_dir
        self.expected_commit = expected_commit
        self.package = package
        self.search_paths = tuple(search_paths)
        self._ready: dict[str, VenvInfo] = {}

    def lockfile(self, version: str) -> Path:
        return lockfile.path(self.requirements_dir, version)

    def prepare(self, python_version: str) -> VenvInfo:
        if python_version in self._ready:
            return self._ready[python_version]
        interp = pythons.require([python_version], extra=self.search_paths)[python_version]
        wheel, digest = self.wheels.fetch(python_version, self.cache_dir / "wheels")
        check_commit(
            wheelfile.read_commit(wheel, self.package),
            self.expected_commit,
            what=f"wheel {wheel.name}",
        )
        lock = self.lockfile(python_version)
        key = hashlib.sha256(
            f"{interp.full_version}\0{digest}\0".encode()
            + (lock.read_bytes() if lock.is_file() else b"no-lockfile")
        ).hexdigest()[:16]
        venv = self.cache_dir / f"py{python_version}-{key}"
        marker = venv / ".release-tests-ready"
        if not marker.is_file():
            self._create(venv, interp, wheel, lock, python_version)
            marker.write_text(json.dumps({"wheel": wheel.name, "sha256": digest}) + "\n")
        else:
            log.info(f"reusing venv {venv} ({wheel.name})")
        installed = cmd.output(
            [
                str(venv / "bin" / "python"),
                "-c",
                wheelfile.commit_program(
                    self.package, wheelfile.parse_name(wheel.name).distribution
                ),
            ],
            cwd=self.cache_dir,
        )
        check_commit(
            installed, self.expected_commit, what=f"the installed {self.package} in {venv}"
        )
        env = VenvInfo(
            python_version=python_version,
            bin_dir=venv / "bin",
            wheel=wheel.name,
            wheel_sha256=digest,
            commit=installed,
            python_full=interp.full_version,
        )
        self._ready[python_version] = env
        return env

    def _create(
        self, venv: Path, interp: pythons.Interpreter, wheel: Path, lock: Path, version: str
    ) -> None:
        if venv.exists():
            shutil.rmtree(venv)
        log.step(f"creating venv {venv.name} with Python {version} and {wheel.name}")
        # The venv gets no pip of its own: the pinned pip of a tool venv fills it (the
        # interpreter's own pip varies by host), as everywhere in the harness.
        cmd.run([str(interp.path), "-m", "venv", "--without-pip", str(venv)], capture=True)
        pip = toolvenv.ensure(interp.path, [tools.pin("pip")], version=interp.full_version)
        args = [str(pip), "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                "-q", "--disable-pip-version-check"]  # fmt: skip
        if lock.is_file():
            constraints = fsutil.write_atomic(
                venv / "constraints-nohash.txt",
                lockfile.constraints(lock.read_text(encoding="utf-8")),
            )
            args += ["-c", str(constraints)]
        else:
            log.warn(
                f"no lockfile {lock}; installing without constraints "
                f"(create it: nox -s lock-{version})"
            )
        if not wheelfile.requirements(wheel):
            args.append("--no-index")
        cmd.run(
            [*args, str(wheel)],
            capture=True,
            hint=f"the venv for Python {version} could not be set up; see the pip output",
        )


class ImageProvider:
    """``--in-image``: the product image the images stage built (``dist/images/images.json``).

    The image is picked from the manifest by Python version, flavor and architecture
    (or given with ``--image``); its ``org.opencontainers.image.revision`` label and the
    ``__commit__`` a container reports must both be the test code's commit (what the
    manifest records is not trusted: it is not the image).
    """

    def __init__(
        self,
        *,
        manifest: Path,
        image_name: str,
        expected_commit: str,
        package: str,
        arch: str,
        flavor: str = "cpu",
        image: str | None = None,
    ) -> None:
        self.manifest = manifest
        self.image_name = image_name
        self.expected_commit = expected_commit
        self.package = package
        self.arch = arch
        self.flavor = flavor
        self.image = image
        self._ready: dict[str, VenvInfo] = {}

    def find(self, python_version: str) -> tuple[str, str | None]:
        """(image reference, commit recorded by the images stage or None)."""
        if self.image:
            return self.image, None
        hint = f"build it: nox -s images -- --python {python_version} --flavor {self.flavor}"
        if not self.manifest.is_file():
            raise ArtifactNotFoundError(
                f"no image manifest {self.manifest}: the images stage has not run", hint=hint
            )
        row = manifests.read(self.manifest, manifests.ImagesManifest).find(
            self.image_name, python=python_version, flavor=self.flavor, arch=self.arch
        )
        if row is not None:
            return row.image_id, row.commit
        raise ArtifactNotFoundError(
            f"{self.manifest} lists no {self.image_name} image for Python {python_version} "
            f"({self.flavor}, {self.arch})",
            hint=hint,
        )

    def default_python(self, configured: str) -> str:
        """The Python of a test that names none: ``configured`` when the manifest has the
        image for it, else the newest Python the images stage built the image for (so
        ``--in-image`` runs in the images there are, not in one for another Python)."""
        if self.image or not self.manifest.is_file():
            return configured
        rows = manifests.read(self.manifest, manifests.ImagesManifest).images
        built = sorted(
            {
                r.python
                for r in rows
                if r.slot == (self.image_name, r.python, self.flavor, self.arch)
            },
            key=lambda v: tuple(int(p) for p in v.split(".")),
        )
        if not built or configured in built:
            return configured
        log.info(
            f"--in-image: {self.manifest} has {self.image_name} images for Python "
            f"{', '.join(built)}, none for {configured}: tests without python: use {built[-1]}"
        )
        return built[-1]

    def prepare(self, python_version: str) -> VenvInfo:
        if python_version in self._ready:
            return self._ready[python_version]
        from build_support.manifests import REVISION_LABEL

        # The manifest only says which image; the commit is read from the image itself.
        ref, _recorded = self.find(python_version)
        engine.ensure_docker()
        label = cmd.output(
            [engine.docker_client(), "image", "inspect", "--format",
             f'{{{{ index .Config.Labels "{REVISION_LABEL}" }}}}', ref],
            hint=f"the image {ref} is not there; build it: nox -s images",
        )  # fmt: skip
        check_commit(label, self.expected_commit, what=f"image {ref[:19]} ({REVISION_LABEL})")
        probe = wheelfile.commit_program(self.package)
        probe += "import os\nprint(os.getuid(), os.getgid())\n"
        lines = cmd.output(
            [engine.docker_client(), "run", "--rm", "--network", "none", ref, "python", "-c",
             probe],
            hint=f"the image {ref} cannot import {self.package}; rebuild it: nox -s images",
        ).splitlines()  # fmt: skip
        found = lines[0] if lines else ""
        check_commit(found, self.expected_commit, what=f"{self.package} in image {ref[:19]}")
        uid, gid = (int(x) for x in lines[1].split())
        info = VenvInfo(
            python_version=python_version,
            bin_dir=Path("/nonexistent"),
            wheel=f"image {ref}",
            wheel_sha256="",
            commit=found,
            image=ref,
            image_user=(uid, gid),
        )
        self._ready[python_version] = info
        return info
