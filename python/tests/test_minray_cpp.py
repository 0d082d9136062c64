"""minray_cpp's C library agrees with minray; skipped unless minray_cpp is installed.

Set MINRAY_REQUIRE_CPP=1 to make a missing minray_cpp a failure instead of a skip.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from minray import _fallback


@pytest.fixture(scope="module")
def cpp() -> ModuleType:
    try:
        module = importlib.import_module("minray_cpp")
        module.get_library_path()
    except (ImportError, FileNotFoundError) as exc:
        if os.environ.get("MINRAY_REQUIRE_CPP", "") not in ("", "0"):
            pytest.fail(f"MINRAY_REQUIRE_CPP=1 but minray_cpp is not usable: {exc}")
        pytest.skip(f"minray_cpp is not installed: {exc}")
    return module


@pytest.fixture(scope="module")
def lib(cpp: ModuleType) -> ctypes.CDLL:
    library: ctypes.CDLL = cpp.load()
    return library


def c_toposort(lib: ctypes.CDLL, n: int, edges: list[tuple[int, int]]) -> tuple[int, list[int]]:
    flat = (ctypes.c_int32 * (2 * len(edges) or 1))(*[x for e in edges for x in e])
    order = (ctypes.c_int32 * (n or 1))()
    rc = lib.minray_toposort(n, flat, len(edges), order)
    return rc, list(order[:n])


def test_paths(cpp: ModuleType) -> None:
    header = Path(cpp.get_include(), "minray", "minray.h")
    assert header.is_file()
    library = Path(cpp.get_library_path())
    assert library.name == cpp.LIBRARY_NAME
    assert library.parent.name == "lib"


def test_version_and_commit(cpp: ModuleType, lib: ctypes.CDLL) -> None:
    assert lib.minray_version().decode() == cpp.__version__
    header = Path(cpp.get_include(), "minray", "minray.h").read_text(encoding="utf-8")
    assert f'#define MINRAY_VERSION "{cpp.__version__}"' in header
    assert cpp.__commit__ == "{{COMMIT_SHA}}" or re.fullmatch(r"[0-9a-f]{7,64}", cpp.__commit__)


def test_python_dash_m(cpp: ModuleType) -> None:
    def run(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "minray_cpp", *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    assert run() == f"{cpp.__version__} {cpp.__commit__}"
    assert run("--include") == cpp.get_include()
    assert run("--library") == cpp.get_library_path()


@pytest.mark.parametrize("seed", range(10))
def test_checksum_matches_minray(lib: ctypes.CDLL, seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randint(0, 3000))
    assert lib.minray_checksum32(data, len(data)) == _fallback.checksum32(data)


@pytest.mark.parametrize("seed", range(20))
def test_toposort_matches_minray(lib: ctypes.CDLL, seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(0, 50)
    edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(0, n))] if n else []
    rc, order = c_toposort(lib, n, edges)
    try:
        expected = _fallback.toposort(n, edges)
    except ValueError:
        assert rc == -1  # MINRAY_ERR_CYCLE
        assert lib.minray_strerror(rc) == b"graph has a cycle"
    else:
        assert rc == 0
        assert order == expected


def test_toposort_rejects_bad_nodes(lib: ctypes.CDLL) -> None:
    assert c_toposort(lib, 2, [(0, 2)])[0] == -2  # MINRAY_ERR_INVALID
    assert c_toposort(lib, 2, [(-1, 0)])[0] == -2


def test_header_compiles_and_links_from_c(cpp: ModuleType, tmp_path: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    source = tmp_path / "use.c"
    source.write_text(
        "#include <minray/minray.h>\n#include <stdio.h>\n"
        "int main(void) {\n"
        "  int32_t e[4] = {1, 0, 2, 1}; int32_t o[3];\n"
        "  if (minray_toposort(3, e, 2, o) != MINRAY_OK) return 1;\n"
        '  printf("%s %u %d%d%d\\n", minray_version(),\n'
        '         (unsigned)minray_checksum32((const uint8_t *)"a", 1), o[0], o[1], o[2]);\n'
        "  return 0;\n}\n",
        encoding="utf-8",
    )
    library = Path(cpp.get_library_path())
    exe = tmp_path / "use"
    subprocess.run(
        [
            compiler,
            "-std=c99",
            "-I",
            cpp.get_include(),
            str(source),
            str(library),
            f"-Wl,-rpath,{library.parent}",
            "-o",
            str(exe),
        ],
        check=True,
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    assert out == f"{cpp.__version__} {0xE40C292C} 210\n"
