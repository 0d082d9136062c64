"""Artifact store throughput: put/get of a 200 MB file, local and S3 (moto_server).

Baselines measured in the same run: ``cp`` for the local backend, boto3's plain
``upload_file``/``download_file`` for S3. The store does more work (SHA-256 on put and
on get, an fsync, a HEAD before put for the no-op check), so ratios > 1 are the cost of
integrity. Options: ``--size-mb N`` (default 200).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_moto(port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def _rate(size: int, seconds: float) -> float:
    return round(size / MiB / seconds, 1)


def run(argv: list[str]) -> dict[str, Any]:
    size_mb = 200
    for arg in argv:
        if arg.startswith("--size-mb="):
            size_mb = int(arg.split("=", 1)[1])
    import boto3
    from boto3.s3.transfer import TransferConfig

    from build_support import store

    settings = store.StoreSettings(multipart_threshold_mb=64)
    result: dict[str, Any] = {"size_mb": size_mb}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "big.bin"
        with src.open("wb") as fh:
            for _ in range(size_mb):
                fh.write(os.urandom(MiB))
        size = src.stat().st_size

        # -- local ------------------------------------------------------------------
        cp_put = _timed(lambda: shutil.copyfile(src, tmp / "cp-put.bin"))
        cp_get = _timed(lambda: shutil.copyfile(tmp / "cp-put.bin", tmp / "cp-get.bin"))
        local = store.open_url(str(tmp / "local-store"), settings)
        lput = _timed(lambda: local.put("main/abcdef0/big.bin", src))
        lget = _timed(lambda: local.get("main/abcdef0/big.bin", tmp / "local-get.bin"))
        lnoop = _timed(lambda: local.put("main/abcdef0/big.bin", src))
        result["local"] = {
            "cp_put_s": round(cp_put, 3),
            "cp_get_s": round(cp_get, 3),
            "store_put_s": round(lput, 3),
            "store_get_s": round(lget, 3),
            "store_reput_noop_s": round(lnoop, 3),
            "store_put_MiBps": _rate(size, lput),
            "store_get_MiBps": _rate(size, lget),
            "put_ratio_vs_cp": round(lput / cp_put, 2),
            "get_ratio_vs_cp": round(lget / cp_get, 2),
        }
        for p in (tmp / "cp-put.bin", tmp / "cp-get.bin", tmp / "local-get.bin"):
            p.unlink()
        shutil.rmtree(tmp / "local-store")

        # -- S3 (moto_server) -------------------------------------------------------
        port = _free_port()
        env = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        proc = _start_moto(port, tmp / "moto.log")
        try:
            client = boto3.session.Session().client("s3")
            client.create_bucket(Bucket="bench")
            cfg = TransferConfig(multipart_threshold=64 * MiB, multipart_chunksize=32 * MiB)
            b_put = _timed(lambda: client.upload_file(str(src), "bench", "plain/big", Config=cfg))
            b_get = _timed(
                lambda: client.download_file("bench", "plain/big", str(tmp / "b.bin"), Config=cfg)
            )
            (tmp / "b.bin").unlink()
            s3 = store.open_url("s3://bench/store", settings)
            sput = _timed(lambda: s3.put("main/abcdef0/big.bin", src))
            sget = _timed(lambda: s3.get("main/abcdef0/big.bin", tmp / "s3-get.bin"))
            snoop = _timed(lambda: s3.put("main/abcdef0/big.bin", src))
            result["s3_moto"] = {
                "boto3_upload_file_s": round(b_put, 3),
                "boto3_download_file_s": round(b_get, 3),
                "store_put_s": round(sput, 3),
                "store_get_s": round(sget, 3),
                "store_reput_noop_s": round(snoop, 3),
                "store_put_MiBps": _rate(size, sput),
                "store_get_MiBps": _rate(size, sget),
                "put_ratio_vs_boto3": round(sput / b_put, 2),
                "get_ratio_vs_boto3": round(sget / b_get, 2),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return result
