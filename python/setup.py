"""Build script for minray's Cython extension; all metadata lives in pyproject.toml.

Nothing here reads the environment: the release harness stamps the commit by editing
``minray/_version.py`` in a temporary copy of this tree before building.

Build scratch (setuptools' ``build/``, ``*.egg-info``, the C file Cython generates) goes
to a temporary directory that is removed when the build process exits, so building a
wheel leaves the source tree as it was.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _scratch_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="minray-build-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


SCRATCH = _scratch_dir()


def _without_rpath(command: list[str]) -> list[str]:
    # Python's own LDSHARED may carry -Wl,-rpath,<its lib dir> (pyenv, --enable-shared);
    # an extension module needs no libpython on Linux, so keep build paths out of it.
    return [arg for arg in command if not arg.startswith(("-Wl,-rpath", "-Wl,-R"))]


class build_ext_without_rpath(build_ext):
    def build_extensions(self) -> None:
        self.compiler.linker_so = _without_rpath(self.compiler.linker_so)
        super().build_extensions()


COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "embedsignature": True,
}

extensions = cythonize(
    [
        Extension(
            "minray._core",
            ["minray/_core.pyx"],
            # The generated C file lives in a random scratch folder: keep its path out of
            # debug info, so two builds of one commit give the same bytes.
            extra_compile_args=[f"-ffile-prefix-map={SCRATCH}=minray-build"],
        )
    ],
    build_dir=str(SCRATCH / "cython"),
    compiler_directives=COMPILER_DIRECTIVES,
    quiet=True,
)

setup(
    ext_modules=extensions,
    cmdclass={"build_ext": build_ext_without_rpath},
    options={
        "build": {"build_base": str(SCRATCH / "build")},
        "egg_info": {"egg_base": str(SCRATCH)},
    },
)
