"""minray_cpp: minray's C API (header and shared library), shaped like Ray's ``ray_cpp``.

>>> import minray_cpp
>>> minray_cpp.get_include()       # add to the compiler's include path (-I)
>>> minray_cpp.get_library_path()  # link against or dlopen this file
>>> minray_cpp.load().minray_checksum32(b"abc", 3)
"""

from __future__ import annotations

import ctypes
import functools
import sys
from pathlib import Path

from minray_cpp._version import commit as __commit__
from minray_cpp._version import version as __version__

__all__ = [
    "LIBRARY_NAME",
    "__commit__",
    "__version__",
    "get_include",
    "get_library_path",
    "load",
]

_PACKAGE_DIR = Path(__file__).resolve().parent
LIBRARY_NAME = "libminray_cpp.dylib" if sys.platform == "darwin" else "libminray_cpp.so"


def get_include() -> str:
    """The directory to pass with ``-I``: it holds ``minray/minray.h``."""
    installed = _PACKAGE_DIR / "include"
    if (installed / "minray" / "minray.h").is_file():
        return str(installed)
    source = _PACKAGE_DIR.parent / "include"  # a source checkout (python/cpp/)
    if (source / "minray" / "minray.h").is_file():
        return str(source)
    raise FileNotFoundError(
        f"minray/minray.h is neither in {installed} nor in {source}; reinstall minray_cpp"
    )


def get_library_path() -> str:
    """The path of the shared library ``libminray_cpp.so`` (``.dylib`` on macOS)."""
    path = _PACKAGE_DIR / "lib" / LIBRARY_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: minray_cpp was not built; build its wheel with"
            " `python -m build --wheel python/cpp` and install that"
        )
    return str(path)


@functools.cache
def load() -> ctypes.CDLL:
    """Load the shared library with ctypes, with argument and result types declared."""
    lib = ctypes.CDLL(get_library_path())
    lib.minray_version.argtypes = []
    lib.minray_version.restype = ctypes.c_char_p
    lib.minray_checksum32.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.minray_checksum32.restype = ctypes.c_uint32
    lib.minray_toposort.argtypes = [
        ctypes.c_int32,
        ctypes.POINTER(ctypes.c_int32),
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_int32),
    ]
    lib.minray_toposort.restype = ctypes.c_int
    lib.minray_strerror.argtypes = [ctypes.c_int]
    lib.minray_strerror.restype = ctypes.c_char_p
    return lib
