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


def _scratch_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="minray-build-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


SCRATCH = _scratch_dir()

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "embedsignature": True,
}

extensions = cythonize(
    [Extension("minray._core", ["minray/_core.pyx"])],
    build_dir=str(SCRATCH / "cython"),
    compiler_directives=COMPILER_DIRECTIVES,
    quiet=True,
)

setup(
    ext_modules=extensions,
    options={
        "build": {"build_base": str(SCRATCH / "build")},
        "egg_info": {"egg_base": str(SCRATCH)},
    },
)
