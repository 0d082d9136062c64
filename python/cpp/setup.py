"""Build script for minray_cpp's shared library; all metadata lives in pyproject.toml.

``src/minray_cpp.c`` is compiled with setuptools' compiler into
``minray_cpp/lib/libminray_cpp.so`` (``.dylib`` on macOS): a plain C library, not a
Python extension module, loaded with ctypes or linked by C/C++ users. Declaring it as an
extension makes the wheel platform-specific (``cpXY-cpXY-<platform>``, as Ray's
``ray_cpp``) and lets auditwheel repair it.

Nothing here reads the environment: the release harness stamps the commit by editing
``minray_cpp/_version.py`` in a temporary copy of this tree before building. Build
scratch (``build/``, ``*.egg-info``) goes to a temporary directory removed at exit.
"""

from __future__ import annotations

import ast
import atexit
import shutil
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
LIBRARY_EXT = "minray_cpp.lib.libminray_cpp"
LIBRARY_FILE = "libminray_cpp.dylib" if sys.platform == "darwin" else "libminray_cpp.so"


def _read_version() -> str:
    tree = ast.parse((HERE / "minray_cpp" / "_version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["version"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise RuntimeError('minray_cpp/_version.py has no `version = "..."` line')


def _scratch_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="minray-cpp-build-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _without_rpath(command: list[str]) -> list[str]:
    # Python's own LDSHARED may carry -Wl,-rpath,<its lib dir> (pyenv, --enable-shared);
    # the library needs no Python library at run time, so keep build paths out of it.
    return [arg for arg in command if not arg.startswith(("-Wl,-rpath", "-Wl,-R"))]


class build_shared_library(build_ext):
    """build_ext that names the C library like a library, not like a Python module."""

    def get_ext_filename(self, fullname: str) -> str:
        # Called with the dotted name, and by get_ext_fullpath with its last part only.
        if fullname == LIBRARY_EXT:
            return str(Path(*LIBRARY_EXT.split(".")[:-1], LIBRARY_FILE))
        if fullname == LIBRARY_EXT.rsplit(".", 1)[-1]:
            return LIBRARY_FILE
        return super().get_ext_filename(fullname)

    def build_extensions(self) -> None:
        self.compiler.linker_so = _without_rpath(self.compiler.linker_so)
        super().build_extensions()

    def get_export_symbols(self, ext: Extension) -> list[str]:
        if ext.name == LIBRARY_EXT:
            return list(ext.export_symbols)  # no PyInit_* symbol: not a Python module
        return super().get_export_symbols(ext)


SCRATCH = _scratch_dir()

library = Extension(
    LIBRARY_EXT,
    sources=["src/minray_cpp.c"],
    include_dirs=["include"],
    define_macros=[("MINRAY_VERSION", f'"{_read_version()}"')],
    # Objects go to a random scratch folder: keep its path out of debug info.
    extra_compile_args=[f"-ffile-prefix-map={SCRATCH}=minray-cpp-build"],
)

setup(
    ext_modules=[library],
    cmdclass={"build_ext": build_shared_library},
    options={
        "build": {"build_base": str(SCRATCH / "build")},
        "egg_info": {"egg_base": str(SCRATCH)},
    },
)
