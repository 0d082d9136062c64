"""Image stage: cold build, rebuild after changing only the minray wheel, no-change rerun.

``nox -s bench -- images``. Uses the real lockfile of Python 3.11 (with a nonce comment,
so nothing from an earlier run matches: "cold" means our stage's steps all run, while
the local base image and its layers already exist) and minray wheels built here for
cp311, in a temporary project with its own local store. The baseline is the cold build.
The no-change rerun is timed 5 times (median) straight to the engine, then once more
through :class:`tests.helpers.EngineRequestLog` (a proxy on the engine's socket) to
count the engine requests it makes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import statistics
import tempfile
import time
import urllib.parse
import zipfile
from pathlib import Path

from build_support import store
from build_support.config import Config, Paths
from build_support.containers import rootfs
from build_support.images import inputs as image_inputs
from build_support.images import stage as images_stage
from build_support.images.settings import ImagesSettings
from tests.helpers import EngineRequestLog, build_stamped_wheels, bundled_names

ROOT = Path(__file__).resolve().parent.parent
SHA = "1234567890abcdef1234567890abcdef12345678"
NAMESPACE = "build-support-bench"


def _build_wheels(work: Path) -> list[Path]:
    return build_stamped_wheels(
        [ROOT / "python", ROOT / "python" / "cpp"],
        work,
        commit=SHA,
        python="3.11",
        platform_tag="manylinux2014_x86_64",
    )


def _touch_wheel(path: Path, marker: str) -> None:
    """Add one file to a wheel (and its RECORD): new content, same name and commit."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".dist-info/RECORD"):
                data += b"minray/_bench_marker.txt,,\n"
            dst.writestr(item, data)
        dst.writestr("minray/_bench_marker.txt", marker)
    tmp.replace(path)


def _timed(cfg: Config) -> tuple[float, list[bool]]:
    start = time.monotonic()
    images_stage.main(["--python", "3.11"], cfg, today=dt.date(2025, 1, 2))
    seconds = time.monotonic() - start
    manifest = json.loads((cfg.path("dist") / "images" / "images.json").read_text())
    return seconds, [bool(e["built"]) for e in manifest["images"]]


def _counted(cfg: Config) -> list[str]:
    """The engine requests of one more no-change run, as they reached the engine's socket."""
    sock_dir = Path(tempfile.mkdtemp(prefix="bench-engine.", dir="/tmp"))
    proxy = EngineRequestLog(sock_dir / "docker.sock")
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = proxy.host
    try:
        _timed(cfg)
    finally:
        if previous is None:
            del os.environ["DOCKER_HOST"]
        else:
            os.environ["DOCKER_HOST"] = previous
        proxy.close()
        sock_dir.rmdir()
    return [urllib.parse.unquote(line) for line in proxy.take()]


def run(argv: list[str]) -> dict[str, object]:
    del argv
    os.environ["BUILDKITE_COMMIT"] = SHA
    os.environ["BUILD_SUPPORT_BRANCH"] = "main"
    lockfile = ROOT / "requirements" / "compiled" / "requirements_compiled_py3.11.txt"
    if not lockfile.is_file():
        raise SystemExit("no 3.11 lockfile: run nox -s lock-3.11 first")
    rootfs.ensure_image("x86_64", ["python3", "python3-venv", "python3-pip", "ca-certificates"])
    with tempfile.TemporaryDirectory(prefix="bench-images.") as tmp_name:
        tmp = Path(tmp_name)
        nonce = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:12]
        compiled = tmp / "requirements" / "compiled"
        compiled.mkdir(parents=True)
        (compiled / lockfile.name).write_text(
            f"# bench nonce {nonce}\n" + lockfile.read_text(encoding="utf-8")
        )
        cfg = Config(
            root=tmp,
            artifact_store=str(tmp / "store"),
            paths=Paths(
                docker=str(ROOT / "docker"),
                requirements=str(tmp / "requirements"),
                dist=str(tmp / "dist"),
            ),
            sections={"images": {**bundled_names("images"), "namespace": NAMESPACE}},
        )
        wheels = _build_wheels(tmp / "build")
        s = store.open_store(cfg)

        def put_all() -> None:
            for whl in wheels:
                s.put(store.keys.wheel_key("main", SHA, whl.name), whl)

        put_all()
        wh_start = time.monotonic()
        wheelhouse = image_inputs.ensure_wheelhouse(
            compiled / lockfile.name, "3.11", "x86_64", cfg.section("images", ImagesSettings)
        )
        wheelhouse_s = time.monotonic() - wh_start
        wheelhouse_bytes = sum(p.stat().st_size for p in wheelhouse.glob("*.whl"))

        cold_s, cold_built = _timed(cfg)
        minray_whl = next(w for w in wheels if w.name.startswith("minray-"))
        _touch_wheel(minray_whl, nonce)
        s.delete(store.keys.wheel_key("main", SHA, minray_whl.name))
        put_all()
        wheel_s, wheel_built = _timed(cfg)
        reruns = [_timed(cfg) for _ in range(5)]
        rerun_s = statistics.median(s for s, _ in reruns)
        rerun_built = [any(b) for b in zip(*(b for _, b in reruns), strict=True)]
        requests = _counted(cfg)
    return {
        "wheelhouse_download_seconds": round(wheelhouse_s, 2),
        "wheelhouse_wheels": len(list(wheelhouse.glob("*.whl"))),
        "wheelhouse_mb": round(wheelhouse_bytes / 1e6, 1),
        "cold_build_seconds": round(cold_s, 2),
        "cold_built": cold_built,
        "wheel_change_seconds": round(wheel_s, 2),
        "wheel_change_built": wheel_built,
        "no_change_seconds": round(rerun_s, 2),
        "no_change_built": rerun_built,
        "no_change_seconds_all": [round(s, 3) for s, _ in reruns],
        "no_change_engine_requests": len(requests),
        "no_change_engine_request_lines": requests,
        "wheel_change_vs_cold": round(wheel_s / cold_s, 3),
        "no_change_vs_cold": round(rerun_s / cold_s, 3),
    }
