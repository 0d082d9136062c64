"""Multiplatform repacking: ``pack.repack`` against the reference's shell approach.

Baseline (Ray's ``java/build-jar-multiplatform.sh``, ``prepare_native`` + rebuild): for
each platform JAR ``jar xf <jar> native/<os>`` into a directory, extract the base JAR,
move every OS's natives into it, then ``jar cfm`` the tree back into one JAR; the real
``jar`` tool, run via subprocess. Ours: one streaming pass with ``zipfile``.

Inputs: the linux runtime JAR built by ``nox -s jars -- linux`` (``dist/jars/linux/``,
else ``java/runtime/target/``) plus a "darwin" JAR made from it (same shared entries, a
dylib with a Mach-O header), so both approaches merge two OSes. ``--large`` also pads
each native library to 32 MiB, to show how each scales with size.

The incremental part: ``jars -- linux`` cold (``--force``, an empty store: natives and
Maven with tests and javadoc) against no change (the input digest found in the store,
the stored JARs fetched, SHA-256 verified, natives re-checked; no Maven, no JVM), each a
``python -m build_support`` process; ``--no-build`` leaves it out.

``nox -s bench -- jars [--large] [--repeat N] [--no-build]``
"""

from __future__ import annotations

import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from build_support.jars import pack
from build_support.jars.layout import Platform
from build_support.jars.pack import Source

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = "minray-runtime-0.1.0.jar"
EXPECTED = [
    Platform("linux", "x86_64"),
    Platform("linux", "aarch64"),
    Platform("darwin", "aarch64"),
]
PAD = 32 * 1024 * 1024


def _find_runtime_jar() -> Path:
    for candidate in (
        ROOT / "dist" / "jars" / "linux" / RUNTIME,
        ROOT / "java" / "runtime" / "target" / RUNTIME,
    ):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"no {RUNTIME}: run `nox -s jars -- linux` first")


def _macho(size: int) -> bytes:
    header = struct.pack("<IIIIIII", 0xFEEDFACF, 0x0100000C, 0, 6, 0, 0, 0) + bytes(4)
    return header + bytes(max(0, size - len(header)))


def _make_inputs(work: Path, *, large: bool) -> tuple[Path, Path]:
    """(linux JAR, darwin JAR) sharing every non-native entry."""
    real = _find_runtime_jar()
    linux = work / "in" / "linux" / RUNTIME
    darwin = work / "in" / "darwin" / RUNTIME
    linux.parent.mkdir(parents=True)
    darwin.parent.mkdir(parents=True)
    with (
        zipfile.ZipFile(real) as src,
        zipfile.ZipFile(linux, "w", zipfile.ZIP_DEFLATED) as lz,
        zipfile.ZipFile(darwin, "w", zipfile.ZIP_DEFLATED) as dz,
    ):
        for old in src.infolist():
            data = src.read(old)
            native = pack.native_os(old.filename) is not None
            if native and large and not old.is_dir() and len(data) < PAD:
                data += os.urandom(PAD - len(data))
            for zf in (lz,) if native else (lz, dz):
                # A fresh ZipInfo per archive: writestr records offsets in it.
                info = zipfile.ZipInfo(old.filename, date_time=old.date_time)
                info.compress_type = zipfile.ZIP_STORED if old.is_dir() else zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        size = PAD if large else 16 * 1024
        dz.writestr("native/darwin/", b"")
        dz.writestr("native/darwin/aarch64/", b"")
        dz.writestr("native/darwin/aarch64/libminray_jni.dylib", _macho(size))
    return linux, darwin


def _shell_baseline(linux: Path, darwin: Path, work: Path) -> Path:
    """The reference approach with the real ``jar`` tool."""
    if work.exists():
        shutil.rmtree(work)
    staging = work / "staging"
    staging.mkdir(parents=True)
    subprocess.run(["jar", "xf", str(linux)], cwd=staging, check=True)
    shutil.rmtree(staging / "native", ignore_errors=True)
    for os_name, jar in (("linux", linux), ("darwin", darwin)):
        extract = work / f"x-{os_name}"
        extract.mkdir()
        subprocess.run(["jar", "xf", str(jar), f"native/{os_name}"], cwd=extract, check=True)
        (staging / "native").mkdir(exist_ok=True)
        shutil.move(str(extract / "native" / os_name), str(staging / "native" / os_name))
    out = work / RUNTIME
    manifest = staging / "META-INF" / "MANIFEST.MF"
    moved = work / "MANIFEST.MF"
    shutil.move(str(manifest), str(moved))
    subprocess.run(["jar", "cfm", str(out), str(moved), "-C", str(staging), "."], check=True)
    return out


def _ours(linux: Path, darwin: Path, dest: Path) -> Path:
    pack.repack([Source("linux", linux), Source("darwin", darwin)], dest, EXPECTED)
    return dest


def _time(fn: object, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return times


def _stage(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "jars", "linux", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"jars linux {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return seconds


def incremental(repeat: int) -> dict[str, object]:
    """``jars -- linux``: cold vs no change, against a fresh local store."""
    from build_support import manifests

    with tempfile.TemporaryDirectory(prefix="bench-jars-store-") as store_dir:
        env = {**os.environ, "BUILD_SUPPORT_STORE": store_dir}
        cold = _stage(env, "--force")
        warm = [_stage(env) for _ in range(repeat)]
    record = manifests.read(manifests.jars_path(ROOT / "dist", "linux"), manifests.JarsManifest)
    median = statistics.median(warm)
    return {
        "cold_seconds": round(cold, 2),
        "no_change_seconds_median": round(median, 3),
        "no_change_seconds_all": [round(w, 3) for w in warm],
        "no_change_reused": record.reused,
        "cold_vs_no_change": round(cold / median, 1),
        "no_change_under_1s": median < 1.0,
    }


def run(argv: list[str]) -> dict[str, object]:
    large = "--large" in argv
    repeat = 5
    for arg in argv:
        if arg.startswith("--repeat="):
            repeat = int(arg.split("=", 1)[1])
    with tempfile.TemporaryDirectory(prefix="bench-jars-") as tmp:
        work = Path(tmp)
        linux, darwin = _make_inputs(work, large=large)
        ours_out = work / "ours" / RUNTIME
        base_times = _time(lambda: _shell_baseline(linux, darwin, work / "shell"), repeat)
        our_times = _time(lambda: _ours(linux, darwin, ours_out), repeat)
        first = ours_out.read_bytes()
        _ours(linux, darwin, ours_out)
        identical = ours_out.read_bytes() == first
        shell_a = _shell_baseline(linux, darwin, work / "shell-a").read_bytes()
        time.sleep(2.1)  # zip timestamps have 2 s resolution
        shell_b = _shell_baseline(linux, darwin, work / "shell-b").read_bytes()
        pack.check_natives(ours_out, EXPECTED, "minray_jni")
        with zipfile.ZipFile(work / "shell-b" / RUNTIME) as zf:
            shell_names = set(zf.namelist())
        with zipfile.ZipFile(ours_out) as zf:
            our_names = set(zf.namelist())
        base_med = statistics.median(base_times)
        our_med = statistics.median(our_times)
        result: dict[str, object] = {
            "inputs": {
                "linux_jar_bytes": linux.stat().st_size,
                "darwin_jar_bytes": darwin.stat().st_size,
                "large": large,
                "repeat": repeat,
            },
            "baseline_shell_jar_xf_cf_seconds_median": round(base_med, 4),
            "jarpack_repack_seconds_median": round(our_med, 4),
            "speedup_vs_shell": round(base_med / our_med, 1),
            "output_bytes": {"jarpack": len(first), "shell": len(shell_b)},
            "jarpack_byte_identical_across_runs": identical,
            "shell_byte_identical_across_runs": shell_a == shell_b,
            "same_entry_set": sorted(our_names ^ shell_names) == [],
        }
    if "--no-build" not in argv:
        result["linux_incremental"] = incremental(repeat)
    return result
